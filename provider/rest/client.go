// Package rest is a Bitrix24 REST client for inbound webhooks
// (https://PORTAL/rest/USER_ID/TOKEN/): batching, paging, a client-side
// leaky bucket matching the portal's limit, retries with backoff and
// jitter, and a token that never appears in errors.
package rest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// Options tune a client.
type Options struct {
	// RPS and Burst describe the portal's leaky bucket (2/50 on most
	// plans, 5/250 on Enterprise).
	RPS   float64
	Burst int
	// Retries for QUERY_LIMIT_EXCEEDED, 5xx and timeouts on reads.
	Retries int
	// Backoff is the first retry delay (default 200 ms), doubled per try.
	Backoff time.Duration
	// AccessToken switches to OAuth (local or Market apps): the URL is the
	// portal's REST endpoint (https://PORTAL/rest/) and every call carries
	// auth=TOKEN in its body.
	AccessToken string
	HTTP        *http.Client
	// MaxResponse is the largest answer accepted, in bytes (default
	// DefaultMaxResponse); a larger one is refused without reading it all.
	MaxResponse int64
	// Deadline bounds the whole run of calls of this client, counted from
	// New (default 10 minutes), together with each call's context: a wait
	// that would end after it fails at once with an error saying so.
	Deadline time.Duration
	// Progress, if set, is told of every wait of a second or more
	// (rate limits, backoff); the client itself never prints.
	Progress func(msg string)
}

// DefaultMaxResponse is the default limit of an answer: a batch of 50
// pages of 50 items is a few MiB.
const DefaultMaxResponse = 32 << 20

// ErrResponseTooLarge is wrapped by the error for an answer above
// Options.MaxResponse.
var ErrResponseTooLarge = errors.New("answer too large")

// Client calls one portal.
type Client struct {
	base  string // …/rest/UID/TOKEN/
	token string
	opts  Options
	mu    sync.Mutex
	// limiter is the client side of the portal's leaky bucket: RPS
	// tokens a second, Burst at most, full at start.
	limiter *rate.Limiter
	// deadline ends the run of calls (Options.Deadline after New).
	deadline time.Time
	// blocked holds methods refused with OPERATION_TIME_LIMIT until a time.
	blocked  map[string]time.Time
	Requests atomic.Int64
}

// The token is what Redact can find: no "/", space or quote.
var webhookRe = regexp.MustCompile(`^(https?://[^/@\s]+(?:/[^/\s]+)*?/rest/\d+/)([^/\s"']+)/?$`)

// New parses a webhook URL.
func New(webhook string, o Options) (*Client, error) {
	var base, token string
	if o.AccessToken != "" {
		u := strings.TrimSpace(webhook)
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("invalid REST endpoint %q: want https://PORTAL/rest/", u)
		}
		base, token = strings.TrimRight(u, "/")+"/", o.AccessToken
	} else {
		m := webhookRe.FindStringSubmatch(strings.TrimSpace(webhook))
		if m == nil {
			return nil, fmt.Errorf("invalid webhook URL %s: want https://PORTAL/rest/USER_ID/TOKEN/", redactInvalid(webhook))
		}
		base, token = m[1]+m[2]+"/", m[2]
	}
	if o.RPS <= 0 {
		o.RPS = 2
	}
	if o.Burst <= 0 {
		o.Burst = 50
	}
	if o.Retries <= 0 {
		o.Retries = 6
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.Deadline <= 0 {
		o.Deadline = 10 * time.Minute
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = DefaultMaxResponse
	}
	return &Client{base: base, token: token, opts: o, deadline: time.Now().Add(o.Deadline), limiter: rate.NewLimiter(rate.Limit(o.RPS), o.Burst)}, nil
}

// encodedRef is a $result reference after URL encoding, with its path into
// the result: $result[key], $result[key][FIELD], $result[key][49][ID].
var encodedRef = regexp.MustCompile(`%24result%5B([A-Za-z0-9_]+)%5D((?:%5B[A-Za-z0-9_]+%5D)*)`)

// literalRefs undoes the URL encoding of $result references in an encoded
// query: the portal substitutes them before it parses the command.
func literalRefs(q string) string {
	return encodedRef.ReplaceAllStringFunc(q, func(ref string) string {
		return strings.NewReplacer("%24", "$", "%5B", "[", "%5D", "]").Replace(ref)
	})
}

var tokenRe = regexp.MustCompile(`(/rest/\d+/)[^/\s"']+`)

// Redact hides the webhook token: /rest/1/****/.
func Redact(s string) string { return tokenRe.ReplaceAllString(s, "${1}****") }

// redactInvalid shows a URL that is not a valid webhook without anything
// that could be its token or a password: only the scheme and host of a URL
// that parses cleanly and has no user info; the path may hold the token in
// any position (/rest/TOKEN/, /rest/admin/TOKEN/).
func redactInvalid(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Host == "" || strings.ContainsAny(s, " \t\n") || (u.Scheme != "http" && u.Scheme != "https") {
		return "(not shown: it may hold a token)"
	}
	if strings.Trim(u.Path, "/") == "" && u.RawQuery == "" && u.Fragment == "" {
		return u.Scheme + "://" + u.Host + "/"
	}
	return u.Scheme + "://" + u.Host + "/****"
}

// Describe names the portal without the token.
func (c *Client) Describe() string { return Redact(c.base) }

func (c *Client) redactErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(strings.ReplaceAll(Redact(err.Error()), c.token, "****"))
}

// wait takes one token from the bucket, sleeping as needed.
func (c *Client) wait(ctx context.Context) error {
	return c.limiter.Wait(ctx)
}

// errDeadline is the error of a call stopped by Options.Deadline.
func (c *Client) errDeadline(method, what string) error {
	return fmt.Errorf("%s: %s would end after the overall deadline of %v for REST calls (at %s): giving up", method, what, c.opts.Deadline, c.deadline.UTC().Format(time.RFC3339))
}

// sleep waits d for method, announcing waits of a second or more; a wait
// past the overall deadline fails at once.
func (c *Client) sleep(ctx context.Context, method, why string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if time.Now().Add(d).After(c.deadline) {
		return c.errDeadline(method, fmt.Sprintf("waiting %v (%s)", d.Round(time.Second), why))
	}
	if d >= time.Second && c.opts.Progress != nil {
		c.opts.Progress(fmt.Sprintf("%s: %s; waiting %v", method, why, d.Round(time.Second)))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return c.ctxErr(ctx, method)
	case <-t.C:
		return nil
	}
}

// ctxErr is the error of a done context: the overall deadline's own
// message when it is what ended the call.
func (c *Client) ctxErr(ctx context.Context, method string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !time.Now().Before(c.deadline) {
		return c.errDeadline(method, "the call")
	}
	return ctx.Err()
}

// APIError is an error answer of the portal.
type APIError struct {
	Status      int
	Code        string
	Description string
}

func (e *APIError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Description, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}

// Response is a successful answer.
type Response struct {
	Result json.RawMessage `json:"result"`
	Total  int             `json:"total"`
	Next   *int            `json:"next"`
}

// Call runs one method. Rate-limit answers and (for reads) server errors
// and timeouts are retried with exponential backoff and jitter.
func (c *Client) Call(ctx context.Context, method string, params any, read bool) (*Response, error) {
	if c.opts.AccessToken != "" {
		// OAuth: the token travels in the body, never in the URL.
		m := map[string]any{}
		if b, err := json.Marshal(params); err == nil {
			json.Unmarshal(b, &m)
		}
		m["auth"] = c.opts.AccessToken
		params = m
	}
	body, _ := json.Marshal(params)
	parent := ctx
	ctx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	var last error
	waits := 0
	for attempt := 0; attempt <= c.opts.Retries; attempt++ {
		if attempt > 0 {
			d := time.Duration(float64(c.opts.Backoff) * float64(int(1)<<min(attempt, 7)) * (0.5 + rand.Float64()))
			if err := c.sleep(ctx, method, fmt.Sprintf("retry %d after %v", attempt, last), min(d, 30*time.Second)); err != nil {
				return nil, err
			}
		}
		if err := c.wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, c.ctxErr(ctx, method)
			}
			// The limiter refuses a wait that would pass ctx's deadline
			// before that deadline comes: say whose deadline it is.
			if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
				return nil, fmt.Errorf("%s: waiting for the rate limit would pass the caller's deadline: %w", method, context.DeadlineExceeded)
			}
			return nil, c.errDeadline(method, "waiting for the rate limit")
		}
		c.mu.Lock()
		until := c.blocked[method]
		c.mu.Unlock()
		// The portal blocks this method (not the others) until its
		// operating budget resets.
		if err := c.sleep(ctx, method, "the portal blocks this method until "+until.UTC().Format(time.RFC3339)+" (OPERATION_TIME_LIMIT)", min(time.Until(until), 10*time.Minute)); err != nil {
			return nil, err
		}
		c.Requests.Add(1)
		req, err := http.NewRequestWithContext(ctx, "POST", c.base+method+".json", bytes.NewReader(body))
		if err != nil {
			return nil, c.redactErr(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "b24perm")
		resp, err := c.opts.HTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.ctxErr(ctx, method)
			}
			last = fmt.Errorf("%s: %v", method, c.redactErr(err))
			if read && !errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			return nil, last
		}
		b, rerr := c.readBody(resp)
		resp.Body.Close()
		if errors.Is(rerr, ErrResponseTooLarge) {
			// The same question gets the same answer: never retried.
			return nil, fmt.Errorf("%s: %w: the portal's answer is larger than the limit of %s", method, rerr, sizeString(c.opts.MaxResponse))
		}
		var out struct {
			Response
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Time        struct {
				OperatingResetAt float64 `json:"operating_reset_at"`
			} `json:"time"`
		}
		jerr := json.Unmarshal(b, &out)
		switch {
		case rerr != nil || (jerr != nil && resp.StatusCode < 300):
			last = fmt.Errorf("%s: truncated or invalid response from the portal (HTTP %d)", method, resp.StatusCode)
			if read {
				continue
			}
			return nil, last
		case jerr != nil:
			last = fmt.Errorf("%s: %s answered HTTP %d with a non-JSON page: is this the portal's REST address?", method, c.Describe(), resp.StatusCode)
			if resp.StatusCode >= 500 && read {
				continue
			}
			return nil, last
		case out.Error != "" || resp.StatusCode >= 300:
			e := &APIError{Status: resp.StatusCode, Code: out.Error, Description: out.Description}
			switch strings.ToUpper(e.Code) {
			case "QUERY_LIMIT_EXCEEDED":
				last = e // refused before running: always safe to retry
				continue
			case "OPERATION_TIME_LIMIT":
				last = e
				reset := time.Now().Add(c.opts.Backoff)
				if out.Time.OperatingResetAt > 0 {
					// The portal gives whole seconds: wait for the next one.
					reset = time.Unix(int64(out.Time.OperatingResetAt), 0).Add(time.Second)
				}
				c.mu.Lock()
				if c.blocked == nil {
					c.blocked = map[string]time.Time{}
				}
				c.blocked[method] = reset
				c.mu.Unlock()
				if time.Until(reset) > 0 && waits < 5 {
					attempt-- // waiting for a future reset is not a failed try
					waits++
				}
				if time.Until(reset) > 10*time.Minute {
					return nil, fmt.Errorf("%s: %v; the method is blocked until %s", method, e, reset.Format(time.RFC3339))
				}
				continue
			case "EXPIRED_TOKEN":
				return nil, fmt.Errorf("%s: the OAuth access token expired (%v): refresh it (access tokens live one hour) and run again", method, e)
			case "NO_AUTH_FOUND", "INVALID_CREDENTIALS":
				return nil, fmt.Errorf("%s: the webhook was refused (%v): check that the webhook URL is current and not revoked", method, e)
			case "INSUFFICIENT_SCOPE":
				return nil, fmt.Errorf("%s: the webhook lacks a permission scope (%v): tick it in the webhook's settings", method, e)
			}
			if resp.StatusCode >= 500 && read {
				last = e
				continue
			}
			return nil, fmt.Errorf("%s: %v", method, e)
		}
		return &out.Response, nil
	}
	return nil, fmt.Errorf("gave up after %d attempts: %v", c.opts.Retries+1, last)
}

// readBody reads an answer of at most opts.MaxResponse bytes: one
// announced larger is refused before reading, one streaming past the
// limit is cut at limit+1 bytes.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	limit := c.opts.MaxResponse
	if resp.ContentLength > limit {
		return nil, ErrResponseTooLarge
	}
	// Grow up to limit+1 and no further: a buffer doubling past the
	// limit would cost twice the limit.
	b := make([]byte, 0, min(limit+1, max(resp.ContentLength, 64<<10)))
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return nil, ErrResponseTooLarge
			}
			b = append(make([]byte, 0, min(limit+1, 2*int64(cap(b)))), b...)
		}
		n, err := resp.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, ErrResponseTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// sizeString renders a byte count: 32 MiB, 1536 KiB, 100 bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Cmd is one command of a batch.
type Cmd struct {
	Key    string
	Method string
	Params url.Values
}

// BatchResult is one command's outcome.
type BatchResult struct {
	Result json.RawMessage
	Total  int
	Next   *int
	Err    error
}

// Batch runs up to 50 commands in one request (halt=0): every command
// runs, each has its own result or error. Batches are not transactional.
func (c *Client) Batch(ctx context.Context, cmds []Cmd, read bool) (map[string]BatchResult, error) {
	if len(cmds) > 50 {
		return nil, fmt.Errorf("a batch holds at most 50 commands, not %d", len(cmds))
	}
	m := map[string]string{}
	for _, cm := range cmds {
		// $result[key] references to earlier commands must stay literal.
		m[cm.Key] = cm.Method + "?" + literalRefs(cm.Params.Encode())
	}
	resp, err := c.Call(ctx, "batch", map[string]any{"halt": 0, "cmd": m}, read)
	if err != nil {
		return nil, err
	}
	var r struct {
		Result      map[string]json.RawMessage `json:"result"`
		ResultError map[string]struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		} `json:"result_error"`
		ResultTotal map[string]int `json:"result_total"`
		ResultNext  map[string]int `json:"result_next"`
	}
	if err := json.Unmarshal(resp.Result, &r); err != nil {
		return nil, fmt.Errorf("batch: unexpected answer: %v", err)
	}
	out := map[string]BatchResult{}
	for _, cm := range cmds {
		br := BatchResult{Result: r.Result[cm.Key], Total: r.ResultTotal[cm.Key]}
		if n, ok := r.ResultNext[cm.Key]; ok {
			br.Next = &n
		}
		if e, ok := r.ResultError[cm.Key]; ok {
			br.Err = &APIError{Status: 200, Code: e.Error, Description: e.Description}
		}
		out[cm.Key] = br
	}
	return out, nil
}

// List reads every page of a list method: the first page says how many
// there are, the rest are fetched 50 pages per batch request.
func (c *Client) List(ctx context.Context, method string, params url.Values) ([]json.RawMessage, error) {
	first, err := c.Batch(ctx, []Cmd{{Key: "p0", Method: method, Params: params}}, true)
	if err != nil {
		return nil, err
	}
	r0 := first["p0"]
	if r0.Err != nil {
		return nil, fmt.Errorf("%s: %v", method, r0.Err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(r0.Result, &items); err != nil {
		return nil, fmt.Errorf("%s: unexpected result: %v", method, err)
	}
	if r0.Total > 0 && len(items) != min(pageSize, r0.Total) {
		return nil, fmt.Errorf("%s: the read is incomplete: the first page has %d items, want %d of the %d announced", method, len(items), min(pageSize, r0.Total), r0.Total)
	}
	for start := 50; start < r0.Total; {
		var cmds []Cmd
		for len(cmds) < 50 && start < r0.Total {
			p := url.Values{}
			for k, v := range params {
				p[k] = v
			}
			p.Set("start", fmt.Sprint(start))
			cmds = append(cmds, Cmd{Key: fmt.Sprintf("p%d", start), Method: method, Params: p})
			start += 50
		}
		res, err := c.Batch(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		for _, cm := range cmds {
			br := res[cm.Key]
			if br.Err != nil {
				return nil, fmt.Errorf("%s page %s: %v", method, cm.Key, br.Err)
			}
			var page []json.RawMessage
			if err := json.Unmarshal(br.Result, &page); err != nil {
				return nil, fmt.Errorf("%s: unexpected page: %v", method, err)
			}
			// Every page but the last is full: a shorter one was cut.
			if want := min(pageSize, r0.Total-start0(cm)); len(page) != want {
				return nil, fmt.Errorf("%s: the read is incomplete: the page from item %d has %d items, want %d of the %d announced", method, start0(cm), len(page), want, r0.Total)
			}
			items = append(items, page...)
		}
	}
	// The first page says how many there are (no total: one page of
	// fewer than 50); what was read must be exactly that.
	if r0.Total == 0 && len(items) >= pageSize || r0.Total > 0 && len(items) != r0.Total {
		return nil, fmt.Errorf("%s: the read is incomplete: %d items of the %d announced", method, len(items), r0.Total)
	}
	return items, nil
}

// start0 is the offset of a List page command.
func start0(cm Cmd) int {
	n, _ := strconv.Atoi(cm.Params.Get("start"))
	return n
}

// IDPaging names the parameters of a list method's fast paging mode
// (start=-1): no COUNT query, items sorted by ID ascending and filtered by
// ID greater than the last one seen. The spellings differ by method.
type IDPaging struct {
	// Filter is the parameter for "ID greater than": FILTER[>ID] for
	// user.get and sonet_group.get, >ID for department.get, whose filters
	// are top-level keys.
	Filter string
	// Sort are the parameters sorting by ID ascending.
	Sort url.Values
	// Field is the ID field of items (default ID).
	Field string
}

// The fast paging parameters of the list methods b24perm reads.
var (
	// UserGet: user.get {SORT, ORDER, FILTER{>ID}} (user-get.md).
	UserGet = IDPaging{Filter: "FILTER[>ID]", Sort: url.Values{"SORT": {"ID"}, "ORDER": {"ASC"}}}
	// DepartmentGet: department.get {sort, order, top-level filter keys};
	// its own page documents the ID filter without operators, so the
	// client checks that the pages do advance (see ListByID).
	DepartmentGet = IDPaging{Filter: ">ID", Sort: url.Values{"sort": {"ID"}, "order": {"ASC"}}}
	// SonetGroupGet: sonet_group.get {ORDER{ID}, FILTER{>ID}}; its default
	// order is ID descending (sonet-group-get.md).
	SonetGroupGet = IDPaging{Filter: "FILTER[>ID]", Sort: url.Values{"ORDER[ID]": {"ASC"}}}
)

// pageSize is the fixed page of list methods; batchSize the most commands
// a batch holds.
const pageSize, batchSize = 50, 50

// errNoProgress says a portal ignored the ID filter or sort of the fast mode.
var errNoProgress = errors.New("the pages do not advance by ID")

// ListByID reads every item of a list method in the fast mode (start=-1,
// no COUNT): one batch request chains 50 pages, command k filtering by ID
// greater than $result[<command k-1>][49][ID], the last ID of the page
// before it; the first command of a batch filters by the last ID actually
// received (0 at first). A page shorter than 50 ends a batch: the
// references of the commands after it cannot resolve, and their results
// and errors are ignored.
//
// A short page is not trusted to be the end: a portal or proxy under load
// may serve a page cut short without an error, and taking it for the end
// would return a silently partial list. The end is confirmed by one more
// request, a single command for the items after the last ID received,
// that answers no items; if it answers some, reading goes on from there.
// n items take about n/2500+2 requests.
//
// The items must come back with IDs strictly ascending and above the
// filter; if not (a portal ignoring the filter or the sort), chaining
// would skip or repeat items, so the method is read again by offsets
// (List).
func (c *Client) ListByID(ctx context.Context, method string, params url.Values, keys IDPaging) ([]json.RawMessage, error) {
	items, err := c.listByID(ctx, method, params, keys)
	if errors.Is(err, errNoProgress) {
		return c.List(ctx, method, params)
	}
	return items, err
}

func (c *Client) listByID(ctx context.Context, method string, params url.Values, keys IDPaging) ([]json.RawMessage, error) {
	field := cmp.Or(keys.Field, "ID")
	var items []json.RawMessage
	last := int64(0)
	pages := 0     // pages received
	short := false // the last page received was shorter than 50
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		size := batchSize
		if short {
			size = 1 // confirming the end
		}
		cmds := make([]Cmd, size)
		for i := range cmds {
			p := url.Values{}
			for k, v := range params {
				p[k] = v
			}
			for k, v := range keys.Sort {
				p[k] = v
			}
			p.Set("start", "-1")
			if i == 0 {
				p.Set(keys.Filter, strconv.FormatInt(last, 10))
			} else {
				p.Set(keys.Filter, fmt.Sprintf("$result[%s][%d][%s]", cmds[i-1].Key, pageSize-1, field))
			}
			cmds[i] = Cmd{Key: fmt.Sprintf("p%02d", i), Method: method, Params: p}
		}
		res, err := c.Batch(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		for _, cm := range cmds {
			pages++
			br := res[cm.Key]
			if br.Err != nil {
				return nil, fmt.Errorf("%s page %d (%s > %d): %v", method, pages, field, last, br.Err)
			}
			// Only a JSON array is a page: an absent or null result
			// without an error is not an empty one.
			if t := bytes.TrimSpace(br.Result); len(t) == 0 || t[0] != '[' {
				return nil, fmt.Errorf("%s page %d (%s > %d): the portal answered no list and no error (%.40s): the read is incomplete", method, pages, field, last, t)
			}
			var page []json.RawMessage
			if err := json.Unmarshal(br.Result, &page); err != nil {
				return nil, fmt.Errorf("%s page %d: unexpected result: %v", method, pages, err)
			}
			for _, it := range page {
				var f map[string]json.RawMessage
				if err := json.Unmarshal(it, &f); err != nil {
					return nil, fmt.Errorf("%s page %d: unexpected item: %v", method, pages, err)
				}
				id, err := strconv.ParseInt(strings.Trim(string(f[field]), `"`), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s page %d: an item without a numeric %s: %s", method, pages, field, f[field])
				}
				if id <= last {
					return nil, errNoProgress
				}
				last = id
			}
			items = append(items, page...)
			if short && len(page) == 0 {
				return items, nil // the end, confirmed
			}
			short = len(page) < pageSize
			if short {
				break
			}
		}
	}
}
