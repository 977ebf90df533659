package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Issue 13 cause 3: a stage row equal to its role's pipeline-level value
// is still an explicit row, and an explicit stage row in any role beats
// every inherited value (bitrix-permissions.md §3.2 step 4, §3.3), so
// normalization must keep it.
func TestExplicitStageRowEqualToPipelineBeatsInherited(t *testing.T) {
	for _, tc := range []struct {
		name        string
		a           []graph.CRMPerm
		stage, want string
	}{
		{"stage row equal to pipeline level", []graph.CRMPerm{cell("default", "", "read", "own"), cell("default", "won", "read", "own")}, "won", "own"},
		{"explicit none under pipeline none", []graph.CRMPerm{cell("default", "won", "read", "none")}, "won", "none"},
		{"other stages inherit", []graph.CRMPerm{cell("default", "", "read", "own"), cell("default", "won", "read", "own")}, "lose", "all"},
	} {
		g := (&graph.Graph{CRMRoles: []graph.CRMRole{
			{Key: "a", Name: "A", Assign: []string{"user:anna@example.com"}, Perms: tc.a},
			{Key: "b", Name: "B", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{cell("default", "", "read", "all")}},
		}}).Normalize()
		r := New(g, exampleDir())
		u, _ := r.LookupUser("anna@example.com")
		q := CRMQuery{Entity: "deal", Stage: tc.stage, Action: "read"}
		if got := r.CRM(u, q); got.Level != tc.want {
			t.Errorf("%s: CRM = %s, want %s (%+v)", tc.name, got.Level, tc.want, got)
		}
		if got := r.crmLevel(u, q); got != tc.want {
			t.Errorf("%s: crmLevel = %s, want %s", tc.name, got, tc.want)
		}
	}
}
