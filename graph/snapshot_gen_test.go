package graph_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// TestSnapshotGeneratedGraph: a generated organization, with a source per
// cell, survives the round trip unchanged, and writing leaves it intact.
func TestSnapshotGeneratedGraph(t *testing.T) {
	g := gen.Generate(gen.Sizes["m"], 1)
	for _, r := range g.CRMRoles {
		for i, c := range r.Perms {
			g.SetSource(graph.CellSourceKey(r.Key, c), graph.Pos{File: fmt.Sprintf("p/%s.cue", c.Entity), Line: i + 1, Col: 2})
		}
	}
	want := *g
	want.CRMRoles = append([]graph.CRMRole(nil), g.CRMRoles...)
	var buf bytes.Buffer
	if err := graph.WriteSnapshot(&buf, "k", graph.Snapshot{Graph: g, Directory: g.Directory}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*g, want) {
		t.Fatal("WriteSnapshot changed its graph")
	}
	s, err := graph.ReadSnapshot(buf.Bytes(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Graph, g) || s.Directory != s.Graph.Directory {
		t.Error("the generated graph changed in the round trip")
	}
}
