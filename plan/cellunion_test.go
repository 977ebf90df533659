package plan

import (
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
