package access

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// The delta evaluates only the users and cells a change can reach. Check
// it against brute force (every user, every cell of every changed role,
// every field cell, every workgroup question) on the "m" organization
// with cells, assignments, a workgroup and field rules changed: the same
// users change, per domain, and in the same direction.
func TestDeltaMatchesBruteForce(t *testing.T) {
	before := gen.Generate(gen.Sizes["m"], 3)
	after := gen.Generate(gen.Sizes["m"], 3)
	n := 0
	for i := range after.CRMRoles {
		r := &after.CRMRoles[i]
		for j := range r.Perms {
			n++
			if n%10 == 0 {
				r.Perms[j].Level = map[bool]string{true: "none", false: "all"}[r.Perms[j].Level == "all"]
			}
		}
		if i%7 == 0 && len(r.Assign) > 0 {
			r.Assign = r.Assign[1:]
		}
		if i%11 == 0 {
			r.Assign = append(r.Assign, before.CRMRoles[(i+1)%len(before.CRMRoles)].Assign...)
		}
	}
	after.CRMRoles = after.CRMRoles[1:] // one role deleted
	w := &after.Workgroups[0]
	w.Visibility = map[bool]string{true: "secret", false: "public"}[w.Visibility == "public"]
	if len(w.Members) > 0 {
		w.Members = w.Members[1:]
	}
	after.Workgroups[1].Features = nil
	after.FieldRules[0].View = nil
	after.FieldRules[1].Edit = append(after.FieldRules[1].Edit, "department_tree:#1")
	after.FieldRules = after.FieldRules[:len(after.FieldRules)-1]
	after.Normalize()

	d := ComputeDelta(before, after, before.Directory, nil)
	got := map[string]map[int64]string{}
	for _, g := range d.Groups {
		for _, c := range g.Changes {
			for _, u := range g.Users {
				mark(got, c.Domain, u.ID, c.Widens)
			}
		}
	}

	want := map[string]map[int64]string{}
	rb, ra := New(before, before.Directory), New(after, before.Directory)
	bR, aR := roleMap(before.CRMRoles), roleMap(after.CRMRoles)
	var cells []graph.CellKey
	for _, k := range unionKeys(bR, aR) {
		b, a := bR[k], aR[k]
		if b != nil && a != nil && slices.Equal(b.Assign, a.Assign) && slices.Equal(b.Perms, a.Perms) {
			continue
		}
		for _, r := range []*graph.CRMRole{b, a} {
			if r != nil {
				for _, c := range r.Perms {
					cells = append(cells, c.Key())
				}
			}
		}
	}
	cells = uniqueCells(cells)
	bw, aw := wgMap(before.Workgroups), wgMap(after.Workgroups)
	bf, af := fieldMap(before.FieldRules), fieldMap(after.FieldRules)
	var changedRules []graph.FieldRule
	for _, k := range unionKeys(bf, af) {
		if bf[k] != nil && af[k] != nil && fieldEqual(bf[k], af[k]) {
			continue
		}
		for _, f := range []*graph.FieldRule{bf[k], af[k]} {
			if f != nil {
				changedRules = append(changedRules, *f)
			}
		}
	}
	for _, u := range ra.Users() {
		if u.Admin {
			continue
		}
		for _, k := range cells {
			q := CRMQuery{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action}
			if x, y := rb.crmLevel(u, q), ra.crmLevel(u, q); x != y {
				mark(want, graph.DomainCRM, u.ID, widens(k.Action, x, y))
			}
		}
		for _, k := range unionKeys(bw, aw) {
			if bw[k] != nil && aw[k] != nil && workgroupEqual(bw[k], aw[k]) {
				continue
			}
			bs, _ := rb.CanSee(u, k)
			as, _ := ra.CanSee(u, k)
			bm, am := memberOf(rb, bw[k], u), memberOf(ra, aw[k], u)
			if bs != as {
				mark(want, graph.DomainWorkgroups, u.ID, as)
			}
			if bm != am {
				mark(want, graph.DomainWorkgroups, u.ID, memberRank(am) > memberRank(bm))
			}
		}
		for _, f := range changedRules {
			for _, mode := range []string{"view", "edit"} {
				stages := f.Stages
				if len(stages) == 0 {
					stages = []string{""}
				}
				for _, s := range stages {
					x := rb.Field(u, f.Entity, f.Pipeline, f.Field, s, mode).Level
					y := ra.Field(u, f.Entity, f.Pipeline, f.Field, s, mode).Level
					if x != y {
						mark(want, graph.DomainFields, u.ID, y == "allowed")
					}
				}
			}
		}
	}
	for _, dom := range []string{graph.DomainCRM, graph.DomainFields} {
		if len(want[dom]) == 0 {
			t.Fatalf("the test changes nothing in %s", dom)
		}
		if !maps.Equal(got[dom], want[dom]) {
			t.Errorf("%s: delta has %d users, brute force %d; first differences: %s", dom, len(got[dom]), len(want[dom]), firstDiff(got[dom], want[dom]))
		}
	}
	// Workgroup features are also in the delta; brute force covers see
	// and membership, which must be among them.
	for id, dir := range want[graph.DomainWorkgroups] {
		if g := got[graph.DomainWorkgroups][id]; g == "" || (g != dir && g != "both") {
			t.Errorf("workgroups: user %d: delta %q, brute force %q", id, g, dir)
		}
	}
}

func mark(m map[string]map[int64]string, dom string, id int64, gain bool) {
	if m[dom] == nil {
		m[dom] = map[int64]string{}
	}
	dir := "lose"
	if gain {
		dir = "gain"
	}
	if old := m[dom][id]; old != "" && old != dir {
		dir = "both"
	}
	m[dom][id] = dir
}

func firstDiff(a, b map[int64]string) string {
	var out []string
	for id := range a {
		if a[id] != b[id] {
			out = append(out, fmt.Sprintf("user %d: %q vs %q", id, a[id], b[id]))
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			out = append(out, fmt.Sprintf("user %d: missing, want %q", id, b[id]))
		}
	}
	slices.Sort(out)
	if len(out) > 5 {
		out = out[:5]
	}
	return fmt.Sprint(out)
}
