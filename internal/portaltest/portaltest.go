// Package portaltest gives backend tests portals in states the readers
// must carry (issue 13), the same for every backend.
package portaltest

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// Issue13 is the demo portal with every live state issue 13 needs
// the readers to carry: a stage row equal to its entity-level value, an
// explicit stage none without an entity row, a non-chain SETTINGS set, a
// banned member (T), a join request (Z by U) and an invitation (Z by G),
// an archived group (CLOSED=Y), a switched-off feature (ACTIVE=N), a
// group with VISIBLE=N and OPENED=Y, an extranet user (extranet_group)
// and the work_with_closed_groups option.
// demo is the demo portal file (local.DemoPortal).
func Issue13(t testing.TB, demo []byte) *bitrix.Portal {
	t.Helper()
	p, err := bitrix.Decode(demo, "demo")
	if err != nil {
		t.Fatal(err)
	}
	p.Groups = append(p.Groups, bitrix.Group{ID: 14, Name: "extranet"})
	p.Options = append(p.Options, bitrix.Option{ModuleID: "extranet", Name: "extranet_group", Value: "14"},
		bitrix.Option{ModuleID: "socialnetwork", Name: "work_with_closed_groups", Value: "Y"})
	p.Users[8].Groups, p.Users[8].UFDepartment = []int64{2, 14}, nil // user 9
	p.SonetGroups[1].Closed = "Y"
	hidden := p.SonetGroups[0]
	hidden.ID, hidden.Name, hidden.Visible, hidden.Opened, hidden.OwnerID = 3, "Hidden open", "N", "Y", 1
	hidden.NumberOfMembers, hidden.NumberOfModerators = 1, 1
	p.SonetGroups = append(p.SonetGroups, hidden)
	p.User2Group = append(p.User2Group, bitrix.User2Group{ID: 9, GroupID: 1, UserID: 6, Role: "T"},
		bitrix.User2Group{ID: 10, GroupID: 1, UserID: 7, Role: "Z", InitiatedByType: "U"},
		bitrix.User2Group{ID: 11, GroupID: 1, UserID: 8, Role: "Z", InitiatedByType: "G"},
		bitrix.User2Group{ID: 12, GroupID: 3, UserID: 1, Role: "A"})
	p.Features = append(p.Features, bitrix.Feature{ID: 2, EntityType: "G", EntityID: 1, Feature: "forum", Active: "N"})
	p.RolePerms = append(p.RolePerms,
		bitrix.RolePerm{ID: 66, RoleID: 3, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "A"},
		bitrix.RolePerm{ID: 67, RoleID: 3, Entity: "DEAL", Field: "STAGE_ID", FieldValue: "WON", PermType: "READ", Settings: json.RawMessage(`["SELF"]`)},
		bitrix.RolePerm{ID: 68, RoleID: 3, Entity: "DEAL", Field: "STAGE_ID", FieldValue: "WON", PermType: "WRITE", Settings: json.RawMessage(`["0"]`)},
		bitrix.RolePerm{ID: 69, RoleID: 3, Entity: "DEAL", Field: "-", PermType: "EXPORT", Settings: json.RawMessage(`["SELF","OPEN"]`)})
	for table, n := range map[string]int64{"b_group": 14, "b_sonet_group": 3, "b_sonet_user2group": 12, "b_sonet_features": 2, "b_crm_role_perms": 69} {
		p.Counters[table] = max(p.Counters[table], n)
	}
	return p
}

// CheckIssue13 asserts what Issue13 holds, as a backend read it into g.
func CheckIssue13(t testing.TB, g *graph.Graph) {
	t.Helper()
	var interns *graph.CRMRole
	for i := range g.CRMRoles {
		if g.CRMRoles[i].Name == "Interns" {
			interns = &g.CRMRoles[i]
		}
	}
	if interns == nil {
		t.Fatal("no role Interns")
	}
	for _, c := range []struct {
		stage, action, level string
		explicit             bool
	}{{"won", "read", "own", true}, {"won", "write", "none", true}, {"new", "read", "own", false}, {"", "export", "own+open", false}} {
		l, e := interns.Level(graph.CellKey{Entity: "deal", Pipeline: graph.DefaultPipeline, Stage: c.stage, Action: c.action})
		if l != c.level || e != c.explicit {
			t.Errorf("Interns deal %s %s = %s explicit=%v, want %s explicit=%v", c.stage, c.action, l, e, c.level, c.explicit)
		}
	}
	byID := map[int64]graph.Workgroup{}
	for _, w := range g.Workgroups {
		byID[w.ID] = w
	}
	sales := byID[1]
	if len(sales.Banned) != 1 || len(sales.Requests) != 1 || len(sales.Invited) != 1 || !slices.Equal(sales.DisabledFeatures, []string{"forum"}) {
		t.Errorf("Sales team: banned %v, requests %v, invited %v, disabled %v", sales.Banned, sales.Requests, sales.Invited, sales.DisabledFeatures)
	}
	if !byID[2].Archived || byID[1].Archived {
		t.Errorf("archived: Sales team %v, Key accounts %v", byID[1].Archived, byID[2].Archived)
	}
	if v := byID[3].Visibility; v != "secret_open" {
		t.Errorf("VISIBLE=N OPENED=Y reads as %q", v)
	}
	for _, u := range g.Directory.Users {
		if u.Extranet != (u.ID == 9) {
			t.Errorf("user %d: extranet %v", u.ID, u.Extranet)
		}
	}
	if !g.Directory.WorkWithClosedGroups {
		t.Error("work_with_closed_groups not read")
	}
}
