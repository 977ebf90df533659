package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Issue 13 cause 4: TRANSITION targets are the union across roles
// (bitrix-permissions.md §3.2 TRANSITION), not one role's list.
func TestTransitionUnion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		t1, t2     []graph.CRMPerm
		stage      string
		want       string
		derivation int
	}{
		{"entity level", []graph.CRMPerm{cell("default", "", "transition", "won")}, []graph.CRMPerm{cell("default", "", "transition", "lose")},
			"new", "lose,won", 2},
		{"explicit from-stage rows", []graph.CRMPerm{cell("default", "new", "transition", "won")}, []graph.CRMPerm{cell("default", "new", "transition", "lose,won")},
			"new", "lose,won", 2},
		{"explicit beats inherited", []graph.CRMPerm{cell("default", "new", "transition", "won")}, []graph.CRMPerm{cell("default", "", "transition", "lose")},
			"new", "won", 1},
		{"any wins", []graph.CRMPerm{cell("default", "", "transition", "any")}, []graph.CRMPerm{cell("default", "", "transition", "lose")},
			"new", "any", 1},
		{"blocked adds nothing", []graph.CRMPerm{cell("default", "", "transition", "none")}, []graph.CRMPerm{cell("default", "", "transition", "lose")},
			"new", "lose", 1},
	} {
		g := (&graph.Graph{CRMRoles: []graph.CRMRole{
			{Key: "t1", Name: "T1", Assign: []string{"user:anna@example.com"}, Perms: tc.t1},
			{Key: "t2", Name: "T2", Assign: []string{"user:anna@example.com"}, Perms: tc.t2},
		}}).Normalize()
		r := New(g, exampleDir())
		u, _ := r.LookupUser("anna@example.com")
		q := CRMQuery{Entity: "deal", Stage: tc.stage, Action: "transition"}
		got := r.CRM(u, q)
		if got.Level != tc.want || len(got.Derivation) != tc.derivation {
			t.Errorf("%s: CRM = %s with %d deciding roles, want %s with %d (%+v)", tc.name, got.Level, len(got.Derivation), tc.want, tc.derivation, got)
		}
		if fast := r.crmLevel(u, q); fast != tc.want {
			t.Errorf("%s: crmLevel = %s, want %s", tc.name, fast, tc.want)
		}
	}
}

func TestTransitionWidens(t *testing.T) {
	for _, tc := range []struct {
		before, after string
		want          bool
	}{
		{"won", "lose,won", true}, {"lose,won", "won", false}, {"won", "lose", true}, {"none", "won", true},
		{"won", "none", false}, {"won", "any", true}, {"any", "won", false}, {"won", "won", false},
	} {
		if got := widens("transition", tc.before, tc.after); got != tc.want {
			t.Errorf("widens(%s → %s) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
	if !widens("read", "own", "all") || widens("read", "all", "own") {
		t.Error("chain levels must keep their order")
	}
}
