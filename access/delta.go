package access

import "github.com/b24perm/b24perm/graph"

// Delta is the effective-access difference between two graphs over one
// directory: who gains and who loses which access. Plans render it.
type Delta struct {
	// Gainers and Losers count distinct users with at least one widened
	// (narrowed) cell.
	Gainers int `json:"users_gaining"`
	Losers  int `json:"users_losing"`
	// Groups bundle users whose change lists are identical, ordered by
	// the first user's ID.
	Groups []DeltaGroup `json:"groups"`
	// Widening reports whether any sensitive or admin-level cell widens
	// (`--fail-on-widening` exits 3).
	// Widening is also set by access through a code the delta cannot
	// expand to users.
	Widening bool `json:"sensitive_widening"`
	// Unexpanded lists access given through codes the delta cannot expand
	// (AU, UA…): counted as widening, never as no change.
	Unexpanded []Unexpanded `json:"unexpanded,omitempty"`
}

// NoChange reports a refactor: no user's effective access changes, and no
// access goes to holders of a code nobody can expand.
func (d *Delta) NoChange() bool { return d == nil || (len(d.Groups) == 0 && len(d.Unexpanded) == 0) }

// DeltaGroup is a set of users with the same changes.
type DeltaGroup struct {
	Users   []UserRef    `json:"users"`
	Changes []CellChange `json:"changes"`
}

// UserRef identifies a user in outputs.
type UserRef struct {
	ID    int64  `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

// CellChange is one effective-access difference of a user.
type CellChange struct {
	Domain    string `json:"domain"`
	Label     string `json:"label"` // "Deal · Wholesale · Won · write"
	Entity    string `json:"entity,omitempty"`
	Pipeline  string `json:"pipeline,omitempty"`
	Stage     string `json:"stage,omitempty"`
	Action    string `json:"action,omitempty"`
	Field     string `json:"field,omitempty"`
	Workgroup string `json:"workgroup,omitempty"`
	Feature   string `json:"feature,omitempty"`
	Before    string `json:"before"`
	After     string `json:"after"`
	// Widens is true when After is more permissive than Before.
	Widens    bool       `json:"widens"`
	Sensitive bool       `json:"sensitive,omitempty"`
	Admin     bool       `json:"admin,omitempty"`
	Source    *graph.Pos `json:"source,omitempty"`
}
