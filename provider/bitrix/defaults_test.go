package bitrix

import (
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// The rows Bitrix writes for the roles on a new category, as read from
// yuliai/bitrix-modules 26.250.100: crm/lib/category/dealcategory.php
// (DealCategory::add), crm/lib/Service/Scenario/DefaultCategoryPermissions.php,
// crm/lib/security/role/rolepreset.php, crm/classes/general/crm_role.php
// (GetDefaultPermissionSet), crm/lib/security/role/manage/permissions/*.php
// and crm/lib/security/role/utils/rolepermissionchecker.php (minimum
// values are not stored). A row is "PERM_TYPE ATTR SETTINGS".
func TestAddDefaultCategoryPermissions(t *testing.T) {
	const (
		deal    = "READ X|ADD X|WRITE X|DELETE X|EXPORT X|IMPORT X|HIDE_SUM X|MYCARDVIEW X|TRANSITION  [\"ANY\"]"
		max     = "READ X|ADD X|WRITE X|DELETE X|EXPORT X|IMPORT X|AUTOMATION X|HIDE_SUM X|MYCARDVIEW X|TRANSITION  [\"ANY\"]"
		head    = "READ X|ADD X|WRITE X|DELETE X|EXPORT X|IMPORT X|AUTOMATION X|HIDE_SUM X|MYCARDVIEW X|TRANSITION X [\"ANY\"]"
		deputy  = "READ D|ADD D|WRITE D|DELETE D|EXPORT D|IMPORT D|AUTOMATION X|HIDE_SUM X|MYCARDVIEW X|TRANSITION D [\"ANY\"]"
		manager = "READ A|ADD A|WRITE A|TRANSITION  [\"ANY\"]"
	)
	tests := []struct {
		name string
		etid int64
		open string // IS_SET_OPEN_PERMISSIONS of the type
		role Role
		want string
	}{
		// DealCategory::add: getDefaultPermissionSetForEntity for roles
		// without CODE: GetDefaultPermissionSet (X letters) merged with the
		// base set (HIDE_SUM, MYCARDVIEW X, TRANSITION ANY for deals); no
		// AUTOMATION.
		{"deal, custom role", EntityTypeDeal, "", Role{ID: 5, Name: "Custom"}, deal},
		{"deal, ADMIN preset", EntityTypeDeal, "", Role{ID: 5, Code: "ADMIN"}, max},
		{"deal, HEAD preset", EntityTypeDeal, "", Role{ID: 5, Code: "HEAD"}, head},
		{"deal, DEPUTY preset", EntityTypeDeal, "", Role{ID: 5, Code: "DEPUTY"}, deputy},
		{"deal, MANAGER preset", EntityTypeDeal, "", Role{ID: 5, Code: "MANAGER"}, manager},
		{"deal, OBSERVER preset", EntityTypeDeal, "", Role{ID: 5, Code: "OBSERVER"}, "READ A"},
		{"deal, unknown CODE is the default", EntityTypeDeal, "", Role{ID: 5, Code: "SIGN"}, deal},
		// Deals reach only the main CRM roles (GROUP_CODE empty) and no
		// system role.
		{"deal, web-form role", EntityTypeDeal, "", Role{ID: 5, GroupCode: "CRM_WEBFORM"}, ""},
		{"deal, system role", EntityTypeDeal, "", Role{ID: 5, IsSystem: "Y"}, ""},
		// DefaultCategoryPermissions: max with IS_SET_OPEN_PERMISSIONS Y
		// (also the default), min (no rows) with N; a CODE role gets its
		// preset either way.
		{"smart process, open", 130, "Y", Role{ID: 5}, max},
		{"smart process, flag not read", 130, "", Role{ID: 5}, max},
		{"smart process, closed", 130, "N", Role{ID: 5}, ""},
		{"smart process, closed, MANAGER preset", 130, "N", Role{ID: 5, Code: "MANAGER"}, manager},
		{"smart process, closed, OBSERVER preset", 130, "N", Role{ID: 5, Code: "OBSERVER"}, "READ A"},
		{"smart process, web-form role", 130, "Y", Role{ID: 5, GroupCode: "CRM_WEBFORM"}, ""},
		// DynamicItem::permissions (crm/lib/security/role/manage/entity/dynamicitem.php):
		// no AUTOMATION without automation, no TRANSITION without stages.
		{"smart process, open, no automation", 132, "Y", Role{ID: 5}, "READ X|ADD X|WRITE X|DELETE X|EXPORT X|IMPORT X|HIDE_SUM X|MYCARDVIEW X|TRANSITION  [\"ANY\"]"},
		{"smart process, open, no stages", 134, "Y", Role{ID: 5}, "READ X|ADD X|WRITE X|DELETE X|EXPORT X|IMPORT X|AUTOMATION X|HIDE_SUM X|MYCARDVIEW X"},
		// Smart invoices (31) are not isPossibleDynamicTypeId: the MANAGER
		// preset has no TRANSITION ANY.
		{"smart invoice, open", EntityTypeSmartInvoice, "", Role{ID: 5}, max},
		{"smart invoice, MANAGER preset", EntityTypeSmartInvoice, "", Role{ID: 5, Code: "MANAGER"}, "READ A|ADD A|WRITE A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPortal("t")
			p.Roles = []Role{tc.role}
			if tc.etid >= dynamicTypeStart {
				p.SmartTypes = []SmartType{{ID: 1, EntityTypeID: tc.etid, Title: "T", IsSetOpenPermissions: tc.open}}
				switch tc.etid {
				case 132:
					p.SmartTypes[0].IsAutomationEnabled = "N"
				case 134:
					p.SmartTypes[0].IsStagesEnabled = "N"
				}
			}
			p.fixCounters()
			p.AddDefaultCategoryPermissions(tc.etid, 7)
			var got []string
			for _, r := range p.RolePerms {
				if r.RoleID != 5 || r.Field != "-" || !strings.HasSuffix(r.Entity, "_C7") {
					t.Errorf("unexpected row %+v", r)
				}
				got = append(got, strings.TrimSpace(r.PermType+" "+r.Attr+" "+string(r.Settings)))
			}
			if g := strings.Join(got, "|"); g != tc.want {
				t.Errorf("rows\n got %s\nwant %s", g, tc.want)
			}
			// What the reader makes of the rows is what DefaultCells
			// predicts before the category exists.
			entity := "deal"
			switch {
			case tc.etid == EntityTypeSmartInvoice:
				entity = "smart_invoice"
			case tc.etid >= dynamicTypeStart:
				entity = graph.SmartProcessPrefix + "t"
			}
			pred := p.DefaultCells(5, entity, tc.etid)
			p.Categories = append(p.Categories, Category{ID: 7, EntityTypeID: tc.etid, Name: "New", IsDefault: "N"})
			g, an := Read(p)
			if len(an) > 0 && tc.role.GroupCode == "" { // other groups are noted, never read
				t.Errorf("anomalies %v", an)
			}
			var read []graph.CRMPerm
			for _, r := range g.CRMRoles {
				for _, c := range r.Perms {
					c.Pipeline = ""
					read = append(read, c)
				}
			}
			key := func(c graph.CRMPerm) string { return c.Action + "=" + c.Level }
			if a, b := strings.Join(mapSorted(pred, key), " "), strings.Join(mapSorted(read, key), " "); a != b {
				t.Errorf("DefaultCells %s, read back %s", a, b)
			}
		})
	}
}

// A role that already has a row for the new ENTITY is skipped
// (isset($roleRelation[$permissionEntity])); an automated-solution type
// reaches only the roles of its group (GroupCodeGenerator::
// getGroupCodeByEntityTypeId).
func TestAddDefaultCategoryPermissionsSkips(t *testing.T) {
	p := NewPortal("t")
	p.Roles = []Role{{ID: 1, Name: "Has a row"}, {ID: 2, Name: "Main"}, {ID: 3, Name: "Workplace", GroupCode: "AUTOMATED_SOLUTION_4"}}
	p.SmartTypes = []SmartType{{ID: 1, EntityTypeID: 130, Title: "A", CustomSectionID: 4}}
	p.RolePerms = []RolePerm{{ID: 1, RoleID: 1, Entity: "DEAL_C7", Field: "-", PermType: "READ", Attr: "A"}}
	p.fixCounters()
	p.AddDefaultCategoryPermissions(EntityTypeDeal, 7)
	p.AddDefaultCategoryPermissions(130, 8)
	per := map[string]int{}
	for _, r := range p.RolePerms {
		per[r.Entity+"/"+string(rune('0'+r.RoleID))]++
	}
	want := map[string]int{"DEAL_C7/1": 1, "DEAL_C7/2": 9, "DYNAMIC_130_C8/3": 10}
	for k, n := range want {
		if per[k] != n {
			t.Errorf("%s: %d rows, want %d (all: %v)", k, per[k], n, per)
		}
	}
	if len(per) != len(want) {
		t.Errorf("rows per entity/role %v, want %v", per, want)
	}
	// DefaultCells agrees: the workplace role only, and all levels.
	if c := p.DefaultCells(2, "smart:a", 130); c != nil {
		t.Errorf("main role on a workplace type: %v", c)
	}
	if c := p.DefaultCells(3, "smart:a", 130); len(c) != 10 || c[0].Level != "all" {
		t.Errorf("workplace role: %v", c)
	}
	// A smart process b24perm has not created yet: open, main roles.
	if c := p.DefaultCells(2, "smart:new", 0); len(c) != 10 {
		t.Errorf("new type: %v", c)
	}
}

func mapSorted[T any](in []T, f func(T) string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	slices.Sort(out)
	return out
}

// The type flags survive the portal file.
func TestSmartTypeFlagsInPortalFile(t *testing.T) {
	p := NewPortal("t")
	p.SmartTypes = []SmartType{{ID: 1, EntityTypeID: 130, Title: "A", IsSetOpenPermissions: "N", CustomSectionID: 4, IsAutomationEnabled: "N", IsStagesEnabled: "Y"}}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.SmartTypes, p.SmartTypes) || q.OpenPermissions(130) || !q.OpenPermissions(131) {
		t.Errorf("decoded %+v", q.SmartTypes)
	}
}
