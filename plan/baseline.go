package plan

import (
	"fmt"
	"slices"
	"time"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/state"
)

// Verify is the action of an object whose kind the backend cannot read
// and which the state does not record: b24perm does not know what the
// portal holds, so it neither creates nor changes it; an administrator
// makes sure it matches the policy and confirms (apply --confirm-manual).
const Verify Action = "?"

// Where a change's "before" comes from.
const (
	// BaselineState: the backend cannot read the kind; the state records
	// what was applied or confirmed, and that is the baseline.
	BaselineState = "state"
	// BaselineUnknown: the backend cannot read the kind and the state has
	// no usable record: what the portal holds is unknown.
	BaselineUnknown = "unknown"
)

// Baseline says where the "before" of an object of a kind the backend
// cannot read comes from. Objects read from the portal have none.
type Baseline struct {
	Source string `json:"source"`
	// At is when the object was applied or (Confirmed) when an
	// administrator confirmed making it by hand.
	At        time.Time `json:"at,omitzero"`
	Confirmed bool      `json:"confirmed_manual,omitempty"`
	// Note explains an unknown baseline that has a record ("recorded on
	// … without its content").
	Note string `json:"note,omitempty"`
}

// Describe renders the baseline for people: "known from state, confirmed
// 2026-12-02 10:04 UTC", "unknown: never applied through b24perm".
func (b *Baseline) Describe() string {
	if b == nil {
		return ""
	}
	when := ""
	if !b.At.IsZero() {
		when = " " + b.At.UTC().Format("2006-01-02 15:04 UTC")
	}
	how := "applied"
	if b.Confirmed {
		how = "confirmed by hand"
	}
	switch b.Source {
	case BaselineState:
		if when == "" {
			return "known from state (" + how + ")"
		}
		return "known from state, " + how + when
	case BaselineUnknown:
		if b.Note != "" {
			return "unknown: " + b.Note
		}
		return "unknown: never applied through b24perm"
	}
	return ""
}

// Unreadable summarizes the kinds a plan could not read from the portal.
type Unreadable struct {
	// Kinds the backend cannot read.
	Kinds []graph.Kind `json:"kinds"`
	// Why says why ("cannot be read over REST").
	Why string `json:"why"`
	// FromState counts objects of those kinds whose baseline is the
	// state; Unknown those whose baseline is unknown.
	FromState int `json:"from_state"`
	Unknown   int `json:"unknown"`
}

// UnknownCount counts the objects the plan cannot see and leaves to an
// administrator (action Verify).
func (p *Plan) UnknownCount() int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == Verify {
			n++
		}
	}
	return n
}

// baselines replaces, in live, every object of a kind the backend cannot
// read by the state's record of it: the content applied or confirmed,
// or, for an older record with only a fingerprint, the declared object
// when the fingerprint matches it. desired must be canonical. It returns
// the new live graph and the baseline of every object of those kinds
// (declared or recorded).
func baselines(desired, live *graph.Graph, opts Options) (*graph.Graph, map[graph.Addr]*Baseline, *Unreadable) {
	if opts.Readable == nil {
		return live, nil, nil
	}
	un := &Unreadable{Why: opts.UnreadableWhy}
	if un.Why == "" {
		un.Why = "cannot be read by this backend"
	}
	for _, k := range graph.Kinds {
		if !opts.Readable(k) {
			un.Kinds = append(un.Kinds, k)
		}
	}
	if len(un.Kinds) == 0 {
		return live, nil, nil
	}
	out := *live
	for _, k := range un.Kinds {
		setKind(&out, k)
	}
	dres := desired.Resources()
	base := map[graph.Addr]*Baseline{}
	for _, as := range slices.Sorted(mapsKeys(opts.Recorded)) {
		a, err := graph.ParseAddr(as)
		if err != nil || opts.Readable(a.Kind) {
			continue
		}
		rec := opts.Recorded[as]
		b := &Baseline{Source: BaselineState, At: rec.At, Confirmed: rec.Confirmed}
		d, declared := dres[a]
		switch {
		case rec.Content != nil && kindOf(*rec.Content) == a.Kind:
			appendResource(&out, a, *rec.Content)
		case declared && rec.Fingerprint != "" && rec.Fingerprint == d.Fingerprint():
			appendResource(&out, a, d)
		default:
			b = &Baseline{Source: BaselineUnknown, At: rec.At, Confirmed: rec.Confirmed, Note: "the state records it without its content"}
			if !rec.At.IsZero() {
				b.Note = fmt.Sprintf("the state records it (%s) without its content", rec.At.UTC().Format("2006-01-02"))
			}
		}
		base[a] = b
	}
	for a := range dres {
		if !opts.Readable(a.Kind) && base[a] == nil {
			base[a] = &Baseline{Source: BaselineUnknown}
		}
	}
	for _, b := range base {
		if b.Source == BaselineState {
			un.FromState++
		} else {
			un.Unknown++
		}
	}
	return out.Normalize(), base, un
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func kindOf(r graph.Resource) graph.Kind {
	switch {
	case r.SmartProcess != nil:
		return graph.KindSmartProcess
	case r.Pipeline != nil:
		return graph.KindPipeline
	case r.CRMRole != nil:
		return graph.KindCRMRole
	case r.Telephony != nil:
		return graph.KindTelephony
	case r.Openline != nil:
		return graph.KindOpenline
	case r.Workgroup != nil:
		return graph.KindWorkgroup
	case r.OpenChannel != nil:
		return graph.KindOpenChannel
	case r.FieldRule != nil:
		return graph.KindFieldRule
	}
	return ""
}

// setKind empties the objects of kind k in g (fresh slices: g may share
// its slices with another graph).
func setKind(g *graph.Graph, k graph.Kind) {
	switch k {
	case graph.KindSmartProcess:
		g.SmartProcesses = nil
	case graph.KindPipeline:
		g.Pipelines = nil
	case graph.KindCRMRole:
		g.CRMRoles = nil
	case graph.KindTelephony:
		g.TelephonyRoles = nil
	case graph.KindOpenline:
		g.OpenlineRoles = nil
	case graph.KindWorkgroup:
		g.Workgroups = nil
	case graph.KindOpenChannel:
		g.OpenChannels = nil
	case graph.KindFieldRule:
		g.FieldRules = nil
	}
}

// appendResource adds a copy of r to g under address a.
func appendResource(g *graph.Graph, a graph.Addr, r graph.Resource) {
	switch {
	case r.SmartProcess != nil:
		g.SmartProcesses = append(g.SmartProcesses, *r.SmartProcess)
	case r.Pipeline != nil:
		g.Pipelines = append(g.Pipelines, *r.Pipeline)
	case r.CRMRole != nil:
		x := *r.CRMRole
		x.Key = a.Key
		g.CRMRoles = append(g.CRMRoles, x)
	case r.Telephony != nil:
		x := *r.Telephony
		x.Key = a.Key
		g.TelephonyRoles = append(g.TelephonyRoles, x)
	case r.Openline != nil:
		x := *r.Openline
		x.Key = a.Key
		g.OpenlineRoles = append(g.OpenlineRoles, x)
	case r.Workgroup != nil:
		x := *r.Workgroup
		x.Key = a.Key
		g.Workgroups = append(g.Workgroups, x)
	case r.OpenChannel != nil:
		x := *r.OpenChannel
		x.Key = a.Key
		g.OpenChannels = append(g.OpenChannels, x)
	case r.FieldRule != nil:
		x := *r.FieldRule
		x.Key = a.Key
		g.FieldRules = append(g.FieldRules, x)
	}
}

// Recorded returns what the state should keep about a change that was
// applied or confirmed at t. For kinds the backend cannot read back
// (readable nil: every kind is readable) it keeps the content and when:
// they are the object's baseline from then on.
func Recorded(c Change, id int64, t time.Time, confirmed bool, readable func(graph.Kind) bool) state.Resource {
	unreadable := readable != nil && !readable(c.Addr.Kind)
	res := state.Resource{ID: id, Name: c.Name, Kind: string(c.Addr.Kind), Confirmed: confirmed}
	if unreadable || confirmed {
		res.At = t.UTC().Truncate(time.Second)
	}
	if id == 0 {
		res.ID = c.ID
	}
	if c.After != nil {
		res.Fingerprint = c.After.Fingerprint()
		if res.Name == "" {
			res.Name = c.After.Name()
		}
		if unreadable {
			r := *c.After
			res.Content = &r
		}
	}
	return res
}

// verifySteps is the one step of a Verify change.
func verifySteps(ch Change) []string {
	where := ""
	if ch.Source != nil && ch.Source.IsValid() {
		where = fmt.Sprintf(" (%s:%d)", ch.Source.File, ch.Source.Line)
	}
	return []string{fmt.Sprintf("%s → make sure %s %q exists exactly as the policy declares it%s, then run `b24perm apply --confirm-manual` to record it",
		manualMenu(ch.Addr.Kind), kindNoun(ch.Addr.Kind), ch.Name, where)}
}
