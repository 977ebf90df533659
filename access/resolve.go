// Package access computes effective access the way Bitrix24 does: which
// access codes each user holds, which roles they reach, and the level per
// cell after merging roles (most permissive wins; an explicit stage row in
// any applicable role beats inherited values). Every answer carries its
// derivation. It depends on package graph only.
package access

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// Resolver answers effective-access questions over one graph and
// directory.
type Resolver struct {
	g   *graph.Graph
	ix  *graph.Index
	wgs map[string]*graph.Workgroup
	// assign[i] is the canonical assignment set of CRM role i.
	crmAssign []map[string]bool
	telAssign []map[string]bool
	// telRoles are the telephony roles in force: the graph's, or Bitrix's
	// defaults while telephony security is off.
	telRoles   []graph.SimpleRole
	olAssign   []map[string]bool
	held       map[int64][]Held
	reached    map[reachKey][]roleVia
	bySubject  [3]map[string][]int
	wgRoles    map[string]map[string]string
	fieldIndex map[string][]graph.FieldRule
	deptCache  map[int64][]Held
	groupCache map[int64][]Held
	userWG     map[string][]int
	deptUsers  map[int64][]*graph.User
	treeUsers  map[int64][]*graph.User
	// srcGraph supplies policy positions when g is not the desired graph.
	srcGraph *graph.Graph
	// active are the active users by ID (Users), computed once.
	active []*graph.User
	// sources are g's positions kept outside it (SetSources).
	sources *graph.SourceTable
	// reachSeen[i] == reachStamp marks role i reached in reach's current
	// call.
	reachSeen  []uint32
	reachStamp uint32
	reachBuf   []roleVia
	// heldRoles caches heldReach.
	heldRoles map[heldReachKey][]roleVia
	// wgAssigned[kind]: a role of the family is assigned to a workgroup
	// subject (else reaching roles skips the user's workgroups).
	wgAssigned [3]bool
	// deptStrs caches deptStrings.
	deptStrs map[int64]*deptStr
	// crmCells caches crmCell.
	crmCells map[crmCellKey]crmCellInfo
	// crmReach, when set, answers reach for the CRM family (UseReach).
	crmReach *reachTable
	// scratch is CRM's reused working space.
	scratch struct {
		explicit, inherited []Step
		levels              []string
	}
}

// Held is one subject a user holds, and why.
type Held struct {
	Subject string `json:"subject"`
	Code    string `json:"code,omitempty"`
	Why     string `json:"why"`
}

// New indexes g over dir (the portal directory).
func New(g *graph.Graph, dir *graph.Directory) *Resolver {
	if dir == nil {
		dir = g.Directory
	}
	return newResolver(g, graph.NewIndex(dir, g.Workgroups))
}

// newResolver indexes g with ix, an index of g's directory and workgroups.
func newResolver(g *graph.Graph, ix *graph.Index) *Resolver {
	r := &Resolver{g: g, ix: ix, wgs: map[string]*graph.Workgroup{}, held: map[int64][]Held{}}
	for i := range g.Workgroups {
		r.wgs[g.Workgroups[i].Key] = &g.Workgroups[i]
	}
	canon := func(in []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range in {
			if c, err := r.ix.Canonical(s); err == nil {
				m[c] = true
			} else {
				m[s] = true
			}
		}
		return m
	}
	for _, role := range g.CRMRoles {
		r.crmAssign = append(r.crmAssign, canon(role.Assign))
	}
	r.telRoles = g.TelephonyRoles
	if g.TelephonySecurityOff {
		r.telRoles = graph.DefaultTelephonyRoles(r.ix.Dir.RootDepartment())
	}
	for _, role := range r.telRoles {
		r.telAssign = append(r.telAssign, canon(role.Assign))
	}
	for _, role := range g.OpenlineRoles {
		r.olAssign = append(r.olAssign, canon(role.Assign))
	}
	return r
}

// SetSources gives the positions of the resolver's graph kept outside
// it (graph.Snapshot.Sources of a cached graph).
func (r *Resolver) SetSources(t *graph.SourceTable) { r.sources, r.crmCells = t, nil }

// source is g.Source, and for the resolver's own graph also its
// SetSources table.
func (r *Resolver) source(g *graph.Graph, key string) (graph.Pos, bool) {
	if p, ok := g.Source(key); ok {
		return p, true
	}
	if g == r.g {
		return g.SourceIn(r.sources, key)
	}
	return graph.Pos{}, false
}

// newAlike indexes g over o's directory when g's workgroups equal o's:
// then every user holds the same subjects under both (UserSubjects
// depends only on the directory and the workgroups), so the new resolver
// shares o's index and its cache of held subjects, and a user's subjects
// are computed once for both. Otherwise it is New(g, dir).
func newAlike(g *graph.Graph, dir *graph.Directory, o *Resolver) *Resolver {
	if dir == nil {
		dir = g.Directory
	}
	if !shareSubjects || dir == nil || o.ix.Dir != dir || !reflect.DeepEqual(g.Workgroups, o.g.Workgroups) {
		return New(g, dir)
	}
	r := newResolver(g, o.ix)
	r.held = o.held
	return r
}

// shareSubjects lets newAlike share; tests turn it off to compare.
var shareSubjects = true

// Users lists the directory's active users by ID.
func (r *Resolver) Users() []*graph.User {
	if r.active == nil {
		r.active = []*graph.User{}
		for i := range r.ix.Dir.Users {
			if !r.ix.Dir.Users[i].Inactive {
				r.active = append(r.active, &r.ix.Dir.Users[i])
			}
		}
		slices.SortFunc(r.active, func(a, b *graph.User) int { return cmp.Compare(a.ID, b.ID) })
	}
	return slices.Clone(r.active)
}

// CRMLevel is the effective level of a CRM cell for u, without the
// derivation: the same answer as CRM(u, q).Level, cheaper.
func (r *Resolver) CRMLevel(u *graph.User, q CRMQuery) string { return r.crmLevel(u, q) }

// CRMQuestion prepares one CRM question for many users (who-can): each
// role's value and explicitness for the cell are looked up once, so that
// answering a user costs only the union over the roles he reaches. The
// answers are CRMLevel's.
func (r *Resolver) CRMQuestion(q CRMQuery) func(u *graph.User) string {
	if e, ok := graph.LookupCRMEntity(q.Entity); ok && q.Pipeline == "" && (e.Pipelines || e.Stages) {
		q.Pipeline = graph.DefaultPipeline
	}
	k := graph.CellKey{Entity: q.Entity, Pipeline: q.Pipeline, Stage: q.Stage, Action: q.Action}
	levels := make([]string, len(r.g.CRMRoles))
	explicit := make([]bool, len(r.g.CRMRoles))
	for i := range r.g.CRMRoles {
		levels[i], explicit[i] = r.g.CRMRoles[i].Level(k)
	}
	transition := q.Action == "transition"
	var settings func(*graph.User) string
	if entityAdminActions[q.Action] {
		settings = r.CRMQuestion(settingsWrite)
	}
	var ex, in []string // reused: UnionLevels keeps neither
	return func(u *graph.User) string {
		if u.Admin || (settings != nil && settings(u) == "all") {
			return adminCRMLevel(q.Action)
		}
		ex, in = ex[:0], in[:0]
		// reach keeps the roles with the reasons for the derivation that
		// who-can then asks of every user with access (most of them), so
		// a user's subjects are walked once.
		for _, v := range r.reach(u, kindCRM) {
			if i := v.role; explicit[i] {
				ex = append(ex, levels[i])
			} else {
				in = append(in, levels[i])
			}
		}
		if len(ex) > 0 {
			return graph.UnionLevels(transition, ex)
		}
		return graph.UnionLevels(transition, in)
	}
}

// LookupUser finds a user by e-mail or ID.
func (r *Resolver) LookupUser(ref string) (*graph.User, bool) { return r.ix.LookupUser(ref) }

// ResolveUser finds a user by e-mail or ID, with an error that says why
// not (no such user, or an e-mail several users hold).
func (r *Resolver) ResolveUser(ref string) (*graph.User, error) { return r.ix.ResolveUser(ref) }

func (r *Resolver) canonUser(u *graph.User) string {
	return r.ix.SubjectForCode("U" + strconv.FormatInt(u.ID, 10)).String()
}

// UserSubjects returns every subject the user holds, with the reason, as
// Bitrix computes access codes: U, D of each department, DR of it and of
// every parent, AE0, IU of the user, AD<dept>/AD0 and IU of every
// subordinate for department heads, G of each group (everyone holds G2),
// SG…_K for each workgroup, _E for moderators, _A for owners.
func (r *Resolver) UserSubjects(u *graph.User) []Held {
	if h, ok := r.held[u.ID]; ok {
		return h
	}
	// One allocation for the usual case (who-can computes this for every
	// user of the portal).
	n := 8 + 2*len(u.Groups)
	for _, d := range u.Departments {
		n += len(r.deptHeld(d))
	}
	out := make([]Held, 0, n)
	r.eachHeld(u, true, func(h Held) { out = append(out, h) })
	r.held[u.ID] = out
	return out
}

// eachHeld calls f with every subject u holds, in UserSubjects' order.
// Without whys the reasons that cost a fmt.Sprintf per user are left
// empty (a question that needs only which roles a user reaches).
func (r *Resolver) eachHeld(u *graph.User, whys bool, f func(Held)) {
	r.eachHeldBy(u, whys, f, nil, nil, true)
}

// eachHeldBy is eachHeld, except that with dept (group) non-nil what a
// department (user group) gives goes to one call of dept(d) (group(gid))
// instead of a call of f per subject of deptHeld(d) (groupHeld(gid)), and
// without wgs the workgroup subjects are left out (no role of the family
// asked about is assigned to one: wgAssigned).
func (r *Resolver) eachHeldBy(u *graph.User, whys bool, f func(Held), dept, group func(int64), wgs bool) {
	id := strconv.FormatInt(u.ID, 10)
	me := r.canonUser(u)
	f(Held{Subject: me, Code: "U" + id, Why: "the user"})
	f(Held{Subject: "code:U" + id, Code: "U" + id, Why: "the user"})
	for _, d := range u.Departments {
		if dept != nil {
			dept(d)
			continue
		}
		for _, h := range r.deptHeld(d) {
			f(h)
		}
	}
	if len(u.Departments) > 0 {
		f(Held{Subject: "code:AE0", Code: "AE0", Why: "employee of a department"})
	}
	for _, c := range r.ix.IntranetCodes(u) {
		var why string
		switch {
		case !whys:
		case c == "IU"+id:
			why = "the user (intranet)"
		case c == "AD0":
			why = "head of a department"
		case strings.HasPrefix(c, "AD"):
			d, _ := strconv.ParseInt(c[2:], 10, 64)
			why = fmt.Sprintf("head of department %q", r.ix.DeptPath[d])
		default:
			sub, _ := strconv.ParseInt(c[2:], 10, 64)
			name := "user #" + c[2:]
			if su, ok := r.ix.UserByID[sub]; ok {
				name = su.Label()
			}
			why = fmt.Sprintf("head of a department where %s works (directly or in a subdepartment)", name)
		}
		f(Held{Subject: "code:" + c, Code: c, Why: why})
	}
	groupHeld := func(gid int64) {
		if group != nil {
			group(gid)
			return
		}
		for _, h := range r.groupHeld(gid) {
			f(h)
		}
	}
	employees := false
	for _, gid := range u.Groups {
		employees = employees || gid == graph.EmployeesGroupID
		groupHeld(gid)
	}
	if !employees {
		groupHeld(graph.EmployeesGroupID)
	}
	if !wgs {
		return
	}
	if r.userWG == nil {
		r.userWG = map[string][]int{}
		for i := range r.g.Workgroups {
			w := &r.g.Workgroups[i]
			r.memberRole(w, "")
			for subj := range r.wgRoles[w.Key] {
				r.userWG[subj] = append(r.userWG[subj], i)
			}
		}
	}
	for _, wi := range r.userWG[me] {
		w := &r.g.Workgroups[wi]
		role := r.memberRole(w, me)
		if !isMemberRel(role) {
			continue // banned, asking or invited: not a member, no SG code
		}
		code := func(suffix string) string {
			if w.ID != 0 {
				return "SG" + strconv.FormatInt(w.ID, 10) + suffix
			}
			return ""
		}
		var why string
		if whys {
			why = fmt.Sprintf("%s of workgroup %q", role, w.Name)
		}
		add := func(kind, suffix string) {
			c := code(suffix)
			f(Held{Subject: kind + ":" + w.Key, Code: c, Why: why})
			if c != "" {
				f(Held{Subject: "code:" + c, Code: c, Why: why})
			}
		}
		add(graph.SubjWGMembers, "_K")
		if role == "owner" || role == "moderator" {
			add(graph.SubjWGModerators, "_E")
		}
		if role == "owner" {
			add(graph.SubjWGOwner, "_A")
		}
	}
}

func (r *Resolver) memberRole(w *graph.Workgroup, me string) string {
	if r.wgRoles == nil {
		r.wgRoles = map[string]map[string]string{}
	}
	roles, ok := r.wgRoles[w.Key]
	if !ok {
		roles = map[string]string{}
		canon := func(s string) string {
			if c, err := r.ix.Canonical(s); err == nil {
				return c
			}
			return s
		}
		for _, set := range []struct {
			subjects []string
			rel      string
		}{{w.Invited, relInvited}, {w.Requests, relRequested}, {w.Banned, relBanned}, {w.Members, relMember}, {w.Moderators, relModerator}} {
			for _, m := range set.subjects {
				roles[canon(m)] = set.rel
			}
		}
		roles[canon(w.Owner)] = relOwner
		r.wgRoles[w.Key] = roles
	}
	return roles[me]
}

// groupHeld is what membership in user group gid gives: the group by
// name and its G code. Cached per group.
func (r *Resolver) groupHeld(gid int64) []Held {
	if h, ok := r.groupCache[gid]; ok {
		return h
	}
	if r.groupCache == nil {
		r.groupCache = map[int64][]Held{}
	}
	name := "employees"
	if g, ok := r.ix.GroupByID[gid]; ok {
		name = strings.ToLower(g.Name)
	}
	gs := strconv.FormatInt(gid, 10)
	why := fmt.Sprintf("in user group %q", name)
	h := []Held{{Subject: graph.SubjGroup + ":" + name, Code: "G" + gs, Why: why}, {Subject: "code:G" + gs, Code: "G" + gs, Why: why}}
	r.groupCache[gid] = h
	return h
}

// deptStr are the strings of department a that deptHeld repeats for
// every department under it.
type deptStr struct {
	all    string // department_all:REF
	dr     string // DR<id>
	codeDR string // code:DR<id>
	quoted string // the path, %q-quoted
}

// deptStrings returns department a's strings, cached.
func (r *Resolver) deptStrings(a int64) *deptStr {
	if s, ok := r.deptStrs[a]; ok {
		return s
	}
	if r.deptStrs == nil {
		r.deptStrs = map[int64]*deptStr{}
	}
	as := strconv.FormatInt(a, 10)
	path := r.ix.DeptPath[a]
	// strconv.Quote is %q, without fmt's cost.
	s := &deptStr{all: graph.SubjDepartmentAll + ":" + r.ix.DeptRef(a, path), dr: "DR" + as, codeDR: "code:DR" + as, quoted: strconv.Quote(path)}
	r.deptStrs[a] = s
	return s
}

// deptHeld is what membership in department d gives: D of it, DR of it
// and of every parent. Cached per department.
func (r *Resolver) deptHeld(d int64) []Held {
	if h, ok := r.deptCache[d]; ok {
		return h
	}
	if r.deptCache == nil {
		r.deptCache = map[int64][]Held{}
	}
	ds := strconv.FormatInt(d, 10)
	path := r.ix.DeptPath[d]
	anc := r.ix.Ancestors(d)
	qpath := r.deptStrings(d).quoted
	member := "member of department " + qpath
	out := make([]Held, 0, 2+2*len(anc))
	out = append(out, Held{Subject: graph.SubjDepartment + ":" + r.ix.DeptRef(d, path), Code: "D" + ds, Why: member},
		Held{Subject: "code:D" + ds, Code: "D" + ds, Why: member})
	for i, a := range anc {
		as := r.deptStrings(a)
		why := member
		if i > 0 {
			why = "department " + qpath + " is under " + as.quoted
		}
		out = append(out, Held{Subject: as.all, Code: as.dr, Why: why}, Held{Subject: as.codeDR, Code: as.dr, Why: why})
	}
	r.deptCache[d] = out
	return out
}

// reach returns the roles of the family kind that the user reaches, by
// role index, each through the first held subject that reaches it. A
// slice, not a map: who-can keeps one per user (10,000 at XL), and every
// fresh page of memory costs a page fault.
func (r *Resolver) reach(u *graph.User, kind int) []roleVia {
	if kind == kindCRM && r.crmReach != nil {
		if out, ok := r.crmReach.lookup(u.ID); ok {
			return out
		}
	}
	r.initReach()
	key := reachKey{kind, u.ID}
	if m, ok := r.reached[key]; ok {
		return m
	}
	r.reachStamp++
	if n := len(r.g.CRMRoles) + len(r.telRoles) + len(r.g.OpenlineRoles); len(r.reachSeen) < n {
		r.reachSeen = make([]uint32, n)
	}
	seen, stamp := r.reachSeen, r.reachStamp
	out := r.reachBuf[:0]
	add := func(i int, h Held) {
		if seen[i] != stamp {
			seen[i] = stamp
			out = append(out, roleVia{i, h})
		}
	}
	if held, ok := r.held[u.ID]; ok {
		for _, h := range held {
			for _, i := range r.bySubject[kind][h.Subject] {
				add(i, h)
			}
		}
	} else {
		// UserSubjects without building its list: what a department or
		// group gives is looked up once per department and group (who-can
		// explains thousands of users).
		via := func(roles []roleVia) {
			for _, v := range roles {
				add(v.role, v.via)
			}
		}
		r.eachHeldBy(u, true, func(h Held) {
			for _, i := range r.bySubject[kind][h.Subject] {
				add(i, h)
			}
		}, func(d int64) { via(r.heldReach(kind, 'D', d, r.deptHeld)) },
			func(gid int64) { via(r.heldReach(kind, 'G', gid, r.groupHeld)) }, r.wgAssigned[kind])
	}
	slices.SortFunc(out, func(a, b roleVia) int { return a.role - b.role })
	r.reachBuf = out
	out = slices.Clone(out)
	r.reached[key] = out
	return out
}

// heldReach returns the roles of the family kind that the subjects
// held(id) reach (the department or group id, by which 'D' or 'G'), each
// once and through the first of the subjects that reaches it, cached.
func (r *Resolver) heldReach(kind int, which byte, id int64, held func(int64) []Held) []roleVia {
	key := heldReachKey{kind, which, id}
	if roles, ok := r.heldRoles[key]; ok {
		return roles
	}
	if r.heldRoles == nil {
		r.heldRoles = map[heldReachKey][]roleVia{}
	}
	var roles []roleVia
	for _, h := range held(id) {
		for _, i := range r.bySubject[kind][h.Subject] {
			if !slices.ContainsFunc(roles, func(v roleVia) bool { return v.role == i }) {
				roles = append(roles, roleVia{i, h})
			}
		}
	}
	r.heldRoles[key] = roles
	return roles
}

// roleVia is a role reached through a held subject.
type roleVia struct {
	role int
	via  Held
}

type heldReachKey struct {
	kind  int
	which byte
	id    int64
}

// initReach indexes the role families by assigned subject.
func (r *Resolver) initReach() {
	if r.reached == nil {
		r.reached = make(map[reachKey][]roleVia, len(r.ix.Dir.Users))
		r.bySubject = [3]map[string][]int{}
		for k, as := range [][]map[string]bool{r.crmAssign, r.telAssign, r.olAssign} {
			r.bySubject[k] = map[string][]int{}
			for i, a := range as {
				for s := range a {
					r.bySubject[k][s] = append(r.bySubject[k][s], i)
					r.wgAssigned[k] = r.wgAssigned[k] || isWorkgroupSubject(s)
				}
			}
		}
	}
}

// isWorkgroupSubject reports whether s may be a subject eachHeld gives
// for a workgroup membership (workgroup_members:KEY, code:SG…).
func isWorkgroupSubject(s string) bool {
	kind, _, _ := strings.Cut(s, ":")
	return kind == graph.SubjWGMembers || kind == graph.SubjWGModerators || kind == graph.SubjWGOwner || strings.HasPrefix(s, "code:SG")
}

// Role families for reach.
const (
	kindCRM = iota
	kindTelephony
	kindOpenlines
)

type reachKey struct {
	kind int
	user int64
}

// Step is one link of a derivation.
type Step struct {
	Subject  string `json:"subject"`
	Code     string `json:"code,omitempty"`
	Why      string `json:"why"`
	Role     string `json:"role"`
	RoleName string `json:"role_name"`
	Level    string `json:"level"`
	// Cell names the cell the step reads when an answer combines several
	// (a move reads write and transition), e.g. "deal write at new".
	Cell     string     `json:"cell,omitempty"`
	Explicit bool       `json:"explicit_stage_row,omitempty"`
	Source   *graph.Pos `json:"source,omitempty"`
}

// Result is an effective level with its derivation.
type Result struct {
	Level      string `json:"level"`
	Derivation []Step `json:"derivation"`
	// Losers are roles that applied but did not decide the level.
	Losers []Step `json:"losers,omitempty"`
	Rule   string `json:"rule"`
}

// CRMQuery names one CRM cell.
type CRMQuery struct {
	Entity, Pipeline, Stage, Action string
}

func (r *Resolver) cellSource(role string, k graph.CellKey) *graph.Pos {
	g := r.g
	if r.srcGraph != nil {
		g = r.srcGraph
	}
	if len(g.Sources) == 0 && (g != r.g || r.sources.Len() == 0) {
		return nil // a live graph: no policy positions
	}
	if p, ok := r.source(g, graph.CellSourceKey(role, graph.CRMPerm{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action})); ok {
		return &p
	}
	if k.Stage != "" {
		return r.cellSource(role, k.Parent())
	}
	return nil
}

// crmLevel is CRM without the derivation: the hot path of deltas and
// who-can.
func (r *Resolver) crmLevel(u *graph.User, q CRMQuery) string {
	if e, ok := graph.LookupCRMEntity(q.Entity); ok && q.Pipeline == "" && (e.Pipelines || e.Stages) {
		q.Pipeline = graph.DefaultPipeline
	}
	if u.Admin || (entityAdminActions[q.Action] && r.crmAdmin(u)) {
		return adminCRMLevel(q.Action)
	}
	k := graph.CellKey{Entity: q.Entity, Pipeline: q.Pipeline, Stage: q.Stage, Action: q.Action}
	// §3.2 steps 3-4: the union of the explicit stage rows of all roles if
	// any role has one, else the union of the inherited values.
	var explicitLevels, inheritedLevels []string
	for _, v := range r.reach(u, kindCRM) {
		if level, explicit := r.g.CRMRoles[v.role].Level(k); explicit {
			explicitLevels = append(explicitLevels, level)
		} else {
			inheritedLevels = append(inheritedLevels, level)
		}
	}
	if len(explicitLevels) > 0 {
		return graph.UnionLevels(q.Action == "transition", explicitLevels)
	}
	return graph.UnionLevels(q.Action == "transition", inheritedLevels)
}

// entityAdminActions are the CRM permissions a CRM administrator (CRM
// settings write in one of his roles: Admin::isCrmAdmin, §3.1) has on
// every item type whatever his roles say, because Bitrix asks
// EntityPermissions\Admin::isAdminForEntity before them: automation
// (Automation::canEdit; §2.3 "CONFIG WRITE always passes"), the sums
// (Kanban::canReadKanbanSumInStage), the personal card view
// (EntityEditor::canSwitchToPersonalView) and stage changes
// (Item::canChangeStage; §3.2 TRANSITION "unless entity admin")
// (yuliai/bitrix-modules a3a2a579 crm/lib/Service/UserPermissions/).
// Smart processes of a digital workplace, whose administrators differ,
// are not modelled.
var entityAdminActions = map[string]bool{"automation": true, "hide_sum": true, "mycardview": true, "transition": true}

// settingsWrite is the cell that makes a CRM administrator.
var settingsWrite = CRMQuery{Entity: "config", Action: "write"}

// crmAdmin reports whether u is a CRM administrator: CRM settings write
// in one of his roles.
func (r *Resolver) crmAdmin(u *graph.User) bool { return r.crmLevel(u, settingsWrite) == "all" }

// adminCRMLevel is what a portal administrator gets (§3.2 step 5: ALL;
// for TRANSITION, moves to any stage, written "any" like a role's).
func adminCRMLevel(action string) string {
	if action == "transition" {
		return graph.TransitionAny
	}
	return "all"
}

// CRM returns the effective level of a CRM cell for u.
func (r *Resolver) CRM(u *graph.User, q CRMQuery) Result {
	if e, ok := graph.LookupCRMEntity(q.Entity); ok && q.Pipeline == "" && (e.Pipelines || e.Stages) {
		q.Pipeline = graph.DefaultPipeline
	}
	if u.Admin {
		return Result{Level: adminCRMLevel(q.Action), Rule: "portal administrators bypass CRM roles"}
	}
	if entityAdminActions[q.Action] && r.crmAdmin(u) {
		cfg := r.CRM(u, settingsWrite)
		for i := range cfg.Derivation {
			cfg.Derivation[i].Cell = "config write"
		}
		return Result{Level: adminCRMLevel(q.Action), Derivation: cfg.Derivation,
			Rule: "CRM administrators (CRM settings write in a role) have " + q.Action + " on every item type, whatever their roles say (isAdminForEntity)"}
	}
	k := graph.CellKey{Entity: q.Entity, Pipeline: q.Pipeline, Stage: q.Stage, Action: q.Action}
	reached := r.reach(u, kindCRM)
	if len(reached) == 0 {
		return Result{Level: "none", Rule: "no CRM role applies to this user"}
	}
	// The steps are built in scratch space and copied into one array
	// that the result's derivation and losers share (who-can asks this of
	// thousands of users: fresh memory is a page fault per 4 KB).
	explicit, inherited, levels := r.scratch.explicit[:0], r.scratch.inherited[:0], r.scratch.levels[:0]
	srcs := make([]graph.Pos, 0, len(reached)) // each step its own
	for _, v := range reached {
		i, h := v.role, v.via
		c := r.crmCell(i, k)
		st := Step{Subject: h.Subject, Code: h.Code, Why: h.Why, Role: c.role, RoleName: r.g.CRMRoles[i].Name, Level: c.level, Explicit: c.explicit}
		if c.source != nil {
			srcs = append(srcs, *c.source)
			st.Source = &srcs[len(srcs)-1]
		}
		if isExplicit := c.explicit; isExplicit {
			explicit = append(explicit, st)
		} else {
			inherited = append(inherited, st)
		}
	}
	defer func() {
		r.scratch.explicit, r.scratch.inherited, r.scratch.levels = explicit, inherited, levels
	}()
	pool, rule := inherited, "most permissive role wins"
	var losers []Step
	if len(explicit) > 0 {
		pool, losers = explicit, inherited
		rule = "an explicit stage permission in any role beats inherited ones (detailed beats inherited)"
	}
	for _, s := range pool {
		levels = append(levels, s.Level)
	}
	best := graph.UnionLevels(false, levels)
	// The union (§3.2 step 3): a role whose level alone is the result
	// decides; else every role whose set no other role's set contains.
	contributes := func(s *Step) bool { return s.Level == best }
	if !slices.Contains(levels, best) {
		rule = strings.Replace(rule, "most permissive role wins", "the union of the roles' levels applies", 1)
		contributes = func(s *Step) bool {
			if s.Level == "none" {
				return false
			}
			for _, o := range pool {
				if o.Level != s.Level && graph.LevelCovers(false, o.Level, s.Level) {
					return false
				}
			}
			return true
		}
	}
	if q.Action == "transition" {
		best = mergeTransition(levels)
		rule += "; transition targets are the union across roles"
		contributes = func(s *Step) bool {
			return s.Level == best || (best != graph.TransitionAny && s.Level != graph.TransitionBlocked && s.Level != "")
		}
	}
	// The derivation: the pool's contributing steps, unless nothing is
	// granted without an explicit row; the losers: the beaten inherited
	// steps, then the pool's others.
	keep := !(best == "none" && len(explicit) == 0)
	d := 0
	for i := range pool {
		if contributes(&pool[i]) && keep {
			d++
		}
	}
	all := make([]Step, 0, len(explicit)+len(inherited))
	for i := range pool {
		if contributes(&pool[i]) && keep {
			all = append(all, pool[i])
		}
	}
	all = append(all, losers...)
	for i := range pool {
		if !contributes(&pool[i]) {
			all = append(all, pool[i])
		}
	}
	res := Result{Level: best, Rule: rule}
	if d > 0 {
		res.Derivation = all[:d:d]
	}
	if len(all) > d {
		res.Losers = all[d:]
	}
	return res
}

// crmCellInfo is what CRM needs of role i's cell k, the same for every
// user who reaches the role (who-can explains thousands).
type crmCellInfo struct {
	role     string // "crm_role.KEY"
	level    string
	explicit bool
	source   *graph.Pos
}

type crmCellKey struct {
	role int
	cell graph.CellKey
}

// crmCell returns role i's cell k, cached.
func (r *Resolver) crmCell(i int, k graph.CellKey) crmCellInfo {
	key := crmCellKey{i, k}
	if c, ok := r.crmCells[key]; ok {
		return c
	}
	if r.crmCells == nil {
		r.crmCells = map[crmCellKey]crmCellInfo{}
	}
	role := &r.g.CRMRoles[i]
	c := crmCellInfo{role: "crm_role." + role.Key, source: r.cellSource(role.Key, k)}
	c.level, c.explicit = role.Level(k)
	r.crmCells[key] = c
	return c
}

// mergeTransition is the union of transition values across roles
// (§3.2 TRANSITION): any if one role allows any target, else the union of
// the target stage lists (sorted, joined with ","), else none.
func mergeTransition(levels []string) string { return graph.UnionLevels(true, levels) }

// Activity answers activity questions through the parent item: viewing
// activities follows read, creating/editing/deleting them follows write,
// and add alone gives nothing.
func (r *Resolver) Activity(u *graph.User, item CRMQuery, op string) Result {
	switch op {
	case "view", "read":
		item.Action = "read"
	case "create", "edit", "delete", "write":
		item.Action = "write"
	default:
		return Result{Level: "none", Rule: fmt.Sprintf("activities have no %q operation; use view, create, edit or delete", op)}
	}
	res := r.CRM(u, item)
	res.Rule = "activities follow their item: " + item.Action + " on the " + item.Entity + " decides; " + res.Rule
	return res
}

// Simple returns the effective telephony or open-channel level: the
// maximum across applicable roles.
func (r *Resolver) Simple(u *graph.User, kind graph.Kind, entity, action string) Result {
	roles, reachKind, table := r.telRoles, kindTelephony, graph.TelephonyActions
	rule := "maximum across the user's roles"
	if kind == graph.KindOpenline {
		roles, reachKind, table = r.g.OpenlineRoles, kindOpenlines, graph.OpenlineActions
	} else if r.g.TelephonySecurityOff {
		rule = "telephony security is off (no voximplant_security on the plan): Bitrix's default roles apply, the portal's roles are ignored; " + rule
	}
	sa, _ := graph.LookupSimple(table, entity, action)
	if u.Admin && len(sa.Levels) > 0 {
		return Result{Level: sa.Levels[len(sa.Levels)-1], Rule: "portal administrators have every permission"}
	}
	reached := r.reach(u, reachKind)
	res := Result{Level: "none", Rule: rule}
	var steps []Step
	for _, v := range reached {
		i, h := v.role, v.via
		role := roles[i]
		level := "none"
		for _, c := range role.Perms {
			if c.Entity == entity && c.Action == action {
				level = c.Level
			}
		}
		var src *graph.Pos
		if p, ok := r.source(r.g, graph.SimpleCellSourceKey(kind, role.Key, graph.SimplePerm{Entity: entity, Action: action})); ok {
			src = &p
		}
		steps = append(steps, Step{Subject: h.Subject, Code: h.Code, Why: h.Why, Role: string(kind) + "." + role.Key, RoleName: role.Name, Level: level, Source: src})
		if sa.Rank(level) > sa.Rank(res.Level) {
			res.Level = level
		}
	}
	for _, s := range steps {
		if s.Level == res.Level && res.Level != "none" {
			res.Derivation = append(res.Derivation, s)
		} else {
			res.Losers = append(res.Losers, s)
		}
	}
	if len(steps) == 0 {
		res.Rule = "no role applies to this user"
		if kind == graph.KindTelephony && r.g.TelephonySecurityOff {
			res.Rule = "telephony security is off: only Bitrix's default roles apply, and none reaches this user"
		}
	}
	return res
}

// Workgroup member relations (b_sonet_user2group.ROLE): owner A,
// moderator E, member K are members; banned T, requested and invited Z
// are not.
const (
	relOwner     = "owner"
	relModerator = "moderator"
	relMember    = "member"
	relBanned    = "banned"
	relRequested = "requested"
	relInvited   = "invited"
)

func isMemberRel(rel string) bool { return rel == relOwner || rel == relModerator || rel == relMember }

func relText(rel string) string {
	switch rel {
	case "":
		return "not a member"
	case relBanned:
		return "banned from the group (not a member)"
	case relRequested:
		return "asking to join (request pending, not a member)"
	case relInvited:
		return "invited (invitation not accepted, not a member)"
	}
	return "the " + rel
}

// Workgroup answers whether u may perform a feature operation in a
// workgroup ("allowed"/"denied"), following CSocNetFeaturesPerms::
// CanPerformOperation and Permission\OperationService::canPerform
// (yuliai/bitrix-modules a3a2a579 socialnetwork/classes/general/
// group_features_perms.php, socialnetwork/lib/Permission/OperationService.php),
// with the feature switch callers check first (CSocNetFeatures::
// IsActiveFeature, group_features.php). In that order: a switched-off
// feature gives nobody anything; an operation set to nobody ("0") is
// denied to everyone, administrators included; a banned user nothing; in an archived
// group an operation that is not a viewing one (graph.MinOperations) is
// denied to everyone, administrators included, unless the portal option
// work_with_closed_groups is on, which makes its minimal role the owner;
// then administrators may; "everyone" is "members" in a group not listed
// (VISIBLE = N); "authorized" admits every user; "employee_members" a
// member who is an intranet employee; the others the member roles.
func (r *Resolver) Workgroup(u *graph.User, key, feature, op string) Result {
	w := r.wgs[key]
	if w == nil {
		return Result{Level: "denied", Rule: "no such workgroup"}
	}
	min, known := graph.GroupFeatures[feature][op]
	if !known {
		return Result{Level: "denied", Rule: fmt.Sprintf("workgroups have no operation %s.%s", feature, op)}
	}
	min = w.FeatureRole(feature, op)
	deny := func(rule string) Result { return Result{Level: "denied", Rule: rule} }
	if slices.Contains(w.DisabledFeatures, feature) {
		return deny(fmt.Sprintf("feature %s is switched off in this group: nobody may use it", feature))
	}
	if min == "nobody" {
		// CanPerformOperation returns false when the operation's role is
		// "0" (SONET_ROLES_NONE is falsy in PHP), before every other
		// check: nobody, administrators included.
		return deny(fmt.Sprintf("%s.%s is set to nobody in this group: nobody may, administrators included", feature, op))
	}
	rel := r.memberRole(w, r.canonUser(u))
	if rel == relBanned {
		return deny("the user is banned from the group")
	}
	archivedNote := ""
	if w.Archived && !graph.IsMinOperation(feature, op) {
		if !r.ix.Dir.WorkWithClosedGroups {
			return deny(fmt.Sprintf("the group is archived: only viewing operations are allowed, %s.%s is not one (nobody, administrators included)", feature, op))
		}
		min = "owner"
		archivedNote = "the group is archived and the portal lets owners work in archived groups (work_with_closed_groups): "
	}
	if u.Admin {
		return Result{Level: "allowed", Rule: archivedNote + "portal administrators may do everything"}
	}
	if min == "everyone" && !graph.Listed(w.Visibility) {
		min = "members"
		archivedNote += "everyone means members in a group not listed to non-members: "
	}
	allowed := false
	switch min {
	case "everyone", "authorized":
		allowed = true
	case "employee_members":
		allowed = isMemberRel(rel) && u.Intranet()
	case "members":
		allowed = isMemberRel(rel)
	case "moderators":
		allowed = rel == relOwner || rel == relModerator
	case "owner":
		allowed = rel == relOwner
	}
	lvl := "denied"
	if allowed {
		lvl = "allowed"
	}
	who := relText(rel)
	if min == "employee_members" && isMemberRel(rel) && !u.Intranet() {
		who += ", not an intranet employee"
		if u.Extranet {
			who += " (extranet user)"
		}
	}
	return Result{Level: lvl, Rule: fmt.Sprintf("%s%s.%s needs %s; the user is %s", archivedNote, feature, op, min, who)}
}

// CanSee reports whether u sees a workgroup, and may join it (directly,
// by a request or by accepting an invitation); see Join.
func (r *Resolver) CanSee(u *graph.User, key string) (see, join bool) {
	j := r.Join(u, key)
	return j.See, j.Allowed
}

// JoinAnswer answers "may this user ask to join this group".
type JoinAnswer struct {
	// See: the group is visible to the user (listed, or a member, or an
	// administrator).
	See bool `json:"sees"`
	// Allowed: the user may press "join": Outcome says what happens.
	Allowed bool `json:"allowed"`
	// Outcome is "member" (already one), "joins" (OPENED = Y: becomes a
	// member at once), "request" (a join request the moderators
	// approve), "accepts_invitation", or "denied".
	Outcome  string `json:"outcome"`
	Relation string `json:"relation"`
	Rule     string `json:"rule"`
}

// Join follows Item\Workgroup\AccessManager::canView and ::canJoin and
// CSocNetUserToGroup::SendRequestToBeMember (yuliai/bitrix-modules
// a3a2a579 socialnetwork/lib/item/workgroup/accessmanager.php,
// socialnetwork/classes/general/user_group.php): a group not listed
// (VISIBLE = N) takes no requests except from administrators; a user
// with a relation to the group may only accept an invitation (members,
// banned users and users whose own request is pending may not ask); an
// archived group takes none unless work_with_closed_groups is on (or the
// user is an administrator). Joining an OPENED group makes a member at
// once, otherwise it sends a request. Administrators see every group and
// may join every one, of all kinds. Extranet users do not see intranet
// groups they are not members of (canView); all groups b24perm manages
// are treated as intranet groups.
func (r *Resolver) Join(u *graph.User, key string) JoinAnswer {
	w := r.wgs[key]
	if w == nil {
		return JoinAnswer{Outcome: "denied", Rule: "no such workgroup"}
	}
	rel := r.memberRole(w, r.canonUser(u))
	listed := graph.Listed(w.Visibility)
	a := JoinAnswer{Relation: rel, See: u.Admin || isMemberRel(rel) || (listed && !u.Extranet)}
	if a.Relation == "" {
		a.Relation = "none"
	}
	switch {
	case isMemberRel(rel):
		a.Allowed, a.Outcome, a.Rule = false, "member", "the user is already "+relText(rel)
		return a
	case !u.Admin && !listed:
		a.Outcome, a.Rule = "denied", "the group is not listed (VISIBLE = N): only an invitation or an administrator brings members in"
		if rel == relInvited {
			a.Rule += "; the user's invitation can be accepted only from the invitation itself"
		}
		return a
	case rel == relBanned:
		a.Outcome, a.Rule = "denied", "the user is banned from the group"
		return a
	case rel == relRequested:
		a.Outcome, a.Rule = "denied", "the user's request to join is already pending"
		return a
	case w.Archived && !u.Admin && !r.ix.Dir.WorkWithClosedGroups:
		a.Outcome, a.Rule = "denied", "the group is archived"
		return a
	}
	a.Allowed = true
	opened := graph.Visibilities[w.Visibility][1]
	switch {
	case rel == relInvited:
		a.Outcome, a.Rule = "accepts_invitation", "the user is invited: joining accepts the invitation and makes a member"
	case opened:
		a.Outcome, a.Rule = "joins", "the group is open to join (OPENED = Y): the user becomes a member at once"
	default:
		a.Outcome, a.Rule = "request", "the group is closed to joining (OPENED = N): the user may send a request for the owner or moderators to approve"
	}
	if u.Admin {
		a.Rule = "portal administrators see and may join every group; " + a.Rule
	} else if u.Extranet {
		a.Rule += " (an extranet user does not see intranet groups in the directory; the join check itself does not exclude them)"
	}
	return a
}

// Field answers whether u may view or edit a field of an item in a stage
// (mode "view" or "edit"). Without a rule for the field everyone who can
// read the item sees it.
func (r *Resolver) Field(u *graph.User, entity, pipeline, field, stage, mode string) Result {
	rules := r.matchingFieldRules(entity, pipeline, field, stage, mode)
	if len(rules) == 0 {
		return Result{Level: "allowed", Rule: "no field rule restricts this field"}
	}
	if u.Admin {
		return Result{Level: "allowed", Rule: "portal administrators see every field"}
	}
	held := map[string]Held{}
	for _, h := range r.UserSubjects(u) {
		held[h.Subject] = h
	}
	for _, f := range rules {
		subjects := f.View
		if mode == "edit" {
			subjects = f.Edit
		}
		for _, s := range subjects {
			c := s
			if cs, err := r.ix.Canonical(s); err == nil {
				c = cs
			}
			if h, ok := held[c]; ok {
				var src *graph.Pos
				if p, ok := r.source(r.g, "field_rule."+f.Key); ok {
					src = &p
				}
				return Result{Level: "allowed", Rule: "listed in field rule " + f.Key, Derivation: []Step{{Subject: h.Subject, Code: h.Code, Why: h.Why, Role: "field_rule." + f.Key, Level: "allowed", Source: src}}}
			}
		}
	}
	return Result{Level: "denied", Rule: fmt.Sprintf("field rule %s restricts %s of %s.%s to its subjects", rules[0].Key, mode, entity, field)}
}

// matchingFieldRules returns the field rules that govern (entity,
// pipeline, field, stage) for mode.
func (r *Resolver) matchingFieldRules(entity, pipeline, field, stage, mode string) []graph.FieldRule {
	if r.fieldIndex == nil {
		r.fieldIndex = map[string][]graph.FieldRule{}
		for _, f := range r.g.FieldRules {
			k := f.Entity + "." + f.Field
			r.fieldIndex[k] = append(r.fieldIndex[k], f)
		}
	}
	var rules []graph.FieldRule
	for _, f := range r.fieldIndex[entity+"."+field] {
		if f.Pipeline != "" && pipeline != "" && f.Pipeline != pipeline {
			continue
		}
		if len(f.Stages) > 0 && stage != "" && !slices.Contains(f.Stages, stage) {
			continue
		}
		if f.Native && mode == "edit" {
			continue
		}
		rules = append(rules, f)
	}
	return rules
}
