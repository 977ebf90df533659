package local

import (
	"fmt"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// FromGraph builds a portal in the simplified model holding g (which must
// carry a Directory), as if every object had been created in the UI.
//
// Deprecated: only provider/sqldb until it moves onto bitrix.Portal; use
// bitrix.FromGraph.
func FromGraph(g *graph.Graph) (*Portal, error) {
	if g.Directory == nil {
		return nil, fmt.Errorf("the graph has no directory")
	}
	p := &Portal{FormatVersion: FormatVersion, Portal: "generated.bitrix24.example", NextID: map[string]int64{}, Directory: *g.Directory}
	for _, e := range []string{"deal", "lead"} {
		p.Pipelines = append(p.Pipelines, Pipeline{ID: 0, Entity: e, Name: "General"})
	}
	a := newApplier(p, map[string]int64{})
	for addr, r := range orderedResources(g) {
		_ = addr
		action := plan.Create
		id := int64(0)
		if r.Pipeline != nil && r.Pipeline.Key == graph.DefaultPipeline {
			action = plan.Update
		}
		res := r
		newID, err := a.Apply(plan.Change{Address: addr, Action: action, ID: id, After: &res})
		if err != nil {
			return nil, err
		}
		a.ids[addr] = newID
	}
	// Creating pipelines copied default permissions into the roles that
	// existed then; roles are created after pipelines, so nothing to undo.
	return p, nil
}

// orderedResources yields g's resources in creation order.
func orderedResources(g *graph.Graph) func(func(string, graph.Resource) bool) {
	return func(yield func(string, graph.Resource) bool) {
		res := g.Resources()
		for _, k := range graph.Kinds {
			var keys []graph.Addr
			for a := range res {
				if a.Kind == k {
					keys = append(keys, a)
				}
			}
			sortAddrs(keys)
			for _, a := range keys {
				if !yield(a.String(), res[a]) {
					return
				}
			}
		}
	}
}
