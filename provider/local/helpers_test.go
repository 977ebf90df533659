package local

import (
	_ "embed"
	"encoding/json"

	"github.com/b24perm/b24perm/graph"
)

func cellKey(e, p, s, a string) graph.CellKey {
	return graph.CellKey{Entity: e, Pipeline: p, Stage: s, Action: a}
}

// legacyDemo is the demo portal in the first, simplified file format:
// demo/portal.json is built from it and it is the upgrade test's fixture.
//
//go:embed demo/legacy.json
var legacyDemo []byte

// DemoPortalValue parses the legacy demo.
func DemoPortalValue() (*Portal, error) {
	var p Portal
	if err := json.Unmarshal(legacyDemo, &p); err != nil {
		return nil, err
	}
	if p.NextID == nil {
		p.NextID = map[string]int64{}
	}
	return &p, nil
}
