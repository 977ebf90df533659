package local

import "github.com/b24perm/b24perm/graph"

func cellKey(e, p, s, a string) graph.CellKey {
	return graph.CellKey{Entity: e, Pipeline: p, Stage: s, Action: a}
}
