package graph

import (
	"slices"
	"strings"
)

// LevelSet is a CRM level as Bitrix stores it in SETTINGS: a set over
// SELF, DEPARTMENT, SUBDEPARTMENTS, OPEN, ALL (bitrix-permissions.md
// §2.4). The chain levels are the sets the ATTR letters expand to; the
// current UI can also store non-chain sets such as SELF+OPEN.
type LevelSet uint8

// Members of a LevelSet, in chain order.
const (
	SetSelf LevelSet = 1 << iota
	SetDepartment
	SetSubdepartments
	SetOpen
	SetAll
)

// SetMembers are the policy names of the set members, in chain order
// (SELF, DEPARTMENT, SUBDEPARTMENTS, OPEN, ALL).
var SetMembers = []string{"own", "department", "subdepartments", "open", "all"}

// chainSets[i] is the set of CRMLevels[i].
var chainSets = []LevelSet{0, SetSelf, SetSelf | SetDepartment, SetSelf | SetDepartment | SetSubdepartments,
	SetSelf | SetDepartment | SetSubdepartments | SetOpen, SetSelf | SetDepartment | SetSubdepartments | SetOpen | SetAll}

// SetOfMembers builds a set from member names ("own", "open" …); ok is
// false for an unknown name.
func SetOfMembers(names []string) (LevelSet, bool) {
	var s LevelSet
	for _, n := range names {
		i := slices.Index(SetMembers, n)
		if i < 0 {
			return 0, false
		}
		s |= 1 << i
	}
	return s, true
}

// ParseLevel reads a CRM level (a chain name, or the canonical form of a
// non-chain set, see LevelSet.Level) as a set; ok is false otherwise.
func ParseLevel(level string) (LevelSet, bool) {
	if i := CRMLevelRank(level); i >= 0 {
		return chainSets[i], true
	}
	if !strings.Contains(level, "+") {
		return 0, false
	}
	var parts []string
	for _, p := range strings.Split(level, "+") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	s, ok := SetOfMembers(parts)
	if !ok || s == 0 || s.Level() != level {
		return 0, false // only the canonical spelling is a level
	}
	return s, true
}

// Chain reports whether s is one of the chain levels.
func (s LevelSet) Chain() bool { return slices.Contains(chainSets, s) }

// Level is the canonical level name of s: a chain level by name; any set
// holding ALL is "all" (ALL matches every record, §3.2 step 6); other
// sets are their member names joined with "+" in chain order
// ("own+open"), a single member with a leading "+" ("+department": the
// department without the user's own items).
func (s LevelSet) Level() string {
	if s&SetAll != 0 {
		return "all"
	}
	if i := slices.Index(chainSets, s); i >= 0 {
		return CRMLevels[i]
	}
	m := s.Members()
	if len(m) == 1 {
		return "+" + m[0]
	}
	return strings.Join(m, "+")
}

// Members lists the member names of s in chain order.
func (s LevelSet) Members() []string {
	var out []string
	for i, n := range SetMembers {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Covers reports whether s grants at least what o grants (o ⊆ s, with
// ALL covering everything).
func (s LevelSet) Covers(o LevelSet) bool {
	return s&SetAll != 0 || o&^s == 0
}

// IsSetLevel reports whether level is a non-chain set level.
func IsSetLevel(level string) bool {
	s, ok := ParseLevel(level)
	return ok && !s.Chain() && s&SetAll == 0
}

// UnionLevels merges CRM values of one action across roles the way
// Bitrix does (§3.2 step 3, TRANSITION): the union. Chain and set levels
// merge as sets; transition values as target lists, "any" beating lists
// and "none" adding nothing. Unknown values are ignored.
func UnionLevels(transition bool, levels []string) string {
	if transition {
		set := map[string]bool{}
		for _, l := range levels {
			switch l {
			case TransitionAny:
				return TransitionAny
			case TransitionBlocked, "":
				continue
			}
			for _, t := range strings.Split(l, ",") {
				if t = strings.TrimSpace(t); t != "" {
					set[t] = true
				}
			}
		}
		if len(set) == 0 {
			return TransitionBlocked
		}
		out := make([]string, 0, len(set))
		for t := range set {
			out = append(out, t)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	var u LevelSet
	for _, l := range levels {
		if s, ok := ParseLevel(l); ok {
			u |= s
		}
	}
	return u.Level()
}

// LevelCovers reports whether value a grants at least what b grants, for
// values of one action (chain/set levels or transition values).
func LevelCovers(transition bool, a, b string) bool {
	if transition {
		if a == TransitionAny || b == TransitionBlocked || b == "" || a == b {
			return true
		}
		if b == TransitionAny || a == TransitionBlocked || a == "" {
			return false
		}
		have := strings.Split(a, ",")
		for _, t := range strings.Split(b, ",") {
			if !slices.Contains(have, t) {
				return false
			}
		}
		return true
	}
	sa, ok1 := ParseLevel(a)
	sb, ok2 := ParseLevel(b)
	if !ok1 || !ok2 {
		return a == b
	}
	return sa.Covers(sb)
}

// StageRowRemovable reports whether removing r's explicit stage row k
// (which must equal the pipeline-level value it would inherit) changes no
// answer for any user who holds r together with any subset of others. It
// is the per-role condition of §3.2 step 4: while another role the user
// holds has an explicit row there, r's value must add nothing to it;
// otherwise every inherited value of the other roles must add nothing to
// r's.
func StageRowRemovable(r *CRMRole, k CellKey, others []*CRMRole) bool {
	l, explicit := r.Level(k)
	if !explicit || k.Stage == "" {
		return false
	}
	if inherited, _ := r.Level(k.Parent()); inherited != l {
		return false
	}
	transition := k.Action == "transition"
	for _, o := range others {
		ol, oe := o.Level(k)
		if oe && !LevelCovers(transition, ol, l) {
			return false
		}
		if !oe && !LevelCovers(transition, l, ol) {
			return false
		}
	}
	return true
}
