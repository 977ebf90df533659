package plan

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// TestCellUnion: the merge of two sorted cell lists gives the sorted,
// de-duplicated union, the same as sorting does for unsorted lists.
func TestCellUnion(t *testing.T) {
	p := func(e, pl, st, a string) graph.CRMPerm {
		return graph.CRMPerm{Entity: e, Pipeline: pl, Stage: st, Action: a, Level: "all"}
	}
	a := []graph.CRMPerm{p("deal", "default", "", "read"), p("deal", "default", "won", "read"), p("lead", "default", "", "add")}
	b := []graph.CRMPerm{p("company", "", "", "read"), p("deal", "default", "", "read"), p("deal", "p2", "", "write"), p("lead", "default", "", "add")}
	b[1].Level = "none" // levels do not make keys different
	want := []graph.CellKey{{Entity: "company", Pipeline: "", Stage: "", Action: "read"}, {Entity: "deal", Pipeline: "default", Stage: "", Action: "read"}, {Entity: "deal", Pipeline: "default", Stage: "won", Action: "read"}, {Entity: "deal", Pipeline: "p2", Stage: "", Action: "write"}, {Entity: "lead", Pipeline: "default", Stage: "", Action: "add"}}
	if got := cellUnion(a, b); !slices.Equal(got, want) {
		t.Errorf("merge:\n got %v\nwant %v", got, want)
	}
	rev := slices.Clone(b)
	slices.Reverse(rev)
	if got := cellUnion(a, rev); !slices.Equal(got, want) {
		t.Errorf("sort fallback:\n got %v\nwant %v", got, want)
	}
	if got := cellUnion(nil, a); len(got) != 3 {
		t.Errorf("one side empty: %v", got)
	}
}

// crmCellsUnion is crmCells as it was before changedCells: every key of
// the union through Level on both sides.
func crmCellsUnion(role string, l, d *graph.CRMRole, desired *graph.Graph) []AttrChange {
	var out []AttrChange
	for _, k := range cellUnion(l.Perms, d.Perms) {
		bl, be := l.Level(k)
		al, ae := d.Level(k)
		if bl == al && (k.Stage == "" || be == ae) {
			continue
		}
		out = append(out, AttrChange{Path: cellPath(k), Before: bl, After: al, BeforeInherited: k.Stage != "" && !be, AfterInherited: k.Stage != "" && !ae})
	}
	return out
}

// TestChangedCellsDifferential: crmCells over changedCells reports the
// same changes as over the whole union, on random role pairs (cells
// added, removed, changed; stage cells over pipeline cells).
func TestChangedCellsDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"none", "own", "department", "all"}
	gen := func() graph.CRMRole {
		var r graph.CRMRole
		for _, e := range []string{"deal", "lead"} {
			for _, pl := range []string{"default", "p2"} {
				for _, st := range []string{"", "new", "won"} {
					for _, a := range []string{"add", "read", "write"} {
						if rng.IntN(3) > 0 {
							r.Perms = append(r.Perms, graph.CRMPerm{Entity: e, Pipeline: pl, Stage: st, Action: a, Level: levels[rng.IntN(len(levels))]})
						}
					}
				}
			}
		}
		r.Normalize()
		return r
	}
	mutate := func(r graph.CRMRole) graph.CRMRole {
		r.Perms = slices.Clone(r.Perms)
		for i := range r.Perms {
			if rng.IntN(10) == 0 {
				r.Perms[i].Level = levels[rng.IntN(len(levels))]
			}
		}
		if len(r.Perms) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(r.Perms))
			r.Perms = slices.Delete(r.Perms, i, i+1+rng.IntN(min(3, len(r.Perms)-i)))
		}
		r.Normalize()
		return r
	}
	total := 0
	defer func() {
		if total == 0 {
			t.Error("no case had changes")
		}
	}()
	for n := 0; n < 2000; n++ {
		l := gen()
		d := mutate(l)
		if n%3 == 0 {
			d = gen()
		}
		got := crmCells("r", &l, &d, &graph.Graph{})
		want := crmCellsUnion("r", &l, &d, &graph.Graph{})
		total += len(want)
		if len(got) != len(want) {
			t.Fatalf("case %d: %d changes, the union gives %d", n, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.Path != w.Path || g.Before != w.Before || g.After != w.After || g.BeforeInherited != w.BeforeInherited || g.AfterInherited != w.AfterInherited {
				t.Fatalf("case %d change %d: %+v, the union gives %+v", n, i, g, w)
			}
		}
	}
}
