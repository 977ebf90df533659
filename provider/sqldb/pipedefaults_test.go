package sqldb

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
)

// A plan that creates a deal pipeline and a smart-process pipeline
// converges in one apply, whatever Bitrix gives the existing roles on them
// (provider/bitrix/defaults.go: DealCategory::add presets, and
// DefaultCategoryPermissions: the maximum with IS_SET_OPEN_PERMISSIONS 'Y',
// nothing with 'N'): the role the policy gives cells there holds exactly
// those, the declared role without cells holds none, and in additive mode
// an undeclared role keeps Bitrix's defaults.
func TestNewPipelineDefaultsConverge(t *testing.T) {
	for _, mode := range []string{graph.ModeAuthoritative, graph.ModeAdditive} {
		for _, open := range []string{"Y", "N"} {
			t.Run(mode+"/open="+open, func(t *testing.T) {
				dbtest.Each(t, func(t *testing.T, dsn string) { testNewPipelineDefaults(t, dsn, mode, open) })
			})
		}
	}
}

func testNewPipelineDefaults(t *testing.T, dsn, mode, open string) {
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
	portal.SmartTypes = append(portal.SmartTypes, bitrix.SmartType{ID: 1, EntityTypeID: 128, Title: "Contracts", IsSetOpenPermissions: open})
	portal.Categories = append(portal.Categories, bitrix.Category{ID: 5, EntityTypeID: 128, Name: "General", Sort: 500, IsDefault: "Y"})
	portal.Statuses = append(portal.Statuses, bitrix.Status{ID: 900, EntityID: "DYNAMIC_128_STAGE_5", StatusID: "DT128_5:NEW", Name: "New", Sort: 10})
	if err := p.InitSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Seed(ctx, portal); err != nil {
		t.Fatal(err)
	}
	live := mustRead(t, p)
	if got := rows(t, p, "SELECT IS_SET_OPEN_PERMISSIONS FROM b_crm_dynamic_type"); !slices.Equal(got, []string{open}) {
		t.Fatalf("IS_SET_OPEN_PERMISSIONS %v", got)
	}
	smart := graph.SmartProcessPrefix + live.SmartProcesses[0].Key
	desired := importPolicy(t, live)
	desired.Settings = &graph.Settings{Mode: map[string]string{graph.DomainCRM: mode}}
	desired.Pipelines = append(desired.Pipelines,
		graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}},
		graph.Pipeline{Entity: smart, Key: "express", Name: "Express", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "done", Name: "Done"}}})
	var kept []graph.CRMRole
	for _, r := range desired.CRMRoles {
		switch r.Name {
		case "Manager": // cells on both new pipelines
			r.Perms = append(r.Perms,
				graph.CRMPerm{Entity: "deal", Pipeline: "retail", Action: "read", Level: "own"},
				graph.CRMPerm{Entity: "deal", Pipeline: "retail", Stage: "won", Action: "transition", Level: "new"},
				graph.CRMPerm{Entity: smart, Pipeline: "express", Action: "write", Level: "department"})
		case "Administrator":
			if mode == graph.ModeAdditive {
				continue // undeclared: kept as it is, with Bitrix's defaults
			}
		}
		kept = append(kept, r)
	}
	desired.CRMRoles = kept
	desired = desired.Normalize()
	pl := applyPlan(t, p, desired)
	if next := mustPlan(t, p, desired); next.HasChanges() {
		for _, c := range next.Changes {
			t.Errorf("not converged: %s %s %v", c.Action, c.Address, c.Attrs)
		}
	}
	ids := map[string]int64{}
	for _, r := range rows(t, p, "SELECT ID, NAME FROM b_crm_role") {
		var id int64
		var name string
		fmt.Sscanf(r, "%d|%s", &id, &name)
		ids[name] = id
	}
	deal := "DEAL_C" + rows(t, p, "SELECT ID FROM b_crm_deal_category WHERE NAME = 'Retail'")[0]
	dyn := "DYNAMIC_128_C" + rows(t, p, "SELECT ID FROM b_crm_item_category WHERE NAME = 'Express'")[0]
	count := func(role, ent string) int {
		return len(rows(t, p, "SELECT ID FROM b_crm_role_perms WHERE ROLE_ID = ? AND ENTITY = ?", ids[role], ent))
	}
	if n := count("Manager", deal); n != 2 {
		t.Errorf("Manager has %d rows on %s, want its two cells", n, deal)
	}
	if n := count("Manager", dyn); n != 1 {
		t.Errorf("Manager has %d rows on %s, want its one cell", n, dyn)
	}
	if n := count("Interns", deal) + count("Interns", dyn); n != 0 {
		t.Errorf("Interns (declared, no cells there) has %d rows on the new pipelines", n)
	}
	wantDeal, wantDyn := 0, 0
	if mode == graph.ModeAdditive {
		// DealCategory::add: GetDefaultPermissionSet + base set, nine rows;
		// DefaultCategoryPermissions: ten rows (max) or none (min).
		wantDeal = 9
		if open == "Y" {
			wantDyn = 10
		}
	}
	if n := count("Administrator", deal); n != wantDeal {
		t.Errorf("Administrator has %d rows on %s, want %d", n, deal, wantDeal)
	}
	if n := count("Administrator", dyn); n != wantDyn {
		t.Errorf("Administrator has %d rows on %s, want %d", n, dyn, wantDyn)
	}
	// The plan's after-state (the access delta's) has the kept role's
	// defaults too.
	if mode == graph.ModeAdditive {
		i := slices.IndexFunc(pl.After.CRMRoles, func(r graph.CRMRole) bool { return r.Name == "Administrator" })
		n := 0
		for _, c := range pl.After.CRMRoles[i].Perms {
			if c.Pipeline == "retail" || c.Pipeline == "express" {
				n++
			}
		}
		if n != wantDeal+wantDyn {
			t.Errorf("plan after-state: Administrator has %d cells on the new pipelines, want %d", n, wantDeal+wantDyn)
		}
	}
}

// New lead statuses and new stages of the default deal pipeline get
// CATEGORY_ID 0, as CCrmStatus::Add writes them
// (crm/classes/general/crm_status.php: the category of a DEAL_STAGE_<n>
// entity, else 0); a new pipeline's stages get the pipeline's ID.
func TestNewStageCategoryID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		desired := importPolicy(t, mustRead(t, p))
		for i, pl := range desired.Pipelines {
			if (pl.Entity == "deal" || pl.Entity == "lead") && pl.Key == graph.DefaultPipeline {
				st := slices.Clone(pl.Stages)
				desired.Pipelines[i].Stages = slices.Insert(st, 1, graph.Stage{Key: "check", Name: "Check"})
			}
		}
		desired.Pipelines = append(desired.Pipelines, graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}}})
		desired = desired.Normalize()
		applyPlan(t, p, desired)
		retail := rows(t, p, "SELECT ID FROM b_crm_deal_category WHERE NAME = 'Retail'")[0]
		got := rows(t, p, "SELECT ENTITY_ID, STATUS_ID, COALESCE(CATEGORY_ID, -1) FROM b_crm_status WHERE STATUS_ID IN ('CHECK', 'C"+retail+":NEW') ORDER BY ENTITY_ID")
		want := []string{"DEAL_STAGE|CHECK|0", "DEAL_STAGE_" + retail + "|C" + retail + ":NEW|" + retail, "STATUS|CHECK|0"}
		if !slices.Equal(got, want) {
			t.Errorf("new stages (ENTITY_ID|STATUS_ID|CATEGORY_ID):\n got %v\nwant %v", got, want)
		}
		if pl := mustPlan(t, p, desired); pl.HasChanges() {
			t.Errorf("not converged: %+v", pl.Changes)
		}
	})
}
