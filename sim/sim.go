// Package sim is a Bitrix24 REST simulator: it serves a portal (the local
// backend's model) with the real request and response shapes of the
// methods b24perm uses — paging, batch with per-command errors, the leaky
// bucket (503 QUERY_LIMIT_EXCEEDED), ERROR_METHOD_NOT_FOUND for the role
// methods that do not exist, wrong-token errors — and fault injection.
package sim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
)

// Options tune the simulator.
type Options struct {
	Token string
	// UserTokens are webhooks of ordinary users (token → user ID): their
	// calls see only what the user may see (user.access, crm.category.list).
	UserTokens map[string]int64
	// RPS and Burst are the portal's leaky bucket; 0 disables it.
	RPS   float64
	Burst int
	// Faults.
	Latency     time.Duration
	Fail5xxRate float64 // share of requests answered 502
	HTMLRate    float64 // share answered with an HTML error page
	TruncRate   float64 // share answered with truncated JSON
	DropRate    float64 // share whose connection is closed without an answer
	// ExpiredToken is an OAuth token the simulator answers expired_token for.
	ExpiredToken string
	// OperatingLimit refuses calls of these methods with 429
	// OPERATION_TIME_LIMIT until the given time.
	OperatingLimit map[string]time.Time
	// CommandFault, when set, sees every method call (each command of a
	// batch on its own, after its $result references are substituted): a
	// non-empty code fails that call with it — a per-command error inside
	// a batch, HTTP 400 outside. It runs under the server's lock.
	CommandFault func(method string, params map[string]any) (code, description string)
	// QueueMerges makes imopenlines.config.update add the given queue to
	// the existing one instead of replacing it: a write that succeeds but
	// reads back differently.
	QueueMerges bool
	// DropParams makes the server ignore parameters of a method (method →
	// names; "PARAMS.QUEUE_TYPE" reaches into a nested object): the call
	// succeeds, the field is not written, as a portal whose version or
	// edition ignores it would.
	DropParams map[string][]string
}

// Server serves one portal.
type Server struct {
	mu       sync.Mutex
	portal   *local.Portal
	opts     Options
	level    float64
	last     time.Time
	rng      *rand.Rand
	Requests int
	Limited  int
	// caller is the user of the current request (0: the admin webhook).
	caller int64
}

// New returns a simulator for portal.
func New(portal *local.Portal, o Options) *Server {
	return &Server{portal: portal, opts: o, last: time.Now(), rng: rand.New(rand.NewPCG(1, 1))}
}

// Portal returns the simulated portal (tests read it back).
func (s *Server) Portal() *local.Portal { return s.portal }

var pathRe = regexp.MustCompile(`^/rest/(\d+)/([^/]+)/([a-z0-9_.]+?)(?:\.json)?$`)

var oauthPathRe = regexp.MustCompile(`^/rest/([a-z][a-z0-9_.]*?)(?:\.json)?$`)

type apiErr struct {
	status int
	code   string
	desc   string
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Requests++
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	m := pathRe.FindStringSubmatch(r.URL.Path)
	s.caller = 0
	if m == nil && r.URL.Path != "" {
		// OAuth form: /rest/METHOD with auth in the body.
		if om := oauthPathRe.FindStringSubmatch(r.URL.Path); om != nil {
			m = []string{"", "0", "", om[1]}
		}
	}
	if m == nil {
		writeErr(w, apiErr{404, "ERROR_METHOD_NOT_FOUND", "Method not found"})
		return
	}
	params := map[string]any{}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &params); err != nil {
			writeErr(w, apiErr{400, "INVALID_REQUEST", "The body is not JSON"})
			return
		}
	}
	token := m[2]
	if m[1] == "0" {
		token, _ = params["auth"].(string)
		delete(params, "auth")
		if token != "" && token == s.opts.ExpiredToken {
			writeErr(w, apiErr{401, "expired_token", "The access token provided has expired."})
			return
		}
	}
	if uid, ok := s.opts.UserTokens[token]; ok {
		s.caller = uid
	} else if s.opts.Token != "" && token != s.opts.Token {
		writeErr(w, apiErr{401, "NO_AUTH_FOUND", "Wrong authorization data"})
		return
	}
	if s.opts.RPS > 0 {
		now := time.Now()
		s.level = max(0, s.level-now.Sub(s.last).Seconds()*s.opts.RPS)
		s.last = now
		if s.level+1 > float64(s.opts.Burst) {
			s.Limited++
			writeErr(w, apiErr{503, "QUERY_LIMIT_EXCEEDED", "Too many requests"})
			return
		}
		s.level++
	}
	if s.opts.Fail5xxRate > 0 && s.rng.Float64() < s.opts.Fail5xxRate {
		writeErr(w, apiErr{502, "INTERNAL_SERVER_ERROR", "Bad gateway"})
		return
	}
	if s.opts.DropRate > 0 && s.rng.Float64() < s.opts.DropRate {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	if until, ok := s.opts.OperatingLimit[m[3]]; ok && time.Now().Before(until) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		json.NewEncoder(w).Encode(map[string]any{"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit.",
			"time": map[string]any{"operating_reset_at": until.Unix(), "operating": 480}})
		return
	}
	if s.opts.TruncRate > 0 && s.rng.Float64() < s.opts.TruncRate {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result": [{"ID": "1", "NAME": "Trunc`)
		return
	}
	if s.opts.HTMLRate > 0 && s.rng.Float64() < s.opts.HTMLRate {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		return
	}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	start := time.Now()
	res, total, next, e := s.call(m[3], params)
	if e != nil {
		writeErr(w, *e)
		return
	}
	out := map[string]any{"result": res, "time": map[string]any{"start": float64(start.UnixNano()) / 1e9, "duration": time.Since(start).Seconds()}}
	if total >= 0 {
		out["total"] = total
	}
	if next > 0 {
		out["next"] = next
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e apiErr) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"error": e.code, "error_description": e.desc})
}

// get reads a parameter from JSON ({filter: {ENTITY_ID: x}}) or query
// ("filter[ENTITY_ID]") form.
func get(p map[string]any, path ...string) string {
	var cur any = p
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			cur = nil
			break
		}
		cur = m[k]
	}
	if cur == nil && len(path) > 1 {
		cur = p[path[0]+"["+strings.Join(path[1:], "][")+"]"]
	}
	switch v := cur.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func getInt(p map[string]any, path ...string) int64 {
	n, _ := strconv.ParseInt(get(p, path...), 10, 64)
	return n
}

var missing = regexp.MustCompile(`^(crm\.role|crm\.perms?|crm\.permission|crm\.settings\.permissions|voximplant\.role|imopenlines\.role)`)

// page returns items[start:start+50] with total and next, as list methods
// do. start=-1 is the fast mode: the first 50 items, no COUNT, so neither
// total nor next (total -1 leaves it out of the answer).
func page[T any](items []T, p map[string]any) (any, int, int) {
	raw := get(p, "start")
	if raw == "" {
		raw = get(p, "START") // department.get spells it START
	}
	start, _ := strconv.Atoi(raw)
	if start < 0 {
		return items[:min(50, len(items))], -1, 0
	}
	start = min(start, len(items))
	end := min(start+50, len(items))
	next := 0
	if end < len(items) {
		next = end
	}
	return items[start:end], len(items), next
}

// byID applies a list method's ">ID" filter (gt, "" for none) and ID sort
// (dir ASC or DESC, "" for the portal's order), then pages the items. A
// filter value that is not a number (say, a $result reference a batch
// could not resolve) fails the call.
func byID[T any](items []T, id func(T) int64, gt, dir string, p map[string]any) (any, int, int, *apiErr) {
	var above int64
	if gt != "" {
		n, err := strconv.ParseInt(gt, 10, 64)
		if err != nil {
			return nil, 0, 0, &apiErr{400, "INVALID_FILTER", fmt.Sprintf("Wrong value of the filter >ID: %q", gt)}
		}
		above = n
	}
	type row struct {
		id int64
		i  int
	}
	rows := make([]row, 0, len(items))
	for i, it := range items {
		if x := id(it); gt == "" || x > above {
			rows = append(rows, row{x, i})
		}
	}
	switch strings.ToUpper(dir) {
	case "ASC":
		slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.i, b.i)) })
	case "DESC":
		slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.id, a.id), cmp.Compare(a.i, b.i)) })
	}
	out := make([]T, len(rows))
	for k, r := range rows {
		out[k] = items[r.i]
	}
	r, t, n := page(out, p)
	return r, t, n, nil
}

// either reads the first non-empty of a parameter's spellings.
func either(p map[string]any, paths ...[]string) string {
	for _, path := range paths {
		if v := get(p, path...); v != "" {
			return v
		}
	}
	return ""
}

// sortDir is the direction of a sort by ID given as field and order
// parameters ("" when the sort is by another field or absent).
func sortDir(field, order string) string {
	if !strings.EqualFold(field, "ID") {
		return ""
	}
	if order == "" {
		return "ASC"
	}
	return order
}

// has tells whether a parameter is present in JSON (ORDER: {...}) or
// query (ORDER[NAME]=ASC) form, in any case.
func has(p map[string]any, name string) bool {
	for k := range p {
		if strings.EqualFold(k, name) || len(k) > len(name) && strings.EqualFold(k[:len(name)+1], name+"[") {
			return true
		}
	}
	return false
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func (s *Server) call(method string, p map[string]any) (any, int, int, *apiErr) {
	pt := s.portal
	for _, name := range s.opts.DropParams[method] {
		m := p
		parts := strings.Split(name, ".")
		for _, k := range parts[:len(parts)-1] {
			m, _ = m[k].(map[string]any)
		}
		delete(m, parts[len(parts)-1])
	}
	if f := s.opts.CommandFault; f != nil && method != "batch" {
		if code, desc := f(method, p); code != "" {
			return nil, 0, 0, &apiErr{400, code, desc}
		}
	}
	switch {
	case method == "batch":
		return s.batch(p)
	case missing.MatchString(method):
		return nil, 0, 0, &apiErr{404, "ERROR_METHOD_NOT_FOUND", "Method not found!"}
	case method == "user.get":
		type u struct {
			ID           string  `json:"ID"`
			EMAIL        string  `json:"EMAIL"`
			NAME         string  `json:"NAME"`
			LASTNAME     string  `json:"LAST_NAME"`
			ACTIVE       bool    `json:"ACTIVE"`
			UFDEPARTMENT []int64 `json:"UF_DEPARTMENT"`
		}
		us := make([]u, 0, len(pt.Directory.Users))
		for _, x := range pt.Directory.Users {
			first, last, _ := strings.Cut(x.Name, " ")
			us = append(us, u{strconv.FormatInt(x.ID, 10), x.Email, first, last, !x.Inactive, x.Departments})
		}
		// FILTER[>ID], SORT=ID, ORDER=ASC|DESC (keys in either case).
		gt := either(p, []string{"FILTER", ">ID"}, []string{"filter", ">ID"})
		dir := sortDir(either(p, []string{"SORT"}, []string{"sort"}), either(p, []string{"ORDER"}, []string{"order"}))
		return byID(us, func(x u) int64 { return atoi64(x.ID) }, gt, dir, p)
	case method == "department.get":
		ds := make([]map[string]string, 0, len(pt.Directory.Departments))
		for _, d := range pt.Directory.Departments {
			m := map[string]string{"ID": strconv.FormatInt(d.ID, 10), "NAME": d.Name}
			if d.Parent != 0 {
				m["PARENT"] = strconv.FormatInt(d.Parent, 10)
			}
			if d.Head != 0 {
				m["UF_HEAD"] = strconv.FormatInt(d.Head, 10)
			}
			ds = append(ds, m)
		}
		// Filters are top-level keys (">ID"); sort and order are lower
		// case: SORT filters by the SORT field.
		dir := sortDir(get(p, "sort"), get(p, "order"))
		return byID(ds, func(m map[string]string) int64 { return atoi64(m["ID"]) }, get(p, ">ID"), dir, p)
	case method == "sonet_group.get":
		gs := make([]map[string]string, 0, len(pt.Workgroups))
		// GROUP_ID picks one group (socialnetwork/classes/general/rest.php
		// getGroup: $filter['ID'] = $arFields['GROUP_ID']).
		only := getInt(p, "GROUP_ID")
		for _, g := range pt.Workgroups {
			if only > 0 && g.ID != only {
				continue
			}
			gs = append(gs, map[string]string{"ID": strconv.FormatInt(g.ID, 10), "NAME": g.Name, "VISIBLE": yn(g.Visible), "OPENED": yn(g.Opened),
				"OWNER_ID": strconv.FormatInt(g.Owner, 10), "CLOSED": "N", "ACTIVE": "Y"})
		}
		// FILTER[>ID], ORDER[ID]=ASC|DESC; the documented default is ID DESC.
		gt := either(p, []string{"FILTER", ">ID"}, []string{"filter", ">ID"})
		dir := either(p, []string{"ORDER", "ID"}, []string{"order", "ID"})
		if dir == "" && !has(p, "ORDER") {
			dir = "DESC"
		}
		return byID(gs, func(m map[string]string) int64 { return atoi64(m["ID"]) }, gt, dir, p)
	case method == "sonet_group.user.get":
		g := s.group(getInt(p, "ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		out := []map[string]string{{"USER_ID": strconv.FormatInt(g.Owner, 10), "ROLE": "A"}}
		for _, m := range g.Moderators {
			out = append(out, map[string]string{"USER_ID": strconv.FormatInt(m, 10), "ROLE": "E"})
		}
		for _, m := range g.Members {
			out = append(out, map[string]string{"USER_ID": strconv.FormatInt(m, 10), "ROLE": "K"})
		}
		return out, -1, 0, nil
	case method == "user.access":
		codes := s.callerCodes()
		for _, c := range list(p, "ACCESS") {
			if codes[c] {
				return true, -1, 0, nil
			}
		}
		return false, -1, 0, nil
	case method == "crm.type.list":
		var types []map[string]any
		for _, sp := range pt.SmartProcesses {
			types = append(types, map[string]any{"id": sp.ID, "entityTypeId": sp.ID, "title": sp.Title, "isCategoriesEnabled": "Y", "isStagesEnabled": "Y"})
		}
		return map[string]any{"types": types}, len(types), 0, nil
	case method == "crm.category.list":
		etid := getInt(p, "entityTypeId")
		if !s.categoriesOf(etid) {
			return nil, 0, 0, &apiErr{400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type is not supported"}
		}
		var cats []map[string]any
		readable := s.readablePipelines()
		for _, pl := range pt.Pipelines {
			if local.EntityTypeID(pl.Entity) == etid && (etid != 2 || readable == nil || readable[pl.ID]) {
				cats = append(cats, map[string]any{"id": pl.ID, "name": pl.Name, "isDefault": yn(pl.ID == 0), "entityTypeId": etid})
			}
		}
		return map[string]any{"categories": cats}, len(cats), 0, nil
	case method == "crm.status.list":
		var out []map[string]any
		for _, pl := range pt.Pipelines {
			ent := local.StatusEntityID(pl)
			if f := get(p, "filter", "ENTITY_ID"); f != "" && f != ent {
				continue
			}
			for i, st := range pl.Stages {
				out = append(out, map[string]any{"ID": strconv.FormatInt(statusRowID(&pl, i), 10), "ENTITY_ID": ent, "STATUS_ID": st.StatusID, "NAME": st.Name, "SORT": (i + 1) * 10})
			}
		}
		return out, len(out), 0, nil
	case method == "voximplant.line.get":
		out := map[string]string{}
		for _, l := range pt.Directory.TelephonyLines {
			out[l.ID] = l.Name
		}
		return out, -1, 0, nil
	case method == "imopenlines.config.list.get":
		// PARAMS{limit ≤ 200, offset}; OPTIONS{QUEUE, CONFIG_QUEUE}. No
		// total: callers page until a short page.
		limit, offset := getInt(p, "PARAMS", "limit"), getInt(p, "PARAMS", "offset")
		if limit <= 0 || limit > 200 {
			limit = 50
		}
		var out []map[string]any
		for i := range pt.OpenChannels {
			out = append(out, s.channelJSON(&pt.OpenChannels[i], get(p, "OPTIONS", "QUEUE") == "Y", get(p, "OPTIONS", "CONFIG_QUEUE") == "Y"))
		}
		if int(offset) > len(out) {
			offset = int64(len(out))
		}
		return out[offset:min(int(offset+limit), len(out))], -1, 0, nil
	case method == "imopenlines.config.get":
		c := s.channel(getInt(p, "CONFIG_ID"))
		if c == nil {
			return false, -1, 0, nil
		}
		return s.channelJSON(c, get(p, "WITH_QUEUE") != "N", true), -1, 0, nil
	case method == "imopenlines.config.add":
		id := int64(0)
		for _, c := range pt.OpenChannels {
			id = max(id, c.ID)
		}
		id++
		c := local.OpenChannel{ID: id, Name: get(p, "PARAMS", "LINE_NAME"), Active: get(p, "PARAMS", "ACTIVE") != "N", QueueType: get(p, "PARAMS", "QUEUE_TYPE")}
		if c.QueueType == "" {
			c.QueueType = "all"
		}
		q, err := queueParam(p)
		if err != nil {
			return nil, 0, 0, &apiErr{400, "INVALID_FORMAT", err.Error()}
		}
		c.Queue = q
		pt.OpenChannels = append(pt.OpenChannels, c)
		return id, -1, 0, nil
	case method == "imopenlines.config.update":
		c := s.channel(getInt(p, "CONFIG_ID"))
		if c == nil {
			return nil, 0, 0, &apiErr{400, "CONFIG_NOT_FOUND", "Config not found"}
		}
		if v := get(p, "PARAMS", "LINE_NAME"); v != "" {
			c.Name = v
		}
		if v := get(p, "PARAMS", "ACTIVE"); v != "" {
			c.Active = v == "Y"
		}
		if v := get(p, "PARAMS", "QUEUE_TYPE"); v != "" {
			c.QueueType = v
		}
		if hasQueue(p) {
			q, err := queueParam(p)
			if err != nil {
				return nil, 0, 0, &apiErr{400, "INVALID_FORMAT", err.Error()}
			}
			if s.opts.QueueMerges {
				for _, e := range c.Queue {
					if !slices.Contains(q, e) {
						q = append(q, e)
					}
				}
			}
			c.Queue = q
		}
		return true, -1, 0, nil
	case method == "imopenlines.config.delete":
		id := getInt(p, "CONFIG_ID")
		n := len(pt.OpenChannels)
		pt.OpenChannels = slices.DeleteFunc(pt.OpenChannels, func(c local.OpenChannel) bool { return c.ID == id })
		if len(pt.OpenChannels) == n {
			return nil, 0, 0, &apiErr{400, "CONFIG_NOT_FOUND", "Config not found"}
		}
		return true, -1, 0, nil
	case method == "sonet_group.create":
		id := int64(0)
		for _, g := range pt.Workgroups {
			id = max(id, g.ID)
		}
		id++
		pt.Workgroups = append(pt.Workgroups, local.Workgroup{ID: id, Name: get(p, "NAME"), Visible: get(p, "VISIBLE") != "N", Opened: get(p, "OPENED") == "Y", Owner: getInt(p, "OWNER_ID")})
		return id, -1, 0, nil
	case method == "sonet_group.update":
		g := s.group(getInt(p, "GROUP_ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		if v := get(p, "NAME"); v != "" {
			g.Name = v
		}
		if v := get(p, "VISIBLE"); v != "" {
			g.Visible = v == "Y"
		}
		if v := get(p, "OPENED"); v != "" {
			g.Opened = v == "Y"
		}
		return g.ID, -1, 0, nil
	case method == "sonet_group.setowner":
		g := s.group(getInt(p, "GROUP_ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		uid := getInt(p, "USER_ID")
		old := g.Owner
		if uid == old {
			return true, -1, 0, nil
		}
		g.Owner = uid
		g.Members = slices.DeleteFunc(g.Members, func(x int64) bool { return x == uid })
		g.Moderators = slices.DeleteFunc(g.Moderators, func(x int64) bool { return x == uid })
		g.Members = append(g.Members, old)
		return true, -1, 0, nil
	case method == "sonet_group.delete":
		id := getInt(p, "GROUP_ID")
		n := len(pt.Workgroups)
		pt.Workgroups = slices.DeleteFunc(pt.Workgroups, func(g local.Workgroup) bool { return g.ID == id })
		if len(pt.Workgroups) == n {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		return true, -1, 0, nil
	case method == "sonet_group.user.add", method == "sonet_group.user.delete", method == "sonet_group.user.update":
		g := s.group(getInt(p, "GROUP_ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		uid := getInt(p, "USER_ID")
		if uid == g.Owner {
			return []int64{}, -1, 0, nil // the owner is protected: silently nothing
		}
		g.Members = slices.DeleteFunc(g.Members, func(x int64) bool { return x == uid })
		g.Moderators = slices.DeleteFunc(g.Moderators, func(x int64) bool { return x == uid })
		switch {
		case method == "sonet_group.user.add":
			g.Members = append(g.Members, uid)
		case method == "sonet_group.user.update" && get(p, "ROLE") == "E":
			g.Moderators = append(g.Moderators, uid)
		case method == "sonet_group.user.update":
			g.Members = append(g.Members, uid)
		}
		slices.Sort(g.Members)
		slices.Sort(g.Moderators)
		return []int64{uid}, -1, 0, nil
	case method == "crm.category.add":
		etid := getInt(p, "entityTypeId")
		if !s.categoriesOf(etid) {
			return nil, 0, 0, &apiErr{400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type is not supported"}
		}
		entity := local.StoredEntity(etid)
		id := int64(0)
		for _, pl := range pt.Pipelines {
			if pl.Entity == entity {
				id = max(id, pl.ID)
			}
		}
		id++
		np := local.Pipeline{ID: id, Entity: entity, Name: get(p, "fields", "name")}
		// New pipelines get default stages, as on a real portal.
		defaults := []struct{ k, n string }{{"NEW", "New"}, {"WON", "Deal won"}, {"LOSE", "Deal lost"}}
		if etid != 2 {
			defaults = []struct{ k, n string }{{"NEW", "Start"}, {"SUCCESS", "Success"}, {"FAIL", "Failed"}}
		}
		for _, d := range defaults {
			np.Stages = append(np.Stages, graphStage(strings.ToLower(d.k), d.n, bitrix.StatusPrefix(etid, id)+d.k))
		}
		pt.Pipelines = append(pt.Pipelines, np)
		return map[string]any{"category": map[string]any{"id": id, "name": np.Name}}, -1, 0, nil
	case method == "crm.category.update", method == "crm.category.delete":
		id := getInt(p, "id")
		entity := local.StoredEntity(cmp.Or(getInt(p, "entityTypeId"), 2))
		i := slices.IndexFunc(pt.Pipelines, func(pl local.Pipeline) bool { return pl.Entity == entity && pl.ID == id })
		if i < 0 || id == 0 {
			return nil, 0, 0, &apiErr{400, "NOT_FOUND", "Category not found or it is the default one"}
		}
		if method == "crm.category.delete" {
			pt.Pipelines = slices.Delete(pt.Pipelines, i, i+1)
			return true, -1, 0, nil
		}
		if v := get(p, "fields", "name"); v != "" {
			pt.Pipelines[i].Name = v
		}
		return map[string]any{"category": map[string]any{"id": id}}, -1, 0, nil
	case method == "crm.status.add":
		ent := get(p, "fields", "ENTITY_ID")
		pl := s.pipelineOf(ent)
		if pl == nil {
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "Unknown ENTITY_ID"}
		}
		sid := get(p, "fields", "STATUS_ID")
		if !strings.Contains(sid, ":") {
			sid = bitrix.StatusPrefix(local.EntityTypeID(pl.Entity), pl.ID) + sid
		}
		pl.Stages = append(pl.Stages, graphStage(strings.ToLower(sid[strings.IndexByte(sid, ':')+1:]), get(p, "fields", "NAME"), sid))
		return statusRowID(pl, len(pl.Stages)-1), -1, 0, nil
	case method == "crm.status.update", method == "crm.status.delete":
		id := getInt(p, "id")
		for pi := range pt.Pipelines {
			pl := &pt.Pipelines[pi]
			for i := range pl.Stages {
				if statusRowID(pl, i) != id {
					continue
				}
				if method == "crm.status.delete" {
					pl.Stages = slices.Delete(pl.Stages, i, i+1)
				} else if v := get(p, "fields", "NAME"); v != "" {
					pl.Stages[i].Name = v
				}
				return true, -1, 0, nil
			}
		}
		return nil, 0, 0, &apiErr{400, "ERROR_CORE", "Status not found"}
	case method == "profile":
		return map[string]any{"ID": "1", "ADMIN": true}, -1, 0, nil
	}
	return nil, 0, 0, &apiErr{404, "ERROR_METHOD_NOT_FOUND", "Method not found!"}
}

func (s *Server) group(id int64) *local.Workgroup {
	for i := range s.portal.Workgroups {
		if s.portal.Workgroups[i].ID == id {
			return &s.portal.Workgroups[i]
		}
	}
	return nil
}

var refRe = regexp.MustCompile(`\$result\[([^\]]+)\]((?:\[[^\]]+\])*)`)

var segRe = regexp.MustCompile(`\[([^\]]+)\]`)

// resolve reads a reference to an earlier command's result:
// $result[key] is the result itself, $result[key][FIELD] a field of it,
// $result[key][49][ID] the ID of the 50th item of a list. ok is false when
// the command failed or did not run, or the path does not exist (a list
// shorter than the index).
func resolve(results map[string]any, key, path string) (string, bool) {
	v, ok := results[key]
	if !ok {
		return "", false
	}
	if path == "" {
		return fmt.Sprint(v), true
	}
	// Walk the result in its JSON form, as the portal walks its array.
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	var cur any
	if json.Unmarshal(b, &cur) != nil {
		return "", false
	}
	for _, seg := range segRe.FindAllStringSubmatch(path, -1) {
		switch c := cur.(type) {
		case map[string]any:
			if cur, ok = c[seg[1]]; !ok {
				return "", false
			}
		case []any:
			i, err := strconv.Atoi(seg[1])
			if err != nil || i < 0 || i >= len(c) {
				return "", false
			}
			cur = c[i]
		default:
			return "", false
		}
	}
	switch x := cur.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return fmt.Sprint(cur), true
}

// batch runs up to 50 commands sequentially, substituting $result[...]
// references; failures are reported per command (halt=0 keeps going).
func (s *Server) batch(p map[string]any) (any, int, int, *apiErr) {
	cmds, _ := p["cmd"].(map[string]any)
	if len(cmds) > 50 {
		return nil, 0, 0, &apiErr{400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"}
	}
	halt := get(p, "halt") == "1"
	keys := make([]string, 0, len(cmds))
	for k := range cmds {
		keys = append(keys, k)
	}
	// Commands run in the order of the cmd object; a JSON object decoded
	// into a map has lost it, and clients send sorted keys, so sort.
	slices.Sort(keys)
	results, errs, totals, nexts := map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
	for _, k := range keys {
		raw, _ := cmds[k].(string)
		method, query, _ := strings.Cut(raw, "?")
		if method == "batch" {
			return nil, 0, 0, &apiErr{405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Nested batch is not allowed"}
		}
		vals, _ := url.ParseQuery(query)
		sub := map[string]any{}
		for k, v := range vals {
			// References are substituted in decoded values, so they work
			// whether the client left them literal or URL-encoded them.
			sub[k] = refRe.ReplaceAllStringFunc(v[0], func(ref string) string {
				m := refRe.FindStringSubmatch(ref)
				if val, ok := resolve(results, m[1], m[2]); ok {
					return val
				}
				return ref // unresolvable: passed on literally, as Bitrix does
			})
		}
		res, total, next, e := s.call(method, sub)
		if e != nil {
			errs[k] = map[string]string{"error": e.code, "error_description": e.desc}
			if halt {
				break
			}
			continue
		}
		results[k] = res
		if total >= 0 {
			totals[k] = total
		}
		if next > 0 {
			nexts[k] = next
		}
	}
	return map[string]any{"result": results, "result_error": errs, "result_total": totals, "result_next": nexts}, -1, 0, nil
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// statusRowID numbers stage rows the way b_crm_status IDs look: stable
// while the pipeline's stages do not change.
// statusRowID is a stable b_crm_status.ID for a stage: unique across
// entity types and categories.
func statusRowID(pl *local.Pipeline, i int) int64 {
	return local.EntityTypeID(pl.Entity)*1_000_000 + pl.ID*1000 + int64(i) + 1
}

// categoriesOf reports whether an entity type has categories here: deals
// and the portal's smart processes.
func (s *Server) categoriesOf(etid int64) bool {
	return etid == 2 || slices.ContainsFunc(s.portal.SmartProcesses, func(sp local.SmartProcess) bool { return sp.ID == etid })
}

func (s *Server) pipelineOf(entityID string) *local.Pipeline {
	for i := range s.portal.Pipelines {
		if pl := &s.portal.Pipelines[i]; local.StatusEntityID(*pl) == entityID {
			return pl
		}
	}
	return nil
}

func graphStage(key, name, statusID string) graph.Stage {
	return graph.Stage{Key: key, Name: name, StatusID: statusID}
}

// list reads a list parameter in JSON ([...]) or query (ACCESS[0]=…) form.
func list(p map[string]any, name string) []string {
	var out []string
	if l, ok := p[name].([]any); ok {
		for _, v := range l {
			out = append(out, fmt.Sprint(v))
		}
	}
	for i := 0; ; i++ {
		v, ok := p[fmt.Sprintf("%s[%d]", name, i)]
		if !ok {
			break
		}
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// callerCodes are the access codes of the calling user, as b_user_access
// holds them.
func (s *Server) callerCodes() map[string]bool {
	codes := map[string]bool{}
	if s.caller == 0 {
		return codes
	}
	g, _ := s.portal.ToGraph()
	r := access.New(g, g.Directory)
	if u, ok := r.LookupUser(strconv.FormatInt(s.caller, 10)); ok {
		for _, h := range r.UserSubjects(u) {
			if h.Code != "" {
				codes[h.Code] = true
			}
		}
	}
	return codes
}

// readablePipelines are the deal categories the caller may read (nil for
// the admin webhook), by Bitrix's merge rules over the portal's roles.
func (s *Server) readablePipelines() map[int64]bool {
	if s.caller == 0 {
		return nil
	}
	g, _ := s.portal.ToGraph()
	r := access.New(g, g.Directory)
	u, ok := r.LookupUser(strconv.FormatInt(s.caller, 10))
	out := map[int64]bool{}
	if !ok {
		return out
	}
	for _, pl := range g.Pipelines {
		if pl.Entity != "deal" {
			continue
		}
		if r.CRM(u, access.CRMQuery{Entity: "deal", Pipeline: pl.Key, Action: "read"}).Level != "none" {
			out[pl.ID] = true
		}
	}
	return out
}

func (s *Server) channel(id int64) *local.OpenChannel {
	for i := range s.portal.OpenChannels {
		if s.portal.OpenChannels[i].ID == id {
			return &s.portal.OpenChannels[i]
		}
	}
	return nil
}

// channelJSON renders a configuration: QUEUE holds the resolved user IDs
// (departments expanded), CONFIG_QUEUE the configured entries.
func (s *Server) channelJSON(c *local.OpenChannel, queue, configQueue bool) map[string]any {
	m := map[string]any{"ID": strconv.FormatInt(c.ID, 10), "ACTIVE": yn(c.Active), "LINE_NAME": c.Name, "QUEUE_TYPE": c.QueueType}
	if queue {
		var ids []string
		for _, q := range c.Queue {
			if q.Type == "user" {
				ids = append(ids, strconv.FormatInt(q.ID, 10))
				continue
			}
			for _, u := range s.portal.Directory.Users {
				if slices.Contains(u.Departments, q.ID) {
					ids = append(ids, strconv.FormatInt(u.ID, 10))
				}
			}
		}
		m["QUEUE"] = ids
	}
	if configQueue {
		cq := []map[string]string{}
		for _, q := range c.Queue {
			cq = append(cq, map[string]string{"ENTITY_TYPE": q.Type, "ENTITY_ID": strconv.FormatInt(q.ID, 10)})
		}
		m["CONFIG_QUEUE"] = cq
	}
	return m
}

func hasQueue(p map[string]any) bool {
	if pm, ok := p["PARAMS"].(map[string]any); ok {
		_, ok := pm["QUEUE"]
		return ok
	}
	for k := range p {
		if strings.HasPrefix(k, "PARAMS[QUEUE]") {
			return true
		}
	}
	return false
}

// queueParam reads PARAMS.QUEUE, [{ENTITY_TYPE, ENTITY_ID}], in JSON or
// query form.
func queueParam(p map[string]any) ([]local.QueueEntry, error) {
	var raw []map[string]any
	if pm, ok := p["PARAMS"].(map[string]any); ok {
		if l, ok := pm["QUEUE"].([]any); ok {
			for _, x := range l {
				m, ok := x.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("QUEUE entries must be objects")
				}
				raw = append(raw, m)
			}
		}
	} else {
		for i := 0; ; i++ {
			t, ok := p[fmt.Sprintf("PARAMS[QUEUE][%d][ENTITY_TYPE]", i)]
			if !ok {
				break
			}
			raw = append(raw, map[string]any{"ENTITY_TYPE": t, "ENTITY_ID": p[fmt.Sprintf("PARAMS[QUEUE][%d][ENTITY_ID]", i)]})
		}
	}
	var out []local.QueueEntry
	for _, m := range raw {
		typ := fmt.Sprint(m["ENTITY_TYPE"])
		if typ != "user" && typ != "department" {
			return nil, fmt.Errorf("unknown queue ENTITY_TYPE %q", typ)
		}
		ids := fmt.Sprint(m["ENTITY_ID"])
		if f, ok := m["ENTITY_ID"].(float64); ok {
			ids = strconv.FormatFloat(f, 'f', -1, 64)
		}
		id, err := strconv.ParseInt(ids, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("invalid queue ENTITY_ID %v", m["ENTITY_ID"])
		}
		out = append(out, local.QueueEntry{Type: typ, ID: id})
	}
	return out, nil
}
