package bitrix

import (
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

func roleChange(action plan.Action, id int64, r graph.CRMRole) plan.Change {
	return plan.Change{Address: "crm_role." + r.Key, Action: action, ID: id, After: &graph.Resource{CRMRole: &r}}
}

func rowsOf(p *Portal, roleID int64) map[string]RolePerm {
	m := map[string]RolePerm{}
	for _, r := range p.RolePerms {
		if r.RoleID == roleID {
			m[r.Entity+"|"+r.Field+"|"+r.FieldValue+"|"+r.PermType] = r
		}
	}
	return m
}

func TestApplyRoleRowForms(t *testing.T) {
	p := tiny()
	p.RolePerms = []RolePerm{
		{ID: 10, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "X"},   // unchanged: kept as a letter
		{ID: 11, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "WRITE", Attr: "A"},  // changed
		{ID: 12, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "DELETE", Attr: "D"}, // becomes none: no row
		{ID: 13, RoleID: 1, Entity: "ORDER", Field: "-", PermType: "READ", Attr: "X"},  // unreadable: left alone
	}
	p.fixCounters()
	role := graph.CRMRole{Key: "manager", Name: "Sales manager", Assign: []string{"user:anna@example.com", "department_tree:Company/Sales"}, Perms: []graph.CRMPerm{
		{Entity: "deal", Pipeline: "default", Action: "read", Level: "all"},
		{Entity: "deal", Pipeline: "default", Action: "write", Level: "department"},
		{Entity: "deal", Pipeline: "default", Stage: "won", Action: "write", Level: "none"},
		{Entity: "deal", Pipeline: "wholesale", Action: "read", Level: "own+open"},
		{Entity: "deal", Pipeline: "wholesale", Stage: "new", Action: "transition", Level: "won"},
		{Entity: "deal", Pipeline: "wholesale", Action: "automation", Level: "all"},
		{Entity: "config", Action: "write", Level: "all"},
	}}
	id, err := p.Apply(roleChange(plan.Update, 1, role), nil)
	if err != nil || id != 1 {
		t.Fatalf("Apply = %d, %v", id, err)
	}
	rows := rowsOf(p, 1)
	want := map[string]struct {
		attr, settings string
		id             int64
	}{
		"DEAL|-||READ":                       {"X", "", 10},
		"DEAL|-||WRITE":                      {"", `["SELF","DEPARTMENT"]`, 14},
		"DEAL|STAGE_ID|WON|WRITE":            {"", `["0"]`, 15},
		"DEAL_C3|-||READ":                    {"", `["SELF","OPEN"]`, 16},
		"DEAL_C3|STAGE_ID|C3:NEW|TRANSITION": {"", `["C3:WON"]`, 17},
		"DEAL_C3|-||AUTOMATION":              {"X", "", 18},
		"CONFIG|-||WRITE":                    {"X", "", 19},
		"ORDER|-||READ":                      {"X", "", 13},
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for k, w := range want {
		r, ok := rows[k]
		if !ok {
			t.Errorf("missing row %s", k)
			continue
		}
		if r.Attr != w.attr || string(r.Settings) != w.settings || r.ID != w.id {
			t.Errorf("row %s = ID %d ATTR %q SETTINGS %s, want ID %d ATTR %q SETTINGS %s", k, r.ID, r.Attr, r.Settings, w.id, w.attr, w.settings)
		}
	}
	if p.Roles[0].Name != "Sales manager" {
		t.Errorf("name not updated: %+v", p.Roles[0])
	}
	var rel []string
	for _, r := range p.RoleRelations {
		rel = append(rel, r.Relation+"#"+string(rune('0'+r.ID)))
	}
	// DR2 (ID 1) and U2 (ID 2) kept, CHAT9 removed.
	if strings.Join(rel, " ") != "DR2#1 U2#2" {
		t.Errorf("relations = %v", rel)
	}
	// Reading back gives the role as applied.
	g, an := Read(p)
	if len(an) != 1 || !an[0].Unmanaged || !strings.Contains(an[0].Problem, "ORDER (store orders, 1 row)") {
		t.Fatalf("anomalies %v", an)
	}
	want2 := (&graph.CRMRole{Key: "sales_manager", Name: "Sales manager", ID: 1, Assign: []string{"department_tree:Company/Sales", "user:anna@example.com"}, Perms: role.Perms})
	want2.Normalize()
	got := g.CRMRoles[0]
	if got.Key != want2.Key || len(got.Perms) != len(want2.Perms) {
		t.Fatalf("read back %+v\nwant %+v", got, want2)
	}
	for i := range got.Perms {
		if got.Perms[i] != want2.Perms[i] {
			t.Errorf("cell %d: %+v, want %+v", i, got.Perms[i], want2.Perms[i])
		}
	}
}

func TestApplyErrorsLeaveNoHalfRole(t *testing.T) {
	tests := []struct {
		name string
		role graph.CRMRole
		want string
	}{
		{"unknown user", graph.CRMRole{Key: "x", Name: "X", Assign: []string{"user:nobody@example.com"}}, `user "nobody@example.com" does not exist`},
		{"unknown pipeline", graph.CRMRole{Key: "x", Name: "X", Perms: []graph.CRMPerm{{Entity: "deal", Pipeline: "retail", Action: "read", Level: "all"}}}, `deal pipeline "retail" does not exist`},
		{"unknown stage", graph.CRMRole{Key: "x", Name: "X", Perms: []graph.CRMPerm{{Entity: "deal", Pipeline: "default", Stage: "lost", Action: "read", Level: "own"}}}, `no stage "lost"`},
		{"unknown workgroup", graph.CRMRole{Key: "x", Name: "X", Assign: []string{"workgroup_members:ghosts"}}, `workgroup "ghosts"`},
		{"unknown smart process", graph.CRMRole{Key: "x", Name: "X", Perms: []graph.CRMPerm{{Entity: "smart:ghost", Pipeline: "default", Action: "read", Level: "all"}}}, `smart process "ghost"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tiny()
			before, _ := p.Encode()
			_, err := p.Apply(roleChange(plan.Create, 0, tc.role), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			after, _ := p.Encode()
			if string(before) != string(after) {
				t.Fatalf("a failed change modified the portal")
			}
		})
	}
}

func TestApplyPipelineLifecycle(t *testing.T) {
	p := tiny()
	p.Roles = append(p.Roles, Role{ID: 2, Name: "Sign", IsSystem: "Y"}, Role{ID: 3, Name: "Helper", IsSystem: "N"})
	p.RolePerms = []RolePerm{{ID: 1, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "X"}}
	p.fixCounters()
	ids := map[string]int64{}
	pl := graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}}
	a := NewApplier(p, ids)
	id, err := a.Apply(plan.Change{Address: "crm_pipeline.deal.retail", Action: plan.Create, After: &graph.Resource{Pipeline: &pl}})
	if err != nil || id != 4 {
		t.Fatalf("create = %d, %v (want category 4)", id, err)
	}
	var sids []string
	for _, s := range p.Statuses {
		if s.EntityID == "DEAL_STAGE_4" {
			sids = append(sids, s.StatusID)
		}
	}
	if strings.Join(sids, ",") != "C4:NEW,C4:WON" {
		t.Errorf("statuses %v", sids)
	}
	// DealCategory::add (crm/lib/category/dealcategory.php): non-system
	// roles without a CODE get RolePreset::getDefaultPermissionSetForEntity,
	// nine rows (no AUTOMATION); defaults_test.go has the values.
	perRole := map[int64]int{}
	for _, r := range p.RolePerms {
		if r.Entity == "DEAL_C4" {
			perRole[r.RoleID]++
			if r.PermType == "READ" && (r.Attr != "X" || r.Settings != nil) {
				t.Errorf("default row %+v is not READ X", r)
			}
		}
	}
	if perRole[1] != 9 || perRole[3] != 9 || perRole[2] != 0 {
		t.Errorf("default rows per role = %v, want 9 for roles 1 and 3, none for the system role", perRole)
	}
	// The side effect is visible: nine cells on the new pipeline.
	if g, _ := Read(p); len(g.CRMRoles[0].Perms) != 9 || g.CRMRoles[0].Perms[0].Pipeline != "retail" || g.CRMRoles[0].Perms[0].Level != "all" {
		t.Errorf("side-effect cells read as %v", g.CRMRoles[0].Perms)
	}
	// A role on the new pipeline resolves it through the IDs map, even
	// under another key.
	a.IDs()["crm_pipeline.deal.shop"] = 4
	r := graph.CRMRole{Key: "helper", Name: "Helper", Perms: []graph.CRMPerm{{Entity: "deal", Pipeline: "shop", Stage: "won", Action: "read", Level: "own"}}}
	if _, err := a.Apply(roleChange(plan.Update, 3, r)); err != nil {
		t.Fatal(err)
	}
	if rows := grantRows(rowsOf(p, 3)); len(rows) != 1 || rows["DEAL_C4|STAGE_ID|C4:WON|READ"].ID == 0 {
		t.Errorf("helper rows %+v", rows)
	}
	// A transition from new to won or lose, on another role.
	tr := graph.CRMRole{Key: "manager", Name: "Manager", Perms: []graph.CRMPerm{{Entity: "deal", Pipeline: "retail", Stage: "new", Action: "transition", Level: "won"}}}
	if _, err := a.Apply(roleChange(plan.Update, 1, tr)); err != nil {
		t.Fatal(err)
	}
	// Update: rename a stage set (drop won, add lose): won rows are erased
	// and transitions to won become blocked.
	pl2 := pl
	pl2.Name, pl2.Stages = "Retail shop", []graph.Stage{{Key: "new", Name: "New"}, {Key: "lose", Name: "Lost"}}
	if _, err := a.Apply(plan.Change{Address: "crm_pipeline.deal.retail", Action: plan.Update, ID: 4, After: &graph.Resource{Pipeline: &pl2}}); err != nil {
		t.Fatal(err)
	}
	if rows := grantRows(rowsOf(p, 3)); len(rows) != 0 {
		t.Errorf("rows of a removed stage remain: %+v", rows)
	}
	if r := rowsOf(p, 1)["DEAL_C4|STAGE_ID|C4:NEW|TRANSITION"]; string(r.Settings) != `["BLOCKED"]` {
		t.Errorf("transition row after the target stage went: %+v", r)
	}
	if _, an := Read(p); len(an) != 0 {
		t.Errorf("anomalies after the stage change: %v", an)
	}
	// Delete erases every row of the category.
	if _, err := a.Apply(plan.Change{Address: "crm_pipeline.deal.retail", Action: plan.Delete, ID: 4, Before: &graph.Resource{Pipeline: &pl2}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.RolePerms {
		if r.Entity == "DEAL_C4" {
			t.Fatalf("row %+v survived the pipeline", r)
		}
	}
	for _, s := range p.Statuses {
		if s.EntityID == "DEAL_STAGE_4" {
			t.Fatalf("status %+v survived the pipeline", s)
		}
	}
	def := graph.Pipeline{Entity: "deal", Key: "default", Name: "General"}
	if _, err := a.Apply(plan.Change{Address: "crm_pipeline.deal.default", Action: plan.Delete, Before: &graph.Resource{Pipeline: &def}}); err == nil {
		t.Fatal("deleting the default pipeline succeeded")
	}
}

func TestApplyTelephonyRewritesAllRows(t *testing.T) {
	p := tiny()
	r := graph.SimpleRole{Key: "callers", Name: "Callers", Assign: []string{"group:employees"}, Perms: []graph.SimplePerm{{Entity: "call", Action: "perform", Level: "crm_clients"}}}
	id, err := p.Apply(plan.Change{Address: "telephony_role.callers", Action: plan.Create, After: &graph.Resource{Telephony: &r}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.VoxPerms) != len(graph.TelephonyActions) {
		t.Fatalf("%d rows, want one per action (%d)", len(p.VoxPerms), len(graph.TelephonyActions))
	}
	letters := ""
	for _, pm := range p.VoxPerms {
		if pm.Permission != "" {
			letters += pm.Entity + "/" + pm.Action + "=" + pm.Permission
		}
	}
	if letters != "CALL/PERFORM=C" {
		t.Errorf("letters %q", letters)
	}
	r.Perms = []graph.SimplePerm{{Entity: "call_detail", Action: "view", Level: "any"}}
	if _, err := p.Apply(plan.Change{Address: "telephony_role.callers", Action: plan.Update, ID: id, After: &graph.Resource{Telephony: &r}}, nil); err != nil {
		t.Fatal(err)
	}
	if len(p.VoxPerms) != len(graph.TelephonyActions) || p.VoxPerms[0].ID <= int64(len(graph.TelephonyActions)) {
		t.Errorf("rows were not rewritten: %+v", p.VoxPerms[0])
	}
	if len(p.VoxAccess) != 1 || p.VoxAccess[0].AccessCode != "G2" {
		t.Errorf("access %+v", p.VoxAccess)
	}
	g, _ := Read(p)
	if len(g.TelephonyRoles[0].Perms) != 1 || g.TelephonyRoles[0].Perms[0].Level != "any" {
		t.Errorf("read back %+v", g.TelephonyRoles[0])
	}
}

func TestApplyWorkgroup(t *testing.T) {
	p := tiny()
	w := graph.Workgroup{Key: "key_accounts", Name: "Key accounts", Visibility: "private", Owner: "user:anna@example.com", Members: []string{"user:admin@example.com"},
		Features: []graph.FeaturePerm{{Feature: "tasks", Operation: "edit_tasks", Role: "members"}}}
	id, err := p.Apply(plan.Change{Address: "workgroup.key_accounts", Action: plan.Create, After: &graph.Resource{Workgroup: &w}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.SonetGroups[0]; g.ID != id || g.Visible != "Y" || g.Opened != "N" || g.OwnerID != 2 {
		t.Errorf("group row %+v", g)
	}
	if len(p.User2Group) != 2 || p.User2Group[0].Role != "A" || p.User2Group[1].Role != "K" {
		t.Errorf("user2group %+v", p.User2Group)
	}
	if len(p.FeaturePerms) != 1 || p.FeaturePerms[0].Role != "K" || p.Features[0].Feature != "tasks" {
		t.Errorf("features %+v %+v", p.Features, p.FeaturePerms)
	}
	// A role may now name the workgroup's members.
	r := graph.CRMRole{Key: "kam", Name: "KAM", Assign: []string{"workgroup_members:key_accounts"}}
	if _, err := p.Apply(roleChange(plan.Create, 0, r), nil); err != nil {
		t.Fatal(err)
	}
	if rel := p.RoleRelations[len(p.RoleRelations)-1]; rel.Relation != "SG1_K" {
		t.Errorf("relation %+v", rel)
	}
	w.Visibility, w.Features = "secret", nil
	if _, err := p.Apply(plan.Change{Address: "workgroup.key_accounts", Action: plan.Update, ID: id, After: &graph.Resource{Workgroup: &w}}, nil); err != nil {
		t.Fatal(err)
	}
	if g := p.SonetGroups[0]; g.Visible != "N" || g.Opened != "N" || len(p.FeaturePerms) != 0 {
		t.Errorf("after update %+v %+v", g, p.FeaturePerms)
	}
	if _, err := p.Apply(plan.Change{Address: "workgroup.key_accounts", Action: plan.Delete, ID: id, Before: &graph.Resource{Workgroup: &w}}, nil); err != nil {
		t.Fatal(err)
	}
	if len(p.SonetGroups)+len(p.User2Group)+len(p.Features) != 0 {
		t.Errorf("rows remain after delete")
	}
}

// grantRows drops the entity-level rows that grant nothing (an empty
// ATTR without SETTINGS, TRANSITION ["BLOCKED"]): an update that keeps
// such a cell at none leaves its existing row alone.
func grantRows[K comparable](rows map[K]RolePerm) map[K]RolePerm {
	out := map[K]RolePerm{}
	for k, r := range rows {
		if r.Field == "-" && r.FieldValue == "" && ((r.Attr == "" && rawSettings(r.Settings) == "") || rawSettings(r.Settings) == `["BLOCKED"]`) {
			continue
		}
		out[k] = r
	}
	return out
}

func rawSettings(b []byte) string {
	if string(b) == "null" {
		return ""
	}
	return string(b)
}
