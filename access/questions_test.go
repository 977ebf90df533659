package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// "May this user move a deal from stage A to stage B": write where the
// deal stands, and B among the transition targets at A (§3.2 TRANSITION).
func TestMoveDeal(t *testing.T) {
	g := (&graph.Graph{
		Pipelines: []graph.Pipeline{{Entity: "deal", Key: "default", Name: "Deals", Stages: []graph.Stage{{Key: "new"}, {Key: "won"}, {Key: "lose"}}}},
		CRMRoles: []graph.CRMRole{
			{Key: "t1", Name: "T1", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{
				cell("default", "", "write", "own"), cell("default", "", "transition", "won"), cell("default", "won", "write", "none")}},
			{Key: "t2", Name: "T2", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{cell("default", "new", "transition", "lose")}},
			{Key: "reader", Name: "Reader", Assign: []string{"user:boris@example.com"}, Perms: []graph.CRMPerm{
				cell("default", "", "read", "all"), cell("default", "", "transition", "any")}},
		},
	}).Normalize()
	r := New(g, exampleDir())
	anna, _ := r.LookupUser("anna@example.com")
	boris, _ := r.LookupUser("boris@example.com")
	admin, _ := r.LookupUser("admin@example.com")
	for _, tc := range []struct {
		u        *graph.User
		from, to string
		want     string
	}{
		// T2's explicit row at NEW decides the targets from NEW: lose only.
		{anna, "new", "lose", "own"},
		{anna, "new", "won", "none"},
		// From LOSE no role is explicit: the pipeline-level union, won.
		{anna, "lose", "won", "own"},
		{anna, "lose", "new", "none"},
		// No write where the deal stands: no move, whatever the targets.
		{anna, "won", "lose", "none"},
		{boris, "new", "won", "none"},
		{admin, "won", "new", "all"},
		{anna, "new", "paid", "none"}, // no such stage
	} {
		got := r.Move(tc.u, MoveQuery{Entity: "deal", From: tc.from, To: tc.to})
		if got.Level != tc.want {
			t.Errorf("%s %s→%s = %s (%s), want %s", tc.u.Email, tc.from, tc.to, got.Level, got.Rule, tc.want)
		}
	}
	if got := r.Move(anna, MoveQuery{Entity: "contact", From: "a", To: "b"}); got.Level != "none" {
		t.Errorf("contacts have no stages: %+v", got)
	}
}

// A CRM administrator (CRM settings write in a role) moves every item
// anywhere, without write or transition rows: Item::canChangeStage asks
// EntityPermissions\Admin::isAdminForEntity first (yuliai/bitrix-modules
// a3a2a579 crm/lib/Service/UserPermissions/EntityPermissions/Item.php).
func TestMoveByCRMAdministrator(t *testing.T) {
	g := (&graph.Graph{
		Pipelines: []graph.Pipeline{{Entity: "deal", Key: "default", Name: "Deals", Stages: []graph.Stage{{Key: "new"}, {Key: "won"}}}},
		CRMRoles: []graph.CRMRole{
			{Key: "settings", Name: "Settings", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{{Entity: "config", Action: "write", Level: "all"}}},
			{Key: "none", Name: "None", Assign: []string{"user:boris@example.com"}, Perms: []graph.CRMPerm{{Entity: "config", Action: "write", Level: "none"}, cell("default", "", "write", "all")}},
		},
	}).Normalize()
	r := New(g, exampleDir())
	anna, _ := r.LookupUser("anna@example.com")
	boris, _ := r.LookupUser("boris@example.com")
	if got := r.Move(anna, MoveQuery{Entity: "deal", From: "new", To: "won"}); got.Level != "all" || len(got.Derivation) != 1 {
		t.Errorf("CRM administrator: %+v, want all through the settings role", got)
	}
	if got := r.Move(boris, MoveQuery{Entity: "deal", From: "new", To: "won"}); got.Level != "none" {
		t.Errorf("write without transition targets: %+v, want none", got)
	}
}

func TestJoinResultLevels(t *testing.T) {
	for vis, want := range map[string]string{"public": "joins", "private": "asks", "secret": "none", "secret_open": "none"} {
		r := New(wgGraph(func(w *graph.Workgroup) { w.Visibility = vis }), wgDir())
		if got := r.JoinResult(wgUser(t, r, "outsider@x.com"), "g"); got.Level != want {
			t.Errorf("%s: %+v, want %s", vis, got, want)
		}
		if got := r.JoinResult(wgUser(t, r, "member@x.com"), "g"); got.Level != "none" {
			t.Errorf("%s: a member does not ask to join: %+v", vis, got)
		}
	}
}

// A CRM administrator (CRM settings write) has automation, the sums, the
// personal card view and every stage change on each item type whatever
// his roles say: Bitrix asks isAdminForEntity first (Automation::canEdit,
// Kanban::canReadKanbanSumInStage, EntityEditor::canSwitchToPersonalView,
// Item::canChangeStage; bitrix-permissions.md §2.3, §3.2 TRANSITION).
// Item permissions stay the roles'.
func TestCRMAdministratorEntityAdminCells(t *testing.T) {
	g := (&graph.Graph{CRMRoles: []graph.CRMRole{
		{Key: "settings", Name: "Settings", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{
			{Entity: "config", Action: "write", Level: "all"}, cell("default", "", "automation", "none"), cell("default", "", "transition", "won")}},
		{Key: "plain", Name: "Plain", Assign: []string{"user:boris@example.com"}, Perms: []graph.CRMPerm{cell("default", "", "transition", "won")}},
	}}).Normalize()
	r := New(g, exampleDir())
	anna, _ := r.LookupUser("anna@example.com")
	boris, _ := r.LookupUser("boris@example.com")
	for _, tc := range []struct {
		u             *graph.User
		entity, stage string
		action, want  string
	}{
		{anna, "deal", "", "automation", "all"}, {anna, "lead", "", "mycardview", "all"}, {anna, "deal", "won", "hide_sum", "all"},
		{anna, "deal", "new", "transition", "any"}, {anna, "deal", "", "read", "none"},
		{boris, "deal", "", "automation", "none"}, {boris, "deal", "new", "transition", "won"},
	} {
		q := CRMQuery{Entity: tc.entity, Stage: tc.stage, Action: tc.action}
		if got := r.CRM(tc.u, q); got.Level != tc.want {
			t.Errorf("%s %s %s: CRM = %s (%s), want %s", tc.u.Email, tc.entity, tc.action, got.Level, got.Rule, tc.want)
		}
		if got := r.crmLevel(tc.u, q); got != tc.want {
			t.Errorf("%s %s %s: crmLevel = %s, want %s", tc.u.Email, tc.entity, tc.action, got, tc.want)
		}
		if got := r.CRMQuestion(q)(tc.u); got != tc.want {
			t.Errorf("%s %s %s: CRMQuestion = %s, want %s", tc.u.Email, tc.entity, tc.action, got, tc.want)
		}
	}
}
