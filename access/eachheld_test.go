package access

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// userSubjectsRef is UserSubjects before eachHeld (the reference).
func (r *Resolver) userSubjectsRef(u *graph.User) []Held {
	id := strconv.FormatInt(u.ID, 10)
	me := r.canonUser(u)
	// One allocation for the usual case (who-can computes this for every
	// user of the portal).
	n := 8 + 2*len(u.Groups)
	for _, d := range u.Departments {
		n += len(r.deptHeld(d))
	}
	out := make([]Held, 0, n)
	out = append(out, Held{Subject: me, Code: "U" + id, Why: "the user"}, Held{Subject: "code:U" + id, Code: "U" + id, Why: "the user"})
	for _, d := range u.Departments {
		out = append(out, r.deptHeld(d)...)
	}
	if len(u.Departments) > 0 {
		out = append(out, Held{Subject: "code:AE0", Code: "AE0", Why: "employee of a department"})
	}
	for _, c := range r.ix.IntranetCodes(u) {
		var why string
		switch {
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
		out = append(out, Held{Subject: "code:" + c, Code: c, Why: why})
	}
	groups := slices.Clone(u.Groups)
	if !slices.Contains(groups, graph.EmployeesGroupID) {
		groups = append(groups, graph.EmployeesGroupID)
	}
	for _, gid := range groups {
		out = append(out, r.groupHeld(gid)...)
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
		w := r.g.Workgroups[wi]
		role := r.memberRole(&w, me)
		if !isMemberRel(role) {
			continue // banned, asking or invited: not a member, no SG code
		}
		code := func(suffix string) string {
			if w.ID != 0 {
				return "SG" + strconv.FormatInt(w.ID, 10) + suffix
			}
			return ""
		}
		why := fmt.Sprintf("%s of workgroup %q", role, w.Name)
		add := func(kind, suffix string) {
			out = append(out, Held{Subject: kind + ":" + w.Key, Code: code(suffix), Why: why})
			if c := code(suffix); c != "" {
				out = append(out, Held{Subject: "code:" + c, Code: c, Why: why})
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
	return out
}

// reachRef is reach before it looked departments and groups up once: the
// first subject of UserSubjects (the reference) that reaches each role.
func (r *Resolver) reachRef(u *graph.User, kind int) []roleVia {
	r.initReach()
	first := map[int]Held{}
	for _, h := range r.userSubjectsRef(u) {
		for _, i := range r.bySubject[kind][h.Subject] {
			if _, done := first[i]; !done {
				first[i] = h
			}
		}
	}
	out := []roleVia{}
	for _, i := range slices.Sorted(maps.Keys(first)) {
		out = append(out, roleVia{i, first[i]})
	}
	return out
}

// reachGraphs are the portals the reach tests compare on: 120 random
// ones and the m organization.
func reachGraphs() []*graph.Graph {
	var graphs []*graph.Graph
	for seed := uint64(1); seed <= 120; seed++ {
		graphs = append(graphs, genPortalFor(seed).g)
	}
	return append(graphs, gen.Generate(gen.Sizes["m"], 5))
}

// TestEachHeldDifferential: UserSubjects lists exactly what it listed
// before eachHeld, and reach (with and without UserSubjects cached) gives every role the
// subject the reference gives, for every user and role family, on random
// portals and the m organization.
func TestEachHeldDifferential(t *testing.T) {
	checked := 0
	for gi, g := range reachGraphs() {
		ref, r1, r2, r3 := New(g, g.Directory), New(g, g.Directory), New(g, g.Directory), New(g, g.Directory)
		for _, u := range r1.Users() {
			if got, want := r1.UserSubjects(u), ref.userSubjectsRef(u); !reflect.DeepEqual(got, want) {
				t.Fatalf("graph %d user %d: UserSubjects\n%v\nwant\n%v", gi, u.ID, got, want)
			}
			for kind := kindCRM; kind <= kindOpenlines; kind++ {
				wantVia := ref.reachRef(u, kind)
				if got := r3.reach(u, kind); !sameReach(got, wantVia) {
					t.Fatalf("graph %d user %d kind %d: reach\n%v\nwant\n%v", gi, u.ID, kind, got, wantVia)
				}
				if got := r1.reach(u, kind); !sameReach(got, wantVia) {
					t.Fatalf("graph %d user %d kind %d: reach after UserSubjects\n%v\nwant\n%v", gi, u.ID, kind, got, wantVia)
				}
				if got := r2.reach(u, kind); !sameReach(r2.reach(u, kind), got) || !sameReach(got, wantVia) {
					t.Fatalf("graph %d user %d kind %d: reach asked twice\n%v\nwant\n%v", gi, u.ID, kind, got, wantVia)
				}
				checked++
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d checks", checked)
	}
}

// TestWorkgroupSubjects: every subject a workgroup membership gives (code
// SG…, or none for a workgroup without an ID) is one isWorkgroupSubject
// recognizes, so that reaching roles may skip workgroups when no role is
// assigned to such a subject.
func TestWorkgroupSubjects(t *testing.T) {
	checked := 0
	for seed := uint64(1); seed <= 120; seed++ {
		g := genPortalFor(seed).g
		r := New(g, g.Directory)
		for _, u := range r.Users() {
			for _, h := range r.UserSubjects(u) {
				if strings.HasPrefix(h.Code, "SG") || h.Code == "" {
					checked++
					if !isWorkgroupSubject(h.Subject) {
						t.Fatalf("seed %d user %d: workgroup subject %q (code %q) not recognized", seed, u.ID, h.Subject, h.Code)
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d workgroup subjects", checked)
	}
	for _, s := range []string{"department:Company", "code:G2", "user:a@example.com", "code:U1"} {
		if isWorkgroupSubject(s) {
			t.Errorf("%q taken for a workgroup subject", s)
		}
	}
}

// deptHeldRef is deptHeld before it cached each department's strings.
func (r *Resolver) deptHeldRef(d int64) []Held {
	ds := strconv.FormatInt(d, 10)
	path := r.ix.DeptPath[d]
	member := fmt.Sprintf("member of department %q", path)
	out := []Held{{Subject: graph.SubjDepartment + ":" + r.ix.DeptRef(d, path), Code: "D" + ds, Why: member},
		{Subject: "code:D" + ds, Code: "D" + ds, Why: member}}
	for i, a := range r.ix.Ancestors(d) {
		as := strconv.FormatInt(a, 10)
		why := member
		if i > 0 {
			why = fmt.Sprintf("department %q is under %q", path, r.ix.DeptPath[a])
		}
		out = append(out, Held{Subject: graph.SubjDepartmentAll + ":" + r.ix.DeptRef(a, r.ix.DeptPath[a]), Code: "DR" + as, Why: why},
			Held{Subject: "code:DR" + as, Code: "DR" + as, Why: why})
	}
	return out
}

// TestDeptHeldDifferential: deptHeld gives what it gave before it cached
// strings, for every department (and an unknown one) of random portals.
func TestDeptHeldDifferential(t *testing.T) {
	for seed := uint64(1); seed <= 120; seed++ {
		g := genPortalFor(seed).g
		r := New(g, g.Directory)
		ids := []int64{987654}
		for _, d := range g.Directory.Departments {
			ids = append(ids, d.ID)
		}
		for _, d := range ids {
			if got, want := r.deptHeld(d), r.deptHeldRef(d); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d department %d:\n%v\nwant\n%v", seed, d, got, want)
			}
		}
	}
}

// sameReach: the same roles through the same subjects (nil and empty
// alike).
func sameReach(a, b []roleVia) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }
