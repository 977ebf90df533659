package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Issue 13 cause 4: roles merge by the union of their SETTINGS sets
// (bitrix-permissions.md §3.2 step 3), not by keeping one role's level.
func TestSettingsSetsMergeByUnion(t *testing.T) {
	for _, tc := range []struct {
		name, l1, l2, want string
		deciding           int
	}{
		{"self+open with department", "own+open", "department", "own+department+open", 2},
		{"chain levels keep the maximum", "own", "subdepartments", "subdepartments", 1},
		{"set inside a chain level", "own+open", "open", "open", 1},
		{"single member", "+department", "own", "department", 2},
		{"all covers every set", "own+open", "all", "all", 1},
	} {
		g := (&graph.Graph{CRMRoles: []graph.CRMRole{
			{Key: "r1", Name: "R1", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{cell("default", "", "read", tc.l1)}},
			{Key: "r2", Name: "R2", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{cell("default", "", "read", tc.l2)}},
		}}).Normalize()
		r := New(g, exampleDir())
		u, _ := r.LookupUser("anna@example.com")
		q := CRMQuery{Entity: "deal", Stage: "won", Action: "read"}
		got := r.CRM(u, q)
		if got.Level != tc.want || len(got.Derivation) != tc.deciding {
			t.Errorf("%s: CRM = %s with %d deciding roles, want %s with %d (%+v)", tc.name, got.Level, len(got.Derivation), tc.want, tc.deciding, got)
		}
		if fast := r.crmLevel(u, q); fast != tc.want {
			t.Errorf("%s: crmLevel = %s, want %s", tc.name, fast, tc.want)
		}
	}
	if !widens("read", "department", "own+open") || widens("read", "own+department+open", "own+open") {
		t.Error("widens must compare sets")
	}
	if widens("read", "open", "own+open") || !widens("read", "own+open", "department") {
		t.Error("widens must compare sets")
	}
}
