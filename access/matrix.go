package access

import (
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// CellLevel is one entry of an effective matrix.
type CellLevel struct {
	Domain string        `json:"domain"`
	Cell   graph.CellKey `json:"cell"`
	Level  string        `json:"level"`
}

// Matrix returns u's effective access over every cell of the roles u
// reaches (levels other than none).
func (r *Resolver) Matrix(u *graph.User) []CellLevel {
	return r.matrixFor(u, r.roleSet(u))
}

func (r *Resolver) roleSet(u *graph.User) []int {
	var ids []int
	for _, v := range r.reach(u, kindCRM) {
		ids = append(ids, v.role)
	}
	return ids
}

func (r *Resolver) matrixFor(u *graph.User, roles []int) []CellLevel {
	var keys []graph.CellKey
	for _, i := range roles {
		for _, c := range r.g.CRMRoles[i].Cells() {
			keys = append(keys, c.Key())
		}
	}
	keys = uniqueCells(keys)
	var out []CellLevel
	for _, k := range keys {
		if l := r.crmLevel(u, CRMQuery{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action}); l != "none" {
			out = append(out, CellLevel{Domain: graph.DomainCRM, Cell: k, Level: l})
		}
	}
	for _, kind := range []graph.Kind{graph.KindTelephony, graph.KindOpenline} {
		table, domain := graph.TelephonyActions, graph.DomainTelephony
		if kind == graph.KindOpenline {
			table, domain = graph.OpenlineActions, graph.DomainOpenlines
		}
		for _, a := range table {
			if res := r.Simple(u, kind, a.Entity, a.Action); res.Level != "none" {
				out = append(out, CellLevel{Domain: domain, Cell: graph.CellKey{Entity: a.Entity, Action: a.Action}, Level: res.Level})
			}
		}
	}
	return out
}

// AllMatrices calls fn with every active user's matrix. Users who reach
// the same roles share one computation, so the whole organization costs
// about as much as its distinct role combinations.
func (r *Resolver) AllMatrices(fn func(u *graph.User, m []CellLevel)) {
	cache := map[string][]CellLevel{}
	for _, u := range r.Users() {
		if u.Admin {
			fn(u, nil)
			continue
		}
		roles := r.roleSet(u)
		var sig strings.Builder
		for _, i := range roles {
			sig.WriteString(strconv.Itoa(i))
			sig.WriteByte(',')
		}
		sig.WriteByte('|')
		for _, kind := range []int{kindTelephony, kindOpenlines} {
			for _, v := range r.reach(u, kind) {
				sig.WriteString(strconv.Itoa(v.role))
				sig.WriteByte(',')
			}
			sig.WriteByte('|')
		}
		m, ok := cache[sig.String()]
		if !ok {
			m = r.matrixFor(u, roles)
			cache[sig.String()] = m
		}
		fn(u, m)
	}
}
