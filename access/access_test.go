package access

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// The directory of the worked example (bitrix-permissions.md §3.4): user 42
// in department 7 (child of 3, child of 1), member of workgroup 15.
func exampleDir() *graph.Directory {
	return &graph.Directory{
		Users: []graph.User{
			{ID: 42, Email: "anna@example.com", Name: "Anna", Departments: []int64{7}, Groups: []int64{2}},
			{ID: 43, Email: "boris@example.com", Name: "Boris", Departments: []int64{3}, Groups: []int64{2}},
			{ID: 1, Email: "admin@example.com", Name: "Admin", Departments: []int64{1}, Admin: true},
		},
		Departments: []graph.Department{{ID: 1, Name: "Company"}, {ID: 3, Name: "Sales", Parent: 1}, {ID: 7, Name: "Wholesale", Parent: 3}},
		Groups:      []graph.Group{{ID: 2, Name: "employees"}},
	}
}

func cell(p, s, a, l string) graph.CRMPerm {
	return graph.CRMPerm{Entity: "deal", Pipeline: p, Stage: s, Action: a, Level: l}
}

func exampleGraph(withSales bool) *graph.Graph {
	g := &graph.Graph{
		Workgroups: []graph.Workgroup{{Key: "team", ID: 15, Name: "Team", Visibility: "secret", Owner: "user:boris@example.com", Members: []string{"user:anna@example.com"}}},
		CRMRoles: []graph.CRMRole{
			{Key: "junior", Name: "Junior", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{
				cell("default", "", "read", "own"), cell("default", "won", "read", "none")}},
			{Key: "team", Name: "Team", Assign: []string{"workgroup_members:team"}, Perms: []graph.CRMPerm{
				cell("default", "", "read", "department"), cell("default", "lose", "read", "own")}},
		},
	}
	if withSales {
		g.CRMRoles = append(g.CRMRoles, graph.CRMRole{Key: "sales", Name: "Sales", Assign: []string{"department_tree:Company/Sales"},
			Perms: []graph.CRMPerm{cell("default", "", "read", "all")}})
	}
	return g.Normalize()
}

func TestWorkedExample(t *testing.T) {
	for _, tc := range []struct {
		sales bool
		stage string
		want  string
	}{
		{true, "new", "all"},         // entity key: SELF ∪ max(X, D) = all
		{true, "won", "none"},        // only Junior is explicit: detailed beats inherited, despite Sales = all
		{true, "lose", "own"},        // Team's explicit LOSE = own
		{false, "new", "department"}, // without Sales: own ∪ department
	} {
		r := New(exampleGraph(tc.sales), exampleDir())
		u, _ := r.LookupUser("anna@example.com")
		got := r.CRM(u, CRMQuery{Entity: "deal", Stage: tc.stage, Action: "read"})
		if got.Level != tc.want {
			t.Errorf("sales=%v stage=%s: level %s, want %s (rule %q)", tc.sales, tc.stage, got.Level, tc.want, got.Rule)
		}
		if tc.stage == "won" && tc.sales {
			if len(got.Losers) == 0 || got.Rule == "" {
				t.Errorf("won: the losing inherited roles and the rule should be reported: %+v", got)
			}
		}
	}
}

func TestSubjectsAndAdmins(t *testing.T) {
	r := New(exampleGraph(true), exampleDir())
	anna, _ := r.LookupUser("42")
	var subjects []string
	for _, h := range r.UserSubjects(anna) {
		subjects = append(subjects, h.Subject)
	}
	for _, want := range []string{"user:anna@example.com", "department:Company/Sales/Wholesale", "department_tree:Company/Sales/Wholesale",
		"department_tree:Company/Sales", "department_tree:Company", "group:employees", "workgroup_members:team", "code:SG15_K", "code:DR3"} {
		if !slices.Contains(subjects, want) {
			t.Errorf("Anna lacks %s: %v", want, subjects)
		}
	}
	boris, _ := r.LookupUser("boris@example.com")
	var bs []string
	for _, h := range r.UserSubjects(boris) {
		bs = append(bs, h.Subject)
	}
	if !slices.Contains(bs, "workgroup_owner:team") || !slices.Contains(bs, "workgroup_moderators:team") {
		t.Errorf("the owner holds _A, _E and _K: %v", bs)
	}
	admin, _ := r.LookupUser("admin@example.com")
	if got := r.CRM(admin, CRMQuery{Entity: "deal", Action: "delete"}); got.Level != "all" {
		t.Errorf("portal administrators bypass roles: %+v", got)
	}
}

// Help-desk: among personal and group permissions the more permissive
// wins; a personal inherited deny does not beat a group allow (§3.6).
func TestMostPermissiveWinsAcrossPersonalAndDepartment(t *testing.T) {
	g := (&graph.Graph{CRMRoles: []graph.CRMRole{
		{Key: "personal", Name: "Personal", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{cell("default", "", "write", "own")}},
		{Key: "dept", Name: "Department", Assign: []string{"department:Company/Sales/Wholesale"}, Perms: []graph.CRMPerm{cell("default", "", "write", "department")}},
	}}).Normalize()
	r := New(g, exampleDir())
	u, _ := r.LookupUser("anna@example.com")
	if got := r.CRM(u, CRMQuery{Entity: "deal", Action: "write"}); got.Level != "department" || len(got.Derivation) != 1 || got.Derivation[0].RoleName != "Department" {
		t.Errorf("got %+v", got)
	}
	// Boris is in Sales, not in Wholesale: the flat department code does not reach him.
	b, _ := r.LookupUser("boris@example.com")
	if got := r.CRM(b, CRMQuery{Entity: "deal", Action: "write"}); got.Level != "none" {
		t.Errorf("D<id> must not reach parents: %+v", got)
	}
}

// Activities follow their item: read → view, write → create/edit/delete,
// add alone → nothing.
func TestActivitiesFollowTheItem(t *testing.T) {
	g := (&graph.Graph{CRMRoles: []graph.CRMRole{
		{Key: "m", Name: "Manager", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{
			cell("default", "", "read", "department"), cell("default", "", "write", "own"), cell("default", "", "add", "all")}},
	}}).Normalize()
	r := New(g, exampleDir())
	u, _ := r.LookupUser("anna@example.com")
	item := CRMQuery{Entity: "deal"}
	for op, want := range map[string]string{"view": "department", "edit": "own", "delete": "own", "create": "own"} {
		if got := r.Activity(u, item, op); got.Level != want {
			t.Errorf("activity %s = %s, want %s", op, got.Level, want)
		}
	}
	g.CRMRoles[0].Perms = []graph.CRMPerm{cell("default", "", "add", "all")}
	r = New(g, exampleDir())
	if got := r.Activity(u, item, "create"); got.Level != "none" {
		t.Errorf("add alone must give no activity access: %s", got.Level)
	}
}

// Call Verifiers: telephony merges by maximum.
func TestTelephonyMaximum(t *testing.T) {
	g := (&graph.Graph{TelephonyRoles: []graph.SimpleRole{
		{Key: "manager", Name: "Manager", Assign: []string{"department_tree:Company"}, Perms: []graph.SimplePerm{{Entity: "call_record", Action: "listen", Level: "own"}}},
		{Key: "verifiers", Name: "Call Verifiers", Assign: []string{"user:anna@example.com"}, Perms: []graph.SimplePerm{{Entity: "call_record", Action: "listen", Level: "any"}}},
	}}).Normalize()
	r := New(g, exampleDir())
	anna, _ := r.LookupUser("anna@example.com")
	boris, _ := r.LookupUser("boris@example.com")
	if got := r.Simple(anna, graph.KindTelephony, "call_record", "listen"); got.Level != "any" || got.Derivation[0].RoleName != "Call Verifiers" {
		t.Errorf("anna: %+v", got)
	}
	if got := r.Simple(boris, graph.KindTelephony, "call_record", "listen"); got.Level != "own" {
		t.Errorf("boris: %+v", got)
	}
}

func TestSecretWorkgroupVisibility(t *testing.T) {
	g := exampleGraph(false)
	r := New(g, exampleDir())
	anna, _ := r.LookupUser("anna@example.com")
	outsider := &graph.User{ID: 99, Email: "x@example.com"}
	if see, _ := r.CanSee(anna, "team"); !see {
		t.Error("a member sees her secret group")
	}
	if see, join := r.CanSee(outsider, "team"); see || join {
		t.Error("a secret group is invisible to non-members")
	}
	if got := r.Workgroup(anna, "team", "tasks", "edit_tasks"); got.Level != "denied" {
		t.Errorf("edit_tasks needs moderators by default: %+v", got)
	}
	boris, _ := r.LookupUser("boris@example.com")
	if got := r.Workgroup(boris, "team", "tasks", "edit_tasks"); got.Level != "allowed" {
		t.Errorf("the owner may edit tasks: %+v", got)
	}
}

func TestDeltaGroupsUsersAndCountsGainers(t *testing.T) {
	before := exampleGraph(false)
	after := exampleGraph(true)
	d := ComputeDelta(before, after, exampleDir(), after)
	if d.Gainers != 2 || d.Losers != 0 {
		t.Fatalf("gainers %d losers %d: %+v", d.Gainers, d.Losers, d)
	}
	found := false
	for _, g := range d.Groups {
		for _, c := range g.Changes {
			if c.Label == "Deal · default · read" && c.After == "all" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("expected a Deal read → all change: %+v", d.Groups)
	}
	if d := ComputeDelta(before, before, exampleDir(), nil); !d.NoChange() {
		t.Errorf("identical graphs must give no access change: %+v", d)
	}
}

// Property: on random small graphs the resolver equals a brute-force
// evaluation written straight from the documented rules.
func TestResolverMatchesBruteForce(t *testing.T) {
	dir := exampleDir()
	dir.Users = append(dir.Users, graph.User{ID: 50, Email: "c@example.com", Departments: []int64{1}})
	subjects := []string{"user:anna@example.com", "user:boris@example.com", "department:Company/Sales", "department_tree:Company/Sales",
		"department_tree:Company", "group:employees", "workgroup_members:team", "workgroup_owner:team"}
	stages := []string{"", "new", "won", "lose"}
	rng := rand.New(rand.NewPCG(7, 7))
	for iter := 0; iter < 300; iter++ {
		g := &graph.Graph{Workgroups: exampleGraph(false).Workgroups}
		for i := 0; i < 2+rng.IntN(4); i++ {
			role := graph.CRMRole{Key: fmt.Sprintf("r%d", i), Name: fmt.Sprintf("R%d", i)}
			for j := 0; j < 1+rng.IntN(2); j++ {
				role.Assign = append(role.Assign, subjects[rng.IntN(len(subjects))])
			}
			for _, s := range stages {
				if rng.IntN(2) == 0 {
					role.Perms = append(role.Perms, cell("default", s, "read", graph.CRMLevels[rng.IntN(len(graph.CRMLevels))]))
				}
			}
			g.CRMRoles = append(g.CRMRoles, role)
		}
		g.Normalize()
		r := New(g, dir)
		for _, u := range r.Users() {
			if u.Admin {
				continue
			}
			held := map[string]bool{}
			for _, h := range r.UserSubjects(u) {
				held[h.Subject] = true
			}
			for _, s := range stages {
				want := bruteForce(g, held, s)
				if got := r.CRM(u, CRMQuery{Entity: "deal", Stage: s, Action: "read"}); got.Level != want {
					t.Fatalf("iter %d user %d stage %q: resolver %s, brute force %s\n%+v", iter, u.ID, s, got.Level, want, g.CRMRoles)
				}
			}
		}
	}
}

// bruteForce: roles reached by any held subject apply; if any applicable
// role has an explicit row for the stage, the maximum of explicit rows;
// otherwise the maximum of entity-level rows (missing = none).
func bruteForce(g *graph.Graph, held map[string]bool, stage string) string {
	var applicable []graph.CRMRole
	for _, r := range g.CRMRoles {
		for _, a := range r.Assign {
			if held[a] {
				applicable = append(applicable, r)
				break
			}
		}
	}
	best := -1
	explicit := false
	for _, r := range applicable {
		for _, c := range r.Perms {
			if stage != "" && c.Stage == stage {
				explicit = true
			}
		}
	}
	for _, r := range applicable {
		lvl := "none"
		found := false
		for _, c := range r.Perms {
			if explicit && c.Stage == stage {
				lvl, found = c.Level, true
			}
			if !explicit && c.Stage == "" {
				lvl, found = c.Level, true
			}
		}
		if explicit && !found {
			continue
		}
		if rk := graph.CRMLevelRank(lvl); rk > best {
			best = rk
		}
	}
	if best < 0 {
		return "none"
	}
	return graph.CRMLevels[best]
}

func TestAllMatricesEqualsPerUser(t *testing.T) {
	g := exampleGraph(true)
	r := New(g, exampleDir())
	r.AllMatrices(func(u *graph.User, m []CellLevel) {
		if u.Admin {
			return
		}
		want := r.Matrix(u)
		if !slices.Equal(m, want) {
			t.Errorf("user %d: %v != %v", u.ID, m, want)
		}
		for _, c := range m {
			if got := r.CRM(u, CRMQuery{Entity: c.Cell.Entity, Pipeline: c.Cell.Pipeline, Stage: c.Cell.Stage, Action: c.Cell.Action}); c.Domain == "crm" && got.Level != c.Level {
				t.Errorf("matrix %v vs CRM %s", c, got.Level)
			}
		}
	})
}

// A user added to a public group gains membership; that he can no longer
// ask to join is no loss (the delta once counted 1 gain and 1 loss).
func TestDeltaNewMemberLosesNothing(t *testing.T) {
	open := func(members ...string) *graph.Graph {
		return (&graph.Graph{Workgroups: []graph.Workgroup{{Key: "club", ID: 16, Name: "Club", Visibility: "public",
			Owner: "user:boris@example.com", Members: members}}}).Normalize()
	}
	d := ComputeDelta(open(), open("user:anna@example.com"), exampleDir(), nil)
	if d.Gainers != 1 || d.Losers != 0 {
		t.Fatalf("gainers %d losers %d, want 1 and 0: %+v", d.Gainers, d.Losers, d.Groups)
	}
	for _, g := range d.Groups {
		for _, c := range g.Changes {
			if c.Label != `workgroup "Club" · membership` {
				t.Errorf("unexpected change %q %s → %s", c.Label, c.Before, c.After)
			}
		}
	}
	back := ComputeDelta(open("user:anna@example.com"), open(), exampleDir(), nil)
	if back.Gainers != 0 || back.Losers != 1 {
		t.Errorf("removing the member: gainers %d losers %d, want 0 and 1: %+v", back.Gainers, back.Losers, back.Groups)
	}
}
