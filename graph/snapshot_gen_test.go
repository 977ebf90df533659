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
	// Every position is found in the snapshot's table as in the map.
	if len(s.Graph.Sources) != 0 || s.Sources.Len() != len(g.Sources) {
		t.Fatalf("%d sources in the graph, %d in the table; want 0 and %d", len(s.Graph.Sources), s.Sources.Len(), len(g.Sources))
	}
	for k, p := range g.Sources {
		if q, ok := s.Sources.Lookup(k); !ok || q != p {
			t.Fatalf("source %s: %v %v, want %v", k, q, ok, p)
		}
	}
	if _, ok := s.Sources.Lookup("crm_role.nope"); ok {
		t.Fatal("a source the graph does not have was found")
	}
	// A snapshot read and written again is the same snapshot.
	var again bytes.Buffer
	if err := graph.WriteSnapshot(&again, "k", graph.Snapshot{Graph: s.Graph, Directory: s.Graph.Directory, Sources: s.Sources}); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("rewriting the read snapshot: %v, same bytes %v", err, bytes.Equal(again.Bytes(), buf.Bytes()))
	}
	s.Graph.Sources = map[string]graph.Pos{}
	s.Sources.Each(func(k string, p graph.Pos) { s.Graph.Sources[k] = p })
	s.Graph.DecodeCells()
	if !reflect.DeepEqual(s.Graph, g) || s.Directory != s.Graph.Directory {
		t.Error("the generated graph changed in the round trip")
	}
}

// TestPackedCellsAnswerAsDecoded: the roles of a read snapshot keep their
// cells packed; Level, NumCells, EachScope and Cells answer on them
// exactly as on the written graph's cells, for every cell, every stage
// that inherits and keys no role has.
func TestPackedCellsAnswerAsDecoded(t *testing.T) {
	g := gen.Generate(gen.Sizes["m"], 3)
	var buf bytes.Buffer
	if err := graph.WriteSnapshot(&buf, "k", graph.Snapshot{Graph: g, Directory: g.Directory}); err != nil {
		t.Fatal(err)
	}
	s, err := graph.ReadSnapshot(buf.Bytes(), "k")
	if err != nil {
		t.Fatal(err)
	}
	scopes := func(r *graph.CRMRole) []string {
		var out []string
		r.EachScope(func(e, p, st string) { out = append(out, e+"/"+p+"/"+st) })
		return out
	}
	var keys []graph.CellKey
	for _, r := range g.CRMRoles {
		for _, c := range r.Perms {
			k := c.Key()
			keys = append(keys, k, graph.CellKey{Entity: k.Entity, Pipeline: k.Pipeline, Stage: "NOSUCH", Action: k.Action},
				graph.CellKey{Entity: k.Entity, Pipeline: k.Pipeline + "x", Stage: k.Stage, Action: k.Action},
				graph.CellKey{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action + "x"})
		}
	}
	keys = append(keys, graph.CellKey{}, graph.CellKey{Entity: "zzz", Action: "read"})
	checked := 0
	for i := range g.CRMRoles {
		want, got := &g.CRMRoles[i], &s.Graph.CRMRoles[i]
		if got.Perms != nil && len(want.Perms) > 0 {
			t.Fatalf("role %s: cells decoded on reading", want.Key)
		}
		if got.NumCells() != len(want.Perms) {
			t.Fatalf("role %s: NumCells %d, want %d", want.Key, got.NumCells(), len(want.Perms))
		}
		if ws, gs := scopes(want), scopes(got); !reflect.DeepEqual(ws, gs) {
			t.Fatalf("role %s: EachScope\n%v\nwant\n%v", want.Key, gs, ws)
		}
		for _, k := range keys {
			wl, we := want.Level(k)
			gl, ge := got.Level(k)
			if wl != gl || we != ge {
				t.Fatalf("role %s, %v: packed Level %q %v, want %q %v", want.Key, k, gl, ge, wl, we)
			}
			checked++
		}
		if c := got.Cells(); !reflect.DeepEqual(c, want.Perms) && !(len(c) == 0 && len(want.Perms) == 0) {
			t.Fatalf("role %s: Cells differ", want.Key)
		}
		if len(want.Perms) > 0 {
			if !got.Equal(*want) || !want.Equal(*got) {
				t.Fatalf("role %s: packed and decoded roles not Equal", want.Key)
			}
			other := *want
			other.Perms = append([]graph.CRMPerm(nil), want.Perms...)
			other.Perms[0].Level += "x"
			if got.Equal(other) {
				t.Fatalf("role %s: Equal with a changed cell", want.Key)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no cell checked")
	}
	// EachCellScope: the same set of scopes, packed or not.
	set := func(g *graph.Graph) map[string]bool {
		m := map[string]bool{}
		g.EachCellScope(func(e, p, st string) { m[e+"/"+p+"/"+st] = true })
		return m
	}
	if want, got := set(g), set(s.Graph); len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("EachCellScope: %d scopes packed, %d decoded", len(got), len(want))
	}
}
