package sqldb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/importer"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
)

// realistic seeds the demo portal and then adds what real portals hold
// (written the way Bitrix writes it, under the session's sql_mode):
// legacy letter rows next to SETTINGS rows (ATTR NULL and ATTR ”), permission rows of
// entities b24perm does not model (ORDER, CCA), a web-form role with its
// GROUP_CODE, a banned (T) and a requested (Z) membership, a switched-off
// feature and a feature without operations.
func realistic(t *testing.T, dsn string) *Provider {
	t.Helper()
	p := seeded(t, dsn)
	for _, q := range []string{
		`UPDATE b_crm_role_perms SET ATTR = 'X', SETTINGS = NULL WHERE ROLE_ID = 1 AND SETTINGS = '["SELF","DEPARTMENT","SUBDEPARTMENTS","OPEN","ALL"]' AND ENTITY = 'LEAD'`,
		`UPDATE b_crm_role_perms SET ATTR = '' WHERE ROLE_ID = 2 AND SETTINGS IS NOT NULL AND ENTITY = 'CONTACT'`,
		`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR, SETTINGS) VALUES (2, 'ORDER', '-', 'READ', 'X', NULL)`,
		`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR, SETTINGS) VALUES (2, 'CCA', '-', 'WRITE', NULL, '["SELF"]')`,
		`INSERT INTO b_crm_role (ID, NAME, IS_SYSTEM, CODE, GROUP_CODE) VALUES (20, 'Web forms', 'Y', 'WEBFORM_MANAGER', 'CRM_WEBFORM')`,
		`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR, SETTINGS) VALUES (20, 'WEBFORM_CONFIG', '-', 'WRITE', NULL, '["ALL"]')`,
		`INSERT INTO b_crm_role_relation (ROLE_ID, RELATION) VALUES (20, 'G1')`,
		`INSERT INTO b_sonet_user2group (USER_ID, GROUP_ID, ROLE, DATE_CREATE, DATE_UPDATE, INITIATED_BY_TYPE, INITIATED_BY_USER_ID) VALUES (9, 1, 'T', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'G', 5)`,
		`INSERT INTO b_sonet_user2group (USER_ID, GROUP_ID, ROLE, DATE_CREATE, DATE_UPDATE, INITIATED_BY_TYPE, INITIATED_BY_USER_ID) VALUES (8, 1, 'Z', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'U', 8)`,
		`INSERT INTO b_sonet_features (ENTITY_TYPE, ENTITY_ID, FEATURE, ACTIVE, DATE_CREATE, DATE_UPDATE) VALUES ('G', 1, 'forum', 'N', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO b_sonet_features (ENTITY_TYPE, ENTITY_ID, FEATURE, ACTIVE, DATE_CREATE, DATE_UPDATE) VALUES ('G', 1, 'chat', 'Y', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
	} {
		res, err := p.DB().Exec(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s changed no row", q)
		}
	}
	return p
}

// importPolicy is `b24perm import`: the live graph written as policy and
// compiled back.
func importPolicy(t *testing.T, live *graph.Graph) *graph.Graph {
	t.Helper()
	files, err := importer.Write(live)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := compiler.CompileDir(dir, compiler.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Err())
	}
	return res.Graph
}

func TestRoundTripRealisticDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := realistic(t, dsn)
		ctx := context.Background()
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		desired := importPolicy(t, live)
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			for _, c := range pl.Changes {
				t.Errorf("import → plan is not empty: %s %s %+v", c.Action, c.Address, c.Attrs)
			}
			t.FailNow()
		}
		// One changed cell on the role that also holds ORDER and CCA rows.
		changed := false
		for i := range desired.CRMRoles {
			r := &desired.CRMRoles[i]
			if r.Name != "Manager" {
				continue
			}
			for j := range r.Perms {
				if r.Perms[j].Entity == "lead" && r.Perms[j].Action == "read" && r.Perms[j].Stage == "" {
					r.Perms[j].Level = "all"
					changed = true
				}
			}
		}
		if !changed {
			t.Fatal("role 2 has no lead read cell to change")
		}
		desired.Normalize()
		before := snapshot(t, p)
		pl := applyPlan(t, p, desired)
		if len(pl.Changes) != 1 || len(pl.Changes[0].Attrs) != 1 {
			t.Fatalf("one cell should change: %+v", pl.Changes)
		}
		after := snapshot(t, p)
		var changes []string
		for _, c := range diffSnapshots(before, after) {
			row := c.after
			if row == nil {
				row = c.before
			}
			if e := row["ENTITY"]; c.table == "b_crm_role_perms" && (e == "ORDER" || e == "CCA" || e == "WEBFORM_CONFIG") {
				t.Errorf("the apply touched a row b24perm does not manage: %s", c)
			}
			changes = append(changes, c.String())
		}
		if len(changes) == 0 || len(changes) > 2 {
			t.Errorf("one cell should change one row (or delete+insert it): %s", strings.Join(changes, "\n"))
		}
		if pl, _ := plan.Diff(desired, mustRead(t, p), plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
		// Adding a member to the workgroup with the banned and requested
		// users and the switched-off feature keeps those rows.
		var email string
		for _, u := range live.Directory.Users {
			if u.ID == 6 {
				email = u.Email
			}
		}
		for i := range desired.Workgroups {
			if desired.Workgroups[i].ID == 1 || desired.Workgroups[i].Name == "Sales team" {
				desired.Workgroups[i].Members = append(desired.Workgroups[i].Members, graph.SubjUser+":"+email)
			}
		}
		desired.Normalize()
		before = snapshot(t, p)
		if pl := applyPlan(t, p, desired); len(pl.Changes) != 1 {
			t.Fatalf("one workgroup change expected: %+v", pl.Changes)
		}
		after = snapshot(t, p)
		members := map[string]string{}
		for _, r := range after["b_sonet_user2group"] {
			if r["GROUP_ID"] == "1" {
				members[r["USER_ID"]] = r["ROLE"]
			}
		}
		if members["9"] != "T" || members["8"] != "Z" || members["6"] != "K" {
			t.Errorf("memberships after adding user 6: %v", members)
		}
		var forum map[string]string
		for _, r := range after["b_sonet_features"] {
			if r["ENTITY_ID"] == "1" && r["FEATURE"] == "forum" {
				forum = r
			}
		}
		if forum == nil || forum["ACTIVE"] != "N" {
			t.Errorf("the switched-off forum feature: %v", forum)
		}
		for _, r := range after["b_sonet_group"] {
			if r["ID"] == "1" && r["NUMBER_OF_MEMBERS"] != "6" {
				t.Errorf("NUMBER_OF_MEMBERS = %s, want 6 (owner, moderator, 4 members)", r["NUMBER_OF_MEMBERS"])
			}
		}
		for _, c := range diffSnapshots(before, after) {
			switch c.table {
			case "b_sonet_user2group", "b_sonet_group":
			default:
				t.Errorf("adding a member changed %s", c)
			}
		}
	})
}
