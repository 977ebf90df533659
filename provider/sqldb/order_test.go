package sqldb

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
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

// TestInactiveQueueUserRoundTrip: a queue that names an inactive user, and
// a department with an inactive member, is written as QueueManager::update
// writes it (imopenlines/lib/queuemanager.php, isValidUser): no
// b_imopenlines_config_queue row for the inactive user, no
// b_imopenlines_queue row for either; the plan warns, naming the user, and
// the next plan is empty.
func TestInactiveQueueUserRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		// Dmitri (4) and Fedor (6, of Support, whose department is in the
		// demo queue) are deactivated behind Bitrix's back: Fedor's
		// operator row is still there.
		if _, err := p.DB().Exec(`UPDATE b_user SET ACTIVE = 'N' WHERE ID IN (4, 6)`); err != nil {
			t.Fatal(err)
		}
		live := mustRead(t, p)
		desired := importPolicy(t, live)
		if len(desired.OpenChannels) != 1 {
			t.Fatalf("channels %+v", desired.OpenChannels)
		}
		c := &desired.OpenChannels[0]
		c.Queue = append([]string{"user:dmitri@example.com"}, append(c.Queue, "user:anna@example.com")...)
		desired.Normalize()
		pl, ds := plan.Diff(desired, live, plan.Options{})
		if ds.HasErrors() || len(ds) != 1 || !strings.Contains(ds[0].Detail, "user Dmitri Orlov (dmitri@example.com, ID 4) is inactive on the portal") {
			t.Fatalf("diagnostics %v", ds)
		}
		before := snapshot(t, p)
		if err := p.Apply(t.Context(), provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range diffSnapshots(before, snapshot(t, p)) {
			row := c.after
			if row == nil {
				row = c.before
			}
			switch c.table {
			case "b_imopenlines_config_queue":
				got = append(got, fmt.Sprintf("%s config_queue %s %s SORT %s", op(c), row["ENTITY_TYPE"], row["ENTITY_ID"], row["SORT"]))
			case "b_imopenlines_queue":
				got = append(got, fmt.Sprintf("%s queue user %s SORT %s", op(c), row["USER_ID"], row["SORT"]))
			default:
				t.Errorf("the queue change touched %s", c)
			}
		}
		slices.Sort(got)
		want := []string{
			"delete queue user 6 SORT 1",        // Fedor, inactive, of the Support department
			"insert config_queue user 2 SORT 2", // Anna; no row for Dmitri
			"insert queue user 2 SORT 2",        // SORT counts Olga twice (named, and in Support)
		}
		if !slices.Equal(got, want) {
			t.Errorf("rows written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if pl, _ := plan.Diff(desired, mustRead(t, p), plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
	})
}
