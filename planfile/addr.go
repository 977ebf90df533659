package planfile

import "github.com/b24perm/b24perm/graph"

func parseAddr(s string) (graph.Addr, error) { return graph.ParseAddr(s) }
