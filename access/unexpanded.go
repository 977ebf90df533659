package access

import (
	"regexp"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// Unexpanded is access given through an access code the delta cannot
// expand to users (AU, UA, CR…): who holds it is unknown, so the change
// counts as widening rather than as no change.
type Unexpanded struct {
	Code string `json:"code"`
	// Object is the role or field rule's address.
	Object string     `json:"object"`
	Source *graph.Pos `json:"source,omitempty"`
}

// Message says what the plan shows for u.
func (u Unexpanded) Message() string {
	return "access through code " + u.Code + " cannot be expanded: treated as widening"
}

// expandableCode matches the codes UserSubjects hands out: a user's U and
// IU, department D and DR, AE0, head codes AD, user groups G and
// workgroup roles SG…_K/_E/_A. Any other code is held by users the
// directory cannot name.
var expandableCode = regexp.MustCompile(`^(U[0-9]+|IU[0-9]+|D[0-9]+|DR[0-9]+|AD[0-9]+|AE0|G[0-9]+|SG[0-9]+_[AEK])$`)

// unexpandedCode returns the raw code of a subject the delta cannot
// expand, or "".
func unexpandedCode(subject string) string {
	code, ok := strings.CutPrefix(subject, graph.SubjCode+":")
	if !ok || expandableCode.MatchString(code) {
		return ""
	}
	return code
}

// unexpanded lists the unknown holders that may gain access: a code newly
// assigned to a role (or rule) that grants something, or a role holding
// such a code whose own permissions widen.
func unexpanded(before, after *graph.Graph, ra *Resolver) []Unexpanded {
	var out []Unexpanded
	note := func(addr graph.Addr, code, subject string) {
		src := ra.pos(nil, graph.AssignSourceKey(addr, subject))
		if src == nil {
			src = ra.pos(nil, addr.String())
		}
		out = append(out, Unexpanded{Code: code, Object: addr.String(), Source: src})
	}
	bRoles, aRoles := roleMap(before.CRMRoles), roleMap(after.CRMRoles)
	for _, k := range unionKeys(bRoles, aRoles) {
		b, a := bRoles[k], aRoles[k]
		if a == nil || !slices.ContainsFunc(a.Assign, func(s string) bool { return unexpandedCode(s) != "" }) {
			continue // nothing below notes a role without such a code
		}
		grants := slices.ContainsFunc(a.Cells(), func(p graph.CRMPerm) bool { return p.Level != "" && widens(p.Action, "none", p.Level) })
		var widened bool
		if b != nil {
			was := map[graph.CellKey]string{}
			for _, p := range b.Cells() {
				was[p.Key()] = p.Level
			}
			for _, p := range a.Cells() {
				l, ok := was[p.Key()]
				if !ok {
					l = "none"
				}
				if p.Level != l && widens(p.Action, l, p.Level) {
					widened = true
				}
			}
		}
		for _, s := range a.Assign {
			code := unexpandedCode(s)
			if code == "" {
				continue
			}
			if (grants && (b == nil || !slices.Contains(b.Assign, s))) || widened {
				note(graph.Addr{Kind: graph.KindCRMRole, Key: k}, code, s)
			}
		}
	}
	for _, kind := range []graph.Kind{graph.KindTelephony, graph.KindOpenline} {
		bl, al, table := before.TelephonyRoles, after.TelephonyRoles, graph.TelephonyActions
		if kind == graph.KindOpenline {
			bl, al, table = before.OpenlineRoles, after.OpenlineRoles, graph.OpenlineActions
		}
		rank := func(p graph.SimplePerm) int {
			for _, sa := range table {
				if sa.Entity == p.Entity && sa.Action == p.Action {
					return sa.Rank(p.Level)
				}
			}
			return 1 // an unknown action: count it as granting
		}
		bm, am := simpleMap(bl), simpleMap(al)
		for _, k := range unionKeys(bm, am) {
			b, a := bm[k], am[k]
			if a == nil {
				continue
			}
			grants := slices.ContainsFunc(a.Perms, func(p graph.SimplePerm) bool { return rank(p) > 0 })
			var widened bool
			if b != nil {
				was := map[[2]string]int{}
				for _, p := range b.Perms {
					was[[2]string{p.Entity, p.Action}] = rank(p)
				}
				for _, p := range a.Perms {
					if rank(p) > was[[2]string{p.Entity, p.Action}] {
						widened = true
					}
				}
			}
			for _, s := range a.Assign {
				code := unexpandedCode(s)
				if code == "" {
					continue
				}
				if (grants && (b == nil || !slices.Contains(b.Assign, s))) || widened {
					note(graph.Addr{Kind: kind, Key: k}, code, s)
				}
			}
		}
	}
	bf, af := fieldMap(before.FieldRules), fieldMap(after.FieldRules)
	for _, k := range unionKeys(bf, af) {
		b, a := bf[k], af[k]
		if a == nil || b == nil {
			continue // a new rule only narrows: without one, everyone has the field
		}
		for _, list := range [][2][]string{{a.View, b.View}, {a.Edit, b.Edit}} {
			for _, s := range list[0] {
				if code := unexpandedCode(s); code != "" && !slices.Contains(list[1], s) {
					note(graph.Addr{Kind: graph.KindFieldRule, Key: k}, code, s)
				}
			}
		}
	}
	slices.SortFunc(out, func(x, y Unexpanded) int { return strings.Compare(x.Object+" "+x.Code, y.Object+" "+y.Code) })
	return slices.CompactFunc(out, func(x, y Unexpanded) bool { return x.Object == y.Object && x.Code == y.Code })
}
