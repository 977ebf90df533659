package graph

import (
	"bytes"
	"testing"
)

// TestEntityCellSource: a pipeline-level cell without a position of its
// own takes its entity-wide declaration's (EntityCellSourceKey), for the
// default and the declared pipelines only, in the graph and in a
// snapshot's table alike; stage cells and other keys never do.
func TestEntityCellSource(t *testing.T) {
	entity, override := Pos{File: "p.cue", Line: 4, Col: 9}, Pos{File: "p.cue", Line: 7, Col: 11}
	g := &Graph{FormatVersion: 1, Pipelines: []Pipeline{{Entity: "deal", Key: "default"}, {Entity: "deal", Key: "wholesale"}, {Entity: "smart:x", Key: "b2b"}},
		Sources: map[string]Pos{
			EntityCellSourceKey("r", "deal", "read"):                                           entity,
			CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: "wholesale", Action: "read"}): override,
			EntityCellSourceKey("r", "smart:x", "write"):                                       entity,
		}}
	cases := map[string]*Pos{
		CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: "default", Action: "read"}):               &entity,
		CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: "wholesale", Action: "read"}):             &override,
		CellSourceKey("r", CRMPerm{Entity: "smart:x", Pipeline: "b2b", Action: "write"}):               &entity,
		CellSourceKey("r", CRMPerm{Entity: "smart:x", Pipeline: "default", Action: "write"}):           &entity,
		CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: "retail", Action: "read"}):                nil,
		CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read"}): nil,
		CellSourceKey("r", CRMPerm{Entity: "deal", Action: "read"}):                                    nil,
		CellSourceKey("q", CRMPerm{Entity: "deal", Pipeline: "default", Action: "read"}):               nil,
		CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: "default", Action: "write"}):              nil,
		CellSourceKey("r", CRMPerm{Entity: "deal", Pipeline: entityWidePipeline, Action: "read"}):      &entity,
		"crm_role.r":                          nil,
		"crm_role.r#deal/default":             nil,
		"telephony_role.r#deal/default//read": nil,
	}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, "k", Snapshot{Graph: g}); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSnapshot(buf.Bytes(), "k")
	if err != nil || len(s.Graph.Sources) != 0 {
		t.Fatalf("snapshot: %v, %d sources left in the graph", err, len(s.Graph.Sources))
	}
	for key, want := range cases {
		for name, lookup := range map[string]func(string) (Pos, bool){"graph": g.Source, "snapshot": func(k string) (Pos, bool) { return s.Graph.SourceIn(s.Sources, k) }} {
			p, ok := lookup(key)
			switch {
			case want == nil && ok:
				t.Errorf("%s %s: %v, want no position", name, key, p)
			case want != nil && (!ok || p != *want):
				t.Errorf("%s %s: %v %v, want %v", name, key, p, ok, *want)
			}
		}
	}
}
