package webhook

import (
	"context"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
)

// Smart-process types and their pipelines and stages are read over REST,
// and their pipelines are written like deal pipelines.
func TestSmartProcessPipelines(t *testing.T) {
	pt, err := local.DemoPortalValue()
	if err != nil {
		t.Fatal(err)
	}
	pt.SmartProcesses = append(pt.SmartProcesses, local.SmartProcess{ID: 128, Title: "Contracts"})
	pt.Pipelines = append(pt.Pipelines,
		local.Pipeline{ID: 0, Entity: "dynamic_128", Name: "General", Stages: []graph.Stage{{Key: "new", Name: "Draft", StatusID: "DT128_0:NEW"}}},
		local.Pipeline{ID: 1, Entity: "dynamic_128", Name: "Export", Stages: []graph.Stage{{Key: "new", Name: "Draft", StatusID: "DT128_1:NEW"}}})
	s, u := serve(t, sim.Options{Token: "tok"}, pt)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(live.SmartProcesses) != 1 || live.SmartProcesses[0].Key != "contracts" || live.SmartProcesses[0].EntityTypeID != 128 {
		t.Fatalf("smart processes read: %+v", live.SmartProcesses)
	}
	export, ok := live.PipelineByKey("smart:contracts", "export")
	if !ok || export.ID != 1 || len(export.Stages) != 1 || export.Stages[0].StatusID != "DT128_1:NEW" {
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
	for _, x := range s.Portal().Pipelines {
		if x.Entity == "dynamic_128" {
			ids = append(ids, x.ID)
		}
	}
	if !slices.Equal(ids, []int64{0, 1, 2}) {
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
