package bitrix

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// tiny is a portal with a deal pipeline (category 3, stages NEW/WON), the
// default deal category (NEW/WON) and one role.
func tiny() *Portal {
	p := NewPortal("tiny")
	p.Users = []User{{ID: 1, Email: "admin@example.com", Name: "Admin", Active: "Y", UFDepartment: []int64{1}, Groups: []int64{1, 2}},
		{ID: 2, Email: "anna@example.com", Name: "Anna", LastName: "Petrova", Active: "Y", UFDepartment: []int64{2}, Groups: []int64{2}}}
	p.Departments = []Department{{ID: 1, Name: "Company"}, {ID: 2, Name: "Sales", Parent: 1, Head: 2}}
	p.Categories = append(p.Categories, Category{ID: 3, EntityTypeID: EntityTypeDeal, Name: "Wholesale", IsDefault: "N"})
	p.Statuses = []Status{{ID: 1, EntityID: "DEAL_STAGE", StatusID: "NEW", Name: "New", Sort: 10}, {ID: 2, EntityID: "DEAL_STAGE", StatusID: "WON", Name: "Won", Sort: 20},
		{ID: 3, EntityID: "DEAL_STAGE_3", StatusID: "C3:NEW", Name: "New", Sort: 10}, {ID: 4, EntityID: "DEAL_STAGE_3", StatusID: "C3:WON", Name: "Won", Sort: 20},
		{ID: 5, EntityID: "STATUS", StatusID: "NEW", Name: "Unassigned", Sort: 10}}
	p.Roles = []Role{{ID: 1, Name: "Manager", IsSystem: "N"}}
	p.RoleRelations = []RoleRelation{{ID: 1, RoleID: 1, Relation: "DR2"}, {ID: 2, RoleID: 1, Relation: "U2"}, {ID: 3, RoleID: 1, Relation: "CHAT9"}}
	p.fixCounters()
	return p
}

func row(entity, field, value, permType, attr, settings string) RolePerm {
	r := RolePerm{RoleID: 1, Entity: entity, Field: field, FieldValue: value, PermType: permType, Attr: attr}
	if settings != "" {
		r.Settings = json.RawMessage(settings)
	}
	return r
}

func TestReadCells(t *testing.T) {
	tests := []struct {
		name string
		row  RolePerm
		want string // "pipeline/stage/action=level", "" for no cell
	}{
		{"letter X", row("DEAL", "-", "", "READ", "X", ""), "default//read=all"},
		{"letter D", row("DEAL_C3", "-", "", "WRITE", "D", ""), "wholesale//write=department"},
		{"letter padded", row("DEAL", "-", "", "ADD", "A ", ""), "default//add=own"},
		{"legacy empty row is none", row("DEAL", "-", "", "DELETE", "", ""), ""},
		{"settings chain", row("DEAL", "-", "", "READ", "", `["SELF","DEPARTMENT","SUBDEPARTMENTS"]`), "default//read=subdepartments"},
		{"settings unordered", row("DEAL", "-", "", "READ", "", `["DEPARTMENT","SELF"]`), "default//read=department"},
		{"settings all", row("DEAL", "-", "", "READ", "", `["SELF","DEPARTMENT","SUBDEPARTMENTS","OPEN","ALL"]`), "default//read=all"},
		{"settings none", row("DEAL", "-", "", "READ", "", `["0"]`), ""},
		{"settings non-chain", row("DEAL", "-", "", "READ", "", `["SELF","OPEN"]`), "default//read=own+open"},
		{"settings null uses ATTR", row("DEAL", "-", "", "READ", "O", `null`), "default//read=open"},
		{"stage explicit none kept", row("DEAL", "STAGE_ID", "WON", "READ", "", `["0"]`), "default/won/read=none"},
		{"stage letter empty is none", row("DEAL_C3", "STAGE_ID", "C3:WON", "READ", "", ""), "wholesale/won/read=none"},
		{"stage inherit skipped", row("DEAL", "STAGE_ID", "WON", "READ", "", `["INHERIT"]`), ""},
		{"lead status field", row("LEAD", "STATUS_ID", "NEW", "READ", "A", ""), "default/new/read=own"},
		{"transition any", row("DEAL", "-", "", "TRANSITION", "", `["ANY"]`), "default//transition=any"},
		{"transition blocked", row("DEAL", "STAGE_ID", "NEW", "TRANSITION", "", `["BLOCKED"]`), "default/new/transition=none"},
		{"transition list", row("DEAL_C3", "STAGE_ID", "C3:NEW", "TRANSITION", "", `["C3:WON","C3:NEW"]`), "wholesale/new/transition=new,won"},
		{"toggle X", row("DEAL", "-", "", "AUTOMATION", "X", ""), "default//automation=all"},
		{"toggle empty", row("DEAL", "-", "", "MYCARDVIEW", "", ""), ""},
		{"config write", row("CONFIG", "-", "", "WRITE", "X", ""), "//write=all"},
		{"contact all", row("CONTACT", "-", "", "READ", "X", ""), "//read=all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tiny()
			r := tc.row
			r.ID = 1
			p.RolePerms = []RolePerm{r}
			if r.Field != "-" {
				// A parent row, so that the stage row differs from what it inherits.
				p.RolePerms = append(p.RolePerms, RolePerm{ID: 2, RoleID: 1, Entity: r.Entity, Field: "-", PermType: r.PermType, Attr: "X", Settings: json.RawMessage(`["ANY"]`)})
				if r.PermType != "TRANSITION" {
					p.RolePerms[1].Settings = nil
				}
			}
			g, an := Read(p)
			if len(an) > 0 {
				t.Fatalf("anomalies: %v", an)
			}
			var got []string
			for _, c := range g.CRMRoles[0].Perms {
				got = append(got, c.Pipeline+"/"+c.Stage+"/"+c.Action+"="+c.Level)
			}
			if r.Field != "-" {
				got = slices.DeleteFunc(got, func(s string) bool { return strings.Contains(s, "//") })
			}
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("got cells %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestReadAnomalies(t *testing.T) {
	tests := []struct {
		name string
		row  RolePerm
		want string
	}{
		{"unknown entity", row("FOO", "-", "", "READ", "X", ""), `unknown ENTITY "FOO"`},
		{"unknown perm type", row("DEAL", "-", "", "FLY", "X", ""), `unknown PERM_TYPE "FLY"`},
		{"bad settings", row("DEAL", "-", "", "READ", "", `{"a":1}`), "SETTINGS is not a JSON list"},
		{"dash letter", row("DEAL", "-", "", "READ", "-", ""), "ATTR '-'"},
		{"unknown letter", row("DEAL", "-", "", "READ", "B", ""), `unknown ATTR "B"`},
		{"unknown set member", row("DEAL", "-", "", "READ", "", `["THISROLE"]`), "unknown member"},
		{"missing stage", row("DEAL", "STAGE_ID", "C9:WON", "READ", "X", ""), `stage "C9:WON" of DEAL does not exist`},
		{"missing category", row("DEAL_C9", "-", "", "READ", "X", ""), "category 9 does not exist"},
		{"stage row on toggle", row("DEAL", "STAGE_ID", "WON", "AUTOMATION", "X", ""), "no stage rows"},
		{"toggle letter", row("CONFIG", "-", "", "WRITE", "D", ""), "yes/no"},
		{"saletarget open", row("SALETARGET", "-", "", "READ", "O", ""), "not allowed"},
		{"missing smart type", row("DYNAMIC_999_C1", "-", "", "READ", "X", ""), "smart-process type 999"},
		{"transition unknown target", row("DEAL", "-", "", "TRANSITION", "", `["C9:X"]`), "target stage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tiny()
			r := tc.row
			r.ID = 77
			p.RolePerms = []RolePerm{r, {ID: 78, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "EXPORT", Attr: "A"}}
			g, an := Read(p)
			if len(an) != 1 {
				t.Fatalf("anomalies %v, want one", an)
			}
			if an[0].Table != TRolePerm || an[0].ID != 77 || !strings.Contains(an[0].Problem, tc.want) {
				t.Fatalf("anomaly %v, want row 77 with %q", an[0], tc.want)
			}
			// The good row is still read.
			if len(g.CRMRoles[0].Perms) == 0 {
				t.Fatalf("good rows were dropped")
			}
		})
	}
}

func TestReadStructureAndSubjects(t *testing.T) {
	p := tiny()
	p.RolePerms = []RolePerm{{ID: 1, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "X"}, {ID: 2, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "A"},
		{ID: 3, RoleID: 5, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "A"}}
	p.SonetGroups = []SonetGroup{{ID: 1, Name: "Key accounts", Visible: "Y", Opened: "N", OwnerID: 2}, {ID: 2, Name: "Odd", Visible: "N", Opened: "Y", OwnerID: 1},
		{ID: 3, Name: "Key accounts", Visible: "Y", Opened: "Y", OwnerID: 1}}
	p.User2Group = []User2Group{{ID: 1, GroupID: 1, UserID: 2, Role: "A"}, {ID: 2, GroupID: 1, UserID: 1, Role: "E"}, {ID: 3, GroupID: 3, UserID: 2, Role: "K"}, {ID: 4, GroupID: 3, UserID: 1, Role: "Z"}}
	p.Features = []Feature{{ID: 1, EntityType: "G", EntityID: 1, Feature: "tasks", Active: "Y"}}
	p.FeaturePerms = []FeaturePerm{{ID: 1, FeatureID: 1, OperationID: "edit_tasks", Role: "K"}, {ID: 2, FeatureID: 1, OperationID: "view", Role: "Q"}}
	p.RoleRelations = append(p.RoleRelations, RoleRelation{ID: 4, RoleID: 1, Relation: "SG3_K"})
	g, an := Read(p)
	var probs []string
	for _, a := range an {
		probs = append(probs, a.String())
	}
	joined := strings.Join(probs, "\n")
	for _, want := range []string{"b_crm_role_perms row 2: duplicates row 1", "b_crm_role_perms row 3: role 5 does not exist",
		"b_sonet_features2perms row 2: unknown ROLE \"Q\""} {
		if !strings.Contains(joined, want) {
			t.Errorf("anomalies lack %q:\n%s", want, joined)
		}
	}
	// VISIBLE=N with OPENED=Y is a state a portal holds (secret_open), not
	// an anomaly.
	if len(an) != 3 {
		t.Errorf("%d anomalies, want 3:\n%s", len(an), joined)
	}
	role := g.CRMRoles[0]
	wantAssign := []string{"code:CHAT9", "department_tree:Company/Sales", "user:anna@example.com", "workgroup_members:key_accounts_3"}
	if strings.Join(role.Assign, " ") != strings.Join(wantAssign, " ") {
		t.Errorf("assign %v, want %v", role.Assign, wantAssign)
	}
	if len(role.Perms) != 1 || role.Perms[0].Level != "all" {
		t.Errorf("perms %v: the first of duplicate rows wins", role.Perms)
	}
	keys := map[string]graph.Workgroup{}
	for _, w := range g.Workgroups {
		keys[w.Key] = w
	}
	if w := keys["key_accounts"]; w.Visibility != "private" || w.Owner != "user:anna@example.com" || len(w.Moderators) != 1 ||
		len(w.Features) != 1 || w.Features[0].Role != "members" {
		t.Errorf("key_accounts = %+v", w)
	}
	if keys["odd"].Visibility != "secret_open" || keys["key_accounts_3"].Visibility != "public" || len(keys["key_accounts_3"].Members) != 1 {
		t.Errorf("workgroups = %+v", g.Workgroups)
	}
	var pipes []string
	for _, pl := range g.Pipelines {
		var st []string
		for _, s := range pl.Stages {
			st = append(st, s.Key+"="+s.StatusID)
		}
		pipes = append(pipes, pl.Entity+"."+pl.Key+"["+strings.Join(st, ",")+"]")
	}
	want := "deal.default[new=NEW,won=WON] deal.wholesale[new=C3:NEW,won=C3:WON] lead.default[new=NEW]"
	if strings.Join(pipes, " ") != want {
		t.Errorf("pipelines %v, want %s", pipes, want)
	}
	if u := g.Directory.Users[1]; u.Name != "Anna Petrova" || u.Admin || !g.Directory.Users[0].Admin {
		t.Errorf("users = %+v", g.Directory.Users)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := tiny().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good, "p.json"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"truncated", string(good[:len(good)/2]), "p.json is not a valid portal file: line"},
		{"syntax", strings.Replace(string(good), `"b_user": [`, `"b_user": [,`, 1), "invalid character"},
		{"unknown field", strings.Replace(string(good), `"portal": "tiny"`, `"portal": "tiny", "x": 1`, 1), "unknown field"},
		{"other format", `{"format": "other"}`, "not a bitrix-tables portal file"},
		{"newer", strings.Replace(string(good), `"format_version": 1`, `"format_version": 9`, 1), "upgrade b24perm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in), "p.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if !IsPortalFile(good) || IsPortalFile([]byte(`{"format_version": 1}`)) {
		t.Fatal("IsPortalFile")
	}
}

func TestEncodeCompactsScalarArrays(t *testing.T) {
	p := tiny()
	p.Roles[0].Name = `Sales [north] "A\" ]` + "\u00e9"
	p.RolePerms = []RolePerm{{ID: 1, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Settings: json.RawMessage(`["SELF", "DEPARTMENT"]`)}}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"SETTINGS": ["SELF","DEPARTMENT"]`, `"UF_DEPARTMENT": [2]`, `"GROUPS": [1,2]`, `"NAME": "Sales [north] \"A\\\" ]é"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoded portal lacks %s", want)
		}
	}
	back, err := Decode(b, "p.json")
	if err != nil {
		t.Fatal(err)
	}
	if back.Roles[0].Name != p.Roles[0].Name {
		t.Fatalf("name %q, want %q", back.Roles[0].Name, p.Roles[0].Name)
	}
	again, _ := back.Encode()
	if string(again) != string(b) {
		t.Fatal("encoding is not stable")
	}
}

func TestIsPortalFileAnywhere(t *testing.T) {
	if !IsPortalFile([]byte(`{"portal": "x", "b_user": [], "format": "bitrix-tables"}`)) {
		t.Fatal("format after other members not recognized")
	}
	p, err := Decode([]byte(`{"portal": "x", "b_user": [], "format": "bitrix-tables"}`), "x.json")
	if err != nil || p.Portal != "x" {
		t.Fatalf("Decode = %+v, %v", p, err)
	}
}

// Issue 13 cause 3: a live stage row equal to its entity-level value (an
// explicit none with no entity row included) is kept: it is explicit and
// beats other roles' inherited values (bitrix-permissions.md §3.3, §11).
func TestReadKeepsStageRowsEqualToTheEntityLevel(t *testing.T) {
	p := tiny()
	p.RolePerms = []RolePerm{
		{ID: 1, RoleID: 1, Entity: "DEAL", Field: "-", PermType: "READ", Attr: "A"},
		{ID: 2, RoleID: 1, Entity: "DEAL", Field: "STAGE_ID", FieldValue: "WON", PermType: "READ", Settings: json.RawMessage(`["SELF"]`)},
		{ID: 3, RoleID: 1, Entity: "DEAL", Field: "STAGE_ID", FieldValue: "WON", PermType: "WRITE", Settings: json.RawMessage(`["0"]`)},
		{ID: 4, RoleID: 1, Entity: "DEAL", Field: "STAGE_ID", FieldValue: "NEW", PermType: "READ", Settings: json.RawMessage(`["INHERIT"]`)},
	}
	g, an := Read(p)
	if len(an) > 0 {
		t.Fatalf("anomalies: %v", an)
	}
	role := g.CRMRoles[0]
	for _, tc := range []struct {
		stage, action, level string
		explicit             bool
	}{{"won", "read", "own", true}, {"won", "write", "none", true}, {"new", "read", "own", false}} {
		l, e := role.Level(graph.CellKey{Entity: "deal", Pipeline: "default", Stage: tc.stage, Action: tc.action})
		if l != tc.level || e != tc.explicit {
			t.Errorf("%s %s = %s explicit=%v, want %s explicit=%v", tc.stage, tc.action, l, e, tc.level, tc.explicit)
		}
	}
}

// Non-chain SETTINGS sets read and write as the same set; a single member
// other than SELF is not its chain level.
func TestSettingsSetsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		set   []string
		level string
	}{
		{[]string{"SELF", "OPEN"}, "own+open"},
		{[]string{"DEPARTMENT"}, "+department"},
		{[]string{"SELF", "DEPARTMENT"}, "department"},
		{[]string{"DEPARTMENT", "SUBDEPARTMENTS", "OPEN"}, "department+subdepartments+open"},
		{[]string{"0"}, "none"},
		{[]string{"SELF", "DEPARTMENT", "SUBDEPARTMENTS", "OPEN", "ALL"}, "all"},
	} {
		l, inherit, ok := settingsLevel(tc.set)
		if l != tc.level || inherit || !ok {
			t.Errorf("settingsLevel(%v) = %s, %v, %v; want %s", tc.set, l, inherit, ok, tc.level)
		}
		back, err := chainLevelSettings(tc.level)
		if err != nil || !slices.Equal(back, tc.set) {
			t.Errorf("chainLevelSettings(%s) = %v, %v; want %v", tc.level, back, err, tc.set)
		}
	}
}
