package plan

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Deal categories (b_crm_deal_category) and smart-process categories
// (b_crm_item_category) are numbered separately, so a deal pipeline and a
// smart-process pipeline can have the same live ID: state IDs re-key each
// within its own entity.
func TestRekeyPipelineIDsPerEntity(t *testing.T) {
	sp := []graph.SmartProcess{{Key: "contracts", Name: "Contracts", EntityTypeID: 128}}
	live := &graph.Graph{SmartProcesses: sp, Pipelines: []graph.Pipeline{
		{Entity: "deal", Key: "export", Name: "Export", ID: 2},
		{Entity: "smart:contracts", Key: "express", Name: "Express", ID: 2},
	}}
	desired := &graph.Graph{SmartProcesses: sp, Pipelines: []graph.Pipeline{
		{Entity: "deal", Key: "abroad", Name: "Abroad"},
		{Entity: "smart:contracts", Key: "fast", Name: "Fast"},
	}}
	ids := map[string]int64{"crm_pipeline.deal.abroad": 2, "crm_pipeline.smart:contracts.fast": 2}
	for range 20 { // map order must not matter
		out := rekey(desired, live, ids)
		if out.Pipelines[0].Key != "abroad" || out.Pipelines[1].Key != "fast" {
			t.Fatalf("re-keyed pipelines: %+v", out.Pipelines)
		}
	}
}
