package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// TestCellSources: every CRM cell's position is its declaration's, the
// entity-wide levels recorded once (graph.EntityCellSourceKey) and given
// for each pipeline they expand into; a pipeline or stage override has
// its own; a pipeline the policy does not declare has none.
func TestCellSources(t *testing.T) {
	dir := t.TempDir()
	src := `crm: pipelines: deal: {
	default: {name: "General", stages: {new: name: "New", won: name: "Won"}}
	wholesale: {name: "Wholesale", stages: {new: name: "New", won: name: "Won"}}
}
crm: roles: m: {
	name: "M"
	assign: [{user: "a@example.com"}]
	permissions: {
		deal: {
			read:   "department"
			delete: "none"
			pipelines: wholesale: {
				read: "all"
				stages: won: write: "none"
			}
			stages: new: read: "own"
		}
		contact: read: "all"
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "crm.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res := CompileDir(dir, Options{})
	if res.Graph == nil {
		t.Fatalf("no graph: %v", res.Diags)
	}
	g := res.Graph
	file := filepath.ToSlash(filepath.Join(dir, "crm.cue"))
	for _, tc := range []struct {
		c    graph.CRMPerm
		line int // 0: no position
		col  int
	}{
		{graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "read"}, 10, 12},
		{graph.CRMPerm{Entity: "deal", Pipeline: "wholesale", Action: "read"}, 13, 11},
		// "none" cells are dropped from the graph but keep their position.
		{graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "delete"}, 11, 12},
		{graph.CRMPerm{Entity: "deal", Pipeline: "wholesale", Action: "delete"}, 11, 12},
		{graph.CRMPerm{Entity: "deal", Pipeline: "wholesale", Stage: "won", Action: "write"}, 14, 25},
		{graph.CRMPerm{Entity: "deal", Pipeline: "default", Stage: "new", Action: "read"}, 16, 23},
		{graph.CRMPerm{Entity: "contact", Action: "read"}, 18, 18},
		// Not declared: no expansion, no position.
		{graph.CRMPerm{Entity: "deal", Pipeline: "retail", Action: "read"}, 0, 0},
		{graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "write"}, 0, 0},
		{graph.CRMPerm{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read"}, 0, 0},
		{graph.CRMPerm{Entity: "deal", Action: "read"}, 0, 0},
		{graph.CRMPerm{Entity: "lead", Pipeline: "default", Action: "read"}, 0, 0},
	} {
		key := graph.CellSourceKey("m", tc.c)
		p, ok := g.Source(key)
		want := graph.Pos{File: file, Line: tc.line, Col: tc.col}
		if tc.line == 0 {
			if ok {
				t.Errorf("%s: position %v, want none", key, p)
			}
			continue
		}
		if !ok || p != want {
			t.Errorf("%s: position %v (%v), want %v", key, p, ok, want)
		}
	}
	// Only the entity-wide levels, not one key per pipeline they reach.
	if _, ok := g.Sources[graph.CellSourceKey("m", graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "read"})]; ok {
		t.Error("an entity-wide level is stored per pipeline")
	}
}
