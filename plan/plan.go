// Package plan diffs a desired graph against a live graph and produces a
// Plan: typed, keyed changes with attribute-level detail. Rendering lives
// beside it (text, markdown, json) and only consumes the Plan.
package plan

import (
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

// FormatVersion versions the saved plan file and the JSON rendering.
const FormatVersion = 1

// Action is what happens to one resource. Its value is the glyph users see.
type Action string

const (
	NoOp    Action = ""
	Create  Action = "+"
	Update  Action = "~"
	Delete  Action = "-"
	Replace Action = "-/+"
)

// Verb names an action in words ("create", "update" …).
func (a Action) Verb() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Replace:
		return "replace"
	case Verify:
		return "verify"
	}
	return "no-op"
}

// Change is one resource change. Before is nil for Create, After is nil for
// Delete. ID is the live ID of an existing resource.
type Change struct {
	Addr    graph.Addr      `json:"-"`
	Address string          `json:"address"`
	Action  Action          `json:"action"`
	Domain  string          `json:"domain"`
	Name    string          `json:"name"`
	ID      int64           `json:"id,omitempty"`
	Before  *graph.Resource `json:"before,omitempty"`
	After   *graph.Resource `json:"after,omitempty"`
	// Attrs are the attribute-level differences of an Update (cells,
	// assignments, scalar attributes), in a stable order.
	Attrs []AttrChange `json:"attributes,omitempty"`
	// Reason explains a non-obvious action ("not declared; crm is
	// authoritative", "protected", …).
	Reason string `json:"reason,omitempty"`
	// Source is where the resource is declared (desired side).
	Source *graph.Pos `json:"source,omitempty"`
	// Manual is set when the backend cannot make this change itself; the
	// steps say what an administrator must do.
	Manual      bool     `json:"manual,omitempty"`
	ManualSteps []string `json:"manual_steps,omitempty"`
	// Drift classifies a change of a drift plan: DriftOutside or
	// DriftPending (see ClassifyDrift).
	Drift string `json:"drift,omitempty"`
	// Baseline is set for an object of a kind the backend cannot read:
	// its "before" is the state's record, or unknown (action Verify).
	Baseline *Baseline `json:"baseline,omitempty"`
}

// Drift classes.
const (
	// DriftOutside: the portal changed outside b24perm after b24perm
	// applied the object as the policy declares it.
	DriftOutside = "outside"
	// DriftPending: the policy declares something b24perm has not applied
	// yet (never applied, or the policy changed since).
	DriftPending = "pending"
	// DriftUnknown: the backend cannot read the object (action Verify);
	// whether it drifted is not known.
	DriftUnknown = "unknown"
)

// ClassifyDrift marks every change of a drift plan as changed outside
// b24perm or not yet applied. applied returns the fingerprint the state
// recorded for an address (ok false: b24perm never applied it);
// policyApplied reports that the last complete apply was of this very
// policy; neverApplied that nothing was ever applied (every difference is
// then pending).
func ClassifyDrift(p *Plan, applied func(addr string) (fingerprint string, ok bool), policyApplied, neverApplied bool) {
	for i := range p.Changes {
		c := &p.Changes[i]
		fp, ok := applied(c.Address)
		switch {
		case c.Action == Verify:
			c.Drift = DriftUnknown
		case neverApplied:
			c.Drift = DriftPending
		case c.Action == Create:
			// Declared, missing on the portal: deleted there if b24perm
			// had applied it.
			c.Drift = pick(ok, DriftOutside, DriftPending)
		case c.Action == Delete:
			// On the portal, not declared: b24perm made it and the policy
			// dropped it since (pending), or it was made there (outside).
			c.Drift = pick(ok, DriftPending, DriftOutside)
		case policyApplied:
			c.Drift = DriftOutside
		case !ok:
			c.Drift = DriftPending
		case c.After != nil && fp != "" && fp != c.After.Fingerprint():
			c.Drift = DriftPending
		default:
			c.Drift = DriftOutside
		}
	}
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// DriftCounts counts the changes of a drift plan by class.
func (p *Plan) DriftCounts() (outside, pending, unknown int) {
	for _, c := range p.Changes {
		switch c.Drift {
		case DriftPending:
			pending++
		case DriftUnknown:
			unknown++
		default:
			outside++
		}
	}
	return
}

// AppliedGraph is the portal as b24perm left it: the live graph with the
// changes made outside b24perm undone (pending changes are left out, they
// never happened). The access delta from it to Before is what the changes
// outside b24perm did.
func (p *Plan) AppliedGraph() *graph.Graph {
	var outside []Change
	for _, c := range p.Changes {
		if c.Drift != DriftPending && c.Drift != DriftUnknown {
			outside = append(outside, c)
		}
	}
	g := result(p.Before, outside)
	if p.After != nil {
		g.Settings = p.After.Settings
	}
	return g
}

// AttrKind classifies an attribute change.
type AttrKind string

const (
	AttrCell    AttrKind = "cell"    // a CRM/telephony/open-channel permission cell
	AttrAssign  AttrKind = "assign"  // an access-code assignment (set member)
	AttrScalar  AttrKind = "attr"    // name, visibility, owner …
	AttrMember  AttrKind = "member"  // workgroup moderator/member set member
	AttrFeature AttrKind = "feature" // workgroup feature operation role
	AttrStage   AttrKind = "stage"   // pipeline stage
	AttrOrder   AttrKind = "order"   // the order of an open-channel queue
	// AttrRow is a stored row the update deletes that the model cannot
	// read (an unknown ATTR, a duplicate …): always a Delete.
	AttrRow AttrKind = "row"
)

// AttrChange is one attribute-level difference. For set members Before or
// After is empty (added/removed). For cells Before/After are levels, and
// Inherited* say whether the value was inherited (no stage row).
type AttrChange struct {
	Kind            AttrKind       `json:"kind"`
	Action          Action         `json:"action"`
	Path            string         `json:"path"`
	Cell            *graph.CellKey `json:"cell,omitempty"`
	Before          string         `json:"before,omitempty"`
	After           string         `json:"after,omitempty"`
	BeforeInherited bool           `json:"before_inherited,omitempty"`
	AfterInherited  bool           `json:"after_inherited,omitempty"`
	Source          *graph.Pos     `json:"source,omitempty"`
}

// DemoBackendSuffix ends the backend description of the demo portal
// (provider/local), so that every rendering of a plan made against it can
// say so on its first line.
const DemoBackendSuffix = " (the demo portal)"

// AgainstDemo reports whether the plan was made against the demo portal.
func (p *Plan) AgainstDemo() bool { return strings.HasSuffix(p.Backend, DemoBackendSuffix) }

// Plan is the result of a diff: what apply would do, and what it would
// not (unmanaged objects, observe-mode differences).
type Plan struct {
	FormatVersion int    `json:"format_version"`
	ToolVersion   string `json:"tool_version"`
	Backend       string `json:"backend"`
	PolicyDir     string `json:"policy_dir,omitempty"`
	PolicyDigest  string `json:"policy_digest"`
	StateLineage  string `json:"state_lineage,omitempty"`
	StateSerial   int64  `json:"state_serial"`
	// Fingerprints of every live resource read (address → hash), plus
	// "directory"; apply of a saved plan refuses when any changed.
	Fingerprints map[string]string `json:"fingerprints"`
	// LiveIDs maps live addresses (after re-keying) to IDs.
	LiveIDs map[string]int64 `json:"live_ids,omitempty"`
	Changes []Change         `json:"changes"`
	// Observed are differences in observe-mode domains: reported, never
	// applied.
	Observed  []Change    `json:"observed,omitempty"`
	Unmanaged []Unmanaged `json:"unmanaged,omitempty"`
	Anomalies []string    `json:"anomalies,omitempty"`
	Warnings  []string    `json:"warnings,omitempty"`
	// Names holds display names renderers need: pipeline and stage names
	// by "entity/pipeline" and "entity/pipeline/stage".
	Names map[string]string `json:"names,omitempty"`
	// Drift marks a plan computed for `b24perm drift`.
	Drift bool `json:"drift,omitempty"`
	// Access is the effective-access delta, filled by the caller.
	Access *access.Delta `json:"access,omitempty"`
	// Unreadable is set when the backend cannot read some kinds.
	Unreadable *Unreadable `json:"unreadable,omitempty"`
	// Targeted is set when -target/-exclude limited the plan; Targets and
	// Excludes are the patterns, so that apply of a saved plan can make
	// the same plan again.
	Targeted bool     `json:"targeted,omitempty"`
	Targets  []string `json:"targets,omitempty"`
	Excludes []string `json:"excludes,omitempty"`

	// Before is the live graph as the plan saw it (re-keyed, canonical
	// subjects) and After the graph apply would leave; the access delta
	// compares them. Not saved.
	Before, After *graph.Graph `json:"-"`
}

// Unmanaged is a live object the plan leaves alone.
type Unmanaged struct {
	Address string `json:"address"`
	Name    string `json:"name"`
	ID      int64  `json:"id,omitempty"`
	Reason  string `json:"reason"`
}

// Destroys counts what an update deletes of live objects: stages removed
// from a pipeline and stored rows the model cannot read. They count as
// destroys besides the change itself.
func (c Change) Destroys() (stages, rows int) {
	if c.Action != Update {
		return 0, 0
	}
	for _, a := range c.Attrs {
		if a.Action != Delete {
			continue
		}
		switch a.Kind {
		case AttrStage:
			stages++
		case AttrRow:
			rows++
		}
	}
	return stages, rows
}

// Summary counts creations, updates and deletions (a replace counts as
// both an addition and a destruction, as in Terraform). Stages and rows an
// update deletes count as destroys too (Change.Destroys).
func (p *Plan) Summary() (add, change, destroy int) {
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			add++
		case Update:
			change++
			st, rows := c.Destroys()
			destroy += st + rows
		case Delete:
			destroy++
		case Replace:
			add++
			destroy++
		}
	}
	return
}

// HasChanges reports whether apply would do anything.
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 }

// ManualCount counts changes an administrator must make by hand (Verify
// included).
func (p *Plan) ManualCount() int {
	n := 0
	for _, c := range p.Changes {
		if c.Manual {
			n++
		}
	}
	return n
}
