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

// The intranet provider writes IU codes only for users in a department
// (intranet/classes/general/authproviders.php UpdateCodes returns when the
// user belongs to no structure node): an extranet user holds neither his
// own IU code nor, heading a department without belonging to one, the IU
// codes of its users; AD codes come from the access provider all the same.
func TestNoIntranetCodesWithoutDepartment(t *testing.T) {
	dir := exampleDir()
	dir.Users = append(dir.Users, graph.User{ID: 50, Email: "ext@example.com", Name: "Ext", Extranet: true},
		graph.User{ID: 51, Email: "outside@example.com", Name: "Outside"})
	dir.Departments[2].Head = 51 // heads Wholesale (7) without belonging to a department
	for _, tc := range []struct {
		code, email, want string
	}{
		{"IU50", "ext@example.com", "none"},
		{"IU51", "outside@example.com", "none"},
		{"IU42", "outside@example.com", "none"},
		{"AD7", "outside@example.com", "all"},
		{"AD0", "outside@example.com", "all"},
		{"IU42", "anna@example.com", "all"},
	} {
		g := (&graph.Graph{CRMRoles: []graph.CRMRole{{Key: "r", Name: "R", Assign: []string{"code:" + tc.code},
			Perms: []graph.CRMPerm{cell("default", "", "read", "all")}}}}).Normalize()
		r := New(g, dir)
		u, _ := r.LookupUser(tc.email)
		if got := r.CRM(u, CRMQuery{Entity: "deal", Action: "read"}); got.Level != tc.want {
			t.Errorf("role on %s: %s reads %s, want %s", tc.code, tc.email, got.Level, tc.want)
		}
		if got := r.crmLevel(u, CRMQuery{Entity: "deal", Action: "read"}); got != tc.want {
			t.Errorf("role on %s: %s reads %s (fast path), want %s", tc.code, tc.email, got, tc.want)
		}
	}
}
