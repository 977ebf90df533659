package sqldb

import (
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
)

// TestStageOrderRoundTrip: a new stage between two and a reorder write
// exactly the b_crm_status rows whose values change — the new row with a
// SORT between its neighbours, the moved row's SORT — in SORT order
// in progress < success < failure (crm/lib/statustable.php), and the next
// plan is empty. An order that puts an in-progress stage after the success
// stage is an error of the plan, located at the stage.
func TestStageOrderRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		desired := importPolicy(t, mustRead(t, p))
		i := slices.IndexFunc(desired.Pipelines, func(x graph.Pipeline) bool { return x.Entity == "deal" && x.Key == graph.DefaultPipeline })
		if i < 0 {
			t.Fatal("no default deal pipeline")
		}
		st := desired.Pipelines[i].Stages // new, preparation, executing, won, lose (demo portal, SORT 10…50)
		if keys := stageKeys(st); keys != "new,preparation,executing,won,lose" {
			t.Fatalf("demo stages %s", keys)
		}
		desired.Pipelines[i].Stages = []graph.Stage{st[0], {Key: "offer", Name: "Offer sent"}, st[2], st[1], st[3], st[4], {Key: "no_budget", Name: "No budget"}}
		before := snapshot(t, p)
		pl := applyPlan(t, p, desired)
		if len(pl.Changes) != 1 || pl.Changes[0].Address != "crm_pipeline.deal.default" {
			t.Fatalf("changes %+v", pl.Changes)
		}
		var got []string
		for _, c := range diffSnapshots(before, snapshot(t, p)) {
			if c.table != "b_crm_status" {
				t.Errorf("a stage change touched %s", c)
				continue
			}
			row := c.after
			got = append(got, strings.Join([]string{row["STATUS_ID"], "SORT=" + row["SORT"], "SEMANTICS=" + row["SEMANTICS"], op(c)}, " "))
		}
		slices.Sort(got)
		want := []string{
			"NO_BUDGET SORT=60 SEMANTICS=F insert",              // after LOSE: max+10, a failure stage (StatusTable::onBeforeAdd)
			"OFFER SORT=20 SEMANTICS=" + null + " insert",       // between NEW (10) and EXECUTING (30), both kept
			"PREPARATION SORT=35 SEMANTICS=" + null + " update", // moved between EXECUTING (30) and WON (40)
		}
		if !slices.Equal(got, want) {
			t.Errorf("rows written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		live := mustRead(t, p)
		j := slices.IndexFunc(live.Pipelines, func(x graph.Pipeline) bool { return x.Entity == "deal" && x.Key == graph.DefaultPipeline })
		if keys := stageKeys(live.Pipelines[j].Stages); keys != "new,offer,executing,preparation,won,lose,no_budget" {
			t.Errorf("read back in SORT order: %s", keys)
		}
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
		// An in-progress stage after the success stage: an error of the plan.
		bad := *desired
		bad.Pipelines = slices.Clone(desired.Pipelines)
		s := slices.Clone(bad.Pipelines[i].Stages)
		s[1], s[4] = s[4], s[1] // won before offer
		bad.Pipelines[i].Stages = s
		_, ds := plan.Diff(&bad, live, plan.Options{})
		if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), `the in-progress stage "offer" comes after the success stage "won"`) {
			t.Errorf("diagnostics %v", ds)
		}
		for _, d := range ds {
			if d.Subject == nil || !strings.HasSuffix(d.Subject.Filename, ".cue") {
				t.Errorf("diagnostic not located at the policy: %+v", d)
			}
		}
	})
}

func stageKeys(st []graph.Stage) string {
	var k []string
	for _, s := range st {
		k = append(k, s.Key)
	}
	return strings.Join(k, ",")
}

func op(c rowChange) string {
	switch {
	case c.before == nil:
		return "insert"
	case c.after == nil:
		return "delete"
	}
	return "update"
}
