package plan

import (
	"fmt"

	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/graph"
)

// stageOrder checks the declared stage order of every pipeline against
// the semantics its stages have on the portal (graph.StageSemantics):
// Bitrix keeps in-progress stages before the success stage and failure
// stages after it in SORT order, refuses other orders
// (crm/lib/statustable.php StatusTable::onBeforeAdd), and the semantics of
// an existing stage come from the portal, not the policy. An order that
// contradicts them is an error at the stage's declaration; a new stage
// that Bitrix turns into a failure stage because of its place is a
// warning. Live stages without a STATUS_ID count as new. Not run against
// another policy (b24perm diff), which knows no semantics.
func stageOrder(desired, live *graph.Graph) diag.Diagnostics {
	var ds diag.Diagnostics
	byKey := map[string]*graph.Pipeline{}
	for i := range live.Pipelines {
		p := &live.Pipelines[i]
		byKey[graph.PipelineKey(p.Entity, p.Key)] = p
	}
	for _, dp := range desired.Pipelines {
		addr := graph.Addr{Kind: graph.KindPipeline, Key: graph.PipelineKey(dp.Entity, dp.Key)}
		var live []graph.Stage
		if lp := byKey[addr.Key]; lp != nil {
			for _, s := range lp.Stages {
				if s.StatusID != "" {
					live = append(live, s)
				}
			}
		}
		_, problems := graph.StageSemantics(dp.Stages, live)
		for _, pr := range problems {
			r := sourceRange(desired, graph.StageSourceKey(addr, pr.Stage))
			if r == nil {
				r = sourceRange(desired, addr.String())
			}
			if pr.Inferred {
				ds = append(ds, diag.Diagnostic{Severity: diag.Warning, Summary: "New stage becomes a failure stage", Subject: r,
					Detail: fmt.Sprintf("%s pipeline %q: %s (a stage sorted after the success stage is one: StatusTable::onBeforeAdd, crm/lib/statustable.php); declare it before %q to keep it in progress", dp.Entity, dp.Key, pr, pr.After)})
				continue
			}
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Stage order contradicts stage semantics", Subject: r,
				Detail: fmt.Sprintf("%s pipeline %q: %s; Bitrix keeps in-progress stages before the success stage and failure stages after it (b_crm_status.SORT; crm/lib/statustable.php refuses any other order) and b24perm does not change a stage's semantics: reorder the stages in the policy", dp.Entity, dp.Key, pr)})
		}
	}
	return ds
}
