package bitrix

import (
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/google/go-cmp/cmp"
)

// presetPortal holds the roles Bitrix creates at install, transcribed
// from RolePreset::getDefaultRolesPreset (crm/lib/security/role/
// rolepreset.php, yuliai/bitrix-modules @a3a2a579): the CRM
// administrator (CODE ADMIN, no GROUP_CODE) with its CCA and RS rows, and
// the administrators of the other role groups — ADMIN_WEB_FORM (GROUP_CODE
// CRM_WEBFORM: WEBFORM READ/WRITE X, WEBFORM_CONFIG WRITE X),
// ADMIN_SITE_BUTTON (CRM_BUTTON: BUTTON READ/WRITE X, BUTTON_CONFIG WRITE
// X), ADMIN_AUTOMATED_SOLUTION (AUTOMATED_SOLUTION_LIST:
// AUTOMATED_SOLUTION CONFIG/WRITE X) — each related to G1 and G2
// (RoleRelationHelper, crm/lib/security/role/rolerelationhelper.php).
// Added: a role of automated solution 5 (GROUP_CODE AUTOMATED_SOLUTION_5,
// groupcodegenerator.php) over its smart process, a contractors role
// (GROUP_CODE CONTRACTOR), and the entities of
// crm/lib/security/role/manage/entity/ the language has no words for in
// the CRM administrator: ORDER (order.php), AS_CONFIG_5
// (automatedsolutionconfig.php), CONTRACTOR_CONFIG (contractorconfig.php)
// and a contractor category CONTACT_C4 (contractor.php).
func presetPortal() *Portal {
	p := tiny()
	p.Roles = []Role{
		{ID: 1, Name: "Administrator", IsSystem: "N", Code: "ADMIN"},
		{ID: 2, Name: "Administrator", IsSystem: "N", Code: "ADMIN_WEB_FORM", GroupCode: "CRM_WEBFORM"},
		{ID: 3, Name: "Administrator", IsSystem: "N", Code: "ADMIN_SITE_BUTTON", GroupCode: "CRM_BUTTON"},
		{ID: 4, Name: "Administrator", IsSystem: "N", Code: "ADMIN_AUTOMATED_SOLUTION", GroupCode: "AUTOMATED_SOLUTION_LIST"},
		{ID: 5, Name: "Warehouse staff", IsSystem: "N", GroupCode: "AUTOMATED_SOLUTION_5"},
		{ID: 6, Name: "Suppliers", IsSystem: "N", GroupCode: "CONTRACTOR"},
	}
	p.RoleRelations = nil
	for id := int64(1); id <= 6; id++ {
		p.RoleRelations = append(p.RoleRelations, RoleRelation{ID: 2*id - 1, RoleID: id, Relation: "G1"}, RoleRelation{ID: 2 * id, RoleID: id, Relation: "G2"})
	}
	x := func(id, role int64, entity, permType string) RolePerm {
		return RolePerm{ID: id, RoleID: role, Entity: entity, Field: "-", PermType: permType, Attr: "X"}
	}
	p.RolePerms = []RolePerm{
		x(1, 1, "DEAL", "READ"), x(2, 1, "DEAL", "WRITE"), x(3, 1, "CONFIG", "WRITE"), x(4, 1, "SALETARGET", "READ"), x(5, 1, "EXCLUSION", "READ"),
		x(6, 1, "CCA", "READ"), x(7, 1, "CCA", "WRITE"), x(8, 1, "RS", "READ"), x(9, 1, "RS", "WRITE"),
		x(10, 1, "ORDER", "READ"), x(11, 1, "AS_CONFIG_5", "WRITE"), x(12, 1, "CONTRACTOR_CONFIG", "WRITE"), x(13, 1, "CONTACT_C4", "READ"),
		x(20, 2, "WEBFORM", "READ"), x(21, 2, "WEBFORM", "WRITE"), x(22, 2, "WEBFORM_CONFIG", "WRITE"),
		x(30, 3, "BUTTON", "READ"), x(31, 3, "BUTTON", "WRITE"), x(32, 3, "BUTTON_CONFIG", "WRITE"),
		x(40, 4, "AUTOMATED_SOLUTION", "CONFIG"), x(41, 4, "AUTOMATED_SOLUTION", "WRITE"),
		x(50, 5, "DYNAMIC_1030_C17", "READ"), x(51, 5, "AS_CONFIG_5", "WRITE"),
		x(60, 6, "CONTACT_C4", "READ"), x(61, 6, "COMPANY_C5", "WRITE"), x(62, 6, "CONTRACTOR_CONFIG", "WRITE"),
	}
	p.fixCounters()
	return p
}

// Roles of the other role groups are not CRM user roles: not in the
// graph, listed as unmanaged, their rows no anomalies. Entities the
// language does not manage are listed per role and left out of its cells.
func TestReadUnmanagedRolesAndEntities(t *testing.T) {
	g, an := Read(presetPortal())
	if len(g.CRMRoles) != 1 || g.CRMRoles[0].ID != 1 || g.CRMRoles[0].Key != "administrator" {
		t.Fatalf("CRM roles in the graph: %+v", g.CRMRoles)
	}
	if len(g.CRMRoles[0].Perms) != 5 {
		t.Errorf("administrator cells: %+v", g.CRMRoles[0].Perms)
	}
	anomalies, unmanaged := Notes(an)
	if len(anomalies) != 0 {
		t.Errorf("anomalies: %q", anomalies)
	}
	want := []plan.Unmanaged{
		{Address: "crm_role.administrator", Name: "Administrator", ID: 1, Reason: "permissions b24perm does not manage, kept as they are: " +
			"AS_CONFIG_5 (automated solution settings, 1 row), CCA (CoPilot call assessment, 2 rows), CONTACT_C4 (contractor category, 1 row), " +
			"CONTRACTOR_CONFIG (contractors settings, 1 row), ORDER (store orders, 1 row), RS (repeat sales, 2 rows)"},
		{Address: "b_crm_role", Name: "Administrator", ID: 2, Reason: "CRM forms role (GROUP_CODE CRM_WEBFORM), not a CRM user role: never managed or deleted"},
		{Address: "b_crm_role", Name: "Administrator", ID: 3, Reason: "website widgets role (GROUP_CODE CRM_BUTTON), not a CRM user role: never managed or deleted"},
		{Address: "b_crm_role", Name: "Administrator", ID: 4, Reason: "automated solutions list role (GROUP_CODE AUTOMATED_SOLUTION_LIST), not a CRM user role: never managed or deleted"},
		{Address: "b_crm_role", Name: "Warehouse staff", ID: 5, Reason: "automated solution role (GROUP_CODE AUTOMATED_SOLUTION_5), not a CRM user role: never managed or deleted"},
		{Address: "b_crm_role", Name: "Suppliers", ID: 6, Reason: "contractors role (GROUP_CODE CONTRACTOR), not a CRM user role: never managed or deleted"},
	}
	slices.SortFunc(unmanaged, func(a, b plan.Unmanaged) int { return int(a.ID - b.ID) })
	if d := cmp.Diff(want, unmanaged); d != "" {
		t.Errorf("unmanaged (-want +got):\n%s", d)
	}
}

// Applies change only what they plan: changing a managed cell of the
// administrator, creating a pipeline (which gives the CRM user roles its
// minimum rights) and creating a role leave every row of the other role
// groups, the unmanaged entities' rows and rows b24perm cannot read as
// they were.
func TestApplyKeepsUnmanagedRows(t *testing.T) {
	p := presetPortal()
	// Rows Bitrix would never write, in the administrator: kept too.
	p.RolePerms = append(p.RolePerms,
		RolePerm{ID: 70, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "FLY", Attr: "X"},
		RolePerm{ID: 71, RoleID: 1, Entity: "FOO", Field: "-", PermType: "READ", Attr: "X"},
		RolePerm{ID: 72, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "EXPORT", Attr: "-"},
		RolePerm{ID: 73, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "IMPORT", Settings: []byte(`["INHERIT"]`)})
	p.fixCounters()
	before := slices.Clone(p.RolePerms)
	beforeRel := slices.Clone(p.RoleRelations)
	beforeRoles := slices.Clone(p.Roles)
	g, _ := Read(p)
	admin := g.CRMRoles[0]
	admin.Perms = slices.Clone(admin.Perms)
	for i := range admin.Perms {
		if admin.Perms[i].Entity == "deal" && admin.Perms[i].Action == "write" {
			admin.Perms[i].Level = "department"
		}
	}
	a := NewApplier(p, nil)
	newRole := graph.CRMRole{Key: "sales", Name: "Sales", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{{Entity: "deal", Pipeline: "default", Action: "read", Level: "all"}}}
	newPipe := graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}}}
	for _, ch := range []plan.Change{
		roleChange(plan.Update, 1, admin),
		{Address: "crm_pipeline.deal.retail", Action: plan.Create, After: &graph.Resource{Pipeline: &newPipe}},
		roleChange(plan.Create, 0, newRole),
	} {
		if _, err := a.Apply(ch); err != nil {
			t.Fatalf("%s: %v", ch.Address, err)
		}
	}
	after := map[int64]RolePerm{}
	for _, r := range p.RolePerms {
		after[r.ID] = r
	}
	for _, r := range before {
		got, ok := after[r.ID]
		if r.ID == 2 { // DEAL WRITE of the administrator: planned
			if ok {
				t.Errorf("the changed cell's row %d was kept: %+v", r.ID, got)
			}
			continue
		}
		if !ok || !cmp.Equal(got, r) {
			t.Errorf("row %d %s %s of role %d: %+v after the apply, was %+v", r.ID, r.Entity, r.PermType, r.RoleID, got, r)
		}
	}
	// New rows: the changed cell, the new role's cell and relation, and
	// the new pipeline's minimum rights in the administrator and the new
	// role's (none in the roles of the other groups).
	for _, r := range p.RolePerms {
		if slices.ContainsFunc(before, func(b RolePerm) bool { return b.ID == r.ID }) {
			continue
		}
		if r.RoleID >= 2 && r.RoleID <= 6 {
			t.Errorf("new row in a role of another group: %+v", r)
		}
	}
	if d := cmp.Diff(beforeRel, p.RoleRelations[:len(beforeRel)]); d != "" {
		t.Errorf("relations (-before +after):\n%s", d)
	}
	if d := cmp.Diff(beforeRoles, p.Roles[:len(beforeRoles)]); d != "" {
		t.Errorf("roles (-before +after):\n%s", d)
	}
	// The new role did not take a name of the other groups' roles.
	g2, _ := Read(p)
	var keys []string
	for _, r := range g2.CRMRoles {
		keys = append(keys, r.Key)
	}
	if strings.Join(keys, " ") != "administrator sales" {
		t.Errorf("roles after the apply: %v", keys)
	}
}

// Every access-code form Bitrix stores is read and kept: named subjects
// where the language has a name, the raw code otherwise (a user not in
// the directory too), and an apply that changes the role's cells writes
// its relations back unchanged. A code in no Bitrix form is an anomaly,
// kept as well.
func TestAccessCodeFormsRoundTrip(t *testing.T) {
	p := tiny()
	p.SonetGroups = []SonetGroup{{ID: 3, Name: "Key accounts", Visible: "Y", Opened: "N", Closed: "N", OwnerID: 2, InitiatePerms: "K"}}
	// Forms of Bitrix\Main\Access\AccessCode (main/lib/access/
	// accesscode.php) and AU, CR; UA is a UI alias Bitrix never stores.
	codes := []string{"U2", "U999", "IU2", "D2", "DR1", "G2", "SG3_A", "SG3_E", "SG3_K", "SG3", "SU2_M", "SU2", "CHAT12", "AD2", "AD0", "AE0", "AT1",
		"ATD1", "ATE1", "ATT1", "SND7", "SNDR7", "SNT4", "SNTR4", "AU", "CR", "UA"}
	p.RoleRelations = nil
	for i, c := range codes {
		p.RoleRelations = append(p.RoleRelations, RoleRelation{ID: int64(i + 1), RoleID: 1, Relation: c})
	}
	p.RolePerms = []RolePerm{{ID: 1, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "X"}}
	p.fixCounters()
	g, an := Read(p)
	if len(an) != 1 || an[0].Table != TRoleRelation || an[0].ID != int64(len(codes)) || !strings.Contains(an[0].Problem, `"UA" is not a Bitrix access code`) {
		t.Fatalf("anomalies: %v", an)
	}
	role := g.CRMRoles[0]
	if len(role.Assign) != len(codes) {
		t.Fatalf("assign %v", role.Assign)
	}
	for _, s := range []string{"user:anna@example.com", "code:U999", "code:IU2", "department:Company/Sales", "department_tree:Company", "workgroup_owner:key_accounts",
		"workgroup_members:key_accounts", "code:SG3", "code:CHAT12", "code:AE0", "code:SNDR7", "code:AU", "code:UA"} {
		if !slices.Contains(role.Assign, s) {
			t.Errorf("%s not read: %v", s, role.Assign)
		}
	}
	before := slices.Clone(p.RoleRelations)
	role.Perms = []graph.CRMPerm{{Entity: "deal", Pipeline: "default", Action: "read", Level: "own"}}
	if _, err := p.Apply(roleChange(plan.Update, 1, role), nil); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, p.RoleRelations); d != "" {
		t.Errorf("relations (-before +after):\n%s", d)
	}
}
