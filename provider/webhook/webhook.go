// Package webhook is the Bitrix24 cloud backend over the REST API. REST
// can read and write the directory, pipelines and workgroups, but has no
// methods for CRM, telephony or open-channel roles or field rules: those
// are reported as manual steps, never applied.
package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/rest"
)

// Provider is a cloud portal reached through an inbound webhook.
type Provider struct {
	c *rest.Client
	// Anomalies are the rows of the last Read the portal model cannot
	// represent (bitrix.Read), for the plan output.
	Anomalies []string
	// Unmanaged are what the last Read keeps but b24perm does not manage.
	Unmanaged []plan.Unmanaged
	// last is the last Read's portal tables and lastGraph its graph.
	last      *bitrix.Portal
	lastGraph *graph.Graph
	// noChannels says why open channels could not be read (no
	// imopenlines scope); they are then neither read nor written.
	noChannels string
	// noNonMembers says why banned members and join requests could not
	// be read (readNonMembers).
	noNonMembers string
	// smartIDs maps smart-process keys of the last read to entity type IDs.
	smartIDs map[string]int64
}

var _ provider.Provider = (*Provider)(nil)

// ParseSpec recognizes "webhook:URL".
func ParseSpec(spec string) (string, bool) { return strings.CutPrefix(spec, "webhook:") }

// New returns the backend for a webhook URL.
func New(webhookURL string, o rest.Options) (*Provider, error) {
	c, err := rest.New(webhookURL, o)
	if err != nil {
		return nil, err
	}
	return &Provider{c: c}, nil
}

// NewOAuth returns the backend for an OAuth app: endpoint is the portal's
// REST URL (https://PORTAL/rest/), token an access token.
func NewOAuth(endpoint, token string, o rest.Options) (*Provider, error) {
	o.AccessToken = token
	c, err := rest.New(endpoint, o)
	if err != nil {
		return nil, err
	}
	return &Provider{c: c}, nil
}

// Client exposes the REST client (request counts in benchmarks).
func (p *Provider) Client() *rest.Client { return p.c }

// Describe names the portal without the token.
func (p *Provider) Describe() string { return "webhook: " + p.c.Describe() }

// Capabilities: what REST can read and write.
func (p *Provider) Capabilities() provider.Capabilities {
	c := provider.Capabilities{
		Read:  map[graph.Kind]bool{graph.KindSmartProcess: true, graph.KindPipeline: true, graph.KindWorkgroup: true, graph.KindOpenChannel: true},
		Write: map[graph.Kind]bool{graph.KindWorkgroup: true, graph.KindPipeline: true, graph.KindOpenChannel: true},
	}
	if p.noChannels != "" {
		delete(c.Read, graph.KindOpenChannel)
		delete(c.Write, graph.KindOpenChannel)
	}
	return c
}

// Warnings lists what the last Read could not see.
func (p *Provider) Warnings() []string {
	var out []string
	for _, w := range []string{p.noChannels, p.noNonMembers} {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	*f = flexID(n)
	return err
}

type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = flexBool(s == "true" || s == "Y" || s == "1")
	return nil
}

// REST list items, decoded once for reading and for read-back.
type (
	userRow struct {
		ID     flexID   `json:"ID"`
		Email  string   `json:"EMAIL"`
		Name   string   `json:"NAME"`
		Last   string   `json:"LAST_NAME"`
		Active flexBool `json:"ACTIVE"`
		Depts  []flexID `json:"UF_DEPARTMENT"`
		// USER_TYPE: employee, extranet or email (user.get).
		Type string `json:"USER_TYPE"`
	}
	deptRow struct {
		ID     flexID `json:"ID"`
		Name   string `json:"NAME"`
		Parent flexID `json:"PARENT"`
		Head   flexID `json:"UF_HEAD"`
	}
	groupRow struct {
		ID            flexID   `json:"ID"`
		Name          string   `json:"NAME"`
		Visible       flexBool `json:"VISIBLE"`
		Opened        flexBool `json:"OPENED"`
		Closed        flexBool `json:"CLOSED"`
		Owner         flexID   `json:"OWNER_ID"`
		InitiatePerms string   `json:"INITIATE_PERMS"`
	}
	memberRow struct {
		User flexID `json:"USER_ID"`
		Role string `json:"ROLE"`
	}
)

// row is the b_user row of a user.get item.
func (u userRow) row() bitrix.User {
	r := bitrix.User{ID: int64(u.ID), Email: u.Email, Name: u.Name, LastName: u.Last, Active: yn(bool(u.Active))}
	for _, d := range u.Depts {
		r.UFDepartment = append(r.UFDepartment, int64(d))
	}
	return r
}

// row is the b_iblock_section row of a department.get item.
func (d deptRow) row() bitrix.Department {
	return bitrix.Department{ID: int64(d.ID), Name: d.Name, Parent: int64(d.Parent), Head: int64(d.Head)}
}

// row is the b_sonet_group row of a sonet_group.get item.
func (g groupRow) row() bitrix.SonetGroup {
	return bitrix.SonetGroup{ID: int64(g.ID), Name: g.Name, Visible: yn(bool(g.Visible)), Opened: yn(bool(g.Opened)),
		Closed: yn(bool(g.Closed)), OwnerID: int64(g.Owner), InitiatePerms: g.InitiatePerms}
}

// listRows reads a whole list method by ID pages and decodes its items.
func listRows[T any](ctx context.Context, c *rest.Client, method string, params url.Values, paging rest.IDPaging) ([]T, error) {
	raws, err := c.ListByID(ctx, method, params, paging)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("%s: %v", method, err)
		}
	}
	return out, nil
}

// Read fills the tables REST can read into a portal in the bitrix table
// model — b_user, b_iblock_section, b_crm_dynamic_type,
// b_crm_item_category, b_crm_status, b_sonet_group, b_sonet_user2group,
// b_imopenlines_config and its queue — and turns them into the graph with
// bitrix.Read, as every backend does. Rows the model cannot represent are
// listed in p.Anomalies. Telephony lines (voximplant.line.get) go into the
// graph's directory.
func (p *Provider) Read(ctx context.Context) (*graph.Graph, error) {
	pt := &bitrix.Portal{Format: bitrix.FormatName, FormatVersion: bitrix.FormatVersion, Portal: p.c.Describe(), Counters: map[string]int64{}}
	// The directory and workgroups are read in the fast mode (start=-1, no
	// COUNT): 50 chained pages a request.
	users, err := listRows[userRow](ctx, p.c, "user.get", url.Values{"ADMIN_MODE": {"true"}}, rest.UserGet)
	if err != nil {
		return nil, err
	}
	// REST says who is an extranet user (USER_TYPE) but not through which
	// group (the tables' extranet/extranet_group option): it is set on the
	// graph after the read.
	extranet := map[int64]bool{}
	for _, u := range users {
		pt.Users = append(pt.Users, u.row())
		if u.Type == "extranet" {
			extranet[int64(u.ID)] = true
		}
	}
	depts, err := listRows[deptRow](ctx, p.c, "department.get", url.Values{}, rest.DepartmentGet)
	if err != nil {
		return nil, err
	}
	for _, d := range depts {
		pt.Departments = append(pt.Departments, d.row())
	}
	// Smart-process types, deal pipelines and all stages, telephony lines
	// and the first page of open channels: one request.
	res, err := p.c.Batch(ctx, []rest.Cmd{
		{Key: "cats", Method: "crm.category.list", Params: url.Values{"entityTypeId": {"2"}}},
		{Key: "lines", Method: "voximplant.line.get", Params: url.Values{}},
		channelListCmd("ol", 0),
		{Key: "statuses", Method: "crm.status.list", Params: url.Values{}},
		{Key: "types", Method: "crm.type.list", Params: url.Values{}},
	}, true)
	if err != nil {
		return nil, err
	}
	lines, err := readLines(res["lines"])
	if err != nil {
		return nil, err
	}
	channels, err := p.readChannels(ctx, res["ol"])
	if err != nil {
		return nil, err
	}
	for _, c := range channels {
		cfg, queue := c.rows()
		pt.OLConfigs = append(pt.OLConfigs, cfg)
		for _, q := range queue {
			q.ID = pt.NextID(bitrix.TOLQueue) // REST does not show queue row IDs
			pt.OLQueue = append(pt.OLQueue, q)
		}
	}
	for _, k := range []string{"cats", "statuses", "types"} {
		if res[k].Err != nil {
			return nil, fmt.Errorf("%s: %v", k, res[k].Err)
		}
	}
	var types struct {
		Types []struct {
			ID           flexID   `json:"id"`
			EntityTypeID flexID   `json:"entityTypeId"`
			Title        string   `json:"title"`
			Categories   flexBool `json:"isCategoriesEnabled"`
			// isSetOpenPermissions and customSectionId decide the rights a
			// new category gives the roles (provider/bitrix/defaults.go).
			OpenPermissions *flexBool `json:"isSetOpenPermissions"`
			Automation      *flexBool `json:"isAutomationEnabled"`
			Stages          *flexBool `json:"isStagesEnabled"`
			CustomSection   flexID    `json:"customSectionId"`
		} `json:"types"`
	}
	if err := json.Unmarshal(res["types"].Result, &types); err != nil {
		return nil, fmt.Errorf("crm.type.list: unexpected answer: %v", err)
	}
	// Stages are kept for the lead statuses and the categories read.
	stageEntities := map[string]bool{bitrix.StatusEntityID(bitrix.EntityTypeLead, 0): true}
	addCategories := func(etid int64, raw json.RawMessage) error {
		var cats struct {
			Categories []struct {
				ID        flexID   `json:"id"`
				Name      string   `json:"name"`
				Sort      flexID   `json:"sort"`
				IsDefault flexBool `json:"isDefault"`
			} `json:"categories"`
		}
		if err := json.Unmarshal(raw, &cats); err != nil {
			return fmt.Errorf("crm.category.list %d: unexpected answer: %v", etid, err)
		}
		for _, c := range cats.Categories {
			pt.Categories = append(pt.Categories, bitrix.Category{ID: int64(c.ID), EntityTypeID: etid, Name: c.Name, Sort: int(c.Sort), IsDefault: yn(bool(c.IsDefault))})
			stageEntities[bitrix.StatusEntityID(etid, int64(c.ID))] = true
		}
		return nil
	}
	if err := addCategories(bitrix.EntityTypeDeal, res["cats"].Result); err != nil {
		return nil, err
	}
	// The categories of smart processes, 50 types per request.
	var smart []int64
	for _, t := range types.Types {
		st := bitrix.SmartType{ID: int64(t.ID), EntityTypeID: int64(t.EntityTypeID), Title: t.Title, CustomSectionID: int64(t.CustomSection)}
		for _, f := range []struct {
			v   *flexBool
			dst *string
		}{{t.OpenPermissions, &st.IsSetOpenPermissions}, {t.Automation, &st.IsAutomationEnabled}, {t.Stages, &st.IsStagesEnabled}} {
			if f.v != nil {
				*f.dst = yn(bool(*f.v))
			}
		}
		pt.SmartTypes = append(pt.SmartTypes, st)
		if t.Categories {
			smart = append(smart, int64(t.EntityTypeID))
		}
	}
	for start := 0; start < len(smart); start += 50 {
		var cmds []rest.Cmd
		for _, etid := range smart[start:min(start+50, len(smart))] {
			cmds = append(cmds, rest.Cmd{Key: fmt.Sprintf("t%d", etid), Method: "crm.category.list", Params: url.Values{"entityTypeId": {strconv.FormatInt(etid, 10)}}})
		}
		r, err := p.c.Batch(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		for _, etid := range smart[start:min(start+50, len(smart))] {
			br := r[fmt.Sprintf("t%d", etid)]
			if br.Err != nil {
				return nil, fmt.Errorf("crm.category.list %d: %v", etid, br.Err)
			}
			if err := addCategories(etid, br.Result); err != nil {
				return nil, err
			}
		}
	}
	var statuses []struct {
		ID        flexID `json:"ID"`
		Entity    string `json:"ENTITY_ID"`
		StatusID  string `json:"STATUS_ID"`
		Name      string `json:"NAME"`
		Sort      flexID `json:"SORT"`
		Semantics string `json:"SEMANTICS"`
	}
	if err := json.Unmarshal(res["statuses"].Result, &statuses); err != nil {
		return nil, fmt.Errorf("crm.status.list: unexpected answer: %v", err)
	}
	for _, s := range statuses {
		// Other status lists (sources, contact types …) are not stages.
		if stageEntities[s.Entity] {
			pt.Statuses = append(pt.Statuses, bitrix.Status{ID: int64(s.ID), EntityID: s.Entity, StatusID: s.StatusID, Name: s.Name, Sort: int(s.Sort), Semantics: s.Semantics})
		}
	}
	// Workgroups, then their members 50 groups per batch request.
	groups, err := listRows[groupRow](ctx, p.c, "sonet_group.get", url.Values{"IS_ADMIN": {"Y"}}, rest.SonetGroupGet)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		pt.SonetGroups = append(pt.SonetGroups, g.row())
	}
	// The first pages of the banned members and pending requests ride in
	// the last members batch (or one of their own when it is full).
	nonMembers := nonMemberCmds()
	var nonMemberRes map[string]rest.BatchResult
	for start := 0; start < len(pt.SonetGroups); start += 50 {
		var cmds []rest.Cmd
		for i := start; i < min(start+50, len(pt.SonetGroups)); i++ {
			cmds = append(cmds, rest.Cmd{Key: "g" + strconv.Itoa(i), Method: "sonet_group.user.get", Params: url.Values{"ID": {strconv.FormatInt(pt.SonetGroups[i].ID, 10)}}})
		}
		last := start+50 >= len(pt.SonetGroups)
		riding := last && len(cmds)+len(nonMembers) <= 50
		if riding {
			cmds = append(cmds, nonMembers...)
		}
		res, err := p.c.Batch(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		switch {
		case riding:
			nonMemberRes = res
		case last:
			if nonMemberRes, err = p.c.Batch(ctx, nonMembers, true); err != nil {
				return nil, err
			}
		}
		for i := start; i < min(start+50, len(pt.SonetGroups)); i++ {
			r := res["g"+strconv.Itoa(i)]
			gid := pt.SonetGroups[i].ID
			if r.Err != nil {
				return nil, fmt.Errorf("sonet_group.user.get %d: %v", gid, r.Err)
			}
			var members []memberRow
			if err := json.Unmarshal(r.Result, &members); err != nil {
				return nil, fmt.Errorf("sonet_group.user.get %d: unexpected answer: %v", gid, err)
			}
			for _, m := range members {
				// REST does not show the rows' IDs: number them.
				pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: pt.NextID(bitrix.TUser2Group), GroupID: gid, UserID: int64(m.User), Role: m.Role})
			}
		}
	}
	p.noNonMembers = ""
	if nonMemberRes != nil {
		if err := p.readNonMembers(ctx, pt, nonMemberRes); err != nil {
			return nil, err
		}
	}
	g, anomalies := bitrix.Read(pt)
	g.Directory.TelephonyLines = lines
	for i := range g.Directory.Users {
		g.Directory.Users[i].Extranet = extranet[g.Directory.Users[i].ID]
	}
	g.Normalize()
	p.Anomalies, p.Unmanaged = bitrix.Notes(anomalies)
	p.last, p.lastGraph = pt, g
	p.smartIDs = map[string]int64{}
	for _, sp := range g.SmartProcesses {
		p.smartIDs[sp.Key] = sp.EntityTypeID
	}
	return g, nil
}

// relationRow is an item of socialnetwork.api.usertogroup.list
// (UserToGroup::listAction converts the keys to camel case).
type relationRow struct {
	ID          flexID `json:"id"`
	User        flexID `json:"userId"`
	Group       flexID `json:"groupId"`
	Role        string `json:"role"`
	InitiatedBy string `json:"initiatedByType"`
}

const nonMemberMethod = "socialnetwork.api.usertogroup.list"

// nonMemberCmds ask for the first page of banned members (ROLE T) and of
// pending requests and invitations (ROLE Z).
func nonMemberCmds() []rest.Cmd {
	var out []rest.Cmd
	for _, role := range []string{"T", "Z"} {
		out = append(out, rest.Cmd{Key: "n" + role, Method: nonMemberMethod, Params: url.Values{"filter[ROLE]": {role},
			"select[0]": {"ID"}, "select[1]": {"USER_ID"}, "select[2]": {"GROUP_ID"}, "select[3]": {"ROLE"}, "select[4]": {"INITIATED_BY_TYPE"},
			"order[ID]": {"ASC"}, "start": {"0"}}})
	}
	return out
}

// readNonMembers adds the banned members (ROLE T) and pending requests
// and invitations (ROLE Z) of the groups read: sonet_group.user.get lists
// members only (ROLE <= K, socialnetwork/classes/general/rest.php
// getGroupUsers), while socialnetwork.api.usertogroup.list — the
// REST-exposed controller UserToGroup::listAction
// (socialnetwork/lib/controller/usertogroup.php, restIntegration in
// socialnetwork/.settings.php, yuliai/bitrix-modules a3a2a579) — lists
// every relation, filtered by ROLE, 50 a page. first holds the first
// pages (batch keys nT, nZ); further pages are asked one by one. A portal
// that refuses the method leaves them unread, with a warning.
func (p *Provider) readNonMembers(ctx context.Context, pt *bitrix.Portal, first map[string]rest.BatchResult) error {
	known := map[int64]bool{}
	for _, g := range pt.SonetGroups {
		known[g.ID] = true
	}
	for _, role := range []string{"T", "Z"} {
		r := first["n"+role]
		for start := 0; ; {
			if r.Err != nil {
				p.noNonMembers = fmt.Sprintf("banned workgroup members and pending join requests were not read: the webhook may not call %s (%v)", nonMemberMethod, r.Err)
				return nil
			}
			var page struct {
				Relations []relationRow `json:"relations"`
			}
			if err := json.Unmarshal(r.Result, &page); err != nil {
				return fmt.Errorf("%s: unexpected answer: %v", nonMemberMethod, err)
			}
			for _, x := range page.Relations {
				if !known[int64(x.Group)] || x.Role != role {
					continue
				}
				pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: pt.NextID(bitrix.TUser2Group), GroupID: int64(x.Group), UserID: int64(x.User), Role: x.Role, InitiatedByType: x.InitiatedBy})
			}
			if r.Next == nil || *r.Next <= start || len(page.Relations) == 0 {
				break
			}
			start = *r.Next
			resp, err := p.c.Call(ctx, nonMemberMethod, map[string]any{"filter": map[string]string{"ROLE": role},
				"select": []string{"ID", "USER_ID", "GROUP_ID", "ROLE", "INITIATED_BY_TYPE"}, "order": map[string]string{"ID": "ASC"}, "start": start}, true)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				r = rest.BatchResult{Err: err}
				continue
			}
			r = rest.BatchResult{Result: resp.Result, Total: resp.Total, Next: resp.Next}
		}
	}
	return nil
}

// Apply makes workgroup changes through REST and reads every group back.
// Other kinds never reach here: the plan marks them manual.
func (p *Provider) Apply(ctx context.Context, req provider.ApplyRequest) error {
	if p.last == nil {
		if _, err := p.Read(ctx); err != nil {
			return err
		}
	}
	ix := graph.NewIndex(p.lastGraph.Directory, nil)
	uid := ix.UserID
	// Pipelines first, one call at a time (their stages depend on the
	// category ID); workgroups then go in batches of up to 50 commands;
	// open channels last (their queues may name anyone).
	var groups, channels []int
	for i, ch := range req.Changes {
		if ch.Addr.Kind == graph.KindWorkgroup {
			groups = append(groups, i)
			continue
		}
		if ch.Addr.Kind == graph.KindOpenChannel {
			channels = append(channels, i)
			continue
		}
		id, err := p.applyOne(ctx, ch)
		if req.Report != nil {
			req.Report(provider.Result{Index: i, Address: ch.Address, ID: id, Err: err})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	var errs []error
	if len(groups) > 0 {
		errs = append(errs, p.applyWorkgroups(ctx, req, groups, uid))
	}
	if len(channels) > 0 {
		errs = append(errs, p.applyChannels(ctx, req, channels, ix))
	}
	return errors.Join(errs...)
}

// groupOps are the REST commands of one workgroup change.
type groupOps struct {
	outcome
	sent  bool // its batch ran
	cmds  []rest.Cmd
	want  map[int64]string // expected member roles after the change
	owner int64
	// del: the group is deleted; wg: its expected fields otherwise.
	del bool
	wg  groupFields
}

// groupFields are the b_sonet_group fields a workgroup change writes.
type groupFields struct {
	Name                    string
	Visible, Opened, Closed bool
	Owner                   int64
}

// outcome is what happened to one change of an apply.
type outcome struct {
	index int // in the ApplyRequest
	id    int64
	err   error
}

// report hands every outcome to the caller, in order (all at once through
// ReportBatch when set), and returns the first failure.
func report[T interface{ result() *outcome }](req provider.ApplyRequest, ops []T) error {
	var first error
	results := make([]provider.Result, 0, len(ops))
	for _, op := range ops {
		o := op.result()
		results = append(results, provider.Result{Index: o.index, Address: req.Changes[o.index].Address, ID: o.id, Err: o.err})
		if o.err != nil && first == nil {
			first = fmt.Errorf("%s: %w", req.Changes[o.index].Address, o.err)
		}
	}
	// Known together: one report (one state save) when the caller can
	// take them so.
	switch {
	case req.ReportBatch != nil && len(results) > 0:
		req.ReportBatch(results)
	case req.Report != nil:
		for _, r := range results {
			req.Report(r)
		}
	}
	return first
}

func (o *outcome) result() *outcome { return o }

// applyWorkgroups sends all workgroup commands in batches (a group's
// commands stay in one batch, so a new group's ID can be referenced with
// $result), then reads every touched group back in batches.
func (p *Provider) applyWorkgroups(ctx context.Context, req provider.ApplyRequest, idx []int, uid func(string) (int64, error)) error {
	current := map[int64]*bitrix.SonetGroup{}
	for i := range p.last.SonetGroups {
		current[p.last.SonetGroups[i].ID] = &p.last.SonetGroups[i]
	}
	// Each group's members as read: user → ROLE (A, E, K).
	roles := map[int64]map[int64]string{}
	for _, m := range p.last.User2Group {
		if roles[m.GroupID] == nil {
			roles[m.GroupID] = map[int64]string{}
		}
		roles[m.GroupID][m.UserID] = m.Role
	}
	var ops []*groupOps
	// Batch commands run in the order of their keys (the JSON object is
	// sorted), so keys carry a sequence number.
	seq := 0
	key := func(s string) string {
		seq++
		return fmt.Sprintf("k%05d_%s", seq, s)
	}
	for _, i := range idx {
		ch := req.Changes[i]
		op := &groupOps{outcome: outcome{index: i, id: ch.ID}}
		ops = append(ops, op)
		if ch.Action == plan.Delete {
			op.del = true
			op.cmds = append(op.cmds, rest.Cmd{Key: key("del"), Method: "sonet_group.delete", Params: url.Values{"GROUP_ID": {strconv.FormatInt(ch.ID, 10)}}})
			continue
		}
		w := ch.After.Workgroup
		flags := graph.Visibilities[w.Visibility]
		owner, err := uid(w.Owner)
		if err != nil {
			op.err = err
			continue
		}
		op.owner = owner
		op.wg = groupFields{Name: w.Name, Visible: flags[0], Opened: flags[1], Closed: w.Archived, Owner: owner}
		op.want = map[int64]string{}
		for _, list := range []struct {
			subjects []string
			role     string
		}{{w.Members, "K"}, {w.Moderators, "E"}} {
			for _, m := range list.subjects {
				u, err := uid(m)
				if err != nil {
					op.err = err
				}
				op.want[u] = list.role
			}
		}
		if op.err != nil {
			continue
		}
		gid := strconv.FormatInt(ch.ID, 10)
		have := map[int64]string{}
		if ch.Action == plan.Create {
			ck := key("create")
			params := url.Values{"NAME": {w.Name}, "VISIBLE": {yn(flags[0])}, "OPENED": {yn(flags[1])}, "OWNER_ID": {strconv.FormatInt(owner, 10)}}
			if w.Archived {
				params.Set("CLOSED", "Y")
			}
			op.cmds = append(op.cmds, rest.Cmd{Key: ck, Method: "sonet_group.create", Params: params})
			gid = "$result[" + ck + "]"
		} else {
			cur := current[ch.ID]
			if cur == nil {
				op.err = fmt.Errorf("workgroup %d is no longer on the portal", ch.ID)
				continue
			}
			for u, role := range roles[cur.ID] {
				if role == "E" || role == "K" {
					have[u] = role
				}
			}
			have[cur.OwnerID] = "A"
			archived := cur.Closed == "Y"
			if cur.Name != w.Name || cur.Visible != yn(flags[0]) || cur.Opened != yn(flags[1]) || archived != w.Archived {
				params := url.Values{"GROUP_ID": {gid}, "NAME": {w.Name}, "VISIBLE": {yn(flags[0])}, "OPENED": {yn(flags[1])}}
				if archived != w.Archived {
					params.Set("CLOSED", yn(w.Archived))
				}
				op.cmds = append(op.cmds, rest.Cmd{Key: key("upd"), Method: "sonet_group.update", Params: params})
			}
			if cur.OwnerID != owner {
				op.cmds = append(op.cmds, rest.Cmd{Key: key("owner"), Method: "sonet_group.setowner", Params: url.Values{"GROUP_ID": {gid}, "USER_ID": {strconv.FormatInt(owner, 10)}}})
				have[cur.OwnerID] = "K"
				delete(have, owner)
			}
		}
		users := make([]int64, 0, len(op.want))
		for u := range op.want {
			users = append(users, u)
		}
		slices.Sort(users)
		for _, u := range users {
			role := op.want[u]
			if u == owner {
				continue
			}
			us := strconv.FormatInt(u, 10)
			if _, ok := have[u]; !ok {
				op.cmds = append(op.cmds, rest.Cmd{Key: key("add" + us), Method: "sonet_group.user.add", Params: url.Values{"GROUP_ID": {gid}, "USER_ID": {us}}})
			}
			if role == "E" && have[u] != "E" || role == "K" && have[u] == "E" {
				op.cmds = append(op.cmds, rest.Cmd{Key: key("role" + us), Method: "sonet_group.user.update", Params: url.Values{"GROUP_ID": {gid}, "USER_ID": {us}, "ROLE": {role}}})
			}
		}
		for u, role := range have {
			if _, ok := op.want[u]; !ok && role != "A" && u != owner {
				us := strconv.FormatInt(u, 10)
				op.cmds = append(op.cmds, rest.Cmd{Key: key("del" + us), Method: "sonet_group.user.delete", Params: url.Values{"GROUP_ID": {gid}, "USER_ID": {us}}})
			}
		}
	}
	// Send: pack whole groups into batches of at most 50 commands.
	var batch []rest.Cmd
	var inBatch []*groupOps
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := p.c.Batch(ctx, batch, false)
		if err != nil {
			// Cancelled, or the request failed after the retries: this
			// batch may or may not have run.
			for _, op := range inBatch {
				op.err = fmt.Errorf("not confirmed, the portal may or may not have made it (the next plan will tell): %w", err)
			}
			return err
		}
		for _, op := range inBatch {
			op.sent = true
			for _, cm := range op.cmds {
				r := res[cm.Key]
				if r.Err != nil && op.err == nil {
					op.err = fmt.Errorf("%s: %v", cm.Method, r.Err)
				}
				if cm.Method == "sonet_group.create" && r.Err == nil {
					var id flexID
					json.Unmarshal(r.Result, &id)
					op.id = int64(id)
				}
			}
		}
		batch, inBatch = nil, nil
		return nil
	}
	for _, op := range ops {
		if op.err != nil || len(op.cmds) == 0 {
			continue
		}
		if len(op.cmds) > 50 {
			op.err = fmt.Errorf("%d membership changes in one workgroup: more than one batch can hold", len(op.cmds))
			continue
		}
		if len(batch)+len(op.cmds) > 50 {
			if err := flush(); err != nil {
				return p.stopped(req, ops, err)
			}
		}
		batch = append(batch, op.cmds...)
		inBatch = append(inBatch, op)
	}
	if err := flush(); err != nil {
		return p.stopped(req, ops, err)
	}
	// Read back every touched group, its fields and its members, 25
	// groups (50 commands) per request: every field written must read back
	// as written (a portal that ignores VISIBLE would list a secret group).
	var check []*groupOps
	for _, op := range ops {
		if op.err == nil && (op.want != nil || op.del && op.sent) {
			check = append(check, op)
		}
	}
	for start := 0; start < len(check); start += 25 {
		part := check[start:min(start+25, len(check))]
		var cmds []rest.Cmd
		for i, op := range part {
			id := strconv.FormatInt(op.id, 10)
			cmds = append(cmds, rest.Cmd{Key: fmt.Sprintf("g%02d", i), Method: "sonet_group.get", Params: url.Values{"IS_ADMIN": {"Y"}, "GROUP_ID": {id}}})
			if !op.del {
				cmds = append(cmds, rest.Cmd{Key: fmt.Sprintf("m%02d", i), Method: "sonet_group.user.get", Params: url.Values{"ID": {id}}})
			}
		}
		res, err := p.c.Batch(ctx, cmds, true)
		if err != nil {
			for _, op := range part {
				op.err = fmt.Errorf("read-back: %w", err)
			}
			continue
		}
		for i, op := range part {
			op.err = checkGroup(op, res[fmt.Sprintf("g%02d", i)], res[fmt.Sprintf("m%02d", i)])
		}
	}
	return report(req, ops)
}

// checkGroup compares a workgroup read back (sonet_group.get by
// GROUP_ID, sonet_group.user.get) with what was written, naming the first
// field that differs.
func checkGroup(op *groupOps, g, m rest.BatchResult) error {
	if g.Err != nil {
		return fmt.Errorf("read-back: sonet_group.get: %v", g.Err)
	}
	var rows []groupRow
	if err := json.Unmarshal(g.Result, &rows); err != nil {
		return fmt.Errorf("read-back: sonet_group.get: unexpected answer: %v", err)
	}
	rows = slices.DeleteFunc(rows, func(r groupRow) bool { return int64(r.ID) != op.id })
	if op.del {
		if len(rows) > 0 {
			return fmt.Errorf("read-back: workgroup %d is still on the portal after sonet_group.delete", op.id)
		}
		return nil
	}
	if len(rows) == 0 {
		return fmt.Errorf("read-back: workgroup %d is not on the portal", op.id)
	}
	r := rows[0]
	field := func(name string, got, want any) error {
		return fmt.Errorf("read-back: workgroup %d: the portal did not keep %s: it reads back %v, b24perm wrote %v", op.id, name, got, want)
	}
	switch {
	case r.Name != op.wg.Name:
		return field("NAME", fmt.Sprintf("%q", r.Name), fmt.Sprintf("%q", op.wg.Name))
	case bool(r.Visible) != op.wg.Visible:
		return field("VISIBLE", yn(bool(r.Visible)), yn(op.wg.Visible))
	case bool(r.Opened) != op.wg.Opened:
		return field("OPENED", yn(bool(r.Opened)), yn(op.wg.Opened))
	case bool(r.Closed) != op.wg.Closed:
		return field("CLOSED", yn(bool(r.Closed)), yn(op.wg.Closed))
	case int64(r.Owner) != op.owner:
		return field("OWNER_ID", int64(r.Owner), op.owner)
	}
	if m.Err != nil {
		return fmt.Errorf("read-back: sonet_group.user.get: %v", m.Err)
	}
	var ms []memberRow
	if err := json.Unmarshal(m.Result, &ms); err != nil {
		return fmt.Errorf("read-back: sonet_group.user.get: unexpected answer: %v", err)
	}
	got := map[int64]string{}
	for _, x := range ms {
		if got[int64(x.User)] != "A" {
			got[int64(x.User)] = x.Role
		}
	}
	if got[op.owner] != "A" {
		return fmt.Errorf("read-back: workgroup %d: user %d is not its owner (ROLE A)", op.id, op.owner)
	}
	users := make([]int64, 0, len(got))
	for u := range got {
		users = append(users, u)
	}
	for u := range op.want {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range slices.Compact(users) {
		want, ok := op.want[u]
		switch {
		case u == op.owner:
		case !ok:
			return fmt.Errorf("read-back: workgroup %d: user %d is still in it (ROLE %s), b24perm removed them", op.id, u, got[u])
		case got[u] != want:
			return fmt.Errorf("read-back: workgroup %d: user %d has ROLE %q, b24perm wrote %q", op.id, u, got[u], want)
		}
	}
	return nil
}

// applyOne makes one non-workgroup change; only pipelines reach here.
// stopped ends an apply interrupted between batches (cancelled, or the
// portal unreachable): the groups of the batches that ran are reported as
// made, so that the state records them; the rest as not made.
func (p *Provider) stopped(req provider.ApplyRequest, ops []*groupOps, cause error) error {
	for _, op := range ops {
		if op.err == nil && !op.sent && len(op.cmds) > 0 {
			op.err = fmt.Errorf("not attempted: %w", cause)
		}
	}
	report(req, ops)
	return cause
}

func (p *Provider) applyOne(ctx context.Context, ch plan.Change) (int64, error) {
	if ch.Addr.Kind == graph.KindPipeline {
		return p.applyPipeline(ctx, ch)
	}
	return 0, fmt.Errorf("the REST API cannot change %s objects; make this change by hand", ch.Addr.Kind)
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// applyPipeline creates, renames or deletes a deal pipeline and makes its
// stages match (crm.category.*, crm.status.*), reading the stages back.
func (p *Provider) applyPipeline(ctx context.Context, ch plan.Change) (int64, error) {
	res := ch.After
	if res == nil {
		res = ch.Before
	}
	pl := res.Pipeline
	var etid int64
	switch {
	case pl.Entity == "deal":
		etid = bitrix.EntityTypeDeal
	case pl.Entity == "lead":
		etid = bitrix.EntityTypeLead
	case strings.HasPrefix(pl.Entity, graph.SmartProcessPrefix):
		etid = p.smartIDs[strings.TrimPrefix(pl.Entity, graph.SmartProcessPrefix)]
		if etid == 0 {
			return 0, fmt.Errorf("smart process %q is not on the portal: create it first", strings.TrimPrefix(pl.Entity, graph.SmartProcessPrefix))
		}
	default:
		return 0, fmt.Errorf("the REST backend manages deal, lead and smart-process pipelines, not %s", pl.Entity)
	}
	call := func(method string, params map[string]any) (json.RawMessage, error) {
		r, err := p.c.Call(ctx, method, params, false)
		if err != nil {
			return nil, err
		}
		return r.Result, nil
	}
	id := ch.ID
	if pl.Key == graph.DefaultPipeline && etid <= 2 {
		id = 0
	}
	switch {
	case ch.Action == plan.Delete:
		_, err := call("crm.category.delete", map[string]any{"entityTypeId": etid, "id": id})
		return id, err
	case ch.Action == plan.Create && pl.Key != graph.DefaultPipeline:
		raw, err := call("crm.category.add", map[string]any{"entityTypeId": etid, "fields": map[string]any{"name": pl.Name}})
		if err != nil {
			return 0, err
		}
		var r struct {
			Category struct {
				ID flexID `json:"id"`
			} `json:"category"`
		}
		json.Unmarshal(raw, &r)
		id = int64(r.Category.ID)
	case id > 0 && ch.Before != nil && ch.Before.Pipeline.Name != pl.Name:
		if _, err := call("crm.category.update", map[string]any{"entityTypeId": etid, "id": id, "fields": map[string]any{"name": pl.Name}}); err != nil {
			return id, err
		}
	}
	entity := bitrix.StatusEntityID(etid, id)
	type row struct {
		ID        flexID `json:"ID"`
		StatusID  string `json:"STATUS_ID"`
		Name      string `json:"NAME"`
		Sort      flexID `json:"SORT"`
		Semantics string `json:"SEMANTICS"`
	}
	stageKey := func(x row) string {
		key := x.StatusID
		if i := strings.IndexByte(key, ':'); i >= 0 {
			key = key[i+1:]
		}
		return strings.ToLower(key)
	}
	list := func() (map[string]row, []row, error) {
		r, err := p.c.Call(ctx, "crm.status.list", map[string]any{"filter": map[string]any{"ENTITY_ID": entity}}, true)
		if err != nil {
			return nil, nil, err
		}
		var rows []row
		json.Unmarshal(r.Result, &rows)
		out := map[string]row{}
		for _, x := range rows {
			out[stageKey(x)] = x
		}
		slices.SortStableFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.Sort, b.Sort), cmp.Compare(a.ID, b.ID)) })
		return out, rows, nil
	}
	have, _, err := list()
	if err != nil {
		return id, err
	}
	// SORT and SEMANTICS as the other backends write them
	// (bitrix.PlanStages): existing stages keep their SORT unless they
	// move. Existing rows are updated first, then new ones added: Bitrix
	// checks a new stage's SORT against the success stage's
	// (StatusTable::onBeforeAdd, crm/lib/statustable.php).
	var cur []bitrix.Status
	for _, st := range pl.Stages {
		if x, ok := have[st.Key]; ok {
			cur = append(cur, bitrix.Status{ID: int64(x.ID), StatusID: x.StatusID, Name: x.Name, Sort: int(x.Sort), Semantics: x.Semantics})
		}
	}
	planned, err := bitrix.PlanStages(cur, pl.Stages)
	if err != nil {
		return id, fmt.Errorf("pipeline %q: %w", pl.Name, err)
	}
	want := map[string]bool{}
	for _, st := range pl.Stages {
		want[st.Key] = true
	}
	// Stages that go are deleted first, so that a success stage on its way
	// out (one of a new pipeline's default stages) does not bound the new
	// stages' SORT; from the end, so the remaining rows keep their IDs.
	var drop []row
	for k, x := range have {
		if !want[k] {
			drop = append(drop, x)
		}
	}
	slices.SortFunc(drop, func(a, b row) int { return int(b.ID - a.ID) })
	for _, x := range drop {
		if _, err := call("crm.status.delete", map[string]any{"id": int64(x.ID), "params": map[string]any{"FORCED": "Y"}}); err != nil {
			return id, err
		}
	}
	for i, st := range pl.Stages {
		r := planned[i]
		if r.Row < 0 {
			continue
		}
		x := cur[r.Row]
		fields := map[string]any{}
		if x.Name != st.Name {
			fields["NAME"] = st.Name
		}
		if x.Sort != r.Sort {
			fields["SORT"] = r.Sort
		}
		if len(fields) > 0 {
			if _, err := call("crm.status.update", map[string]any{"id": x.ID, "fields": fields}); err != nil {
				return id, err
			}
		}
	}
	for i, st := range pl.Stages {
		if r := planned[i]; r.Row < 0 {
			fields := map[string]any{"ENTITY_ID": entity, "STATUS_ID": strings.ToUpper(st.Key), "NAME": st.Name, "SORT": r.Sort}
			if r.Semantics != "" {
				fields["SEMANTICS"] = r.Semantics
			}
			if _, err := call("crm.status.add", map[string]any{"fields": fields}); err != nil {
				return id, err
			}
		}
	}
	got, ordered, err := list()
	if err != nil {
		return id, err
	}
	for i, st := range pl.Stages {
		if g, ok := got[st.Key]; !ok || g.Name != st.Name || i < len(ordered) && stageKey(ordered[i]) != st.Key {
			return id, fmt.Errorf("read-back: stage %q of pipeline %q is not as written", st.Key, pl.Name)
		}
	}
	if len(got) != len(pl.Stages) {
		return id, fmt.Errorf("read-back: pipeline %q has %d stages, expected %d", pl.Name, len(got), len(pl.Stages))
	}
	if id > 0 && (ch.Action == plan.Create || ch.Before == nil || ch.Before.Pipeline.Name != pl.Name) {
		raw, err := p.c.Call(ctx, "crm.category.list", map[string]any{"entityTypeId": etid}, true)
		if err != nil {
			return id, fmt.Errorf("read-back: %w", err)
		}
		var r struct {
			Categories []struct {
				ID   flexID `json:"id"`
				Name string `json:"name"`
			} `json:"categories"`
		}
		if err := json.Unmarshal(raw.Result, &r); err != nil {
			return id, fmt.Errorf("read-back: crm.category.list: unexpected answer: %v", err)
		}
		i := slices.IndexFunc(r.Categories, func(c struct {
			ID   flexID `json:"id"`
			Name string `json:"name"`
		}) bool {
			return int64(c.ID) == id
		})
		switch {
		case i < 0:
			return id, fmt.Errorf("read-back: pipeline %d (%q) is not on the portal", id, pl.Name)
		case r.Categories[i].Name != pl.Name:
			return id, fmt.Errorf("read-back: pipeline %d: the portal did not keep name: it reads back %q, b24perm wrote %q", id, r.Categories[i].Name, pl.Name)
		}
	}
	return id, nil
}
