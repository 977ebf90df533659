package access

// A differential test: small random portals and policies, answered by the
// Resolver and by a second, deliberately simple reference evaluator
// written here from bitrix-permissions.md (§1 access codes, §3 CRM merge,
// §3.5 activities, §5/§6 telephony and open lines, §7 workgroups) and
// the documented semantics of open-channel queues and field rules. The
// reference shares no code with this package: it reads the graph types
// only (no graph.Index, no graph level helpers).
//
// go test ./access -run TestDifferential            (≥10,000 queries)
// go test ./access -run TestDifferential -diff.seeds=2000   (long run)

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

var diffSeeds = flag.Int("diff.seeds", 40, "number of random portals in TestDifferential")

// ---- the generator ----

type genPortal struct {
	g *graph.Graph
	// raw is the portal as generated, before Normalize: the reference
	// reads it, so that what normalization drops is checked too.
	raw *graph.Graph
	// stages per (entity, pipeline)
	stages map[[2]string][]string
}

var (
	genMembers = []string{"own", "department", "subdepartments", "open", "all"}
	genChain   = []string{"none", "own", "department", "subdepartments", "open", "all"}
)

func genPortalFor(seed uint64) genPortal {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	pick := func(n int) int { return rnd.IntN(n) }
	dir := &graph.Directory{WorkWithClosedGroups: pick(3) == 0}
	// Departments: a tree under 1.
	nd := 2 + pick(6)
	for i := 1; i <= nd; i++ {
		d := graph.Department{ID: int64(i), Name: "Dep" + strconv.Itoa(i)}
		if i == 1 {
			d.Name = "Company"
		} else {
			d.Parent = int64(1 + pick(i-1))
		}
		dir.Departments = append(dir.Departments, d)
	}
	dir.Groups = []graph.Group{{ID: 2, Name: "employees"}, {ID: 11, Name: "sales team"}, {ID: 12, Name: "auditors"}}
	nu := 3 + pick(8)
	for i := 1; i <= nu; i++ {
		u := graph.User{ID: int64(100 + i), Email: fmt.Sprintf("u%d@example.com", i), Name: "U" + strconv.Itoa(i)}
		switch pick(10) {
		case 0:
			u.Admin = true
		case 1:
			u.Extranet = true
		case 2:
			u.Inactive = true
		}
		if !u.Extranet && pick(6) != 0 {
			for k := 0; k < 1+pick(2); k++ {
				u.Departments = append(u.Departments, int64(1+pick(nd)))
			}
		}
		// Administrators are the members of group 1 (the bitrix reader
		// sets Admin from it).
		if u.Admin {
			u.Groups = append(u.Groups, 1)
		}
		for _, gid := range []int64{11, 12} {
			if pick(3) == 0 {
				u.Groups = append(u.Groups, gid)
			}
		}
		dir.Users = append(dir.Users, u)
	}
	for i := range dir.Departments {
		if pick(2) == 0 {
			dir.Departments[i].Head = int64(100 + 1 + pick(nu))
		}
	}
	user := func() string { return fmt.Sprintf("user:u%d@example.com", 1+pick(nu)) }
	g := &graph.Graph{Directory: dir}
	// Workgroups.
	vis := []string{"public", "private", "secret"}
	if _, ok := graph.Visibilities["secret_open"]; ok {
		vis = append(vis, "secret_open")
	}
	nw := 1 + pick(3)
	for i := 1; i <= nw; i++ {
		w := graph.Workgroup{Key: "w" + strconv.Itoa(i), Name: "W" + strconv.Itoa(i), ID: int64(20 + i), Visibility: vis[pick(len(vis))], Owner: user(), Archived: pick(4) == 0}
		used := map[string]bool{w.Owner: true}
		for k := 0; k < nu; k++ {
			s := user()
			if used[s] {
				continue
			}
			used[s] = true
			switch pick(6) {
			case 0:
				w.Moderators = append(w.Moderators, s)
			case 1, 2:
				w.Members = append(w.Members, s)
			case 3:
				w.Banned = append(w.Banned, s)
			case 4:
				if pick(2) == 0 {
					w.Requests = append(w.Requests, s)
				} else {
					w.Invited = append(w.Invited, s)
				}
			}
		}
		for _, f := range []string{"tasks", "blog", "files", "forum", "search"} {
			if pick(5) == 0 {
				w.DisabledFeatures = append(w.DisabledFeatures, f)
			}
			ops := sortedStrings(graph.GroupFeatures[f])
			for _, op := range ops {
				if pick(4) == 0 {
					role := graph.GroupRoles[pick(len(graph.GroupRoles))].Name
					if slices.Contains(graph.GroupRestricted[f][op], role) {
						role = "members"
					}
					w.Features = append(w.Features, graph.FeaturePerm{Feature: f, Operation: op, Role: role})
				}
			}
		}
		g.Workgroups = append(g.Workgroups, w)
	}
	// Subjects of every kind.
	dept := func() int64 { return int64(1 + pick(nd)) }
	path := func(d int64) string {
		var parts []string
		for d != 0 {
			for _, x := range dir.Departments {
				if x.ID == d {
					parts = append([]string{x.Name}, parts...)
					d = x.Parent
					break
				}
			}
		}
		return strings.Join(parts, "/")
	}
	subject := func() string {
		switch pick(16) {
		case 0, 1:
			return user()
		case 2:
			return fmt.Sprintf("department:#%d", dept())
		case 3:
			return "department:" + path(dept())
		case 4:
			return fmt.Sprintf("department_tree:#%d", dept())
		case 5:
			return []string{"group:employees", "group:sales team", "group:auditors"}[pick(3)]
		case 6:
			k := fmt.Sprintf("w%d", 1+pick(nw))
			return []string{"workgroup_members:", "workgroup_moderators:", "workgroup_owner:"}[pick(3)] + k
		case 7:
			return fmt.Sprintf("code:U%d", 101+pick(nu))
		case 8:
			return fmt.Sprintf("code:IU%d", 101+pick(nu))
		case 9:
			return fmt.Sprintf("code:AD%d", dept())
		case 10:
			return "code:AD0"
		case 11:
			return []string{"code:AE0", "code:G2", "code:G11", "code:AU", "code:G1", "code:UA"}[pick(6)]
		case 12:
			return fmt.Sprintf("code:DR%d", dept())
		case 13:
			return fmt.Sprintf("code:D%d", dept())
		case 14:
			return fmt.Sprintf("code:SG%d%s", 21+pick(nw), []string{"_K", "_E", "_A", ""}[pick(4)])
		}
		return fmt.Sprintf("department_tree:%s", path(dept()))
	}
	subjects := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, subject())
		}
		return out
	}
	// CRM structure: deal default + one pipeline, lead default.
	gp := genPortal{g: g, stages: map[[2]string][]string{}}
	for _, p := range []struct{ e, k string }{{"deal", "default"}, {"deal", "wholesale"}, {"lead", "default"}} {
		st := []string{"new", "work", "won"}
		g.Pipelines = append(g.Pipelines, graph.Pipeline{Entity: p.e, Key: p.k, Name: p.k, Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "work", Name: "Work"}, {Key: "won", Name: "Won"}}})
		gp.stages[[2]string{p.e, p.k}] = st
	}
	level := func() string {
		if pick(4) == 0 { // a non-chain set
			var m []string
			for _, x := range genMembers {
				if pick(2) == 0 {
					m = append(m, x)
				}
			}
			if len(m) == 0 {
				return "none"
			}
			return refLevelString(refSetOf(m...))
		}
		return genChain[pick(len(genChain))]
	}
	transition := func(e, p string) string {
		switch pick(5) {
		case 0:
			return "any"
		case 1:
			return "none"
		}
		var t []string
		for _, s := range gp.stages[[2]string{e, p}] {
			if pick(2) == 0 {
				t = append(t, s)
			}
		}
		if len(t) == 0 {
			return "none"
		}
		return strings.Join(t, ",")
	}
	nr := 1 + pick(4)
	for i := 1; i <= nr; i++ {
		role := graph.CRMRole{Key: "r" + strconv.Itoa(i), Name: "R" + strconv.Itoa(i), Assign: subjects(1 + pick(3))}
		for _, p := range []struct{ e, k string }{{"deal", "default"}, {"deal", "wholesale"}, {"lead", "default"}} {
			for _, a := range []string{"read", "write", "add", "transition", "automation", "hide_sum", "mycardview"} {
				val := func() string {
					switch a {
					case "transition":
						return transition(p.e, p.k)
					case "automation", "hide_sum", "mycardview": // toggles
						return []string{"none", "all"}[pick(2)]
					}
					return level()
				}
				parent := ""
				if pick(3) != 0 {
					parent = val()
					role.Perms = append(role.Perms, graph.CRMPerm{Entity: p.e, Pipeline: p.k, Action: a, Level: parent})
				}
				for _, s := range gp.stages[[2]string{p.e, p.k}] {
					if a == "automation" || a == "mycardview" {
						break // no stage rows
					}
					switch pick(5) {
					case 0:
						role.Perms = append(role.Perms, graph.CRMPerm{Entity: p.e, Pipeline: p.k, Stage: s, Action: a, Level: val()})
					case 1: // an explicit row equal to the pipeline level (or none)
						l := parent
						if l == "" {
							l = "none"
						}
						role.Perms = append(role.Perms, graph.CRMPerm{Entity: p.e, Pipeline: p.k, Stage: s, Action: a, Level: l})
					}
				}
			}
		}
		// CRM settings write makes a CRM administrator (moves anywhere).
		switch pick(6) {
		case 0:
			role.Perms = append(role.Perms, graph.CRMPerm{Entity: "config", Action: "write", Level: "all"})
		case 1:
			role.Perms = append(role.Perms, graph.CRMPerm{Entity: "config", Action: "write", Level: "none"})
		}
		g.CRMRoles = append(g.CRMRoles, role)
	}
	// Telephony and open-channel roles.
	for k, table := range [][]graph.SimpleAction{graph.TelephonyActions, graph.OpenlineActions} {
		for i := 1; i <= 1+pick(3); i++ {
			r := graph.SimpleRole{Key: fmt.Sprintf("s%d_%d", k, i), Name: fmt.Sprintf("S%d %d", k, i), Assign: subjects(1 + pick(2))}
			for _, a := range table {
				if pick(2) == 0 {
					r.Perms = append(r.Perms, graph.SimplePerm{Entity: a.Entity, Action: a.Action, Level: a.Levels[pick(len(a.Levels))]})
				}
			}
			if k == 0 {
				g.TelephonyRoles = append(g.TelephonyRoles, r)
			} else {
				g.OpenlineRoles = append(g.OpenlineRoles, r)
			}
		}
	}
	// Telephony security off (a plan without voximplant_security).
	g.TelephonySecurityOff = pick(4) == 0
	// Open channels.
	for i := 1; i <= 1+pick(2); i++ {
		c := graph.OpenChannel{Key: "c" + strconv.Itoa(i), Name: "C" + strconv.Itoa(i), Inactive: pick(4) == 0}
		for k := 0; k < 1+pick(3); k++ {
			switch pick(4) {
			case 0, 1:
				c.Queue = append(c.Queue, user())
			case 2:
				c.Queue = append(c.Queue, fmt.Sprintf("department:#%d", dept()))
			case 3:
				c.Queue = append(c.Queue, "department:"+path(dept()))
			}
		}
		g.OpenChannels = append(g.OpenChannels, c)
	}
	// Field rules.
	for i := 1; i <= pick(3); i++ {
		f := graph.FieldRule{Key: "f" + strconv.Itoa(i), Native: pick(3) == 0, Entity: "deal", Field: []string{"UF_A", "UF_B"}[pick(2)], View: subjects(1 + pick(2))}
		if pick(2) == 0 {
			f.Pipeline = []string{"default", "wholesale"}[pick(2)]
		}
		if pick(2) == 0 {
			f.Stages = []string{[]string{"new", "work", "won"}[pick(3)]}
		}
		if !f.Native {
			f.Edit = subjects(pick(2))
		}
		g.FieldRules = append(g.FieldRules, f)
	}
	raw := *g
	raw.CRMRoles = slices.Clone(g.CRMRoles)
	for i := range raw.CRMRoles {
		raw.CRMRoles[i].Perms = slices.Clone(g.CRMRoles[i].Perms)
		raw.CRMRoles[i].Assign = slices.Clone(g.CRMRoles[i].Assign)
	}
	gp.raw = &raw
	g.Normalize()
	return gp
}

func sortedStrings[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- the reference evaluator ----

// refSet is a SETTINGS set (§2.4): bit i = member i of
// SELF, DEPARTMENT, SUBDEPARTMENTS, OPEN, ALL.
type refSet uint8

func refSetOf(members ...string) refSet {
	var s refSet
	for _, m := range members {
		s |= 1 << slices.Index(genMembers, m)
	}
	return s
}

// refLevel reads a level of the graph as a set: the letters expand to
// chains (§2.4 table), other sets are their "+"-joined members.
func refLevel(l string) refSet {
	switch l {
	case "none", "":
		return 0
	case "own":
		return refSetOf("own")
	case "department":
		return refSetOf("own", "department")
	case "subdepartments":
		return refSetOf("own", "department", "subdepartments")
	case "open":
		return refSetOf("own", "department", "subdepartments", "open")
	case "all":
		return refSetOf(genMembers...)
	}
	var s refSet
	for _, m := range strings.Split(l, "+") {
		if m != "" {
			s |= refSetOf(m)
		}
	}
	return s
}

// refLevelString writes a set the way the graph spells levels.
func refLevelString(s refSet) string {
	if s&refSetOf("all") != 0 {
		return "all"
	}
	for _, c := range genChain {
		if refLevel(c) == s {
			return c
		}
	}
	var m []string
	for i, x := range genMembers {
		if s&(1<<i) != 0 {
			m = append(m, x)
		}
	}
	if len(m) == 1 {
		return "+" + m[0]
	}
	return strings.Join(m, "+")
}

type reference struct {
	g   *graph.Graph
	dir *graph.Directory
}

func (f *reference) dept(ref string) (graph.Department, bool) {
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		n, _ := strconv.ParseInt(id, 10, 64)
		for _, d := range f.dir.Departments {
			if d.ID == n {
				return d, true
			}
		}
		return graph.Department{}, false
	}
	for _, d := range f.dir.Departments {
		if f.path(d.ID) == ref {
			return d, true
		}
	}
	return graph.Department{}, false
}

func (f *reference) path(id int64) string {
	var parts []string
	for id != 0 {
		found := false
		for _, d := range f.dir.Departments {
			if d.ID == id {
				parts = append([]string{d.Name}, parts...)
				id, found = d.Parent, true
				break
			}
		}
		if !found {
			break
		}
	}
	return strings.Join(parts, "/")
}

// under reports whether department d is top or below it.
func (f *reference) under(d, top int64) bool {
	for d != 0 {
		if d == top {
			return true
		}
		parent := int64(0)
		for _, x := range f.dir.Departments {
			if x.ID == d {
				parent = x.Parent
			}
		}
		d = parent
	}
	return false
}

func (f *reference) inTree(u *graph.User, top int64) bool {
	for _, d := range u.Departments {
		if f.under(d, top) {
			return true
		}
	}
	return false
}

func (f *reference) userByID(id int64) *graph.User {
	for i := range f.dir.Users {
		if f.dir.Users[i].ID == id {
			return &f.dir.Users[i]
		}
	}
	return nil
}

func (f *reference) isUser(u *graph.User, ref string) bool {
	ref = strings.TrimPrefix(ref, graph.SubjUser+":")
	return strings.EqualFold(ref, u.Email) || ref == strconv.FormatInt(u.ID, 10)
}

// rel is u's b_sonet_user2group relation to w.
func (f *reference) rel(u *graph.User, w *graph.Workgroup) string {
	switch {
	case f.isUser(u, w.Owner):
		return "A"
	case slices.ContainsFunc(w.Moderators, func(s string) bool { return f.isUser(u, s) }):
		return "E"
	case slices.ContainsFunc(w.Members, func(s string) bool { return f.isUser(u, s) }):
		return "K"
	case slices.ContainsFunc(w.Banned, func(s string) bool { return f.isUser(u, s) }):
		return "T"
	case slices.ContainsFunc(w.Requests, func(s string) bool { return f.isUser(u, s) }):
		return "Zu"
	case slices.ContainsFunc(w.Invited, func(s string) bool { return f.isUser(u, s) }):
		return "Zg"
	}
	return ""
}

func (f *reference) heads(u *graph.User) []int64 {
	var out []int64
	for _, d := range f.dir.Departments {
		if d.Head == u.ID {
			out = append(out, d.ID)
		}
	}
	return out
}

// holds: does u hold the access code behind subject s (§1.2)?
func (f *reference) holds(u *graph.User, s string) bool {
	kind, ref, _ := strings.Cut(s, ":")
	wg := func(key string) *graph.Workgroup {
		for i := range f.g.Workgroups {
			if f.g.Workgroups[i].Key == key {
				return &f.g.Workgroups[i]
			}
		}
		return nil
	}
	switch kind {
	case graph.SubjUser:
		return f.isUser(u, ref)
	case graph.SubjDepartment:
		d, ok := f.dept(ref)
		return ok && slices.Contains(u.Departments, d.ID)
	case graph.SubjDepartmentAll:
		d, ok := f.dept(ref)
		return ok && f.inTree(u, d.ID)
	case graph.SubjGroup:
		if ref == "employees" {
			return true // G2: every user
		}
		for _, g := range f.dir.Groups {
			if strings.EqualFold(g.Name, ref) {
				return slices.Contains(u.Groups, g.ID)
			}
		}
		return false
	case graph.SubjWGMembers, graph.SubjWGModerators, graph.SubjWGOwner:
		w := wg(ref)
		if w == nil {
			return false
		}
		r := f.rel(u, w)
		switch kind {
		case graph.SubjWGMembers:
			return r == "A" || r == "E" || r == "K"
		case graph.SubjWGModerators:
			return r == "A" || r == "E"
		}
		return r == "A"
	case graph.SubjCode:
		num := func(p string) (int64, bool) {
			x, ok := strings.CutPrefix(ref, p)
			if !ok {
				return 0, false
			}
			n, err := strconv.ParseInt(x, 10, 64)
			return n, err == nil
		}
		if strings.HasPrefix(ref, "SG") {
			id, suffix, _ := strings.Cut(strings.TrimPrefix(ref, "SG"), "_")
			for i := range f.g.Workgroups {
				w := &f.g.Workgroups[i]
				if strconv.FormatInt(w.ID, 10) != id {
					continue
				}
				r := f.rel(u, w)
				switch suffix {
				case "K":
					return r == "A" || r == "E" || r == "K"
				case "E":
					return r == "A" || r == "E"
				case "A":
					return r == "A"
				}
			}
			return false // a bare SG<id> is never held
		}
		switch {
		case ref == "AU":
			return false // session only, never stored
		case ref == "AE0":
			return len(u.Departments) > 0
		case ref == "AD0":
			return len(f.heads(u)) > 0
		case ref == "G2":
			return true
		}
		if n, ok := num("DR"); ok {
			return f.inTree(u, n)
		}
		if n, ok := num("AD"); ok {
			return slices.Contains(f.heads(u), n)
		}
		if n, ok := num("IU"); ok {
			// The intranet provider gives IU codes only to a user in a
			// department (intranet/classes/general/authproviders.php
			// UpdateCodes returns early otherwise).
			if len(u.Departments) == 0 {
				return false
			}
			if n == u.ID {
				return true
			}
			sub := f.userByID(n)
			if sub == nil {
				return false
			}
			for _, h := range f.heads(u) {
				if f.inTree(sub, h) {
					return true
				}
			}
			return false
		}
		if n, ok := num("U"); ok {
			return n == u.ID
		}
		if n, ok := num("D"); ok {
			return slices.Contains(u.Departments, n)
		}
		if n, ok := num("G"); ok {
			return slices.Contains(u.Groups, n)
		}
	}
	return false
}

func (f *reference) reaches(u *graph.User, assign []string) bool {
	return slices.ContainsFunc(assign, func(s string) bool { return f.holds(u, s) })
}

// crm is §3.2: admins all; the union of the explicit stage rows of the
// roles if any role has one for the stage, else the union of the roles'
// pipeline-level values (missing = none). Transition values are target
// sets ("any" = every target) merged the same way.
func (f *reference) crm(u *graph.User, entity, pipeline, stage, action string) string {
	transition := action == "transition"
	// A CRM administrator (CONFIG WRITE in a role, §3.1) is the entity
	// admin: automation passes (§2.3), and so do the sums, the personal
	// card view and moves (§3.2 TRANSITION "unless entity admin";
	// isAdminForEntity in Automation::canEdit, Kanban::
	// canReadKanbanSumInStage, EntityEditor::canSwitchToPersonalView,
	// Item::canChangeStage).
	entityAdmin := false
	switch action {
	case "automation", "hide_sum", "mycardview", "transition":
		entityAdmin = f.crm(u, "config", "", "", "write") == "all"
	}
	if u.Admin || entityAdmin {
		if transition {
			return "any"
		}
		return "all"
	}
	var explicit, inherited []string
	for _, role := range f.g.CRMRoles {
		if !f.reaches(u, role.Assign) {
			continue
		}
		find := func(st string) (string, bool) {
			for _, c := range role.Perms {
				if c.Entity == entity && c.Pipeline == pipeline && c.Stage == st && c.Action == action {
					return c.Level, true
				}
			}
			return "none", false
		}
		if stage != "" {
			if l, ok := find(stage); ok {
				explicit = append(explicit, l)
				continue
			}
		}
		l, _ := find("")
		inherited = append(inherited, l)
	}
	pool := inherited
	if len(explicit) > 0 {
		pool = explicit
	}
	if transition {
		targets := map[string]bool{}
		for _, l := range pool {
			if l == "any" {
				return "any"
			}
			if l == "none" {
				continue
			}
			for _, t := range strings.Split(l, ",") {
				targets[t] = true
			}
		}
		if len(targets) == 0 {
			return "none"
		}
		return strings.Join(sortedStrings(targets), ",")
	}
	var s refSet
	for _, l := range pool {
		s |= refLevel(l)
	}
	return refLevelString(s)
}

// move is Item::canChangeStage (§3.2 TRANSITION): administrators and
// CRM administrators (CONFIG WRITE in a role, §3.1: the entity admin)
// may; otherwise write on the item where it stands, and the target among
// the transition targets there (or any). The answer is the write level.
func (f *reference) move(u *graph.User, entity, pipeline, from, to string) string {
	if u.Admin || f.crm(u, "config", "", "", "write") == "all" {
		return "all"
	}
	w := f.crm(u, entity, pipeline, from, "write")
	if w == "none" {
		return "none"
	}
	t := f.crm(u, entity, pipeline, from, "transition")
	if t == "any" || slices.Contains(strings.Split(t, ","), to) {
		return w
	}
	return "none"
}

// refDefaultTelephony are the roles telephony uses while its security
// feature is off (§5; voximplant/lib/security/helper.php getDefaultRoles
// and getDefaultRoleAccess, yuliai/bitrix-modules a3a2a579): admin on
// G1, manager on DR<root department>; chief and department_head are
// assigned to nobody.
func (f *reference) refDefaultTelephony() []graph.SimpleRole {
	admin := graph.SimpleRole{Assign: []string{"code:G1"}, Perms: []graph.SimplePerm{
		{Entity: "call_detail", Action: "view", Level: "any"}, {Entity: "call", Action: "perform", Level: "any"},
		{Entity: "call_record", Action: "listen", Level: "any"}, {Entity: "user", Action: "modify", Level: "any"},
		{Entity: "settings", Action: "modify", Level: "any"}, {Entity: "line", Action: "modify", Level: "any"}}}
	manager := graph.SimpleRole{Perms: []graph.SimplePerm{
		{Entity: "call_detail", Action: "view", Level: "own"}, {Entity: "call", Action: "perform", Level: "any"},
		{Entity: "call_record", Action: "listen", Level: "own"}}}
	for _, d := range f.dir.Departments {
		if d.Parent == 0 {
			manager.Assign = []string{"code:DR" + strconv.FormatInt(d.ID, 10)}
			break
		}
	}
	return []graph.SimpleRole{admin, manager}
}

// simple is §5/§6: the maximum letter across roles, compared as PHP
// strings (empty < A < C < D < K < X); admins the maximum.
func (f *reference) simple(u *graph.User, roles []graph.SimpleRole, table []graph.SimpleAction, entity, action string) string {
	letter := map[string]string{"none": "", "own": "A", "crm_clients": "C", "department": "D", "crm_clients_and_employees": "K", "any": "X"}
	name := map[string]string{}
	for k, v := range letter {
		name[v] = k
	}
	if u.Admin {
		for _, a := range table {
			if a.Entity == entity && a.Action == action {
				return a.Levels[len(a.Levels)-1]
			}
		}
	}
	best := ""
	for _, r := range roles {
		if !f.reaches(u, r.Assign) {
			continue
		}
		for _, c := range r.Perms {
			if c.Entity == entity && c.Action == action && letter[c.Level] > best {
				best = letter[c.Level]
			}
		}
	}
	return name[best]
}

var refMinOps = map[string][]string{"forum": {"view"}, "photo": {"view"}, "calendar": {"view"}, "files": {"view"},
	"tasks": {"view_all", "view"}, "blog": {"view_comment", "view_post"}}

var refVisible = map[string][2]bool{"public": {true, true}, "private": {true, false}, "secret": {false, false}, "secret_open": {false, true}}

// workgroup is CanPerformOperation (§7), in its order.
func (f *reference) workgroup(u *graph.User, w *graph.Workgroup, feature, op string) string {
	min := ""
	for _, fp := range w.Features {
		if fp.Feature == feature && fp.Operation == op {
			min = fp.Role
		}
	}
	if min == "" {
		min = graph.GroupFeatures[feature][op] // the defaults table of §7
		// CSocNetFeaturesPerms::GetOperationPerm (yuliai/bitrix-modules
		// a3a2a579 socialnetwork/classes/general/group_features_perms.php):
		// without a row, in a public group (VISIBLE=Y, OPENED=Y), a blog
		// minoperation whose default is K is L.
		if feature == "blog" && min == "members" && refVisible[w.Visibility] == [2]bool{true, true} && slices.Contains(refMinOps["blog"], op) {
			min = "authorized"
		}
	}
	if slices.Contains(w.DisabledFeatures, feature) {
		return "denied"
	}
	// CanPerformOperation: `if ($featureOperationPerms == false) return
	// false` comes first, and the role "0" (SONET_ROLES_NONE) is false in
	// PHP: nobody may, administrators included.
	if min == "nobody" {
		return "denied"
	}
	rel := f.rel(u, w)
	if rel == "T" {
		return "denied"
	}
	if w.Archived && !slices.Contains(refMinOps[feature], op) {
		if !f.dir.WorkWithClosedGroups {
			return "denied"
		}
		min = "owner"
	}
	if u.Admin {
		return "allowed"
	}
	if min == "everyone" && !refVisible[w.Visibility][0] {
		min = "members"
	}
	member := rel == "A" || rel == "E" || rel == "K"
	ok := false
	switch min {
	case "everyone", "authorized":
		ok = true
	case "employee_members":
		ok = member && !u.Extranet && (u.Admin || len(u.Departments) > 0)
	case "members":
		ok = member
	case "moderators":
		ok = rel == "A" || rel == "E"
	case "owner":
		ok = rel == "A"
	}
	if ok {
		return "allowed"
	}
	return "denied"
}

// join: who sees a group and may ask to join it (AccessManager::canView,
// ::canJoin as the engine documents them).
func (f *reference) join(u *graph.User, w *graph.Workgroup) (see, allowed bool, outcome string) {
	rel := f.rel(u, w)
	member := rel == "A" || rel == "E" || rel == "K"
	listed, opened := refVisible[w.Visibility][0], refVisible[w.Visibility][1]
	see = u.Admin || member || (listed && !u.Extranet)
	switch {
	case member:
		return see, false, "member"
	case !u.Admin && !listed:
		return see, false, "denied"
	case rel == "T", rel == "Zu":
		return see, false, "denied"
	case w.Archived && !u.Admin && !f.dir.WorkWithClosedGroups:
		return see, false, "denied"
	case rel == "Zg":
		return see, true, "accepts_invitation"
	case opened:
		return see, true, "joins"
	}
	return see, true, "request"
}

// channel: the operators a channel's queue reaches (a department entry
// with its subdepartments, without the heads of those departments);
// nobody while the channel is off. QueueManager::update keeps only active
// users with a department (isValidUser: not extranet in im's sense), and
// StructureService::getDepartmentUserIds leaves department heads out
// (imopenlines/lib/queuemanager.php, integrations/humanresources/
// structureservice.php).
func (f *reference) channel(c *graph.OpenChannel) map[int64]bool {
	out := map[int64]bool{}
	if c.Inactive {
		return out
	}
	for _, s := range c.Queue {
		for i := range f.dir.Users {
			u := &f.dir.Users[i]
			if u.Inactive || len(u.Departments) == 0 {
				continue
			}
			kind, ref, _ := strings.Cut(s, ":")
			switch kind {
			case graph.SubjUser:
				if f.isUser(u, ref) {
					out[u.ID] = true
				}
			case graph.SubjDepartment, graph.SubjDepartmentAll:
				d, ok := f.dept(ref)
				if !ok || !f.inTree(u, d.ID) {
					continue
				}
				head := false
				for _, x := range f.dir.Departments {
					if x.Head == u.ID && f.under(x.ID, d.ID) {
						head = true
					}
				}
				if !head {
					out[u.ID] = true
				}
			}
		}
	}
	return out
}

// field: without a governing rule everyone; admins always; else anyone a
// governing rule lists for the mode (native rules govern viewing only).
func (f *reference) field(u *graph.User, entity, pipeline, field, stage, mode string) string {
	var rules []graph.FieldRule
	for _, r := range f.g.FieldRules {
		if r.Entity != entity || r.Field != field || (r.Native && mode == "edit") {
			continue
		}
		if r.Pipeline != "" && pipeline != "" && r.Pipeline != pipeline {
			continue
		}
		if len(r.Stages) > 0 && stage != "" && !slices.Contains(r.Stages, stage) {
			continue
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 || u.Admin {
		return "allowed"
	}
	for _, r := range rules {
		list := r.View
		if mode == "edit" {
			list = r.Edit
		}
		if f.reaches(u, list) {
			return "allowed"
		}
	}
	return "denied"
}

// ---- the comparison ----

type diffStats struct {
	queries, disagreements int
	byKind                 map[string]int
	examples               []string
	answers                map[string]map[string]int // kind → reference answer → count
}

func (s *diffStats) check(kind string, seed uint64, what string, got, want string) {
	s.queries++
	if s.answers == nil {
		s.answers = map[string]map[string]int{}
	}
	if s.answers[kind] == nil {
		s.answers[kind] = map[string]int{}
	}
	s.answers[kind][want]++
	if got == want {
		return
	}
	s.disagreements++
	if s.byKind == nil {
		s.byKind = map[string]int{}
	}
	s.byKind[kind]++
	if len(s.examples) < 12 {
		s.examples = append(s.examples, fmt.Sprintf("seed %d %s %s: engine %q, reference %q", seed, kind, what, got, want))
	}
}

func runDifferential(seed uint64, s *diffStats) {
	gp := genPortalFor(seed)
	g := gp.g
	r := New(g, g.Directory)
	ref := &reference{g: gp.raw, dir: g.Directory}
	for i := range g.Directory.Users {
		u := &g.Directory.Users[i]
		if u.Inactive {
			continue
		}
		who := u.Email
		for _, p := range []struct{ e, k string }{{"deal", "default"}, {"deal", "wholesale"}, {"lead", "default"}} {
			for _, stage := range append([]string{""}, gp.stages[[2]string{p.e, p.k}]...) {
				for _, a := range []string{"read", "write", "add", "transition", "automation", "hide_sum", "mycardview"} {
					if stage != "" && (a == "automation" || a == "mycardview") {
						continue
					}
					q := CRMQuery{Entity: p.e, Pipeline: p.k, Stage: stage, Action: a}
					want := ref.crm(u, p.e, p.k, stage, a)
					what := fmt.Sprintf("%s %s/%s/%s/%s", who, p.e, p.k, stage, a)
					s.check("crm", seed, what, r.CRM(u, q).Level, want)
					s.check("crm-fast", seed, what, r.crmLevel(u, q), want)
					s.check("crm-question", seed, what, r.CRMQuestion(q)(u), want) // who-can's path
				}
				for _, to := range gp.stages[[2]string{p.e, p.k}] {
					if stage == "" || to == stage {
						continue
					}
					s.check("move", seed, fmt.Sprintf("%s %s/%s %s→%s", who, p.e, p.k, stage, to),
						r.Move(u, MoveQuery{Entity: p.e, Pipeline: p.k, From: stage, To: to}).Level, ref.move(u, p.e, p.k, stage, to))
				}
				for _, op := range []string{"view", "edit"} {
					a := map[string]string{"view": "read", "edit": "write"}[op]
					s.check("activity", seed, fmt.Sprintf("%s %s %s/%s/%s", who, op, p.e, p.k, stage),
						r.Activity(u, CRMQuery{Entity: p.e, Pipeline: p.k, Stage: stage}, op).Level, ref.crm(u, p.e, p.k, stage, a))
				}
			}
		}
		s.check("crm", seed, who+" config/write", r.CRM(u, CRMQuery{Entity: "config", Action: "write"}).Level, ref.crm(u, "config", "", "", "write"))
		for _, a := range graph.TelephonyActions {
			roles, kind := g.TelephonyRoles, "telephony"
			if g.TelephonySecurityOff {
				roles, kind = ref.refDefaultTelephony(), "telephony-security-off"
			}
			s.check(kind, seed, who+" "+a.Entity+"."+a.Action, r.Simple(u, graph.KindTelephony, a.Entity, a.Action).Level,
				ref.simple(u, roles, graph.TelephonyActions, a.Entity, a.Action))
		}
		for _, a := range graph.OpenlineActions {
			s.check("openlines", seed, who+" "+a.Entity+"."+a.Action, r.Simple(u, graph.KindOpenline, a.Entity, a.Action).Level,
				ref.simple(u, g.OpenlineRoles, graph.OpenlineActions, a.Entity, a.Action))
		}
		for wi := range g.Workgroups {
			w := &g.Workgroups[wi]
			for _, feature := range sortedStrings(graph.GroupFeatures) {
				for _, op := range sortedStrings(graph.GroupFeatures[feature]) {
					s.check("workgroup", seed, fmt.Sprintf("%s %s %s.%s", who, w.Key, feature, op), r.Workgroup(u, w.Key, feature, op).Level, ref.workgroup(u, w, feature, op))
				}
			}
			j := r.Join(u, w.Key)
			see, allowed, outcome := ref.join(u, w)
			s.check("join", seed, who+" "+w.Key, fmt.Sprintf("see=%v allowed=%v %s", j.See, j.Allowed, j.Outcome), fmt.Sprintf("see=%v allowed=%v %s", see, allowed, outcome))
		}
		for ci := range g.OpenChannels {
			c := &g.OpenChannels[ci]
			want := "none"
			if ref.channel(c)[u.ID] {
				want = "receives_chats"
			}
			s.check("channel", seed, who+" "+c.Key, r.Channel(u, c.Key).Level, want)
		}
		for _, field := range []string{"UF_A", "UF_B"} {
			for _, pl := range []string{"", "default", "wholesale"} {
				for _, st := range []string{"", "new", "won"} {
					for _, mode := range []string{"view", "edit"} {
						s.check("field", seed, fmt.Sprintf("%s %s %s/%s %s", who, field, pl, st, mode), r.Field(u, "deal", pl, field, st, mode).Level, ref.field(u, "deal", pl, field, st, mode))
					}
				}
			}
		}
	}
	// Channel receivers as a set, and the matrix against single queries.
	for ci := range g.OpenChannels {
		c := &g.OpenChannels[ci]
		var got, want []string
		for id := range r.ChannelUsers(c) {
			got = append(got, strconv.FormatInt(id, 10))
		}
		for id := range ref.channel(c) {
			want = append(want, strconv.FormatInt(id, 10))
		}
		slices.Sort(got)
		slices.Sort(want)
		s.check("channel-users", seed, c.Key, strings.Join(got, ","), strings.Join(want, ","))
	}
	r.AllMatrices(func(u *graph.User, m []CellLevel) {
		for _, c := range m {
			if c.Domain != graph.DomainCRM {
				continue
			}
			s.check("matrix", seed, fmt.Sprintf("%s %v", u.Email, c.Cell), c.Level, ref.crm(u, c.Cell.Entity, c.Cell.Pipeline, c.Cell.Stage, c.Cell.Action))
		}
	})
}

// TestDifferential compares the Resolver with the reference on random
// portals: every query kind must agree.
func TestDifferential(t *testing.T) {
	var s diffStats
	for seed := uint64(1); seed <= uint64(*diffSeeds); seed++ {
		runDifferential(seed, &s)
	}
	t.Logf("%d queries over %d portals, %d disagreements (%.3f%%) %v", s.queries, *diffSeeds, s.disagreements, 100*float64(s.disagreements)/float64(max(s.queries, 1)), s.byKind)
	var perKind []string
	for _, kind := range sortedStrings(s.answers) {
		n := 0
		for _, c := range s.answers[kind] {
			n += c
		}
		perKind = append(perKind, fmt.Sprintf("%s %d", kind, n))
	}
	t.Logf("queries per kind: %s", strings.Join(perKind, ", "))
	if s.queries < 10000 {
		t.Errorf("only %d queries; want at least 10,000", s.queries)
	}
	for _, e := range s.examples {
		t.Error(e)
	}
	// The generator must reach the interesting answers, or agreement
	// means little.
	covered := func(kind string, ok func(answer string) bool) int {
		n := 0
		for a, c := range s.answers[kind] {
			if ok(a) {
				n += c
			}
		}
		return n
	}
	for _, c := range []struct {
		what string
		n    int
	}{
		{"non-chain CRM sets", covered("crm", func(a string) bool { return strings.Contains(a, "+") })},
		{"transition target lists", covered("crm", func(a string) bool { return strings.Contains(a, ",") })},
		{"CRM none", covered("crm", func(a string) bool { return a == "none" })},
		{"CRM all", covered("crm", func(a string) bool { return a == "all" })},
		{"workgroup allowed", covered("workgroup", func(a string) bool { return a == "allowed" })},
		{"workgroup denied", covered("workgroup", func(a string) bool { return a == "denied" })},
		{"join requests", covered("join", func(a string) bool { return strings.HasSuffix(a, "request") })},
		{"moves allowed", covered("move", func(a string) bool { return a != "none" })},
		{"moves refused", covered("move", func(a string) bool { return a == "none" })},
		{"invitations", covered("join", func(a string) bool { return strings.HasSuffix(a, "accepts_invitation") })},
		{"chat receivers", covered("channel", func(a string) bool { return a == "receives_chats" })},
		{"field denied", covered("field", func(a string) bool { return a == "denied" })},
		{"telephony levels", covered("telephony", func(a string) bool { return a != "none" })},
		{"open-line levels", covered("openlines", func(a string) bool { return a != "none" })},
		{"default telephony roles", covered("telephony-security-off", func(a string) bool { return a == "own" })},
	} {
		if c.n == 0 {
			t.Errorf("the generator never produced %s", c.what)
		}
	}
	t.Logf("reference answers: %d non-chain sets, %d transition lists", covered("crm", func(a string) bool { return strings.Contains(a, "+") }), covered("crm", func(a string) bool { return strings.Contains(a, ",") }))
}

// BenchmarkDifferential is the long run: one random portal per iteration.
func BenchmarkDifferential(b *testing.B) {
	var s diffStats
	seed := uint64(1_000_000)
	for b.Loop() {
		runDifferential(seed, &s)
		seed++
	}
	b.ReportMetric(float64(s.queries)/float64(b.N), "queries/op")
	if s.disagreements > 0 {
		b.Fatalf("%d disagreements of %d: %v\n%s", s.disagreements, s.queries, s.byKind, strings.Join(s.examples, "\n"))
	}
}
