package graph

import (
	"cmp"
	"slices"
	"strings"
)

// Normalize puts g into normal form in place and returns it. It is
// idempotent; see the package doc for the rules.
func (g *Graph) Normalize() *Graph {
	g.FormatVersion = FormatVersion
	if d := g.Directory; d != nil {
		slices.SortFunc(d.Users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(d.Departments, func(a, b Department) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(d.Groups, func(a, b Group) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(d.TelephonyLines, func(a, b TelephonyLine) int { return cmp.Compare(a.ID, b.ID) })
		for i := range d.Users {
			d.Users[i].Departments = sortedSet(d.Users[i].Departments)
			d.Users[i].Groups = sortedSet(d.Users[i].Groups)
		}
	}
	for i := range g.SmartProcesses {
		g.SmartProcesses[i].Name = strings.TrimSpace(g.SmartProcesses[i].Name)
	}
	slices.SortFunc(g.SmartProcesses, func(a, b SmartProcess) int { return cmp.Compare(a.Key, b.Key) })
	for i := range g.Pipelines {
		p := &g.Pipelines[i]
		p.Name = strings.TrimSpace(p.Name)
		for j := range p.Stages {
			p.Stages[j].Name = strings.TrimSpace(p.Stages[j].Name)
		}
	}
	slices.SortFunc(g.Pipelines, func(a, b Pipeline) int {
		return cmp.Or(cmp.Compare(a.Entity, b.Entity), cmp.Compare(a.Key, b.Key))
	})
	for i := range g.CRMRoles {
		g.CRMRoles[i].Normalize()
	}
	slices.SortFunc(g.CRMRoles, func(a, b CRMRole) int { return cmp.Compare(a.Key, b.Key) })
	for _, roles := range [][]SimpleRole{g.TelephonyRoles, g.OpenlineRoles} {
		for i := range roles {
			roles[i].Normalize()
		}
		slices.SortFunc(roles, func(a, b SimpleRole) int { return cmp.Compare(a.Key, b.Key) })
	}
	for i := range g.Workgroups {
		g.Workgroups[i].Normalize()
	}
	slices.SortFunc(g.Workgroups, func(a, b Workgroup) int { return cmp.Compare(a.Key, b.Key) })
	for i := range g.OpenChannels {
		g.OpenChannels[i].Normalize()
	}
	slices.SortFunc(g.OpenChannels, func(a, b OpenChannel) int { return cmp.Compare(a.Key, b.Key) })
	for i := range g.FieldRules {
		r := &g.FieldRules[i]
		r.Stages = sortedSet(r.Stages)
		r.View = sortedSet(r.View)
		r.Edit = sortedSet(r.Edit)
	}
	slices.SortFunc(g.FieldRules, func(a, b FieldRule) int { return cmp.Compare(a.Key, b.Key) })
	if s := g.Settings; s != nil {
		s.Protect = sortedSet(s.Protect)
		s.SensitiveFields = sortedSet(s.SensitiveFields)
		if len(s.Mode) == 0 {
			s.Mode = nil
		}
		if s.Mode == nil && s.Protect == nil && s.SensitiveFields == nil {
			g.Settings = nil
		}
	}
	slices.SortFunc(g.Removed, func(a, b Removed) int { return cmp.Compare(a.Address, b.Address) })
	return g
}

func sortedSet[T cmp.Ordered](in []T) []T {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// SortedSet returns a sorted, de-duplicated copy of in (nil when empty).
func SortedSet(in []string) []string { return sortedSet(in) }

// CompareCRMPerm orders cells by entity, pipeline, stage, action.
func CompareCRMPerm(a, b CRMPerm) int {
	// Field by field, stopping at the first difference (cmp.Or would
	// compare all four: this is the hot comparison of every sort and
	// search of cells).
	if c := strings.Compare(a.Entity, b.Entity); c != 0 {
		return c
	}
	if c := strings.Compare(a.Pipeline, b.Pipeline); c != 0 {
		return c
	}
	if c := strings.Compare(a.Stage, b.Stage); c != 0 {
		return c
	}
	return strings.Compare(a.Action, b.Action)
}

// CellKey identifies a CRM cell within a role.
type CellKey struct{ Entity, Pipeline, Stage, Action string }

// Key returns c's cell key.
func (c CRMPerm) Key() CellKey { return CellKey{c.Entity, c.Pipeline, c.Stage, c.Action} }

// Parent is the pipeline-level key a stage cell inherits from.
func (k CellKey) Parent() CellKey { return CellKey{k.Entity, k.Pipeline, "", k.Action} }

// Normalize sorts r's cells and drops pipeline-level "none" cells (no
// entity row means none, §2.5). Stage cells are always kept, also when
// they equal the pipeline-level value (an explicit "none" under a
// pipeline-level "none" included): an explicit stage row in any role
// beats every inherited value (§3.2 step 4, §3.3), so it is not the same
// as no row (inherit) and the normal form must keep it (§11).
func (r *CRMRole) Normalize() {
	if r.packed != nil {
		r.Perms, r.packed = r.packed.decode(), nil
	}
	r.Name = strings.TrimSpace(r.Name)
	r.Assign = sortedSet(r.Assign)
	if !slices.IsSortedFunc(r.Perms, CompareCRMPerm) {
		slices.SortStableFunc(r.Perms, CompareCRMPerm)
	}
	// Keys are unique in compiled and read graphs; if not, the first wins.
	r.Perms = slices.CompactFunc(r.Perms, func(a, b CRMPerm) bool { return a.Key() == b.Key() })
	r.Perms = slices.DeleteFunc(r.Perms, func(c CRMPerm) bool { return c.Stage == "" && c.Level == "none" })
	if len(r.Perms) == 0 {
		r.Perms = nil
	}
	if r.Assign == nil {
		r.Assign = []string{}
	}
	if r.Perms == nil {
		r.Perms = []CRMPerm{}
	}
}

// Level returns the effective level of a cell in r, applying inheritance:
// an absent stage cell inherits the pipeline-level cell; an absent
// pipeline-level cell is "none". explicit reports whether a stage row exists.
func (r *CRMRole) Level(k CellKey) (level string, explicit bool) {
	find := func(k CellKey) (string, bool) {
		if r.packed != nil {
			return r.packed.find(k)
		}
		i, ok := slices.BinarySearchFunc(r.Perms, k, func(c CRMPerm, k CellKey) int {
			return CompareCRMPerm(c, CRMPerm{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action})
		})
		if !ok {
			return "", false
		}
		return r.Perms[i].Level, true
	}
	if k.Stage != "" {
		if l, ok := find(k); ok {
			return l, true
		}
		k = k.Parent()
	}
	if l, ok := find(k); ok {
		return l, false
	}
	return "none", false
}

// Normalize sorts r and drops "none" cells (telephony rewrites every row,
// but a missing row and an empty letter mean the same).
func (r *SimpleRole) Normalize() {
	r.Name = strings.TrimSpace(r.Name)
	r.Assign = sortedSet(r.Assign)
	if r.Assign == nil {
		r.Assign = []string{}
	}
	slices.SortFunc(r.Perms, func(a, b SimplePerm) int {
		return cmp.Or(cmp.Compare(a.Entity, b.Entity), cmp.Compare(a.Action, b.Action))
	})
	r.Perms = slices.CompactFunc(r.Perms, func(a, b SimplePerm) bool { return a.Entity == b.Entity && a.Action == b.Action })
	out := r.Perms[:0]
	for _, c := range r.Perms {
		if c.Level != "none" && c.Level != "" {
			out = append(out, c)
		}
	}
	r.Perms = out
	if len(r.Perms) == 0 {
		r.Perms = []SimplePerm{}
	}
}

// Normalize sorts w's member sets (moderators exclude the owner, members
// exclude both) and drops feature rules equal to Bitrix's defaults.
func (w *Workgroup) Normalize() {
	w.Name = strings.TrimSpace(w.Name)
	w.Moderators = slices.DeleteFunc(sortedSet(w.Moderators), func(s string) bool { return s == w.Owner })
	w.Members = slices.DeleteFunc(sortedSet(w.Members), func(s string) bool {
		return s == w.Owner || slices.Contains(w.Moderators, s)
	})
	if len(w.Moderators) == 0 {
		w.Moderators = nil
	}
	if len(w.Members) == 0 {
		w.Members = nil
	}
	slices.SortFunc(w.Features, func(a, b FeaturePerm) int {
		return cmp.Or(cmp.Compare(a.Feature, b.Feature), cmp.Compare(a.Operation, b.Operation))
	})
	w.Features = slices.CompactFunc(w.Features, func(a, b FeaturePerm) bool {
		return a.Feature == b.Feature && a.Operation == b.Operation
	})
	w.Features = slices.DeleteFunc(w.Features, func(f FeaturePerm) bool {
		return w.DefaultRole(f.Feature, f.Operation) == f.Role
	})
	if len(w.Features) == 0 {
		w.Features = nil
	}
	w.DisabledFeatures = nilIfEmpty(sortedSet(w.DisabledFeatures))
	// One b_sonet_user2group row per user and group: a member is neither
	// banned nor asking nor invited.
	member := func(s string) bool {
		return s == w.Owner || slices.Contains(w.Moderators, s) || slices.Contains(w.Members, s)
	}
	w.Banned = nilIfEmpty(slices.DeleteFunc(sortedSet(w.Banned), member))
	w.Requests = nilIfEmpty(slices.DeleteFunc(sortedSet(w.Requests), member))
	w.Invited = nilIfEmpty(slices.DeleteFunc(sortedSet(w.Invited), member))
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Normalize trims the name, defaults the queue type and removes repeated
// queue entries, keeping the first occurrence (order is meaningful).
func (c *OpenChannel) Normalize() {
	c.Name = strings.TrimSpace(c.Name)
	if c.QueueType == "" {
		c.QueueType = QueueTypes[0]
	}
	seen := map[string]bool{}
	c.Queue = slices.DeleteFunc(slices.Clone(c.Queue), func(s string) bool {
		dup := seen[s]
		seen[s] = true
		return dup
	})
	if len(c.Queue) == 0 {
		c.Queue = nil
	}
}

// FeatureRole returns the minimal role for a feature operation in w,
// falling back to Bitrix's default (DefaultRole).
func (w *Workgroup) FeatureRole(feature, op string) string {
	for _, f := range w.Features {
		if f.Feature == feature && f.Operation == op {
			return f.Role
		}
	}
	return w.DefaultRole(feature, op)
}

// DefaultRole is the minimal role Bitrix uses for a feature operation of
// w that has no b_sonet_features2perms row: CSocNetFeaturesPerms::
// GetOperationPerm (yuliai/bitrix-modules a3a2a579 socialnetwork/classes/
// general/group_features_perms.php) takes the feature's default, except
// that in a public group (OPENED = Y, VISIBLE = Y) a blog operation that
// is also viewable in archived groups (view_post, view_comment) and
// defaults to members is open to every authorized user.
func (w *Workgroup) DefaultRole(feature, op string) string {
	d := GroupFeatures[feature][op]
	if feature == "blog" && d == "members" && w.Visibility == "public" && IsMinOperation(feature, op) {
		return "authorized"
	}
	return d
}
