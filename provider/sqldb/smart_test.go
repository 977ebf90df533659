package sqldb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/google/go-cmp/cmp"
)

// bitrixSmartProcess writes the rows Bitrix writes when a smart process is
// created in the UI, for the tables b24perm reads (yuliai/bitrix-modules
// @ a3a2a579):
//   - b_crm_dynamic_type: TypeTable::getMap and onBeforeAdd
//     (crm/lib/Model/Dynamic/TypeTable.php): NAME, TITLE, TABLE_NAME
//     b_crm_dynamic_items_<entityTypeId>, CREATED_BY/UPDATED_BY the user,
//     IS_INITIALIZED 'Y' once onAfterAdd has created the item tables;
//   - its default category: Factory::createDefaultCategoryIfNotExist
//     (crm/lib/Service/Factory.php) through ItemCategoryTable
//     (crm/lib/Model/ItemCategoryTable.php): IS_DEFAULT 'Y', SORT 500 (the
//     ORM default), CREATED_DATE now, NAME the localized default name;
//   - its stages: Scenario\DefaultStages (crm/lib/Service/Scenario/DefaultStages.php):
//     NEW, PREPARATION, CLIENT, SUCCESS (S), FAIL (F), SORT 10…50, SYSTEM
//     'Y' for NEW/SUCCESS/FAIL, their colors, NAME_INIT = NAME, CATEGORY_ID
//     the category, STATUS_ID prefixed DT<type>_<category>: (CCrmStatus::
//     getDynamicEntityStatusPrefix, crm/classes/general/crm_status.php),
//     ENTITY_ID DYNAMIC_<type>_STAGE_<category> (Factory\Dynamic::getStagesEntityId).
//
// The item tables Bitrix also creates are left out: b24perm never reads them.
func bitrixSmartProcess(t *testing.T, p *Provider, typeID, etid, catID int64, title string) {
	t.Helper()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := p.DB().Exec(p.q(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO b_crm_dynamic_type (ID, ENTITY_TYPE_ID, NAME, TITLE, TABLE_NAME, CREATED_BY, UPDATED_BY, IS_CATEGORIES_ENABLED, IS_STAGES_ENABLED, CREATED_TIME, UPDATED_TIME, IS_INITIALIZED)
		VALUES (?, ?, ?, ?, ?, 1, 1, 'Y', 'Y', '2026-11-02 10:00:00', '2026-11-02 10:00:00', 'Y')`,
		typeID, etid, strings.ReplaceAll(title, " ", ""), title, fmt.Sprintf("b_crm_dynamic_items_%d", etid))
	exec(`INSERT INTO b_crm_item_category (ID, ENTITY_TYPE_ID, IS_DEFAULT, IS_SYSTEM, CREATED_DATE, NAME, SORT) VALUES (?, ?, 'Y', 'N', '2026-11-02 10:00:00', 'General', 500)`, catID, etid)
	entity := fmt.Sprintf("DYNAMIC_%d_STAGE_%d", etid, catID)
	prefix := fmt.Sprintf("DT%d_%d:", etid, catID)
	for i, s := range []struct{ id, name, color, system, sem string }{
		{"NEW", "New", "#22B9FF", "Y", ""}, {"PREPARATION", "Preparation", "#88B9FF", "N", ""}, {"CLIENT", "Client", "#10e5fc", "N", ""},
		{"SUCCESS", "Success", "#00ff00", "Y", "S"}, {"FAIL", "Fail", "#ff0000", "Y", "F"},
	} {
		var sem any
		if s.sem != "" {
			sem = s.sem
		}
		exec(`INSERT INTO b_crm_status (ENTITY_ID, STATUS_ID, NAME, NAME_INIT, SORT, `+(map[string]string{"mysql": "`SYSTEM`", "postgres": "SYSTEM"})[p.dialect]+`, COLOR, SEMANTICS, CATEGORY_ID) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			entity, prefix+s.id, s.name, s.name, (i+1)*10, s.system, s.color, sem, catID)
	}
}

// smartDesired is the demo policy plus the smart process "contracts"
// (renamed), its default pipeline with one stage fewer and one renamed, a
// new pipeline "express", and permissions of the policy's first role on
// both pipelines.
func smartDesired(t *testing.T, stageName string) *graph.Graph {
	desired := policy(t)
	desired.SmartProcesses = append(desired.SmartProcesses, graph.SmartProcess{Key: "contracts", Name: "Agreements"})
	desired.Pipelines = append(desired.Pipelines,
		graph.Pipeline{Entity: "smart:contracts", Key: "default", Name: "General", Stages: []graph.Stage{{Key: "new", Name: stageName}, {Key: "client", Name: "Client"}, {Key: "success", Name: "Success"}, {Key: "fail", Name: "Fail"}}},
		graph.Pipeline{Entity: "smart:contracts", Key: "express", Name: "Express", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "signed", Name: "Signed"}, {Key: "success", Name: "Done"}}},
	)
	for i := range desired.CRMRoles {
		r := &desired.CRMRoles[i]
		for _, pipe := range []string{"default", "express"} {
			for _, act := range []string{"read", "add", "write", "delete", "export", "import"} {
				lvl := "own"
				if i == 0 {
					lvl = map[string]string{"read": "all", "write": "department"}[act]
					if lvl == "" {
						lvl = "none"
					}
				}
				r.Perms = append(r.Perms, graph.CRMPerm{Entity: "smart:contracts", Pipeline: pipe, Action: act, Level: lvl})
			}
		}
		if i == 0 {
			r.Perms = append(r.Perms, graph.CRMPerm{Entity: "smart:contracts", Pipeline: "express", Stage: "signed", Action: "write", Level: "none"})
		}
	}
	return desired.Normalize()
}

func rows(t *testing.T, p *Provider, q string, args ...any) []string {
	t.Helper()
	rs, err := p.DB().Query(p.q(q), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts = append(parts, fmt.Sprint(v))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

// A smart process made in Bitrix is read with its pipeline and stages;
// plan → apply writes its rename, a new pipeline with its stages, the
// changed stages of the default pipeline and the role's permission rows
// (exactly the planned rows: applyPlan checks every table), and the next
// plan is empty. A renamed stage is updated in place.
func TestSmartProcessPipelinesStagesPermissions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		bitrixSmartProcess(t, p, 3, 130, 7, "Contracts")
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live.SmartProcesses) != 1 || live.SmartProcesses[0].EntityTypeID != 130 || len(p.Anomalies) != 0 {
			t.Fatalf("smart processes read: %+v, anomalies %v", live.SmartProcesses, p.Anomalies)
		}
		if pl, ok := live.PipelineByKey("smart:contracts", "default"); !ok || len(pl.Stages) != 5 || pl.ID != 7 {
			t.Fatalf("default smart pipeline read: %+v", pl)
		}
		desired := smartDesired(t, "New")
		// An item in the stage the policy removes: the apply is refused
		// as Bitrix refuses it, until the item moves. The item table is
		// the one TypeTable::onAfterAdd creates (here only the columns
		// read: ID, CATEGORY_ID, STAGE_ID).
		for _, q := range []string{"CREATE TABLE b_crm_dynamic_items_130 (ID INT NOT NULL, CATEGORY_ID INT NULL, STAGE_ID VARCHAR(50) NULL, PRIMARY KEY (ID))",
			"INSERT INTO b_crm_dynamic_items_130 (ID, CATEGORY_ID, STAGE_ID) VALUES (1, 7, 'DT130_7:PREPARATION')"} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		pl, _ := plan.Diff(desired, live, plan.Options{})
		snap := snapshot(t, p)
		if err := p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err == nil || !strings.Contains(err.Error(), `stage "Preparation" (DT130_7:PREPARATION) still has 1 items`) {
			t.Fatalf("deleting a stage with items: %v", err)
		}
		if d := diffSnapshots(snap, snapshot(t, p)); len(d) != 0 {
			t.Fatalf("the refused apply wrote: %v", d)
		}
		if _, err := p.DB().Exec("UPDATE b_crm_dynamic_items_130 SET STAGE_ID = 'DT130_7:NEW'"); err != nil {
			t.Fatal(err)
		}
		applyPlan(t, p, desired)
		live, _ = p.Read(ctx)
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
		if got := rows(t, p, "SELECT TITLE, UPDATED_BY FROM b_crm_dynamic_type"); !slices.Equal(got, []string{"Agreements|1"}) {
			t.Fatalf("b_crm_dynamic_type: %v", got)
		}
		// The new pipeline: a b_crm_item_category row as ItemCategoryTable
		// adds it, its stages with CATEGORY_ID, its permission rows.
		cats := rows(t, p, "SELECT ID, ENTITY_TYPE_ID, NAME, IS_DEFAULT, IS_SYSTEM, CASE WHEN CREATED_DATE IS NULL THEN 'null' ELSE 'set' END FROM b_crm_item_category ORDER BY ID")
		if len(cats) != 2 || !strings.HasSuffix(cats[1], "|130|Express|N|N|set") {
			t.Fatalf("b_crm_item_category: %v", cats)
		}
		express := strings.Split(cats[1], "|")[0]
		stages := rows(t, p, "SELECT STATUS_ID, NAME, SORT, "+map[string]string{"mysql": "`SYSTEM`", "postgres": "SYSTEM"}[p.dialect]+", COALESCE(SEMANTICS, ''), CATEGORY_ID FROM b_crm_status WHERE ENTITY_ID = ? ORDER BY SORT", "DYNAMIC_130_STAGE_"+express)
		want := []string{"DT130_" + express + ":NEW|New|10|N||" + express, "DT130_" + express + ":SIGNED|Signed|20|N||" + express, "DT130_" + express + ":SUCCESS|Done|30|N|S|" + express}
		if !slices.Equal(stages, want) {
			t.Fatalf("express stages: %v, want %v", stages, want)
		}
		perms := rows(t, p, "SELECT ROLE_ID, PERM_TYPE, FIELD, COALESCE(FIELD_VALUE, ''), COALESCE(SETTINGS, '') FROM b_crm_role_perms WHERE ENTITY = ? AND ROLE_ID = (SELECT ID FROM b_crm_role WHERE NAME = ?) ORDER BY PERM_TYPE, FIELD", "DYNAMIC_130_C"+express, desired.CRMRoles[0].Name)
		if len(perms) == 0 || !slices.ContainsFunc(perms, func(s string) bool { return strings.Contains(s, "WRITE|STAGE_ID|DT130_"+express+":SIGNED|") }) {
			t.Fatalf("express permission rows: %v", perms)
		}
		// The removed stage PREPARATION is gone, the others kept their IDs.
		if got := rows(t, p, "SELECT STATUS_ID FROM b_crm_status WHERE ENTITY_ID = 'DYNAMIC_130_STAGE_7' ORDER BY SORT"); !slices.Equal(got, []string{"DT130_7:NEW", "DT130_7:CLIENT", "DT130_7:SUCCESS", "DT130_7:FAIL"}) {
			t.Fatalf("default stages: %v", got)
		}
		// Renaming a stage updates its row in place (same ID, the columns
		// b24perm does not model untouched).
		before := rows(t, p, "SELECT ID, COLOR, NAME_INIT FROM b_crm_status WHERE STATUS_ID = 'DT130_7:NEW'")
		desired = smartDesired(t, "Draft")
		pl = applyPlan(t, p, desired)
		if len(pl.Changes) != 1 || pl.Changes[0].Addr.Kind != graph.KindPipeline {
			t.Fatalf("rename plan: %+v", pl.Changes)
		}
		if after := rows(t, p, "SELECT ID, COLOR, NAME_INIT FROM b_crm_status WHERE STATUS_ID = 'DT130_7:NEW'"); !slices.Equal(before, after) {
			t.Fatalf("renamed stage row: %v, before %v", after, before)
		}
		if got := rows(t, p, "SELECT NAME FROM b_crm_status WHERE STATUS_ID = 'DT130_7:NEW'"); !slices.Equal(got, []string{"Draft"}) {
			t.Fatalf("renamed stage: %v", got)
		}
		live, _ = p.Read(ctx)
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			t.Fatalf("rename not converged: %+v", pl.Changes)
		}
		// Deleting the pipeline deletes its category, stages and rows.
		desired.Pipelines = slices.DeleteFunc(desired.Pipelines, func(x graph.Pipeline) bool { return x.Entity == "smart:contracts" && x.Key == "express" })
		for i := range desired.CRMRoles {
			desired.CRMRoles[i].Perms = slices.DeleteFunc(desired.CRMRoles[i].Perms, func(c graph.CRMPerm) bool { return c.Pipeline == "express" })
		}
		desired.Normalize()
		// Not while it has items.
		for _, q := range []string{"INSERT INTO b_crm_dynamic_items_130 (ID, CATEGORY_ID, STAGE_ID) VALUES (2, " + express + ", 'DT130_" + express + ":NEW')"} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		live, _ = p.Read(ctx)
		del, _ := plan.Diff(desired, live, plan.Options{})
		snap = snapshot(t, p)
		if err := p.Apply(ctx, provider.ApplyRequest{Changes: del.Changes, IDs: del.LiveIDs}); err == nil || !strings.Contains(err.Error(), "still has 1 items") {
			t.Fatalf("deleting a pipeline with items: %v", err)
		}
		if d := diffSnapshots(snap, snapshot(t, p)); len(d) != 0 {
			t.Fatalf("the refused apply wrote: %v", d)
		}
		if _, err := p.DB().Exec("DELETE FROM b_crm_dynamic_items_130 WHERE ID = 2"); err != nil {
			t.Fatal(err)
		}
		applyPlan(t, p, desired)
		if got := rows(t, p, "SELECT COUNT(*) FROM b_crm_role_perms WHERE ENTITY = ?", "DYNAMIC_130_C"+express); !slices.Equal(got, []string{"0"}) {
			t.Fatalf("permission rows of the deleted pipeline: %v", got)
		}
		if got := rows(t, p, "SELECT COUNT(*) FROM b_crm_item_category"); !slices.Equal(got, []string{"1"}) {
			t.Fatalf("categories after delete: %v", got)
		}
	})
}

// Creating or deleting a smart process is a manual step on a database
// (Bitrix creates and drops tables for it); the writer refuses it if it
// gets one anyway, and writes nothing.
func TestSmartProcessCreateIsManual(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		desired := policy(t)
		applyPlan(t, p, desired)
		desired.SmartProcesses = append(desired.SmartProcesses, graph.SmartProcess{Key: "projects", Name: "Projects"})
		desired.Normalize()
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pl, _ := plan.Diff(desired, live, plan.Options{})
		if len(pl.Changes) != 1 || pl.Changes[0].Action != plan.Create {
			t.Fatalf("plan: %+v", pl.Changes)
		}
		before := snapshot(t, p)
		err = p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs})
		if err == nil || !strings.Contains(err.Error(), "created and deleted in Bitrix24") {
			t.Fatalf("create of a smart process: %v", err)
		}
		if d := diffSnapshots(before, snapshot(t, p)); len(d) != 0 {
			t.Fatalf("the refused apply wrote: %v", d)
		}
		MarkManual(pl.Changes, pl.Names)
		if !pl.Changes[0].Manual || len(pl.Changes[0].ManualSteps) < 2 {
			t.Fatalf("not a manual step: %+v", pl.Changes[0])
		}
	})
}

// A concurrent edit of a smart process or of its pipeline is refused as
// stale.
func TestSmartStale(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		bitrixSmartProcess(t, p, 3, 130, 7, "Contracts")
		desired := smartDesired(t, "New")
		for _, e := range []struct{ table, sql string }{
			{"b_crm_dynamic_type", `UPDATE b_crm_dynamic_type SET TITLE = 'Renamed in the UI'`},
			{"b_crm_item_category", `UPDATE b_crm_item_category SET NAME = 'Renamed in the UI'`},
			{"b_crm_status", `UPDATE b_crm_status SET NAME = 'Renamed' WHERE STATUS_ID = 'DT130_7:CLIENT'`},
		} {
			live, err := p.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pl, _ := plan.Diff(desired, live, plan.Options{})
			if _, err := p.DB().Exec(e.sql); err != nil {
				t.Fatal(err)
			}
			err = p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs})
			var stale *StaleError
			if !errors.As(err, &stale) || !strings.Contains(err.Error(), e.table) {
				t.Fatalf("edit of %s not refused as stale: %v", e.table, err)
			}
		}
	})
}

// Native rules older b24perm versions kept in b24perm_field_rule (NATIVE
// 'Y', git 69508c0 provider/sqldb/writer.go syncFieldRules: entity "contact",
// access codes in VIEW_CODES) were never seen by Bitrix: they are not read
// as in force, a warning says what happens to them, and the apply that
// writes the field's b_user_field_permission rows deletes them (another
// field's old row stays, still warned).
func TestLegacyNativeFieldRulesMigrate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		for _, q := range []string{
			`INSERT INTO b24perm_field_rule (NATIVE, ENTITY, CATEGORY_ID, FIELD, STAGES, VIEW_CODES, EDIT_CODES) VALUES ('Y', 'contact', -1, 'UF_CRM_PASSPORT', '', 'D3', '')`,
			`INSERT INTO b24perm_field_rule (NATIVE, ENTITY, CATEGORY_ID, FIELD, STAGES, VIEW_CODES, EDIT_CODES) VALUES ('Y', 'deal', -1, 'UF_CRM_OTHER', '', 'G1', '')`,
		} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(live.FieldRules, func(f graph.FieldRule) bool { return f.Native }) {
			t.Fatalf("legacy native rows read as in force: %+v", live.FieldRules)
		}
		if w := strings.Join(p.Warnings(), "\n"); strings.Count(w, "NATIVE 'Y'") != 2 || !strings.Contains(w, "deletes this row") {
			t.Fatalf("warnings: %s", w)
		}
		desired := policy(t)
		pl := applyPlan(t, p, desired)
		if !slices.ContainsFunc(pl.Changes, func(c plan.Change) bool {
			return c.Addr.Kind == graph.KindFieldRule && c.After != nil && c.After.FieldRule.Native
		}) {
			t.Fatalf("the plan does not write the native rule: %+v", pl.Changes)
		}
		if got := rows(t, p, "SELECT NATIVE, ENTITY, FIELD FROM b24perm_field_rule WHERE NATIVE = 'Y'"); !slices.Equal(got, []string{"Y|deal|UF_CRM_OTHER"}) {
			t.Fatalf("legacy rows after apply: %v", got)
		}
		if got := rows(t, p, "SELECT COUNT(*) FROM b_user_field_permission"); slices.Equal(got, []string{"0"}) {
			t.Fatal("no b_user_field_permission rows written")
		}
		live, _ = p.Read(ctx)
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
		if w := strings.Join(p.Warnings(), "\n"); strings.Count(w, "NATIVE 'Y'") != 1 {
			t.Fatalf("warnings after apply: %s", w)
		}
	})
}

// Seeding a portal file with a smart process, a smart-invoice pipeline and
// native visibility of a smart-process field writes them as Bitrix stores
// them; reading the database gives the same smart processes, pipelines and
// field rules as reading the file.
func TestSeedSmartRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		p, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		portal, err := bitrix.Decode(local.DemoPortal(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		portal.SmartTypes = append(portal.SmartTypes, bitrix.SmartType{ID: 1, EntityTypeID: 128, Title: "Contracts"})
		portal.Categories = append(portal.Categories,
			bitrix.Category{ID: 5, EntityTypeID: 128, Name: "General", Sort: 500, IsDefault: "Y"},
			bitrix.Category{ID: 6, EntityTypeID: 128, Name: "Express", Sort: 510, IsDefault: "N"},
			bitrix.Category{ID: 7, EntityTypeID: bitrix.EntityTypeSmartInvoice, Name: "Invoices", Sort: 500, IsDefault: "Y"})
		portal.Statuses = append(portal.Statuses,
			bitrix.Status{ID: 900, EntityID: "DYNAMIC_128_STAGE_5", StatusID: "DT128_5:NEW", Name: "New", Sort: 10},
			bitrix.Status{ID: 901, EntityID: "DYNAMIC_128_STAGE_6", StatusID: "DT128_6:NEW", Name: "New", Sort: 10},
			bitrix.Status{ID: 902, EntityID: "DYNAMIC_128_STAGE_6", StatusID: "DT128_6:SUCCESS", Name: "Done", Sort: 20, Semantics: "S"},
			bitrix.Status{ID: 903, EntityID: "SMART_INVOICE_STAGE_7", StatusID: "DT31_7:N", Name: "Draft", Sort: 10})
		portal.UFPerms = append(portal.UFPerms, bitrix.UFPermission{ID: 1, EntityTypeID: 128, UserFieldID: 99, Field: "UF_CRM_5_AMOUNT", AccessCode: "G1", PermissionID: 1, Value: 1})
		if err := p.InitSchema(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Seed(ctx, portal); err != nil {
			t.Fatal(err)
		}
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := bitrix.Read(portal)
		if len(p.Anomalies) != 0 {
			t.Fatalf("anomalies: %v", p.Anomalies)
		}
		if d := cmp.Diff(want.SmartProcesses, live.SmartProcesses); d != "" {
			t.Errorf("smart processes (-file +database):\n%s", d)
		}
		if d := cmp.Diff(want.Pipelines, live.Pipelines); d != "" {
			t.Errorf("pipelines (-file +database):\n%s", d)
		}
		if d := cmp.Diff(want.FieldRules, live.FieldRules); d != "" {
			t.Errorf("field rules (-file +database):\n%s", d)
		}
		if got := rows(t, p, "SELECT ENTITY_ID, FIELD_NAME FROM b_user_field WHERE ID = (SELECT USER_FIELD_ID FROM b_user_field_permission)"); !slices.Equal(got, []string{"CRM_128|UF_CRM_5_AMOUNT"}) {
			t.Errorf("native visibility row's field: %v", got)
		}
		// A new smart-invoice pipeline: imported policy + one pipeline.
		desired := importPolicy(t, live)
		desired.Pipelines = append(desired.Pipelines, graph.Pipeline{Entity: "smart_invoice", Key: "abroad", Name: "Abroad", Stages: []graph.Stage{{Key: "n", Name: "Draft"}, {Key: "p", Name: "Paid"}}})
		applyPlan(t, p, desired.Normalize())
		if got := rows(t, p, "SELECT c.NAME, COUNT(s.ID) FROM b_crm_item_category c JOIN b_crm_status s ON s.CATEGORY_ID = c.ID AND s.ENTITY_ID = "+map[string]string{"mysql": "CONCAT('SMART_INVOICE_STAGE_', c.ID)", "postgres": "'SMART_INVOICE_STAGE_' || c.ID"}[p.dialect]+" WHERE c.ENTITY_TYPE_ID = 31 GROUP BY c.NAME ORDER BY c.NAME"); !slices.Equal(got, []string{"Abroad|2", "Invoices|1"}) {
			t.Errorf("smart-invoice pipelines: %v", got)
		}
		// Bitrix gave every role the maximum on the new pipeline
		// (DefaultCategoryPermissions, IS_SET_OPEN_PERMISSIONS 'Y' for
		// smart invoices); the same apply set the declared roles back to
		// the policy, so the next plan is empty.
		if pl := mustPlan(t, p, desired); pl.HasChanges() {
			t.Fatalf("not converged after one apply: %+v", pl.Changes)
		}
		applyPlan(t, p, desired)
		if pl := mustPlan(t, p, desired); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
	})
}

func mustPlan(t *testing.T, p *Provider, desired *graph.Graph) *plan.Plan {
	t.Helper()
	live := mustRead(t, p)
	pl, ds := plan.Diff(desired, live, plan.Options{PipelineDefaults: p.PipelineDefaults})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	return pl
}

// A real portal has no b24perm_field_rule table, but native custom-field
// visibility is Bitrix's own b_user_field_permission: native rules apply
// without b24perm's table.
func TestNativeRulesWithoutFieldRuleTable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		if _, err := p.DB().Exec("DROP TABLE b24perm_field_rule"); err != nil {
			t.Fatal(err)
		}
		desired := policy(t)
		desired.FieldRules = slices.DeleteFunc(desired.FieldRules, func(f graph.FieldRule) bool { return !f.Native })
		if len(desired.FieldRules) == 0 {
			t.Fatal("the policy has no native rule")
		}
		applyPlan(t, p, desired.Normalize())
		if got := rows(t, p, "SELECT COUNT(*) FROM b_user_field_permission"); slices.Equal(got, []string{"0"}) {
			t.Fatal("no b_user_field_permission rows written")
		}
		if pl, _ := plan.Diff(desired, mustRead(t, p), plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
	})
}
