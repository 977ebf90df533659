package webhook

import (
	"context"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
)

// Smart-process types and their pipelines and stages are read over REST,
// and their pipelines are written like deal pipelines.
func TestSmartProcessPipelines(t *testing.T) {
	pt, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	// A smart process with its default category 11 and a second one, 12,
	// as b_crm_dynamic_type, b_crm_item_category and b_crm_status hold
	// them.
	pt.SmartTypes = append(pt.SmartTypes, bitrix.SmartType{ID: 1, EntityTypeID: 128, Title: "Contracts"})
	pt.Categories = append(pt.Categories,
		bitrix.Category{ID: 11, EntityTypeID: 128, Name: "General", Sort: 10, IsDefault: "Y"},
		bitrix.Category{ID: 12, EntityTypeID: 128, Name: "Export", Sort: 20, IsDefault: "N"})
	pt.Statuses = append(pt.Statuses,
		bitrix.Status{ID: 901, EntityID: "DYNAMIC_128_STAGE_11", StatusID: "DT128_11:NEW", Name: "Draft", Sort: 10},
		bitrix.Status{ID: 902, EntityID: "DYNAMIC_128_STAGE_12", StatusID: "DT128_12:NEW", Name: "Draft", Sort: 10})
	s, p, live := readSim(t, pt)
	if len(live.SmartProcesses) != 1 || live.SmartProcesses[0].Key != "contracts" || live.SmartProcesses[0].EntityTypeID != 128 {
		t.Fatalf("smart processes read: %+v", live.SmartProcesses)
	}
	export, ok := live.PipelineByKey("smart:contracts", "export")
	if !ok || export.ID != 12 || len(export.Stages) != 1 || export.Stages[0].StatusID != "DT128_12:NEW" {
		t.Fatalf("smart pipeline read: %+v (found %v)", export, ok)
	}
	// Add a stage to Export and a new pipeline.
	desired := *live
	desired.Pipelines = slices.Clone(live.Pipelines)
	for i := range desired.Pipelines {
		if desired.Pipelines[i].Entity == "smart:contracts" && desired.Pipelines[i].Key == "export" {
			desired.Pipelines[i].Stages = append(slices.Clone(desired.Pipelines[i].Stages), graph.Stage{Key: "signed", Name: "Signed"})
		}
	}
	desired.Pipelines = append(desired.Pipelines, graph.Pipeline{Entity: "smart:contracts", Key: "imports", Name: "Imports", Stages: []graph.Stage{{Key: "new", Name: "Start"}}})
	desired.Normalize()
	pl, ds := plan.Diff(&desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if len(pl.Changes) != 2 {
		t.Fatalf("want 2 pipeline changes, got %+v", pl.Changes)
	}
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: pl.Changes}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, x := range s.Portal().Categories {
		if x.EntityTypeID == 128 {
			ids = append(ids, x.ID)
		}
	}
	if !slices.Equal(ids, []int64{11, 12, 13}) {
		t.Fatalf("smart categories after apply: %v", ids)
	}
	again, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pl2, _ := plan.Diff(&desired, again, plan.Options{}); len(pl2.Changes) != 0 {
		t.Fatalf("not converged: %+v", pl2.Changes)
	}
}
