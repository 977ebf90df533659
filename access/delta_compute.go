package access

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// ComputeDelta computes who gains and who loses effective access between
// before and after over the same directory. Only users reached by a role,
// workgroup or field rule that differs are evaluated. src (usually the
// desired graph) supplies policy positions; it may be nil.
func ComputeDelta(before, after *graph.Graph, dir *graph.Directory, src *graph.Graph) *Delta {
	if dir == nil {
		dir = before.Directory
	}
	rb := New(before, dir)
	ra := newAlike(after, dir, rb)
	if src != nil {
		ra.srcGraph, ra.crmCells = src, nil
	}
	names := pipelineNames(before, after)
	all := ra.Users()
	users := make(map[int64]*graph.User, len(all))
	for _, u := range all {
		users[u.ID] = u
	}
	col := newCollector()
	// Changes found one user at a time wait here, then go to the collector
	// as one list per user.
	pending := map[int64][]CellChange{}
	add := func(u *graph.User, c CellChange) { pending[u.ID] = append(pending[u.ID], c) }
	flush := func() {
		for _, id := range sortedIDs(pending) {
			col.add([]*graph.User{users[id]}, pending[id])
		}
		clear(pending)
	}

	// CRM roles. Users who reach the same roles before and after have the
	// same effective access, so each distinct pair of role sets is
	// evaluated once, over the cells of the changed roles it contains.
	bRoles, aRoles := roleMap(before.CRMRoles), roleMap(after.CRMRoles)
	changedSet := map[string]bool{}
	var changedRoles []string
	for _, k := range unionKeys(bRoles, aRoles) {
		b, a := bRoles[k], aRoles[k]
		if b != nil && a != nil && slices.Equal(b.Assign, a.Assign) && slices.Equal(b.Cells(), a.Cells()) {
			continue
		}
		changedSet[k] = true
		changedRoles = append(changedRoles, k)
	}
	// A user no changed role reaches, before or after, keeps the same
	// roles with the same cells: only the users the changed roles'
	// assignments reach are evaluated.
	var crmUsers []*graph.User
	if len(changedRoles) > 0 {
		reached := map[int64]bool{}
		for _, k := range changedRoles {
			for _, r := range []*graph.CRMRole{bRoles[k], aRoles[k]} {
				if r == nil {
					continue
				}
				for _, s := range r.Assign {
					for _, u := range rb.usersOf(s) {
						reached[u.ID] = true
					}
					for _, u := range ra.usersOf(s) {
						reached[u.ID] = true
					}
				}
			}
		}
		for _, id := range sortedIDs(reached) {
			if u := users[id]; u != nil {
				crmUsers = append(crmUsers, u)
			}
		}
	}
	// The cells of a changed role that can change a user's access: all of
	// them when the user gains or loses the role, else only those whose
	// level differs.
	diffCells := map[string][]graph.CellKey{}
	for _, k := range changedRoles {
		b, a := bRoles[k], aRoles[k]
		if b == nil || a == nil {
			continue
		}
		diffCells[k] = differingCells(b.Cells(), a.Cells())
	}
	allCells := func(k string) []graph.CellKey {
		var keys []graph.CellKey
		for _, r := range []*graph.CRMRole{bRoles[k], aRoles[k]} {
			if r != nil {
				for _, c := range r.Cells() {
					keys = append(keys, c.Key())
				}
			}
		}
		return keys
	}
	if len(crmUsers) > 0 {
		type sig struct{ before, after string }
		groups := map[sig][]*graph.User{}
		var order []sig
		roleKeys := func(rs *Resolver, u *graph.User) (string, []string, bool) {
			var keys []string
			touched := false
			for _, v := range rs.reach(u, kindCRM) {
				k := rs.g.CRMRoles[v.role].Key
				keys = append(keys, k)
				touched = touched || changedSet[k]
			}
			slices.Sort(keys)
			return strings.Join(keys, ","), keys, touched
		}
		for _, u := range crmUsers {
			if u.Admin {
				continue
			}
			bs, _, bt := roleKeys(rb, u)
			as, _, at := roleKeys(ra, u)
			if !bt && !at {
				continue
			}
			sg := sig{bs, as}
			if _, ok := groups[sg]; !ok {
				order = append(order, sg)
			}
			groups[sg] = append(groups[sg], u)
		}
		keyCache := map[string][]graph.CellKey{}
		for _, sg := range order {
			us := groups[sg]
			u := us[0]
			// involved: the changed roles of the group, "+" marking one the
			// users hold both before and after (only its differing cells).
			inB := map[string]bool{}
			for _, k := range strings.Split(sg.before, ",") {
				inB[k] = true
			}
			var involved []string
			for _, k := range strings.Split(sg.after, ",") {
				if changedSet[k] {
					if inB[k] {
						involved = append(involved, "+"+k)
						delete(inB, k)
					} else {
						involved = append(involved, k)
					}
				}
			}
			for k := range inB {
				if changedSet[k] {
					involved = append(involved, k)
				}
			}
			slices.Sort(involved)
			ik := strings.Join(involved, ",")
			keys, ok := keyCache[ik]
			if !ok {
				for _, k := range involved {
					if rk, both := strings.CutPrefix(k, "+"); both {
						keys = append(keys, diffCells[rk]...)
					} else {
						keys = append(keys, allCells(k)...)
					}
				}
				keys = uniqueCells(keys)
				keyCache[ik] = keys
			}
			pipelineChange := map[graph.CellKey][2]string{}
			var changes []CellChange
			for _, k := range keys {
				q := CRMQuery{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action}
				bl, all := rb.crmLevel(u, q), ra.crmLevel(u, q)
				if k.Stage == "" {
					pipelineChange[k] = [2]string{bl, all}
				} else if pc, ok := pipelineChange[k.Parent()]; ok && pc == [2]string{bl, all} {
					continue // the stage just follows its pipeline
				}
				if bl == all {
					continue
				}
				br, al := rb.CRM(u, q), ra.CRM(u, q)
				c := CellChange{Domain: graph.DomainCRM, Label: crmLabel(k, names), Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action,
					Before: bl, After: al.Level, Widens: widens(k.Action, bl, al.Level), Admin: k.Entity == "config"}
				c.Source = ra.responsible(u, changedSet, k, al, br)
				changes = append(changes, c)
			}
			col.add(us, changes)
		}
	}

	// Telephony and open channels.
	for _, kind := range []graph.Kind{graph.KindTelephony, graph.KindOpenline} {
		bl, al, table := rb.telRoles, ra.telRoles, graph.TelephonyActions
		domain := graph.DomainTelephony
		if kind == graph.KindOpenline {
			bl, al, table, domain = before.OpenlineRoles, after.OpenlineRoles, graph.OpenlineActions, graph.DomainOpenlines
		}
		bm, am := simpleMap(bl), simpleMap(al)
		aff := map[int64]bool{}
		for _, k := range unionKeys(bm, am) {
			b, a := bm[k], am[k]
			if b != nil && a != nil && slices.Equal(b.Assign, a.Assign) && slices.Equal(b.Perms, a.Perms) {
				continue
			}
			for _, r := range []*graph.SimpleRole{b, a} {
				if r == nil {
					continue
				}
				for _, s := range r.Assign {
					for _, u := range ra.usersOf(s) {
						aff[u.ID] = true
					}
					for _, u := range rb.usersOf(s) {
						aff[u.ID] = true
					}
				}
			}
		}
		for _, id := range sortedIDs(aff) {
			u := users[id]
			if u == nil || u.Admin {
				continue
			}
			for _, sa := range table {
				b, a := rb.Simple(u, kind, sa.Entity, sa.Action), ra.Simple(u, kind, sa.Entity, sa.Action)
				if b.Level == a.Level {
					continue
				}
				c := CellChange{Domain: domain, Label: sa.Label, Entity: sa.Entity, Action: sa.Action, Before: b.Level, After: a.Level,
					Widens: sa.Rank(a.Level) > sa.Rank(b.Level), Sensitive: sa.Sensitive, Admin: sa.Admin}
				if len(a.Derivation) > 0 {
					c.Source = ra.pos(a.Derivation[0].Source, a.Derivation[0].Role)
				}
				add(u, c)
			}
		}
	}

	flush()
	channelDelta(rb, ra, before.OpenChannels, after.OpenChannels, add)
	flush()

	// Workgroups: membership, visibility, feature operations.
	bw, aw := wgMap(before.Workgroups), wgMap(after.Workgroups)
	for _, k := range unionKeys(bw, aw) {
		b, a := bw[k], aw[k]
		if b != nil && a != nil && workgroupEqual(b, a) {
			continue
		}
		name := k
		if a != nil {
			name = a.Name
		} else if b != nil {
			name = b.Name
		}
		var ops [][2]string
		for _, w := range []*graph.Workgroup{b, a} {
			if w != nil {
				for _, f := range w.Features {
					ops = append(ops, [2]string{f.Feature, f.Operation})
				}
			}
		}
		if b != nil && a != nil && (b.Archived != a.Archived || b.Visibility != a.Visibility || !slices.Equal(b.DisabledFeatures, a.DisabledFeatures)) {
			// Archiving, a feature switch or the visibility changes
			// operations at their default too.
			for f, fops := range graph.GroupFeatures {
				for op := range fops {
					ops = append(ops, [2]string{f, op})
				}
			}
		}
		slices.SortFunc(ops, func(x, y [2]string) int { return strings.Compare(x[0]+"."+x[1], y[0]+"."+y[1]) })
		ops = slices.Compact(ops)
		// Owners, moderators and members (before or after) are evaluated
		// one by one; everyone else is not a member on either side, so
		// one of them stands for all.
		inWG := map[int64]bool{}
		for _, w := range []*graph.Workgroup{b, a} {
			if w == nil {
				continue
			}
			for _, s := range append(append([]string{w.Owner}, w.Moderators...), w.Members...) {
				for _, r := range []*Resolver{rb, ra} {
					for _, u := range r.usersOf(s) {
						inWG[u.ID] = true
					}
				}
			}
		}
		var eval []*graph.User
		for _, id := range sortedIDs(inWG) {
			if u := users[id]; u != nil && !u.Admin {
				eval = append(eval, u)
			}
		}
		// The non-member who stands for all others; the list of them is
		// made only when that one's access changes.
		var other *graph.User
		for _, u := range all {
			if !u.Admin && !inWG[u.ID] {
				other = u
				break
			}
		}
		if other != nil {
			eval = append(eval, other)
		}
		for _, u := range eval {
			bs, bj := rb.CanSee(u, k)
			as, aj := ra.CanSee(u, k)
			src := ra.pos(nil, "workgroup."+k)
			if bs != as {
				add(u, CellChange{Domain: graph.DomainWorkgroups, Label: fmt.Sprintf("workgroup %q · see", name), Workgroup: k, Before: yesNo(bs), After: yesNo(as), Widens: as, Source: src})
			}
			bm, am := memberOf(rb, b, u), memberOf(ra, a, u)
			// Joining matters to non-members only: a user who becomes a
			// member no longer "can join", which is no loss, and one who
			// leaves may be able to join again, which is no gain; the
			// membership line says what changed.
			if bj != aj && bs == as && bm == am {
				add(u, CellChange{Domain: graph.DomainWorkgroups, Label: fmt.Sprintf("workgroup %q · join", name), Workgroup: k, Before: yesNo(bj), After: yesNo(aj), Widens: aj, Source: src})
			}
			if bm != am {
				add(u, CellChange{Domain: graph.DomainWorkgroups, Label: fmt.Sprintf("workgroup %q · membership", name), Workgroup: k, Before: bm, After: am,
					Widens: memberRank(am) > memberRank(bm), Source: src})
			}
			for _, op := range ops {
				x, y := rb.Workgroup(u, k, op[0], op[1]).Level, ra.Workgroup(u, k, op[0], op[1]).Level
				if x != y && bm == am {
					add(u, CellChange{Domain: graph.DomainWorkgroups, Label: fmt.Sprintf("workgroup %q · %s.%s", name, op[0], op[1]), Workgroup: k, Feature: op[0] + "." + op[1],
						Before: x, After: y, Widens: y == "allowed", Source: src})
				}
			}
		}
		if other != nil {
			if cs := pending[other.ID]; len(cs) > 0 {
				delete(pending, other.ID)
				var others []*graph.User
				for _, u := range all {
					if !u.Admin && !inWG[u.ID] {
						others = append(others, u)
					}
				}
				col.add(others, cs)
			}
		}
		flush()
	}

	// Field rules.
	sensitive := map[string]bool{}
	for _, g := range []*graph.Graph{before, after} {
		if g.Settings != nil {
			for _, f := range g.Settings.SensitiveFields {
				sensitive[f] = true
			}
		}
	}
	bf, af := fieldMap(before.FieldRules), fieldMap(after.FieldRules)
	type fieldCell struct{ entity, pipeline, field, stage string }
	var fcells []fieldCell
	for _, k := range unionKeys(bf, af) {
		b, a := bf[k], af[k]
		if b != nil && a != nil && fieldEqual(b, a) {
			continue
		}
		for _, f := range []*graph.FieldRule{b, a} {
			if f == nil {
				continue
			}
			stages := f.Stages
			if len(stages) == 0 {
				stages = []string{""}
			}
			for _, s := range stages {
				fcells = append(fcells, fieldCell{f.Entity, f.Pipeline, f.Field, s})
			}
		}
	}
	slices.SortFunc(fcells, func(x, y fieldCell) int {
		return strings.Compare(x.entity+x.pipeline+x.field+x.stage, y.entity+y.pipeline+y.field+y.stage)
	})
	fcells = slices.Compact(fcells)
	for _, fc := range fcells {
		for _, mode := range []string{"view", "edit"} {
			allB, setB := rb.fieldAllowed(fc.entity, fc.pipeline, fc.field, fc.stage, mode)
			allA, setA := ra.fieldAllowed(fc.entity, fc.pipeline, fc.field, fc.stage, mode)
			if allB && allA {
				continue
			}
			label := crmLabel(graph.CellKey{Entity: fc.entity, Pipeline: fc.pipeline, Stage: fc.stage}, names) + " · field " + fc.field + " · " + mode
			change := func(x, y bool) []CellChange {
				return []CellChange{{Domain: graph.DomainFields, Label: label, Entity: fc.entity, Pipeline: fc.pipeline, Stage: fc.stage, Field: fc.field, Action: mode,
					Before: allowedWord(x), After: allowedWord(y), Widens: y, Sensitive: sensitive[fc.entity+"."+fc.field]}}
			}
			// Only the listed users can differ when both sides restrict
			// the field; when one side leaves it open, everyone the other
			// side does not list.
			var gain, lose []*graph.User
			switch {
			case !allB && !allA:
				for _, id := range sortedIDs(setB) {
					if u := users[id]; u != nil && !u.Admin && !setA[id] {
						lose = append(lose, u)
					}
				}
				for _, id := range sortedIDs(setA) {
					if u := users[id]; u != nil && !u.Admin && !setB[id] {
						gain = append(gain, u)
					}
				}
			case allB:
				for _, u := range all {
					if !u.Admin && !setA[u.ID] {
						lose = append(lose, u)
					}
				}
			default:
				for _, u := range all {
					if !u.Admin && !setB[u.ID] {
						gain = append(gain, u)
					}
				}
			}
			col.add(lose, change(true, false))
			col.add(gain, change(false, true))
		}
	}
	d := col.group(users)
	if d.Unexpanded = unexpanded(before, after, ra); len(d.Unexpanded) > 0 {
		d.Widening = true
	}
	return d
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func memberOf(r *Resolver, w *graph.Workgroup, u *graph.User) string {
	if w == nil {
		return "none"
	}
	if role := r.memberRole(w, r.canonUser(u)); isMemberRel(role) {
		return role
	}
	return "none"
}

func memberRank(s string) int {
	return slices.Index([]string{"none", "member", "moderator", "owner"}, s)
}

// collector gathers a delta as change lists shared by the users they
// apply to: memory grows with the changes and the users they reach, not
// with their product.
type collector struct {
	chunks  [][]CellChange
	index   map[string]int32
	perUser map[int64][]int32
}

func newCollector() *collector {
	return &collector{index: map[string]int32{}, perUser: map[int64][]int32{}}
}

// signature identifies a change list by what users see of it.
func signature(cs []CellChange) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Domain)
		b.WriteByte('|')
		b.WriteString(c.Label)
		b.WriteByte('|')
		b.WriteString(c.Before)
		b.WriteByte('|')
		b.WriteString(c.After)
		b.WriteByte(';')
	}
	return b.String()
}

// add records that every one of users (admins excepted) has changes.
func (c *collector) add(users []*graph.User, changes []CellChange) {
	if len(changes) == 0 || len(users) == 0 {
		return
	}
	sig := signature(changes)
	id, ok := c.index[sig]
	if !ok {
		id = int32(len(c.chunks))
		c.index[sig] = id
		c.chunks = append(c.chunks, changes)
	}
	for _, u := range users {
		if u != nil && !u.Admin {
			c.perUser[u.ID] = append(c.perUser[u.ID], id)
		}
	}
}

// group bundles users with identical change lists, ordered by the first
// user's ID; each group's changes are sorted by domain and label.
func (c *collector) group(users map[int64]*graph.User) *Delta {
	d := &Delta{Groups: []DeltaGroup{}}
	byIDs := map[string]int{} // the user's sorted chunk IDs → group
	bySig := map[string]int{} // a group's change signature → group
	var key []byte
	for _, id := range sortedIDs(c.perUser) {
		ids := c.perUser[id]
		slices.Sort(ids)
		ids = slices.Compact(ids)
		key = key[:0]
		for _, x := range ids {
			key = binary.LittleEndian.AppendUint32(key, uint32(x))
		}
		u := users[id]
		ref := UserRef{ID: id, Email: u.Email, Name: u.Name}
		gi, ok := byIDs[string(key)]
		if !ok {
			var cs []CellChange
			for _, x := range ids {
				cs = append(cs, c.chunks[x]...)
			}
			slices.SortStableFunc(cs, func(a, b CellChange) int {
				return cmp.Or(strings.Compare(a.Domain, b.Domain), strings.Compare(a.Label, b.Label))
			})
			sig := signature(cs)
			if gj, seen := bySig[sig]; seen {
				gi = gj
			} else {
				gi = len(d.Groups)
				bySig[sig] = gi
				d.Groups = append(d.Groups, DeltaGroup{Changes: cs})
			}
			byIDs[string(key)] = gi
		}
		d.Groups[gi].Users = append(d.Groups[gi].Users, ref)
	}
	for _, g := range d.Groups {
		gain, lose := false, false
		for _, c := range g.Changes {
			if c.Widens {
				gain = true
				if c.Sensitive || c.Admin {
					d.Widening = true
				}
			} else {
				lose = true
			}
		}
		if gain {
			d.Gainers += len(g.Users)
		}
		if lose {
			d.Losers += len(g.Users)
		}
	}
	return d
}

func sortedIDs[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func roleMap(in []graph.CRMRole) map[string]*graph.CRMRole {
	m := map[string]*graph.CRMRole{}
	for i := range in {
		m[in[i].Key] = &in[i]
	}
	return m
}

func simpleMap(in []graph.SimpleRole) map[string]*graph.SimpleRole {
	m := map[string]*graph.SimpleRole{}
	for i := range in {
		m[in[i].Key] = &in[i]
	}
	return m
}

func wgMap(in []graph.Workgroup) map[string]*graph.Workgroup {
	m := map[string]*graph.Workgroup{}
	for i := range in {
		m[in[i].Key] = &in[i]
	}
	return m
}

func fieldMap(in []graph.FieldRule) map[string]*graph.FieldRule {
	m := map[string]*graph.FieldRule{}
	for i := range in {
		m[in[i].Key] = &in[i]
	}
	return m
}

func unionKeys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func workgroupEqual(a, b *graph.Workgroup) bool {
	return a.Visibility == b.Visibility && a.Archived == b.Archived && a.Owner == b.Owner && slices.Equal(a.Moderators, b.Moderators) &&
		slices.Equal(a.Members, b.Members) && slices.Equal(a.Features, b.Features) && slices.Equal(a.DisabledFeatures, b.DisabledFeatures) &&
		slices.Equal(a.Banned, b.Banned) && slices.Equal(a.Requests, b.Requests) && slices.Equal(a.Invited, b.Invited)
}

func fieldEqual(a, b *graph.FieldRule) bool {
	return a.Entity == b.Entity && a.Pipeline == b.Pipeline && a.Field == b.Field && a.Native == b.Native &&
		slices.Equal(a.Stages, b.Stages) && slices.Equal(a.View, b.View) && slices.Equal(a.Edit, b.Edit)
}

// differingCells lists the keys of the cells b and a do not hold at the
// same level (a key only one holds included), in no particular order:
// a merge when both are sorted without repeated keys (normalized roles),
// else through a map.
func differingCells(b, a []graph.CRMPerm) []graph.CellKey {
	var keys []graph.CellKey
	if strictlySorted(b) && strictlySorted(a) {
		i, j := 0, 0
		for i < len(b) || j < len(a) {
			switch c := 0; {
			case j == len(a):
				keys = append(keys, b[i].Key())
				i++
			case i == len(b):
				keys = append(keys, a[j].Key())
				j++
			default:
				c = graph.CompareCRMPerm(b[i], a[j])
				switch {
				case c < 0:
					keys = append(keys, b[i].Key())
					i++
				case c > 0:
					keys = append(keys, a[j].Key())
					j++
				default:
					if b[i].Level != a[j].Level {
						keys = append(keys, a[j].Key())
					}
					i++
					j++
				}
			}
		}
		return keys
	}
	lv := map[graph.CellKey]string{}
	for _, c := range b {
		lv[c.Key()] = c.Level
	}
	for _, c := range a {
		if l, ok := lv[c.Key()]; !ok || l != c.Level {
			keys = append(keys, c.Key())
		}
		delete(lv, c.Key())
	}
	for key := range lv {
		keys = append(keys, key)
	}
	return keys
}

// strictlySorted: ps is in CompareCRMPerm order with no key twice.
func strictlySorted(ps []graph.CRMPerm) bool {
	for i := 1; i < len(ps); i++ {
		if graph.CompareCRMPerm(ps[i-1], ps[i]) >= 0 {
			return false
		}
	}
	return true
}

func uniqueCells(keys []graph.CellKey) []graph.CellKey {
	slices.SortFunc(keys, func(a, b graph.CellKey) int {
		return graph.CompareCRMPerm(graph.CRMPerm{Entity: a.Entity, Pipeline: a.Pipeline, Stage: a.Stage, Action: a.Action},
			graph.CRMPerm{Entity: b.Entity, Pipeline: b.Pipeline, Stage: b.Stage, Action: b.Action})
	})
	return slices.Compact(keys)
}

func pipelineNames(gs ...*graph.Graph) map[string]string {
	m := map[string]string{}
	for _, g := range gs {
		for _, p := range g.Pipelines {
			m[p.Entity+"/"+p.Key] = p.Name
			for _, s := range p.Stages {
				m[p.Entity+"/"+p.Key+"/"+s.Key] = s.Name
			}
		}
	}
	return m
}

// crmLabel renders "Deal · Wholesale · Won · read".
func crmLabel(k graph.CellKey, names map[string]string) string {
	label := k.Entity
	if e, ok := graph.LookupCRMEntity(k.Entity); ok {
		label = e.Label
	}
	parts := []string{label}
	if k.Pipeline != "" && !(k.Pipeline == graph.DefaultPipeline && k.Entity == "lead") {
		n := names[k.Entity+"/"+k.Pipeline]
		if n == "" {
			n = k.Pipeline
		}
		parts = append(parts, n)
	}
	if k.Stage != "" {
		n := names[k.Entity+"/"+k.Pipeline+"/"+k.Stage]
		if n == "" {
			n = k.Stage
		}
		parts = append(parts, n)
	}
	if k.Action != "" {
		parts = append(parts, k.Action)
	}
	return strings.Join(parts, " · ")
}

// usersOf expands a subject to the users it reaches.
func (r *Resolver) usersOf(s string) []*graph.User {
	if r.deptUsers == nil {
		r.deptUsers = map[int64][]*graph.User{}
		r.treeUsers = map[int64][]*graph.User{}
		for i := range r.ix.Dir.Users {
			u := &r.ix.Dir.Users[i]
			for _, d := range u.Departments {
				r.deptUsers[d] = append(r.deptUsers[d], u)
				for _, a := range r.ix.Ancestors(d) {
					r.treeUsers[a] = append(r.treeUsers[a], u)
				}
			}
		}
	}
	c := s
	if cs, err := r.ix.Canonical(s); err == nil {
		c = cs
	}
	sub, err := graph.ParseSubject(c)
	if err != nil {
		return nil
	}
	switch sub.Kind {
	case graph.SubjUser:
		if u, ok := r.ix.LookupUser(sub.Ref); ok {
			return []*graph.User{u}
		}
	case graph.SubjDepartment:
		if d, ok := r.ix.LookupDepartment(sub.Ref); ok {
			return r.deptUsers[d.ID]
		}
	case graph.SubjDepartmentAll:
		if d, ok := r.ix.LookupDepartment(sub.Ref); ok {
			return r.treeUsers[d.ID]
		}
	case graph.SubjWGOwner, graph.SubjWGModerators, graph.SubjWGMembers:
		w := r.wgs[sub.Ref]
		if w == nil {
			return nil
		}
		var out []*graph.User
		for _, m := range append(append([]string{w.Owner}, w.Moderators...), w.Members...) {
			if ms, err := graph.ParseSubject(m); err == nil {
				if u, ok := r.ix.LookupUser(ms.Ref); ok {
					out = append(out, u)
				}
			}
		}
		return out
	case graph.SubjCode:
		if strings.HasPrefix(sub.Ref, "IU") || strings.HasPrefix(sub.Ref, "AD") {
			var out []*graph.User
			for i := range r.ix.Dir.Users {
				if slices.Contains(r.ix.IntranetCodes(&r.ix.Dir.Users[i]), sub.Ref) {
					out = append(out, &r.ix.Dir.Users[i])
				}
			}
			return out
		}
	}
	// Groups and other raw codes: everyone may be reached.
	return r.Users()
}

// responsible finds the policy position behind a user's changed cell: the
// cell of the deciding role, or the assignment that brought the role.
// changed is the set of changed role keys (a list searched per step grew
// with roles × changed cells × users).
func (r *Resolver) responsible(u *graph.User, changed map[string]bool, k graph.CellKey, after, before Result) *graph.Pos {
	for _, st := range after.Derivation {
		if changed[strings.TrimPrefix(st.Role, "crm_role.")] {
			return r.pos(st.Source, st.Role)
		}
	}
	for _, st := range append(after.Losers, before.Derivation...) {
		if changed[strings.TrimPrefix(st.Role, "crm_role.")] {
			return r.pos(r.cellSource(strings.TrimPrefix(st.Role, "crm_role."), k), st.Role)
		}
	}
	return nil
}

func (r *Resolver) pos(p *graph.Pos, addr string) *graph.Pos {
	g := r.g
	if r.srcGraph != nil {
		g = r.srcGraph
	}
	if p != nil {
		return p
	}
	if q, ok := r.source(g, addr); ok {
		return &q
	}
	return nil
}

func allowedWord(b bool) string {
	if b {
		return "allowed"
	}
	return "denied"
}

// fieldAllowed returns whether a field is unrestricted (all) or else the
// users its matching rules allow.
func (r *Resolver) fieldAllowed(entity, pipeline, field, stage, mode string) (all bool, users map[int64]bool) {
	rules := r.matchingFieldRules(entity, pipeline, field, stage, mode)
	if len(rules) == 0 {
		return true, nil
	}
	users = map[int64]bool{}
	for _, f := range rules {
		subjects := f.View
		if mode == "edit" {
			subjects = f.Edit
		}
		for _, s := range subjects {
			for _, u := range r.usersOf(s) {
				users[u.ID] = true
			}
		}
	}
	return false, users
}

// widens reports whether after grants more than before: levels are sets
// (chain levels, non-chain sets, transition target lists), so after widens
// when it grants something before did not.
func widens(action, before, after string) bool {
	return !graph.LevelCovers(action == "transition", before, after)
}

// UsersReached counts the users the subjects reach in g over dir
// (groups and raw codes count as everyone).
func UsersReached(g *graph.Graph, dir *graph.Directory, subjects []string) int {
	r := New(g, dir)
	seen := map[int64]bool{}
	for _, s := range subjects {
		for _, u := range r.usersOf(s) {
			seen[u.ID] = true
		}
	}
	return len(seen)
}
