package access

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// TestDeltaSharedSubjects: the access delta with the two resolvers
// sharing the users' held subjects (equal workgroups) is exactly the
// delta with each resolver computing its own, on random portals whose
// CRM roles change (cells and assignments) and on the "m" organization.
func TestDeltaSharedSubjects(t *testing.T) {
	levels := []string{"none", "own", "department", "subdepartments", "open", "all"}
	check := func(what string, before, after *graph.Graph) {
		t.Helper()
		if rb := New(before, before.Directory); newAlike(after, before.Directory, rb).ix != rb.ix {
			t.Fatalf("%s: the resolvers do not share their index and subjects", what)
		}
		shared := ComputeDelta(before, after, before.Directory, after)
		shareSubjects = false
		own := ComputeDelta(before, after, before.Directory, after)
		shareSubjects = true
		if !reflect.DeepEqual(shared, own) {
			t.Fatalf("%s: the delta with shared subjects differs", what)
		}
	}
	for seed := uint64(1); seed <= 150; seed++ {
		before := genPortalFor(seed).g
		after := genPortalFor(seed).g
		after.Directory = before.Directory
		rnd := rand.New(rand.NewPCG(seed, 7))
		for i := range after.CRMRoles {
			r := &after.CRMRoles[i]
			for j := range r.Perms {
				if rnd.IntN(4) == 0 && r.Perms[j].Action != "transition" {
					r.Perms[j].Level = levels[rnd.IntN(len(levels))]
				}
			}
			if rnd.IntN(3) == 0 && len(r.Assign) > 0 {
				r.Assign = r.Assign[1:]
			}
			if rnd.IntN(3) == 0 {
				r.Assign = append(r.Assign, before.CRMRoles[rnd.IntN(len(before.CRMRoles))].Assign...)
			}
		}
		after.Normalize()
		check(fmt.Sprintf("seed %d", seed), before, after)
	}
	before := gen.Generate(gen.Sizes["m"], 3)
	after := gen.Generate(gen.Sizes["m"], 3)
	after.Directory = before.Directory
	n := 0
	for i := range after.CRMRoles {
		for j := range after.CRMRoles[i].Perms {
			if n++; n%50 == 0 {
				c := &after.CRMRoles[i].Perms[j]
				c.Level = map[bool]string{true: "none", false: "all"}[c.Level == "all"]
			}
		}
	}
	after.Normalize()
	check("m", before, after)
}

// TestDifferingCells: the merge gives the set the map gives.
func TestDifferingCells(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	levels := []string{"none", "own", "all"}
	gen := func() []graph.CRMPerm {
		var ps []graph.CRMPerm
		for _, e := range []string{"deal", "lead"} {
			for _, st := range []string{"", "a", "b"} {
				for _, a := range []string{"add", "read"} {
					if rnd.IntN(2) == 0 {
						ps = append(ps, graph.CRMPerm{Entity: e, Pipeline: "default", Stage: st, Action: a, Level: levels[rnd.IntN(3)]})
					}
				}
			}
		}
		return ps
	}
	set := func(keys []graph.CellKey) map[graph.CellKey]bool {
		m := map[graph.CellKey]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	for n := 0; n < 3000; n++ {
		b, a := gen(), gen()
		got := differingCells(b, a)
		// the map path: the same lists, not sorted
		rb, ra := append([]graph.CRMPerm{{Entity: "z", Action: "x", Level: "all"}}, b...), append([]graph.CRMPerm{{Entity: "z", Action: "x", Level: "all"}}, a...)
		want := differingCells(rb, ra)
		if !reflect.DeepEqual(set(got), set(want)) || len(got) != len(want) {
			t.Fatalf("%v / %v: merge %v, map %v", b, a, got, want)
		}
	}
}

// TestSnapshotSources: a resolver over a cached graph whose positions
// stay in the snapshot's table (SetSources) derives exactly what it
// derives over the graph with its Sources map.
func TestSnapshotSources(t *testing.T) {
	g := gen.Generate(gen.Sizes["m"], 2)
	for _, r := range g.CRMRoles {
		g.SetSource("crm_role."+r.Key, graph.Pos{File: "p/crm.cue", Line: 1, Col: 1})
		for i, c := range r.Perms {
			g.SetSource(graph.CellSourceKey(r.Key, c), graph.Pos{File: "p/crm.cue", Line: i + 2, Col: 3})
		}
	}
	var buf bytes.Buffer
	if err := graph.WriteSnapshot(&buf, "k", graph.Snapshot{Graph: g, Directory: g.Directory}); err != nil {
		t.Fatal(err)
	}
	s, err := graph.ReadSnapshot(buf.Bytes(), "k")
	if err != nil || s.Sources.Len() == 0 || len(s.Graph.Sources) != 0 {
		t.Fatalf("snapshot: %v, %d sources in the table", err, s.Sources.Len())
	}
	want := New(g, g.Directory)
	got := New(s.Graph, s.Directory)
	got.SetSources(s.Sources)
	n := 0
	for _, u := range want.Users() {
		for _, q := range []CRMQuery{{Entity: "deal", Action: "read"}, {Entity: "deal", Pipeline: "default", Stage: "won", Action: "write"}, {Entity: "lead", Action: "add"}} {
			w, gr := want.CRM(u, q), got.CRM(u, q)
			if !reflect.DeepEqual(w, gr) {
				t.Fatalf("user %d %v:\n%+v\nwant\n%+v", u.ID, q, gr, w)
			}
			for _, st := range w.Derivation {
				if st.Source != nil {
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no derivation step had a source")
	}
}
