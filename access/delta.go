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
	// Unknown is set when some objects' current state is unknown (the
	// backend cannot read them and the state does not record them): the
	// delta takes them as unchanged and cannot show what they change.
	Unknown *Unknown `json:"unknown,omitempty"`
}

// Unknown says what an access delta does not know.
type Unknown struct {
	// Objects are the addresses whose current state is unknown.
	Objects []string `json:"objects"`
	// Why says why ("cannot be read over REST").
	Why string `json:"why"`
	// Users counts the users those objects reach (assignments, field-rule
	// subjects): their access may change in ways the delta does not show.
	Users int `json:"users_not_covered"`
}

// NoChange reports a refactor: no user's effective access changes, no
// access goes to holders of a code nobody can expand, and no object's
// current state is unknown.
func (d *Delta) NoChange() bool {
	return d == nil || (len(d.Groups) == 0 && len(d.Unexpanded) == 0 && d.Unknown == nil)
}

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
