// Package sim is a Bitrix24 REST simulator: it serves a portal in the
// table model of package bitrix (the rows a portal's database holds),
// reading and writing those rows as Bitrix's REST methods do, with the
// real request and response shapes of the
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
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
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
	// PageCut, when set, sees every successful method call whose result
	// is a list (each command of a batch on its own): keep ≥ 0 answers
	// only the first keep items, with no error — a page cut short, as a
	// portal or proxy under load may serve. It runs under the server's
	// lock.
	PageCut func(method string, params map[string]any, items int) (keep int)
	// QueueMerges makes imopenlines.config.update add the given queue to
	// the existing one instead of replacing it: a write that succeeds but
	// reads back differently.
	QueueMerges bool
	// Lines are the telephony lines voximplant.line.get lists (Bitrix
	// gathers them from several voximplant tables the portal model does
	// not hold).
	Lines []graph.TelephonyLine
	// DropParams makes the server ignore parameters of a method (method →
	// names; "PARAMS.QUEUE_TYPE" reaches into a nested object): the call
	// succeeds, the field is not written, as a portal whose version or
	// edition ignores it would.
	DropParams map[string][]string
}

// Server serves one portal.
type Server struct {
	mu       sync.Mutex
	portal   *bitrix.Portal
	opts     Options
	level    float64
	last     time.Time
	rng      *rand.Rand
	Requests int
	Limited  int
	// caller is the user of the current request (0: the admin webhook).
	caller int64
}

// New returns a simulator serving portal; the REST methods read and
// change its rows in place.
func New(portal *bitrix.Portal, o Options) *Server {
	raiseCounters(portal)
	return &Server{portal: portal, opts: o, last: time.Now(), rng: rand.New(rand.NewPCG(1, 1))}
}

// raiseCounters lifts the auto-increment counters of the tables the
// REST methods insert into above every ID present, so rows a caller
// added by hand never collide with new ones.
func raiseCounters(p *bitrix.Portal) {
	if p.Counters == nil {
		p.Counters = map[string]int64{}
	}
	raise(p, bitrix.TCategory, p.Categories, func(r bitrix.Category) int64 { return r.ID })
	raise(p, bitrix.TStatus, p.Statuses, func(r bitrix.Status) int64 { return r.ID })
	raise(p, bitrix.TSonetGroup, p.SonetGroups, func(r bitrix.SonetGroup) int64 { return r.ID })
	raise(p, bitrix.TUser2Group, p.User2Group, func(r bitrix.User2Group) int64 { return r.ID })
	raise(p, bitrix.TOLConfig, p.OLConfigs, func(r bitrix.OLConfig) int64 { return r.ID })
	raise(p, bitrix.TOLQueue, p.OLQueue, func(r bitrix.OLQueue) int64 { return r.ID })
}

func raise[T any](p *bitrix.Portal, table string, rows []T, id func(T) int64) {
	for _, r := range rows {
		p.Counters[table] = max(p.Counters[table], id(r))
	}
}

// Portal returns the simulated portal (tests read it back). It waits for
// the request being served, so a client that gave up mid-request (a
// cancelled apply) reads the portal as that request left it.
func (s *Server) Portal() *bitrix.Portal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.portal
}

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
	res, total, next, e := s.call1(method, p)
	if f := s.opts.PageCut; f != nil && e == nil && method != "batch" {
		if v := reflect.ValueOf(res); v.Kind() == reflect.Slice {
			if keep := f(method, p, v.Len()); keep >= 0 && keep < v.Len() {
				res = v.Slice(0, keep).Interface()
			}
		}
	}
	return res, total, next, e
}

func (s *Server) call1(method string, p map[string]any) (any, int, int, *apiErr) {
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
			USERTYPE     string  `json:"USER_TYPE"`
		}
		// USER_TYPE extranet: a member of the extranet module's group
		// (option extranet/extranet_group).
		extranet, _ := strconv.ParseInt(pt.Option("extranet", "extranet_group", ""), 10, 64)
		us := make([]u, 0, len(pt.Users))
		for _, x := range pt.Users {
			typ := "employee"
			if extranet > 0 && slices.Contains(x.Groups, extranet) {
				typ = "extranet"
			}
			us = append(us, u{strconv.FormatInt(x.ID, 10), x.Email, x.Name, x.LastName, x.Active != "N", x.UFDepartment, typ})
		}
		// FILTER[>ID], SORT=ID, ORDER=ASC|DESC (keys in either case).
		gt := either(p, []string{"FILTER", ">ID"}, []string{"filter", ">ID"})
		dir := sortDir(either(p, []string{"SORT"}, []string{"sort"}), either(p, []string{"ORDER"}, []string{"order"}))
		return byID(us, func(x u) int64 { return atoi64(x.ID) }, gt, dir, p)
	case method == "department.get":
		ds := make([]map[string]string, 0, len(pt.Departments))
		for _, d := range pt.Departments {
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
		gs := make([]map[string]string, 0, len(pt.SonetGroups))
		// GROUP_ID picks one group (socialnetwork/classes/general/rest.php
		// getGroup: $filter['ID'] = $arFields['GROUP_ID']).
		only := getInt(p, "GROUP_ID")
		for _, g := range pt.SonetGroups {
			if only > 0 && g.ID != only {
				continue
			}
			gs = append(gs, map[string]string{"ID": strconv.FormatInt(g.ID, 10), "NAME": g.Name, "VISIBLE": g.Visible, "OPENED": g.Opened,
				"OWNER_ID": strconv.FormatInt(g.OwnerID, 10), "CLOSED": cmp.Or(g.Closed, "N"), "INITIATE_PERMS": g.InitiatePerms, "ACTIVE": "Y"})
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
		// Members only: the method filters ROLE <= K (owner A, moderator
		// E, member K); banned (T) and requests (Z) are not listed.
		out := []map[string]string{}
		for _, m := range sortedRows(pt.User2Group, func(m bitrix.User2Group) int64 { return m.ID }) {
			if m.GroupID == g.ID && (m.Role == "A" || m.Role == "E" || m.Role == "K") {
				out = append(out, map[string]string{"USER_ID": strconv.FormatInt(m.UserID, 10), "ROLE": m.Role})
			}
		}
		return out, -1, 0, nil
	case method == "socialnetwork.api.usertogroup.list":
		// UserToGroup::listAction (socialnetwork/lib/controller/
		// usertogroup.php): every relation, members or not, filtered by
		// GROUP_ID and ROLE, keys in camel case, under "relations"; 50 a
		// page.
		gid, role := getInt(p, "filter", "GROUP_ID"), get(p, "filter", "ROLE")
		var rows []map[string]string
		for _, m := range sortedRows(pt.User2Group, func(m bitrix.User2Group) int64 { return m.ID }) {
			if (gid > 0 && m.GroupID != gid) || (role != "" && m.Role != role) {
				continue
			}
			r := map[string]string{"id": strconv.FormatInt(m.ID, 10), "userId": strconv.FormatInt(m.UserID, 10), "groupId": strconv.FormatInt(m.GroupID, 10), "role": m.Role}
			if m.InitiatedByType != "" {
				r["initiatedByType"] = m.InitiatedByType
			}
			rows = append(rows, r)
		}
		if rows == nil {
			rows = []map[string]string{}
		}
		items, total, next := page(rows, p)
		return map[string]any{"relations": items}, total, next, nil
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
		for _, sp := range sortedRows(pt.SmartTypes, func(t bitrix.SmartType) int64 { return t.ID }) {
			types = append(types, map[string]any{"id": sp.ID, "entityTypeId": sp.EntityTypeID, "title": sp.Title, "isCategoriesEnabled": "Y", "isStagesEnabled": cmp.Or(sp.IsStagesEnabled, "Y"),
				"isAutomationEnabled": cmp.Or(sp.IsAutomationEnabled, "Y"), "isSetOpenPermissions": cmp.Or(sp.IsSetOpenPermissions, "Y"), "customSectionId": sp.CustomSectionID})
		}
		return map[string]any{"types": types}, len(types), 0, nil
	case method == "crm.category.list":
		etid := getInt(p, "entityTypeId")
		if !s.categoriesOf(etid) {
			return nil, 0, 0, &apiErr{400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type is not supported"}
		}
		var cats []map[string]any
		readable := s.readablePipelines()
		for _, c := range sortedRows(pt.Categories, func(c bitrix.Category) int64 { return c.ID }) {
			if c.EntityTypeID == etid && (etid != bitrix.EntityTypeDeal || readable == nil || readable[c.ID]) {
				cats = append(cats, map[string]any{"id": c.ID, "name": c.Name, "sort": c.Sort, "isDefault": cmp.Or(c.IsDefault, "N"), "entityTypeId": etid})
			}
		}
		return map[string]any{"categories": cats}, len(cats), 0, nil
	case method == "crm.status.list":
		rows := slices.Clone(pt.Statuses)
		slices.SortStableFunc(rows, func(a, b bitrix.Status) int {
			return cmp.Or(cmp.Compare(a.EntityID, b.EntityID), cmp.Compare(a.Sort, b.Sort), cmp.Compare(a.ID, b.ID))
		})
		var out []map[string]any
		for _, st := range rows {
			if f := get(p, "filter", "ENTITY_ID"); f != "" && f != st.EntityID {
				continue
			}
			m := map[string]any{"ID": strconv.FormatInt(st.ID, 10), "ENTITY_ID": st.EntityID, "STATUS_ID": st.StatusID, "NAME": st.Name, "SORT": st.Sort}
			if st.Semantics != "" {
				m["SEMANTICS"] = st.Semantics
			}
			if _, cat, ok := bitrix.ParseStatusEntityID(st.EntityID); ok {
				m["CATEGORY_ID"] = strconv.FormatInt(cat, 10)
			}
			out = append(out, m)
		}
		return out, len(out), 0, nil
	case method == "voximplant.line.get":
		out := map[string]string{}
		for _, l := range s.opts.Lines {
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
		for _, c := range sortedRows(pt.OLConfigs, func(c bitrix.OLConfig) int64 { return c.ID }) {
			out = append(out, s.channelJSON(c, get(p, "OPTIONS", "QUEUE") == "Y", get(p, "OPTIONS", "CONFIG_QUEUE") == "Y"))
		}
		if int(offset) > len(out) {
			offset = int64(len(out))
		}
		return out[offset:min(int(offset+limit), len(out))], -1, 0, nil
	case method == "imopenlines.config.get":
		i := s.channel(getInt(p, "CONFIG_ID"))
		if i < 0 {
			return false, -1, 0, nil
		}
		return s.channelJSON(pt.OLConfigs[i], get(p, "WITH_QUEUE") != "N", true), -1, 0, nil
	case method == "imopenlines.config.add":
		c := bitrix.OLConfig{ID: pt.NextID(bitrix.TOLConfig), LineName: get(p, "PARAMS", "LINE_NAME"), Active: "Y", QueueType: cmp.Or(get(p, "PARAMS", "QUEUE_TYPE"), "all")}
		if get(p, "PARAMS", "ACTIVE") == "N" {
			c.Active = "N"
		}
		q, err := queueParam(p)
		if err != nil {
			return nil, 0, 0, &apiErr{400, "INVALID_FORMAT", err.Error()}
		}
		pt.OLConfigs = append(pt.OLConfigs, c)
		s.setQueue(c.ID, q)
		return c.ID, -1, 0, nil
	case method == "imopenlines.config.update":
		i := s.channel(getInt(p, "CONFIG_ID"))
		if i < 0 {
			return nil, 0, 0, &apiErr{400, "CONFIG_NOT_FOUND", "Config not found"}
		}
		c := &pt.OLConfigs[i]
		if v := get(p, "PARAMS", "LINE_NAME"); v != "" {
			c.LineName = v
		}
		if v := get(p, "PARAMS", "ACTIVE"); v != "" {
			c.Active = yn(v == "Y")
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
				for _, e := range s.queueOf(c.ID) {
					if !slices.Contains(q, e) {
						q = append(q, e)
					}
				}
			}
			s.setQueue(c.ID, q)
		}
		return true, -1, 0, nil
	case method == "imopenlines.config.delete":
		id := getInt(p, "CONFIG_ID")
		if s.channel(id) < 0 {
			return nil, 0, 0, &apiErr{400, "CONFIG_NOT_FOUND", "Config not found"}
		}
		pt.OLConfigs = slices.DeleteFunc(pt.OLConfigs, func(c bitrix.OLConfig) bool { return c.ID == id })
		pt.OLQueue = slices.DeleteFunc(pt.OLQueue, func(q bitrix.OLQueue) bool { return q.ConfigID == id })
		return true, -1, 0, nil
	case method == "sonet_group.create":
		// CSocNetGroup::CreateGroup: the group row and the owner's
		// membership row (ROLE A).
		g := bitrix.SonetGroup{ID: pt.NextID(bitrix.TSonetGroup), Name: get(p, "NAME"), Visible: yn(get(p, "VISIBLE") != "N"), Opened: yn(get(p, "OPENED") == "Y"),
			Closed: yn(get(p, "CLOSED") == "Y"), OwnerID: getInt(p, "OWNER_ID"), InitiatePerms: cmp.Or(get(p, "INITIATE_PERMS"), "K")}
		if g.OwnerID == 0 {
			g.OwnerID = cmp.Or(s.caller, 1)
		}
		pt.SonetGroups = append(pt.SonetGroups, g)
		pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: pt.NextID(bitrix.TUser2Group), GroupID: g.ID, UserID: g.OwnerID, Role: "A"})
		return g.ID, -1, 0, nil
	case method == "sonet_group.update":
		g := s.group(getInt(p, "GROUP_ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		if v := get(p, "NAME"); v != "" {
			g.Name = v
		}
		if v := get(p, "VISIBLE"); v != "" {
			g.Visible = yn(v == "Y")
		}
		if v := get(p, "OPENED"); v != "" {
			g.Opened = yn(v == "Y")
		}
		if v := get(p, "CLOSED"); v != "" {
			g.Closed = yn(v == "Y")
		}
		return g.ID, -1, 0, nil
	case method == "sonet_group.setowner":
		g := s.group(getInt(p, "GROUP_ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		uid := getInt(p, "USER_ID")
		if uid == g.OwnerID {
			return true, -1, 0, nil
		}
		// CSocNetUserToGroup::SetOwner (socialnetwork/classes/general/
		// user_group.php): the old owner's row becomes a member (K), the
		// new owner's row (whatever its role) the owner (A), in place; a
		// new owner without a row gets one.
		if i := s.membership(g.ID, g.OwnerID); i >= 0 {
			pt.User2Group[i].Role = "K"
		}
		if i := s.membership(g.ID, uid); i >= 0 {
			pt.User2Group[i].Role = "A"
		} else {
			pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: pt.NextID(bitrix.TUser2Group), GroupID: g.ID, UserID: uid, Role: "A"})
		}
		g.OwnerID = uid
		return true, -1, 0, nil
	case method == "sonet_group.delete":
		id := getInt(p, "GROUP_ID")
		if s.group(id) == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		pt.SonetGroups = slices.DeleteFunc(pt.SonetGroups, func(g bitrix.SonetGroup) bool { return g.ID == id })
		pt.User2Group = slices.DeleteFunc(pt.User2Group, func(m bitrix.User2Group) bool { return m.GroupID == id })
		var feats []int64
		pt.Features = slices.DeleteFunc(pt.Features, func(f bitrix.Feature) bool {
			if f.EntityType == "G" && f.EntityID == id {
				feats = append(feats, f.ID)
				return true
			}
			return false
		})
		pt.FeaturePerms = slices.DeleteFunc(pt.FeaturePerms, func(fp bitrix.FeaturePerm) bool { return slices.Contains(feats, fp.FeatureID) })
		return true, -1, 0, nil
	case method == "sonet_group.user.add", method == "sonet_group.user.delete", method == "sonet_group.user.update":
		g := s.group(getInt(p, "GROUP_ID"))
		if g == nil {
			return nil, 0, 0, &apiErr{400, "", "Wrong group ID"}
		}
		uid := getInt(p, "USER_ID")
		if uid == g.OwnerID {
			return []int64{}, -1, 0, nil // the owner is protected: silently nothing
		}
		i := s.membership(g.ID, uid)
		switch {
		case method == "sonet_group.user.delete":
			if i < 0 {
				return []int64{}, -1, 0, nil
			}
			pt.User2Group = slices.Delete(pt.User2Group, i, i+1)
		case method == "sonet_group.user.add" && i >= 0:
			pt.User2Group[i].Role = "K" // a request or a ban becomes membership
		case method == "sonet_group.user.add":
			pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: pt.NextID(bitrix.TUser2Group), GroupID: g.ID, UserID: uid, Role: "K"})
		case i < 0:
			return []int64{}, -1, 0, nil // update of a non-member: nothing
		case get(p, "ROLE") == "E":
			pt.User2Group[i].Role = "E"
		default:
			pt.User2Group[i].Role = "K"
		}
		return []int64{uid}, -1, 0, nil
	case method == "crm.category.add":
		etid := getInt(p, "entityTypeId")
		if !s.categoriesOf(etid) {
			return nil, 0, 0, &apiErr{400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type is not supported"}
		}
		id := pt.NextID(bitrix.TCategory)
		c := bitrix.Category{ID: id, EntityTypeID: etid, Name: get(p, "fields", "name"), Sort: int(cmp.Or(getInt(p, "fields", "sort"), id*10)), IsDefault: "N"}
		pt.Categories = append(pt.Categories, c)
		// New pipelines get default stages, as on a real portal.
		defaults := []struct{ k, n, sem string }{{"NEW", "New", ""}, {"WON", "Deal won", "S"}, {"LOSE", "Deal lost", "F"}}
		if etid != bitrix.EntityTypeDeal {
			defaults = []struct{ k, n, sem string }{{"NEW", "Start", ""}, {"SUCCESS", "Success", "S"}, {"FAIL", "Failed", "F"}}
		}
		for i, d := range defaults {
			pt.Statuses = append(pt.Statuses, bitrix.Status{ID: pt.NextID(bitrix.TStatus), EntityID: bitrix.StatusEntityID(etid, id),
				StatusID: bitrix.StatusPrefix(etid, id) + d.k, Name: d.n, Sort: (i + 1) * 10, Semantics: d.sem})
		}
		// And default rights for the existing roles (DealCategory::add,
		// DefaultCategoryPermissions; provider/bitrix/defaults.go).
		pt.AddDefaultCategoryPermissions(etid, id)
		return map[string]any{"category": map[string]any{"id": id, "name": c.Name}}, -1, 0, nil
	case method == "crm.category.update", method == "crm.category.delete":
		id := getInt(p, "id")
		etid := cmp.Or(getInt(p, "entityTypeId"), bitrix.EntityTypeDeal)
		i := slices.IndexFunc(pt.Categories, func(c bitrix.Category) bool { return c.EntityTypeID == etid && c.ID == id })
		if i < 0 || pt.Categories[i].IsDefault == "Y" {
			return nil, 0, 0, &apiErr{400, "NOT_FOUND", "Category not found or it is the default one"}
		}
		if method == "crm.category.delete" {
			pt.Categories = slices.Delete(pt.Categories, i, i+1)
			eid := bitrix.StatusEntityID(etid, id)
			pt.Statuses = slices.DeleteFunc(pt.Statuses, func(st bitrix.Status) bool { return st.EntityID == eid })
			return true, -1, 0, nil
		}
		if v := get(p, "fields", "name"); v != "" {
			pt.Categories[i].Name = v
		}
		return map[string]any{"category": map[string]any{"id": id}}, -1, 0, nil
	case method == "crm.status.add":
		ent := get(p, "fields", "ENTITY_ID")
		etid, cat, ok := bitrix.ParseStatusEntityID(ent)
		if !ok || !s.hasStatusEntity(etid, cat) {
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "Unknown ENTITY_ID"}
		}
		sid := get(p, "fields", "STATUS_ID")
		if !strings.Contains(sid, ":") {
			sid = bitrix.StatusPrefix(etid, cat) + sid
		}
		// As CCrmStatus::Add (crm/classes/general/crm_status.php): SORT <= 0
		// is 10, no SEMANTICS is PROCESS (stored as NULL); StatusTable::
		// onBeforeAdd (crm/lib/statustable.php) refuses a second success
		// stage, a failure stage sorted before the success stage and an
		// in-progress one sorted after it.
		sort := max(int(getInt(p, "fields", "SORT")), 0)
		if sort == 0 {
			sort = 10
		}
		sem := get(p, "fields", "SEMANTICS")
		if sem == "P" {
			sem = ""
		}
		success := -1
		for _, st := range pt.Statuses {
			if st.EntityID == ent && st.Semantics == "S" && (success < 0 || st.Sort < success) {
				success = st.Sort
			}
		}
		switch {
		case sem == "S" && success >= 0:
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "There can be only one success stage"}
		case sem == "F" && success >= 0 && sort <= success:
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "A failure stage must be sorted after the success stage"}
		case sem == "" && success >= 0 && sort >= success:
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "An in-progress stage must be sorted before the success stage"}
		case sem != "" && sem != "S" && sem != "F":
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "Unsupported semantics"}
		}
		st := bitrix.Status{ID: pt.NextID(bitrix.TStatus), EntityID: ent, StatusID: sid, Name: get(p, "fields", "NAME"), Sort: sort, Semantics: sem}
		pt.Statuses = append(pt.Statuses, st)
		return st.ID, -1, 0, nil
	case method == "crm.status.update", method == "crm.status.delete":
		id := getInt(p, "id")
		i := slices.IndexFunc(pt.Statuses, func(st bitrix.Status) bool { return st.ID == id })
		if i < 0 {
			return nil, 0, 0, &apiErr{400, "ERROR_CORE", "Status not found"}
		}
		if method == "crm.status.delete" {
			pt.Statuses = slices.Delete(pt.Statuses, i, i+1)
			return true, -1, 0, nil
		}
		if v := get(p, "fields", "NAME"); v != "" {
			pt.Statuses[i].Name = v
		}
		if v := getInt(p, "fields", "SORT"); v != 0 {
			pt.Statuses[i].Sort = int(v)
		}
		return true, -1, 0, nil
	case method == "profile":
		return map[string]any{"ID": "1", "ADMIN": true}, -1, 0, nil
	}
	return nil, 0, 0, &apiErr{404, "ERROR_METHOD_NOT_FOUND", "Method not found!"}
}

// sortedRows returns rows in ID order (the order of a table's primary key).
func sortedRows[T any](rows []T, id func(T) int64) []T {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	return out
}

func (s *Server) group(id int64) *bitrix.SonetGroup {
	for i := range s.portal.SonetGroups {
		if s.portal.SonetGroups[i].ID == id {
			return &s.portal.SonetGroups[i]
		}
	}
	return nil
}

// membership is the index of a user's b_sonet_user2group row in a group
// (-1: none).
func (s *Server) membership(group, user int64) int {
	return slices.IndexFunc(s.portal.User2Group, func(m bitrix.User2Group) bool { return m.GroupID == group && m.UserID == user })
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

// categoriesOf reports whether an entity type has categories here: deals
// and the portal's smart processes.
func (s *Server) categoriesOf(etid int64) bool {
	return etid == bitrix.EntityTypeDeal || slices.ContainsFunc(s.portal.SmartTypes, func(t bitrix.SmartType) bool { return t.EntityTypeID == etid })
}

// hasStatusEntity reports whether the stages of a category may be added:
// lead statuses, or a category that exists.
func (s *Server) hasStatusEntity(etid, cat int64) bool {
	if etid == bitrix.EntityTypeLead {
		return cat == 0
	}
	return slices.ContainsFunc(s.portal.Categories, func(c bitrix.Category) bool { return c.EntityTypeID == etid && c.ID == cat })
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
	g, _ := bitrix.Read(s.portal)
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
	g, _ := bitrix.Read(s.portal)
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

// channel is the index of a b_imopenlines_config row (-1: none).
func (s *Server) channel(id int64) int {
	return slices.IndexFunc(s.portal.OLConfigs, func(c bitrix.OLConfig) bool { return c.ID == id })
}

// queueEntry is one configured queue entry: ENTITY_TYPE and ENTITY_ID.
type queueEntry struct {
	typ string
	id  int64
}

// queueOf is a configuration's queue in SORT order.
func (s *Server) queueOf(config int64) []queueEntry {
	var rows []bitrix.OLQueue
	for _, q := range s.portal.OLQueue {
		if q.ConfigID == config {
			rows = append(rows, q)
		}
	}
	slices.SortStableFunc(rows, func(a, b bitrix.OLQueue) int { return cmp.Or(cmp.Compare(a.Sort, b.Sort), cmp.Compare(a.ID, b.ID)) })
	out := make([]queueEntry, 0, len(rows))
	for _, q := range rows {
		out = append(out, queueEntry{q.EntityType, q.EntityID})
	}
	return out
}

// setQueue is QueueManager::update on a configuration's queue, as the
// other backends write it (bitrix.Portal.SetQueue): inactive users and
// users without a department are left out; the configured entries keep
// their rows with SORT 0, 1, 2…; b_imopenlines_queue lists the operators.
func (s *Server) setQueue(config int64, q []queueEntry) {
	entries := make([]bitrix.OLQueue, 0, len(q))
	for _, e := range q {
		entries = append(entries, bitrix.OLQueue{EntityType: e.typ, EntityID: e.id})
	}
	s.portal.SetQueue(config, entries)
}

// channelJSON renders a configuration: QUEUE holds the resolved user IDs
// (departments expanded to their users), CONFIG_QUEUE the configured
// entries.
func (s *Server) channelJSON(c bitrix.OLConfig, queue, configQueue bool) map[string]any {
	m := map[string]any{"ID": strconv.FormatInt(c.ID, 10), "ACTIVE": cmp.Or(c.Active, "Y"), "LINE_NAME": c.LineName, "QUEUE_TYPE": c.QueueType}
	entries := s.queueOf(c.ID)
	if queue {
		// The operators, b_imopenlines_queue in SORT order
		// (Config::get with QUEUE, imopenlines/lib/config.php).
		var ops []bitrix.OLOperator
		for _, o := range s.portal.OLOperators {
			if o.ConfigID == c.ID {
				ops = append(ops, o)
			}
		}
		slices.SortStableFunc(ops, func(a, b bitrix.OLOperator) int { return cmp.Or(cmp.Compare(a.Sort, b.Sort), cmp.Compare(a.ID, b.ID)) })
		ids := []string{}
		for _, o := range ops {
			ids = append(ids, strconv.FormatInt(o.UserID, 10))
		}
		m["QUEUE"] = ids
	}
	if configQueue {
		cq := []map[string]string{}
		for _, q := range entries {
			cq = append(cq, map[string]string{"ENTITY_TYPE": q.typ, "ENTITY_ID": strconv.FormatInt(q.id, 10)})
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
func queueParam(p map[string]any) ([]queueEntry, error) {
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
	var out []queueEntry
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
		out = append(out, queueEntry{typ, id})
	}
	return out, nil
}
