package access

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/b24perm/b24perm/graph"
)

// Question is one access question as a user types it (who-can, explain).
type Question struct {
	Entity, Action  string
	Pipeline, Stage string
	Field           string
	// Item is the entity whose activities an "activity" question is about.
	Item string
	// To is the target stage of a "move" question (the item stands in Stage).
	To string
}

// UnknownName is a name in a question that neither the policy nor the
// portal knows, with the closest known names.
type UnknownName struct {
	What    string   // "entity", "action", "pipeline", "stage", "field", "user", "workgroup", "channel"
	Name    string   // what was typed
	Where   string   // context: `of "deal"`, `in pipeline "wholesale"`
	Suggest []string // closest known names, best first
	Known   []string // every known name (shown when short)
	None    bool     // nothing of this kind exists
}

func (e *UnknownName) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown %s %q", e.What, e.Name)
	if e.Where != "" {
		b.WriteString(" " + e.Where)
	}
	if len(e.Suggest) > 0 {
		q := make([]string, len(e.Suggest))
		for i, s := range e.Suggest {
			q[i] = strconv.Quote(s)
		}
		fmt.Fprintf(&b, "; did you mean %s?", strings.Join(q, " or "))
	} else if len(e.Known) > 0 && len(e.Known) <= 12 {
		fmt.Fprintf(&b, "; known: %s", strings.Join(e.Known, ", "))
	} else if e.None {
		fmt.Fprintf(&b, "; there are none")
	}
	return b.String()
}

// Names are the names a question may use, collected from one or more
// graphs (the policy and the live portal) and the portal directory.
type Names struct {
	smart     map[string]bool
	pipelines map[string]map[string]map[string]bool // entity → pipeline → stage set
	fields    map[string]map[string]bool            // entity → field
	wgs       map[string]bool
	channels  map[string]bool
	// dir resolves users; its index is built on the first User call (a
	// question about an entity never needs it).
	dir *graph.Directory
	ix  *graph.Index
}

// NewNames collects the names of gs; dir resolves users (nil: the first
// graph's directory that is set).
func NewNames(dir *graph.Directory, gs ...*graph.Graph) *Names {
	n := &Names{smart: map[string]bool{}, pipelines: map[string]map[string]map[string]bool{}, fields: map[string]map[string]bool{},
		wgs: map[string]bool{}, channels: map[string]bool{}}
	for _, g := range gs {
		if g == nil {
			continue
		}
		if dir == nil {
			dir = g.Directory
		}
		for _, s := range g.SmartProcesses {
			n.smart[s.Key] = true
		}
		for _, p := range g.Pipelines {
			n.addPipeline(p.Entity, p.Key)
			for _, s := range p.Stages {
				n.pipelines[p.Entity][p.Key][s.Key] = true
			}
		}
		for _, f := range g.FieldRules {
			n.addField(f.Entity, f.Field)
		}
		if g.Settings != nil {
			for _, s := range g.Settings.SensitiveFields {
				if e, f, ok := strings.Cut(s, "."); ok {
					n.addField(e, f)
				}
			}
		}
		for _, w := range g.Workgroups {
			n.wgs[w.Key] = true
		}
		for _, c := range g.OpenChannels {
			n.channels[c.Key] = true
		}
		// Cells name pipelines and stages too (a policy may use a pipeline
		// the portal has without declaring it).
		// Cells come sorted: a run of cells of one stage adds its names
		// once (70,000 cells at XL, a few hundred names).
		g.EachCellScope(func(entity, pipeline, stage string) {
			if pipeline != "" {
				n.addPipeline(entity, pipeline)
				if stage != "" {
					n.pipelines[entity][pipeline][stage] = true
				}
			}
		})
	}
	if dir == nil {
		dir = &graph.Directory{}
	}
	n.dir = dir
	return n
}

func (n *Names) addPipeline(entity, key string) {
	if n.pipelines[entity] == nil {
		n.pipelines[entity] = map[string]map[string]bool{}
	}
	if n.pipelines[entity][key] == nil {
		n.pipelines[entity][key] = map[string]bool{}
	}
}

func (n *Names) addField(entity, field string) {
	if n.fields[entity] == nil {
		n.fields[entity] = map[string]bool{}
	}
	n.fields[entity][field] = true
}

// Normalize fills what a question leaves to its default: the default
// pipeline of an entity with pipelines or stages, the deal as the item of
// activities. "who-can deal read" and "who-can deal read --pipeline
// default" are the same question.
func (q Question) Normalize() Question {
	if q.Item == "" {
		q.Item = "deal"
	}
	ent := q.Entity
	if ent == "activity" || ent == "activities" {
		ent = q.Item
	}
	if e, ok := graph.LookupCRMEntity(ent); ok && q.Pipeline == "" && (e.Pipelines || e.Stages) {
		q.Pipeline = graph.DefaultPipeline
	}
	return q
}

// Check validates every name of q (normalized) and returns the first
// unknown one, or nil.
func (n *Names) Check(q Question) error {
	q = q.Normalize()
	ent := q.Entity
	switch {
	case strings.HasPrefix(ent, "telephony:"), strings.HasPrefix(ent, "openlines:"):
		kind, sub, _ := strings.Cut(ent, ":")
		table := graph.TelephonyActions
		if kind == "openlines" {
			table = graph.OpenlineActions
		}
		var ents []string
		for _, a := range table {
			if !slices.Contains(ents, a.Entity) {
				ents = append(ents, a.Entity)
			}
		}
		if !slices.Contains(ents, sub) {
			e := unknown("entity", ent, "", prefixed(kind+":", ents)).(*UnknownName)
			e.Suggest = prefixed(kind+":", closest(sub, ents))
			return e
		}
		var acts []string
		for _, a := range table {
			if a.Entity == sub {
				acts = append(acts, a.Action)
			}
		}
		if !slices.Contains(acts, q.Action) {
			return unknown("action", q.Action, fmt.Sprintf("of %q", ent), acts)
		}
		return n.noScope(q, ent)
	case strings.HasPrefix(ent, "workgroup:"):
		key := strings.TrimPrefix(ent, "workgroup:")
		if !n.wgs[key] {
			return unknown("workgroup", key, "", sortedKeys(n.wgs))
		}
		if q.Action == "join" {
			return n.noScope(q, ent)
		}
		feature, op, _ := strings.Cut(q.Action, ".")
		ops, ok := graph.GroupFeatures[feature]
		if !ok {
			var all []string
			for f, os := range graph.GroupFeatures {
				for o := range os {
					all = append(all, f+"."+o)
				}
			}
			sort.Strings(all)
			return unknown("action", q.Action, "of a workgroup (FEATURE.OPERATION)", all)
		}
		if _, ok := ops[op]; !ok {
			return unknown("action", q.Action, "of a workgroup", prefixed(feature+".", sortedKeys(ops)))
		}
		return n.noScope(q, ent)
	case strings.HasPrefix(ent, "channel:"):
		key := strings.TrimPrefix(ent, "channel:")
		if !n.channels[key] {
			return unknown("channel", key, "", sortedKeys(n.channels))
		}
		if q.Action != "receive_chats" {
			return unknown("action", q.Action, "of an open channel", []string{"receive_chats"})
		}
		return n.noScope(q, ent)
	case ent == "activity" || ent == "activities":
		if !slices.Contains([]string{"view", "read", "create", "edit", "delete", "write"}, q.Action) {
			return unknown("action", q.Action, "of activities", []string{"view", "create", "edit", "delete"})
		}
		if err := n.checkEntity(q.Item); err != nil {
			return err
		}
		return n.checkScope(q, q.Item)
	}
	if err := n.checkEntity(ent); err != nil {
		return err
	}
	e, _ := graph.LookupCRMEntity(ent)
	if q.Field != "" {
		// Fields are asked about with view/edit (read/write are accepted).
		if !slices.Contains([]string{"view", "edit", "read", "write"}, q.Action) {
			return unknown("action", q.Action, "of a field", []string{"view", "edit"})
		}
	} else if q.Action == "move" {
		// Moving an item from stage Stage to stage To: both must exist.
		if q.Stage == "" || q.To == "" {
			return fmt.Errorf("a move question needs the stage the item stands in and the target stage (--stage A --to B)")
		}
		to := q
		to.Stage = q.To
		if err := n.checkScope(to, ent); err != nil {
			return err
		}
	} else if _, ok := e.Action(q.Action); !ok {
		return unknown("action", q.Action, fmt.Sprintf("of %q", ent), append(e.ActionNames(), "move"))
	}
	return n.checkScope(q, ent)
}

func (n *Names) checkEntity(ent string) error {
	if key, ok := strings.CutPrefix(ent, graph.SmartProcessPrefix); ok {
		if !n.smart[key] {
			return unknown("smart process", key, "", sortedKeys(n.smart))
		}
		return nil
	}
	if _, ok := graph.LookupCRMEntity(ent); ok {
		return nil
	}
	known := graph.CRMEntityNames()
	known = append(known, "activity")
	for k := range n.smart {
		known = append(known, graph.SmartProcessPrefix+k)
	}
	for _, p := range []string{"telephony:", "openlines:", "workgroup:", "channel:"} {
		known = append(known, p+"…")
	}
	sort.Strings(known)
	return unknown("entity", ent, "", known)
}

// checkScope validates pipeline, stage and field of a CRM question.
func (n *Names) checkScope(q Question, ent string) error {
	e, _ := graph.LookupCRMEntity(ent)
	if q.Pipeline != "" {
		if !e.Pipelines && !e.Stages {
			return fmt.Errorf("%q has no pipelines: drop --pipeline", ent)
		}
		pls := n.pipelines[ent]
		if _, ok := pls[q.Pipeline]; !ok && q.Pipeline != graph.DefaultPipeline {
			return unknown("pipeline", q.Pipeline, fmt.Sprintf("of %q", ent), sortedKeys(withDefault(pls)))
		}
	}
	if q.Stage != "" {
		if !e.Stages {
			return fmt.Errorf("%q has no stages: drop --stage", ent)
		}
		stages := n.pipelines[ent][q.Pipeline]
		// A pipeline whose stages neither the policy nor the portal lists
		// cannot be checked.
		if len(stages) > 0 && !stages[q.Stage] {
			return unknown("stage", q.Stage, fmt.Sprintf("in pipeline %q of %q", q.Pipeline, ent), sortedKeys(stages))
		}
	}
	if q.Field != "" {
		known := n.fields[ent]
		if !known[q.Field] {
			// The graphs list only the fields that rules govern; any other
			// field of the portal is unrestricted. A name close to a known
			// one is a typo.
			if s := closest(q.Field, sortedKeys(known)); len(s) > 0 {
				return &UnknownName{What: "field", Name: q.Field, Where: fmt.Sprintf("of %q", ent), Suggest: s}
			}
		}
	}
	return nil
}

// noScope rejects CRM scope flags on a question that has none.
func (n *Names) noScope(q Question, ent string) error {
	for _, s := range []struct{ flag, v string }{{"--pipeline", q.Pipeline}, {"--stage", q.Stage}, {"--field", q.Field}} {
		if s.v != "" {
			return fmt.Errorf("%s applies to CRM entities only, not to %q", s.flag, ent)
		}
	}
	return nil
}

// User finds a user by e-mail or ID, or says which users come closest.
func (n *Names) User(ref string) (*graph.User, error) {
	if n.ix == nil {
		n.ix = graph.NewIndex(n.dir, nil)
	}
	u, err := n.ix.ResolveUser(ref)
	if err == nil {
		return u, nil
	}
	if errors.Is(err, graph.ErrAmbiguousUser) {
		return nil, err
	}
	var known []string
	byName := map[string]string{}
	for _, u := range n.ix.Dir.Users {
		if u.Email != "" {
			known = append(known, u.Email)
			if u.Name != "" {
				byName[strings.ToLower(u.Name)] = u.Email
			}
		}
	}
	sort.Strings(known)
	// A name typed instead of the e-mail ("Anna Petrova").
	if e, ok := byName[strings.ToLower(strings.TrimSpace(ref))]; ok {
		return nil, &UnknownName{What: "user", Name: ref, Where: "(users are named by e-mail or ID)", Suggest: []string{e}}
	}
	// Never list the whole directory.
	return nil, &UnknownName{What: "user", Name: ref, Where: "on the portal", Suggest: closest(ref, known), None: len(known) == 0}
}

func unknown(what, name, where string, known []string) error {
	return &UnknownName{What: what, Name: name, Where: where, Suggest: closest(name, known), Known: known, None: len(known) == 0}
}

// closest returns the known names nearest to name (up to 3): a
// Levenshtein distance of at most a third of the name's length (at least
// 2), or a case-insensitive prefix match.
func closest(name string, known []string) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	max := len(name) / 3
	if max < 2 {
		max = 2
	}
	lname := strings.ToLower(name)
	for _, k := range known {
		lk := strings.ToLower(k)
		d := levenshtein.Distance(lname, lk, nil)
		if d <= max || (len(lname) >= 3 && strings.HasPrefix(lk, lname)) {
			cs = append(cs, cand{k, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < 3 && cs[i].d <= cs[0].d+1; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func prefixed(p string, in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = p + s
	}
	return out
}

func withDefault(m map[string]map[string]bool) map[string]bool {
	out := map[string]bool{graph.DefaultPipeline: true}
	for k := range m {
		out[k] = true
	}
	return out
}

// NameSource returns a small graph that gives NewNames exactly the names g
// gives it: its pipelines, stages, smart processes, fields, workgroup and
// channel keys, and one role holding each pipeline and stage its cells
// name. A cached question keeps it instead of the whole live graph.
func NameSource(g *graph.Graph) *graph.Graph {
	if g == nil {
		return nil
	}
	out := &graph.Graph{SmartProcesses: g.SmartProcesses, Pipelines: g.Pipelines, FieldRules: g.FieldRules}
	if g.Settings != nil {
		out.Settings = &graph.Settings{SensitiveFields: g.Settings.SensitiveFields}
	}
	for _, w := range g.Workgroups {
		out.Workgroups = append(out.Workgroups, graph.Workgroup{Key: w.Key})
	}
	for _, c := range g.OpenChannels {
		out.OpenChannels = append(out.OpenChannels, graph.OpenChannel{Key: c.Key})
	}
	seen := map[graph.CellKey]bool{}
	var role graph.CRMRole
	for i := range g.CRMRoles {
		for _, c := range g.CRMRoles[i].Cells() {
			if c.Pipeline == "" {
				continue
			}
			k := graph.CellKey{Entity: c.Entity, Pipeline: c.Pipeline, Stage: c.Stage}
			if !seen[k] {
				seen[k] = true
				role.Perms = append(role.Perms, graph.CRMPerm{Entity: c.Entity, Pipeline: c.Pipeline, Stage: c.Stage})
			}
		}
	}
	if len(role.Perms) > 0 {
		out.CRMRoles = []graph.CRMRole{role}
	}
	return out
}
