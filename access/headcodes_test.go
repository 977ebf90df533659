package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Issue 13 cause 1: users hold IU<own id>; a department head (UF_HEAD)
// holds AD<dept>, AD0 and IU<id> of every user of the departments he
// heads, with subdepartments (bitrix-permissions.md §1.2).
func TestIntranetAndHeadCodes(t *testing.T) {
	dir := exampleDir()
	dir.Departments[1].Head = 43 // Boris heads Sales (3); Anna is in Wholesale (7), under Sales
	dir.Users = append(dir.Users, graph.User{ID: 44, Email: "carl@example.com", Name: "Carl", Departments: []int64{1}})
	for _, tc := range []struct {
		code string
		want map[string]string // user → level of deal read
	}{
		{"AD3", map[string]string{"anna@example.com": "none", "boris@example.com": "all", "carl@example.com": "none"}},
		{"AD1", map[string]string{"anna@example.com": "none", "boris@example.com": "none", "carl@example.com": "none"}},
		{"AD0", map[string]string{"anna@example.com": "none", "boris@example.com": "all", "carl@example.com": "none"}},
		{"IU42", map[string]string{"anna@example.com": "all", "boris@example.com": "all", "carl@example.com": "none"}},
		{"IU43", map[string]string{"anna@example.com": "none", "boris@example.com": "all", "carl@example.com": "none"}},
		{"IU44", map[string]string{"anna@example.com": "none", "boris@example.com": "none", "carl@example.com": "all"}},
	} {
		g := (&graph.Graph{CRMRoles: []graph.CRMRole{{Key: "r", Name: "R", Assign: []string{"code:" + tc.code},
			Perms: []graph.CRMPerm{cell("default", "", "read", "all")}}}}).Normalize()
		r := New(g, dir)
		for email, want := range tc.want {
			u, _ := r.LookupUser(email)
			if got := r.CRM(u, CRMQuery{Entity: "deal", Action: "read"}); got.Level != want {
				t.Errorf("role on %s: %s reads %s, want %s (%+v)", tc.code, email, got.Level, want, got)
			}
		}
	}
}
