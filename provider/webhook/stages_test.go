package webhook

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
)

// Over REST, a new stage and a reorder get the SORT and SEMANTICS the SQL
// backend writes (bitrix.PlanStages): crm.status.update for the moved row
// only, crm.status.add with the SORT between its neighbours and SEMANTICS
// F for a stage after the failure stages, which the simulator checks as
// StatusTable::onBeforeAdd does; the next plan is empty.
func TestPipelineStageOrder(t *testing.T) {
	pt, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	s, p, live := readSim(t, pt)
	desired := *live
	desired.Pipelines = slices.Clone(live.Pipelines)
	i := slices.IndexFunc(desired.Pipelines, func(x graph.Pipeline) bool { return x.Entity == "deal" && x.Key == graph.DefaultPipeline })
	st := desired.Pipelines[i].Stages // new, preparation, executing, won, lose
	desired.Pipelines[i].Stages = []graph.Stage{st[0], {Key: "offer", Name: "Offer sent"}, st[2], st[1], st[3], st[4], {Key: "no_budget", Name: "No budget"}}
	desired.Normalize()
	pl, ds := plan.Diff(&desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	before := map[int64]bitrix.Status{}
	for _, x := range s.Portal().Statuses {
		before[x.ID] = x
	}
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range s.Portal().Statuses {
		if b, ok := before[x.ID]; !ok || b != x {
			got = append(got, fmt.Sprintf("%s=%d/%s", x.StatusID, x.Sort, x.Semantics))
		}
	}
	slices.Sort(got)
	if want := []string{"NO_BUDGET=60/F", "OFFER=20/", "PREPARATION=35/"}; !slices.Equal(got, want) {
		t.Errorf("rows written %v, want %v", got, want)
	}
	again, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pl2, _ := plan.Diff(&desired, again, plan.Options{}); len(pl2.Changes) != 0 {
		t.Fatalf("not converged: %+v", pl2.Changes)
	}
}

// A new pipeline over REST: crm.category.add brings Bitrix's default
// stages; those the policy does not keep go before the new ones are
// added, so a default success stage does not refuse them.
func TestNewPipelineStagesOverREST(t *testing.T) {
	pt, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	s, p, live := readSim(t, pt)
	desired := *live
	desired.Pipelines = append(slices.Clone(live.Pipelines), graph.Pipeline{Entity: "deal", Key: "b2b", Name: "B2B", Stages: []graph.Stage{
		{Key: "new", Name: "New"}, {Key: "offer", Name: "Offer"}, {Key: "contract", Name: "Contract"}, {Key: "signed", Name: "Signed"}}}) // no success stage
	desired.Normalize()
	pl, ds := plan.Diff(&desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range s.Portal().Statuses {
		if x.EntityID == "DEAL_STAGE_2" {
			got = append(got, fmt.Sprintf("%s=%d/%s", x.StatusID, x.Sort, x.Semantics))
		}
	}
	if want := []string{"C2:NEW=10/", "C2:OFFER=20/", "C2:CONTRACT=30/", "C2:SIGNED=40/"}; !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
	again, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pl2, _ := plan.Diff(&desired, again, plan.Options{}); len(pl2.Changes) != 0 {
		t.Fatalf("not converged: %+v", pl2.Changes)
	}
}
