package plan

import (
	"fmt"

	"github.com/b24perm/b24perm/diag"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// diffResource lists attribute changes from live to desired, semantically:
// cells by effective level and explicitness, sets as sets.
func diffResource(a graph.Addr, l, d graph.Resource, desired *graph.Graph) []AttrChange {
	var out []AttrChange
	scalar := func(path, before, after string) {
		if before != after {
			out = append(out, AttrChange{Kind: AttrScalar, Action: Update, Path: path, Before: before, After: after, Source: src(desired, a.String())})
		}
	}
	set := func(kind AttrKind, path string, before, after []string, sourceKey func(string) string) {
		for _, s := range after {
			if !slices.Contains(before, s) {
				out = append(out, AttrChange{Kind: kind, Action: Create, Path: path, After: s, Source: src(desired, sourceKey(s))})
			}
		}
		for _, s := range before {
			if !slices.Contains(after, s) {
				out = append(out, AttrChange{Kind: kind, Action: Delete, Path: path, Before: s})
			}
		}
	}
	assignKey := func(s string) string { return graph.AssignSourceKey(a, s) }
	objKey := func(string) string { return a.String() }
	switch {
	case d.CRMRole != nil:
		scalar("name", l.CRMRole.Name, d.CRMRole.Name)
		set(AttrAssign, "assign", l.CRMRole.Assign, d.CRMRole.Assign, assignKey)
		out = append(out, crmCells(a.Key, l.CRMRole, d.CRMRole, desired)...)
	case d.Telephony != nil || d.Openline != nil:
		lr, dr, kind := l.Telephony, d.Telephony, graph.KindTelephony
		if d.Openline != nil {
			lr, dr, kind = l.Openline, d.Openline, graph.KindOpenline
		}
		scalar("name", lr.Name, dr.Name)
		set(AttrAssign, "assign", lr.Assign, dr.Assign, assignKey)
		out = append(out, simpleCells(kind, a.Key, lr, dr, desired)...)
	case d.Workgroup != nil:
		lw, dw := l.Workgroup, d.Workgroup
		scalar("name", lw.Name, dw.Name)
		scalar("visibility", lw.Visibility, dw.Visibility)
		scalar("archived", fmt.Sprint(lw.Archived), fmt.Sprint(dw.Archived))
		scalar("owner", lw.Owner, dw.Owner)
		set(AttrFeature, "disabled_features", lw.DisabledFeatures, dw.DisabledFeatures, objKey)
		set(AttrMember, "moderators", lw.Moderators, dw.Moderators, objKey)
		set(AttrMember, "members", lw.Members, dw.Members, objKey)
		keys := map[[2]string]bool{}
		for _, f := range append(slices.Clone(lw.Features), dw.Features...) {
			keys[[2]string{f.Feature, f.Operation}] = true
		}
		for _, k := range sortedPairs(keys) {
			before, after := lw.FeatureRole(k[0], k[1]), dw.FeatureRole(k[0], k[1])
			if before != after {
				out = append(out, AttrChange{Kind: AttrFeature, Action: Update, Path: "features." + k[0] + "." + k[1], Before: before, After: after, Source: src(desired, a.String())})
			}
		}
	case d.OpenChannel != nil:
		lc, dc := l.OpenChannel, d.OpenChannel
		scalar("name", lc.Name, dc.Name)
		scalar("active", fmt.Sprint(!lc.Inactive), fmt.Sprint(!dc.Inactive))
		scalar("queue_type", lc.QueueType, dc.QueueType)
		n := len(out)
		set(AttrMember, "queue", lc.Queue, dc.Queue, assignKey)
		if len(out) == n && !slices.Equal(lc.Queue, dc.Queue) {
			// Same entries, new order: it matters when chats go "strictly".
			out = append(out, AttrChange{Kind: AttrOrder, Action: Update, Path: "queue order", Before: strings.Join(lc.Queue, ", "), After: strings.Join(dc.Queue, ", "), Source: src(desired, a.String())})
		}
	case d.Pipeline != nil:
		lp, dp := l.Pipeline, d.Pipeline
		scalar("name", lp.Name, dp.Name)
		for _, s := range dp.Stages {
			i := slices.IndexFunc(lp.Stages, func(x graph.Stage) bool { return x.Key == s.Key })
			switch {
			case i < 0:
				out = append(out, AttrChange{Kind: AttrStage, Action: Create, Path: "stages." + s.Key, After: s.Name, Source: src(desired, a.String())})
			case lp.Stages[i].Name != s.Name:
				out = append(out, AttrChange{Kind: AttrStage, Action: Update, Path: "stages." + s.Key, Before: lp.Stages[i].Name, After: s.Name, Source: src(desired, a.String())})
			}
		}
		for _, s := range lp.Stages {
			if !slices.ContainsFunc(dp.Stages, func(x graph.Stage) bool { return x.Key == s.Key }) {
				out = append(out, AttrChange{Kind: AttrStage, Action: Delete, Path: "stages." + s.Key, Before: s.Name})
			}
		}
		// The stages both sides have, in a new order: their SORT changes.
		var lo, do []string
		for _, s := range lp.Stages {
			if slices.ContainsFunc(dp.Stages, func(x graph.Stage) bool { return x.Key == s.Key }) {
				lo = append(lo, s.Key)
			}
		}
		for _, s := range dp.Stages {
			if slices.ContainsFunc(lp.Stages, func(x graph.Stage) bool { return x.Key == s.Key }) {
				do = append(do, s.Key)
			}
		}
		if !slices.Equal(lo, do) {
			out = append(out, AttrChange{Kind: AttrOrder, Action: Update, Path: "stage order", Before: strings.Join(lo, ", "), After: strings.Join(do, ", "), Source: src(desired, a.String())})
		}
	case d.FieldRule != nil:
		lf, df := l.FieldRule, d.FieldRule
		scalar("entity", lf.Entity, df.Entity)
		scalar("pipeline", lf.Pipeline, df.Pipeline)
		scalar("field", lf.Field, df.Field)
		scalar("native", fmt.Sprint(lf.Native), fmt.Sprint(df.Native))
		set(AttrScalar, "stages", lf.Stages, df.Stages, objKey)
		set(AttrAssign, "view", lf.View, df.View, objKey)
		set(AttrAssign, "edit", lf.Edit, df.Edit, objKey)
	case d.SmartProcess != nil:
		scalar("name", l.SmartProcess.Name, d.SmartProcess.Name)
	}
	return out
}

func src(g *graph.Graph, key string) *graph.Pos {
	if p, ok := g.Source(key); ok {
		return &p
	}
	return nil
}

func sortedPairs(m map[[2]string]bool) [][2]string {
	var out [][2]string
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return out
}

// crmCells compares the cells of two roles. Pipeline-level cells compare
// by level; stage cells by level and explicitness, because an explicit
// stage row changes how roles merge ("detailed beats inherited").
func crmCells(role string, l, d *graph.CRMRole, desired *graph.Graph) []AttrChange {
	// Same cells, same levels: an unchanged role costs one comparison of
	// its cells, nothing more.
	if slices.Equal(l.Perms, d.Perms) {
		return nil
	}
	keys := changedCells(l.Perms, d.Perms)
	var out []AttrChange
	for _, k := range keys {
		bl, be := l.Level(k)
		al, ae := d.Level(k)
		if bl == al && (k.Stage == "" || be == ae) {
			continue
		}
		action := Update
		if k.Stage != "" && !be {
			action = Create
		} else if k.Stage != "" && !ae {
			action = Delete
		}
		kk := k
		c := AttrChange{Kind: AttrCell, Action: action, Path: cellPath(k), Cell: &kk, Before: bl, After: al,
			BeforeInherited: k.Stage != "" && !be, AfterInherited: k.Stage != "" && !ae}
		c.Source = src(desired, graph.CellSourceKey(role, graph.CRMPerm{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action}))
		out = append(out, c)
	}
	return out
}

// changedCells is cellUnion without the keys both lists hold at the same
// level: there Level gives the same level, explicit on both sides, so
// crmCells would skip them after two binary searches each (a role with
// one changed cell of 350 costs a merge, not 700 searches).
func changedCells(a, b []graph.CRMPerm) []graph.CellKey { return mergeCellKeys(a, b, true) }

// cellUnion lists the cell keys of a and b in CompareCRMPerm order: a
// merge of the two sorted cell lists (normalized roles keep their cells
// sorted), or a sort when one of them is not.
func cellUnion(a, b []graph.CRMPerm) []graph.CellKey { return mergeCellKeys(a, b, false) }

// mergeCellKeys is cellUnion, leaving out with onlyChanged the keys both
// lists hold once each at the same level (when either list is unsorted,
// every key is listed: crmCells then compares the levels itself).
func mergeCellKeys(a, b []graph.CRMPerm, onlyChanged bool) []graph.CellKey {
	cmpKey := graph.CompareCRMPerm // ignores the level
	if !slices.IsSortedFunc(a, cmpKey) || !slices.IsSortedFunc(b, cmpKey) {
		keys := make([]graph.CellKey, 0, len(a)+len(b))
		for _, c := range a {
			keys = append(keys, c.Key())
		}
		for _, c := range b {
			keys = append(keys, c.Key())
		}
		slices.SortFunc(keys, func(x, y graph.CellKey) int {
			return graph.CompareCRMPerm(graph.CRMPerm{Entity: x.Entity, Pipeline: x.Pipeline, Stage: x.Stage, Action: x.Action},
				graph.CRMPerm{Entity: y.Entity, Pipeline: y.Pipeline, Stage: y.Stage, Action: y.Action})
		})
		return slices.Compact(keys)
	}
	var keys []graph.CellKey
	if !onlyChanged {
		keys = make([]graph.CellKey, 0, max(len(a), len(b)))
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var k graph.CellKey
		switch {
		case j == len(b):
			k = a[i].Key()
			i++
		case i == len(a):
			k = b[j].Key()
			j++
		default:
			switch c := cmpKey(a[i], b[j]); {
			case c < 0:
				k = a[i].Key()
				i++
			case c > 0:
				k = b[j].Key()
				j++
			default:
				same := a[i].Level == b[j].Level
				k = a[i].Key()
				i++
				j++
				if onlyChanged && same && (i == len(a) || cmpKey(a[i], b[j-1]) != 0) && (j == len(b) || cmpKey(b[j], a[i-1]) != 0) {
					continue
				}
			}
		}
		if n := len(keys); n == 0 || keys[n-1] != k {
			keys = append(keys, k)
		}
	}
	return keys
}

func cellPath(k graph.CellKey) string {
	parts := []string{k.Entity}
	if k.Pipeline != "" {
		parts = append(parts, k.Pipeline)
	}
	if k.Stage != "" {
		parts = append(parts, k.Stage)
	}
	return strings.Join(append(parts, k.Action), ".")
}

func simpleCells(kind graph.Kind, role string, l, d *graph.SimpleRole, desired *graph.Graph) []AttrChange {
	level := func(r *graph.SimpleRole, e, a string) string {
		for _, c := range r.Perms {
			if c.Entity == e && c.Action == a {
				return c.Level
			}
		}
		return "none"
	}
	keys := map[[2]string]bool{}
	for _, c := range append(slices.Clone(l.Perms), d.Perms...) {
		keys[[2]string{c.Entity, c.Action}] = true
	}
	var out []AttrChange
	for _, k := range sortedPairs(keys) {
		b, a := level(l, k[0], k[1]), level(d, k[0], k[1])
		if a == b {
			continue
		}
		ck := graph.CellKey{Entity: k[0], Action: k[1]}
		out = append(out, AttrChange{Kind: AttrCell, Action: Update, Path: k[0] + "." + k[1], Cell: &ck, Before: b, After: a,
			Source: src(desired, graph.SimpleCellSourceKey(kind, role, graph.SimplePerm{Entity: k[0], Action: k[1]}))})
	}
	return out
}

// createAttrs describes a new resource as a list of additions.
func createAttrs(a graph.Addr, d graph.Resource) []AttrChange {
	empty := graph.Resource{}
	switch {
	case d.CRMRole != nil:
		empty.CRMRole = &graph.CRMRole{Name: d.CRMRole.Name}
	case d.Telephony != nil:
		empty.Telephony = &graph.SimpleRole{Name: d.Telephony.Name}
	case d.Openline != nil:
		empty.Openline = &graph.SimpleRole{Name: d.Openline.Name}
	case d.Workgroup != nil:
		empty.Workgroup = &graph.Workgroup{}
	case d.OpenChannel != nil:
		empty.OpenChannel = &graph.OpenChannel{}
	case d.Pipeline != nil:
		empty.Pipeline = &graph.Pipeline{Name: d.Pipeline.Name}
	case d.FieldRule != nil:
		empty.FieldRule = &graph.FieldRule{Entity: d.FieldRule.Entity, Pipeline: d.FieldRule.Pipeline, Field: d.FieldRule.Field, Native: d.FieldRule.Native}
	default:
		return nil
	}
	attrs := diffResource(a, empty, d, &graph.Graph{})
	for i := range attrs {
		attrs[i].Action = Create
	}
	return attrs
}

// lockout refuses a plan after which no active user holds CRM
// administrator access (config write = all) through a CRM role. Portal
// administrators bypass roles in Bitrix24, but they are not counted: a
// cloud backend cannot see them reliably, and losing the role-based admin
// is what locks a team out of its own permission settings. before is the
// live portal and after the portal the changes leave (roles and the
// workgroups their assignments may name both change).
func lockout(before, after *graph.Graph, changes []Change, ix *graph.Index, targeted bool) diag.Diagnostics {
	touched := false
	for _, c := range changes {
		if c.Addr.Kind == graph.KindCRMRole || c.Addr.Kind == graph.KindWorkgroup {
			touched = true
			break
		}
	}
	if !touched || before.Directory == nil {
		return nil
	}
	roles := func(g *graph.Graph) map[string]*graph.CRMRole {
		m := map[string]*graph.CRMRole{}
		for i := range g.CRMRoles {
			m[g.CRMRoles[i].Key] = &g.CRMRoles[i]
		}
		return m
	}
	wgs := func(g *graph.Graph) map[string]*graph.Workgroup {
		m := map[string]*graph.Workgroup{}
		for i := range g.Workgroups {
			m[g.Workgroups[i].Key] = &g.Workgroups[i]
		}
		return m
	}
	b := roles(before)
	if admins(b, ix, wgs(before)) > 0 && admins(roles(after), ix, wgs(after)) == 0 {
		var names []string
		for _, k := range sortedKeys(b) {
			if l, _ := b[k].Level(graph.CellKey{Entity: "config", Action: "write"}); l == "all" {
				names = append(names, fmt.Sprintf("%q", b[k].Name))
			}
		}
		detail := fmt.Sprintf("this plan would leave no active user with administrator access to CRM permissions settings (config write = all); today it comes from %s. Keep at least one such role assigned to an active user", strings.Join(names, ", "))
		if targeted {
			detail += ". Only the changes selected by -target/-exclude would be made: include the change that grants the new administrator access"
		}
		return diag.Diagnostics{{Severity: diag.Error, Summary: "Lockout: no CRM administrator would remain", Detail: detail}}
	}
	return nil
}

func admins(roles map[string]*graph.CRMRole, ix *graph.Index, wgs map[string]*graph.Workgroup) int {
	n := 0
	for _, r := range roles {
		if r == nil {
			continue
		}
		if l, _ := r.Level(graph.CellKey{Entity: "config", Action: "write"}); l != "all" {
			continue
		}
		for _, s := range r.Assign {
			n += len(UsersOf(s, ix, wgs))
		}
	}
	return n
}

// UsersOf returns the active users a subject reaches.
func UsersOf(subject string, ix *graph.Index, wgs map[string]*graph.Workgroup) []*graph.User {
	sub, err := graph.ParseSubject(subject)
	if err != nil {
		return nil
	}
	var out []*graph.User
	add := func(u *graph.User) {
		if u != nil && !u.Inactive {
			out = append(out, u)
		}
	}
	switch sub.Kind {
	case graph.SubjUser:
		u, _ := ix.LookupUser(sub.Ref)
		add(u)
	case graph.SubjDepartment, graph.SubjDepartmentAll:
		d, ok := ix.LookupDepartment(sub.Ref)
		if !ok {
			return nil
		}
		for i := range ix.Dir.Users {
			u := &ix.Dir.Users[i]
			for _, ud := range u.Departments {
				if ud == d.ID || (sub.Kind == graph.SubjDepartmentAll && slices.Contains(ix.Ancestors(ud), d.ID)) {
					add(u)
					break
				}
			}
		}
	case graph.SubjGroup:
		g, ok := ix.GroupByName[strings.ToLower(sub.Ref)]
		for i := range ix.Dir.Users {
			u := &ix.Dir.Users[i]
			if ok && (g.ID == graph.EmployeesGroupID || slices.Contains(u.Groups, g.ID)) {
				add(u)
			}
		}
	case graph.SubjWGOwner, graph.SubjWGModerators, graph.SubjWGMembers:
		w := wgs[sub.Ref]
		if w == nil {
			return nil
		}
		subs := []string{w.Owner}
		if sub.Kind != graph.SubjWGOwner {
			subs = append(subs, w.Moderators...)
		}
		if sub.Kind == graph.SubjWGMembers {
			subs = append(subs, w.Members...)
		}
		for _, s := range subs {
			out = append(out, UsersOf(s, ix, nil)...)
		}
	case graph.SubjCode:
		switch {
		case sub.Ref == "G2" || sub.Ref == "AE0":
			for i := range ix.Dir.Users {
				add(&ix.Dir.Users[i])
			}
		case strings.HasPrefix(sub.Ref, "IU") || strings.HasPrefix(sub.Ref, "AD"):
			// Intranet and head codes (§1.2): the user himself, heads above
			// him, heads of a department.
			for i := range ix.Dir.Users {
				if slices.Contains(ix.IntranetCodes(&ix.Dir.Users[i]), sub.Ref) {
					add(&ix.Dir.Users[i])
				}
			}
		}
	}
	return out
}
