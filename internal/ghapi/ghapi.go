// Package ghapi is the small part of the GitHub REST API that b24perm's CI
// integration uses: one PR comment found by a hidden marker and updated in
// place, and labels. Requests are retried on 5xx with backoff and on
// GitHub's primary and secondary rate limits (429, or 403 with Retry-After
// or x-ratelimit-remaining: 0) after the wait GitHub asks for, with a
// bounded number of retries and a bounded total wait. A 403 that is not a
// rate limit wraps ErrReadOnlyToken. The token never appears in errors.
package ghapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one repository.
type Client struct {
	BaseURL string // e.g. https://api.github.com
	Token   string
	Repo    string // owner/name
	HTTP    *http.Client
	// Sleep is time.Sleep; tests replace it.
	Sleep func(time.Duration)
	// Now is time.Now; tests replace it (x-ratelimit-reset is an epoch).
	Now func() time.Time
	// MaxRetries bounds the retries of one request (default 4).
	MaxRetries int
	// MaxWait bounds the total time one request spends waiting between
	// retries, rate-limit waits included (default 2 minutes). A rate limit
	// asking for longer fails at once with a message saying so.
	MaxWait time.Duration
}

// Comment is an issue comment.
type Comment struct {
	ID      int64  `json:"id"`
	Body    string `json:"body"`
	HTMLURL string `json:"html_url"`
}

// ErrReadOnlyToken is wrapped by the error of a request GitHub refused with
// 403 Forbidden for a reason other than a rate limit: the token may not
// write issues or pull requests, as on a pull request from a fork.
var ErrReadOnlyToken = errors.New("the GitHub token cannot write comments or labels on this pull request " +
	"(on a pull request from a fork, GITHUB_TOKEN is read-only: post the comment from a workflow_run workflow, " +
	"or grant the job `permissions: pull-requests: write, issues: write`)")

// ErrRateLimited is wrapped by the error of a request still rate-limited
// after the bounded retries, or whose wait would exceed MaxWait.
var ErrRateLimited = errors.New("GitHub API rate limit")

// errNotFound and errUnprocessable are wrapped by 404 and 422 answers,
// which some callers expect (a label that does not exist yet, or exists).
var (
	errNotFound      = errors.New("not found")
	errUnprocessable = errors.New("unprocessable")
)

// rateLimitWait reports whether resp is a primary or secondary rate-limit
// answer and how long GitHub asks to wait (0: unknown, use backoff).
func (c *Client) rateLimitWait(resp *http.Response, body []byte) (bool, time.Duration) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return false, 0
	}
	if ra := strings.TrimSpace(resp.Header.Get("Retry-After")); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil && n >= 0 {
			return true, time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(ra); err == nil {
			return true, max(t.Sub(c.now()), 0)
		}
		return true, 0
	}
	if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			// One extra second: the reset epoch is rounded down.
			return true, max(time.Unix(n, 0).Sub(c.now())+time.Second, 0)
		}
		return true, 0
	}
	if resp.StatusCode == http.StatusTooManyRequests || bytes.Contains(bytes.ToLower(body), []byte("rate limit")) {
		return true, 0
	}
	return false, 0
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	retries := c.MaxRetries
	if retries <= 0 {
		retries = 4
	}
	budget := c.MaxWait
	if budget <= 0 {
		budget = 2 * time.Minute
	}
	var waited time.Duration
	var last error
	var wait time.Duration
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			if wait <= 0 {
				wait = time.Duration(1<<attempt) * 500 * time.Millisecond
			}
			if waited+wait > budget {
				return fmt.Errorf("%w (waiting %s more would exceed the %s budget)", last, wait.Round(time.Second), budget)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			sleep(wait)
			waited += wait
			wait = 0
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("User-Agent", "b24perm")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = fmt.Errorf("%s %s: %v", method, path, c.redact(err.Error()))
			continue
		}
		limit := int64(8 << 20)
		if raw, ok := out.(*rawBody); ok && raw.limit >= limit {
			limit = raw.limit + 1
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
		resp.Body.Close()
		if limited, d := c.rateLimitWait(resp, b); limited {
			last = fmt.Errorf("%s %s: GitHub answered %s: %w", method, path, resp.Status, ErrRateLimited)
			wait = d
			continue
		}
		if resp.StatusCode >= 500 {
			last = fmt.Errorf("%s %s: GitHub answered %s", method, path, resp.Status)
			continue
		}
		if resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%s %s: GitHub answered %s: %w", method, path, resp.Status, ErrReadOnlyToken)
		}
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnprocessableEntity {
			kind := errNotFound
			if resp.StatusCode == http.StatusUnprocessableEntity {
				kind = errUnprocessable
			}
			return fmt.Errorf("%s %s: GitHub answered %s: %s: %w", method, path, resp.Status, c.redact(strings.TrimSpace(string(b))), kind)
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: GitHub answered %s: %s", method, path, resp.Status, c.redact(strings.TrimSpace(string(b))))
		}
		if raw, ok := out.(*rawBody); ok {
			if raw.limit > 0 && int64(len(b)) > raw.limit {
				return fmt.Errorf("%s %s: more than %d bytes", method, path, raw.limit)
			}
			raw.b = b
			return nil
		}
		if out != nil && len(b) > 0 {
			return json.Unmarshal(b, out)
		}
		return nil
	}
	return last
}

func (c *Client) redact(s string) string {
	if c.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.Token, "****")
}

// FindComment returns the first comment of issue n containing marker.
func (c *Client) FindComment(ctx context.Context, n int, marker string) (*Comment, error) {
	for page := 1; page <= 20; page++ {
		var cs []Comment
		if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/issues/%d/comments?per_page=100&page=%d", c.Repo, n, page), nil, &cs); err != nil {
			return nil, err
		}
		for i := range cs {
			if strings.Contains(cs[i].Body, marker) {
				return &cs[i], nil
			}
		}
		if len(cs) < 100 {
			return nil, nil
		}
	}
	return nil, nil
}

// UpsertComment updates the comment holding marker, or creates one, and
// returns the comment's address on GitHub.
func (c *Client) UpsertComment(ctx context.Context, n int, marker, body string) (created bool, htmlURL string, err error) {
	existing, err := c.FindComment(ctx, n, marker)
	if err != nil {
		return false, "", err
	}
	var out Comment
	if existing != nil {
		err = c.do(ctx, "PATCH", fmt.Sprintf("/repos/%s/issues/comments/%d", c.Repo, existing.ID), map[string]string{"body": body}, &out)
		return false, out.HTMLURL, err
	}
	err = c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", c.Repo, n), map[string]string{"body": body}, &out)
	return true, out.HTMLURL, err
}

// SetLabels adds want and removes the other labels of the managed set.
func (c *Client) SetLabels(ctx context.Context, n int, managed, want []string) error {
	var current []struct {
		Name string `json:"name"`
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/issues/%d/labels", c.Repo, n), nil, &current); err != nil {
		return err
	}
	has := map[string]bool{}
	for _, l := range current {
		has[l.Name] = true
	}
	var add []string
	for _, l := range want {
		if !has[l] {
			add = append(add, l)
		}
	}
	if len(add) > 0 {
		if err := c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues/%d/labels", c.Repo, n), map[string][]string{"labels": add}, nil); err != nil {
			return err
		}
	}
	for _, l := range managed {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == l
		}
		if has[l] && !wanted {
			if err := c.do(ctx, "DELETE", fmt.Sprintf("/repos/%s/issues/%d/labels/%s", c.Repo, n, url.PathEscape(l)), nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pull is the part of a pull request the comment poster checks.
type Pull struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Head   struct {
		SHA string `json:"sha"`
	} `json:"head"`
}

// GetPull reads pull request n.
func (c *Client) GetPull(ctx context.Context, n int) (*Pull, error) {
	var p Pull
	if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/pulls/%d", c.Repo, n), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Issue is the part of an issue the drift job reads.
type Issue struct {
	Number      int    `json:"number"`
	State       string `json:"state"`
	Body        string `json:"body"`
	HTMLURL     string `json:"html_url"`
	PullRequest *struct {
		URL string `json:"url"`
	} `json:"pull_request,omitempty"`
}

// EnsureLabel creates the repository label name unless it exists: creating
// an issue with a label that does not exist fails (as `gh issue create
// --label` does), and a new repository has none of b24perm's.
func (c *Client) EnsureLabel(ctx context.Context, name, color, description string) error {
	err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/labels/%s", c.Repo, url.PathEscape(name)), nil, nil)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNotFound) {
		return err
	}
	err = c.do(ctx, "POST", fmt.Sprintf("/repos/%s/labels", c.Repo), map[string]string{"name": name, "color": color, "description": description}, nil)
	if errors.Is(err, errUnprocessable) {
		return nil // created meanwhile by another run
	}
	return err
}

// FindOpenIssue returns the oldest open issue (not pull request) with
// label whose body holds marker, or nil.
func (c *Client) FindOpenIssue(ctx context.Context, label, marker string) (*Issue, error) {
	for page := 1; page <= 10; page++ {
		var is []Issue
		if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/issues?state=open&labels=%s&sort=created&direction=asc&per_page=100&page=%d", c.Repo, url.QueryEscape(label), page), nil, &is); err != nil {
			return nil, err
		}
		for i := range is {
			if is[i].PullRequest == nil && strings.Contains(is[i].Body, marker) {
				return &is[i], nil
			}
		}
		if len(is) < 100 {
			return nil, nil
		}
	}
	return nil, nil
}

// CreateIssue opens an issue with the given labels.
func (c *Client) CreateIssue(ctx context.Context, title, body string, labels []string) (*Issue, error) {
	var out Issue
	err := c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues", c.Repo), map[string]any{"title": title, "body": body, "labels": labels}, &out)
	return &out, err
}

// EditIssueBody replaces issue n's body.
func (c *Client) EditIssueBody(ctx context.Context, n int, body string) (*Issue, error) {
	var out Issue
	err := c.do(ctx, "PATCH", fmt.Sprintf("/repos/%s/issues/%d", c.Repo, n), map[string]string{"body": body}, &out)
	return &out, err
}

// CloseIssue comments on issue n and closes it as completed.
func (c *Client) CloseIssue(ctx context.Context, n int, comment string) error {
	if comment != "" {
		if err := c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", c.Repo, n), map[string]string{"body": comment}, nil); err != nil {
			return err
		}
	}
	return c.do(ctx, "PATCH", fmt.Sprintf("/repos/%s/issues/%d", c.Repo, n), map[string]string{"state": "closed", "state_reason": "completed"}, nil)
}

// MergedPull is a pull request a commit belongs to.
type MergedPull struct {
	Number int `json:"number"`
	Head   struct {
		SHA  string `json:"sha"`
		Repo *struct {
			FullName string `json:"full_name"`
		} `json:"repo"`
	} `json:"head"`
}

// PullsOfCommit lists the pull requests commit sha belongs to (for a merge
// commit on the default branch: the pull request it merged).
func (c *Client) PullsOfCommit(ctx context.Context, sha string) ([]MergedPull, error) {
	var out []MergedPull
	err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/commits/%s/pulls", c.Repo, url.PathEscape(sha)), nil, &out)
	return out, err
}

// Artifact is a workflow run's artifact.
type Artifact struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	SizeInBytes int64  `json:"size_in_bytes"`
	Expired     bool   `json:"expired"`
	DownloadURL string `json:"archive_download_url"`
	WorkflowRun struct {
		ID      int64  `json:"id"`
		HeadSHA string `json:"head_sha"`
	} `json:"workflow_run"`
}

// FindArtifact returns the newest unexpired artifact called name made by a
// run at headSHA, or nil.
func (c *Client) FindArtifact(ctx context.Context, name, headSHA string) (*Artifact, error) {
	var out struct {
		Artifacts []Artifact `json:"artifacts"`
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/actions/artifacts?name=%s&per_page=100", c.Repo, url.QueryEscape(name)), nil, &out); err != nil {
		return nil, err
	}
	var best *Artifact
	for i, a := range out.Artifacts {
		if a.Name == name && !a.Expired && a.WorkflowRun.HeadSHA == headSHA && (best == nil || a.ID > best.ID) {
			best = &out.Artifacts[i]
		}
	}
	return best, nil
}

// DownloadArtifact returns the zip archive of artifact a (at most limit
// bytes). GitHub answers with a redirect to a signed address, which the
// HTTP client follows without the token (another host).
func (c *Client) DownloadArtifact(ctx context.Context, a *Artifact, limit int64) ([]byte, error) {
	path := strings.TrimPrefix(a.DownloadURL, strings.TrimRight(c.BaseURL, "/"))
	if path == a.DownloadURL {
		return nil, fmt.Errorf("artifact %d: download address %q is not on %s", a.ID, a.DownloadURL, c.BaseURL)
	}
	var raw rawBody
	raw.limit = limit
	if err := c.do(ctx, "GET", path, nil, &raw); err != nil {
		return nil, err
	}
	return raw.b, nil
}

// rawBody receives a response body as bytes (see do).
type rawBody struct {
	b     []byte
	limit int64
}

// CreateComment adds a comment to issue or pull request n.
func (c *Client) CreateComment(ctx context.Context, n int, body string) (*Comment, error) {
	var out Comment
	err := c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", c.Repo, n), map[string]string{"body": body}, &out)
	return &out, err
}

// Public reports whether the repository is public (GET /repos/{repo}).
func (c *Client) Public(ctx context.Context) (bool, error) {
	var r struct {
		Private    bool   `json:"private"`
		Visibility string `json:"visibility"`
	}
	if err := c.do(ctx, "GET", "/repos/"+c.Repo, nil, &r); err != nil {
		return false, err
	}
	if r.Visibility != "" {
		return r.Visibility == "public", nil
	}
	return !r.Private, nil
}
