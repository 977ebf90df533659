package bitrix

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// dealRows is a deal pipeline as Bitrix installs it, shortened
// (CCrmStatus::GetDefaultDealStages, crm/classes/general/crm_status.php:
// SORT 10, 20…; WON success, LOSE and APOLOGY failure).
func dealRows() []Status {
	return []Status{
		{ID: 1, StatusID: "C3:NEW", Sort: 10},
		{ID: 2, StatusID: "C3:PREPARATION", Sort: 20},
		{ID: 3, StatusID: "C3:WON", Sort: 60, Semantics: "S"},
		{ID: 4, StatusID: "C3:LOSE", Sort: 70, Semantics: "F"},
		{ID: 5, StatusID: "C3:APOLOGY", Sort: 80, Semantics: "F"},
	}
}

func stagesOf(keys string) []graph.Stage {
	var out []graph.Stage
	for k := range strings.SplitSeq(keys, ",") {
		out = append(out, graph.Stage{Key: k, Name: k})
	}
	return out
}

func TestPlanStages(t *testing.T) {
	tests := []struct {
		name string
		rows []Status
		keys string
		want string // key=SORT/SEMANTICS per stage ("+" marks a new row), or "error: …"
	}{
		{"unchanged pipeline keeps every SORT", dealRows(), "new,preparation,won,lose,apology",
			"new=10/,preparation=20/,won=60/S,lose=70/F,apology=80/F"},
		{"new in-progress stage between two", dealRows(), "new,offer,preparation,won,lose,apology",
			"new=10/,+offer=15/,preparation=20/,won=60/S,lose=70/F,apology=80/F"},
		{"new stage before the success stage", dealRows(), "new,preparation,invoice,won,lose,apology",
			"new=10/,preparation=20/,+invoice=40/,won=60/S,lose=70/F,apology=80/F"},
		{"several new stages share a gap", dealRows(), "new,preparation,a,b,c,won,lose,apology",
			"new=10/,preparation=20/,+a=30/,+b=40/,+c=50/,won=60/S,lose=70/F,apology=80/F"},
		{"new stage first", dealRows(), "intake,new,preparation,won,lose,apology",
			"+intake=5/,new=10/,preparation=20/,won=60/S,lose=70/F,apology=80/F"},
		{"new failure stage last: max+10", dealRows(), "new,preparation,won,lose,apology,junk",
			"new=10/,preparation=20/,won=60/S,lose=70/F,apology=80/F,+junk=90/F"},
		{"new stage after a failure stage becomes one (StatusTable::onBeforeAdd)", dealRows(), "new,preparation,won,lose,apology,no_budget",
			"new=10/,preparation=20/,won=60/S,lose=70/F,apology=80/F,+no_budget=90/F"},
		{"removed stage leaves the others alone", dealRows()[1:], "preparation,won,apology",
			"preparation=20/,won=60/S,apology=80/F"},
		{"reorder moves only the stage that moved", dealRows(), "preparation,new,won,lose,apology",
			"preparation=20/,new=40/,won=60/S,lose=70/F,apology=80/F"},
		{"reorder among failures", dealRows(), "new,preparation,won,apology,lose",
			"new=10/,preparation=20/,won=60/S,apology=80/F,lose=90/F"},
		{"no room: the pipeline is renumbered (UpdateStageList)",
			[]Status{{ID: 1, StatusID: "NEW", Sort: 10}, {ID: 2, StatusID: "PREP", Sort: 11}, {ID: 3, StatusID: "WON", Sort: 12, Semantics: "S"}}, "new,offer,prep,won",
			"new=10/,+offer=20/,prep=30/,won=40/S"},
		{"equal SORT ordered by ID stays", []Status{{ID: 1, StatusID: "NEW", Sort: 10}, {ID: 2, StatusID: "PREP", Sort: 10}}, "new,prep",
			"new=10/,prep=10/"},
		{"PROCESS 'P' is in progress", []Status{{ID: 1, StatusID: "NEW", Sort: 10, Semantics: "P"}, {ID: 2, StatusID: "WON", Sort: 20, Semantics: "S"}}, "new,won",
			"new=10/,won=20/S"},
		{"new pipeline: 10, 20… and semantics from the keys", nil, "new,won,lose",
			"+new=10/,+won=20/S,+lose=30/F"},
		{"new pipeline: a stage after won is a failure", nil, "new,won,later",
			"+new=10/,+won=20/S,+later=30/F"},
		{"a new won beside a success stage is placed by position", []Status{{ID: 1, StatusID: "NEW", Sort: 10}, {ID: 2, StatusID: "DONE", Sort: 20, Semantics: "S"}}, "new,won,done",
			"new=10/,+won=15/,done=20/S"},
		{"in progress after success", dealRows(), "new,won,preparation,lose,apology",
			"error: the in-progress stage \"preparation\" comes after the success stage \"won\""},
		{"failure before success", dealRows(), "new,preparation,lose,won,apology",
			"error: the success stage \"won\" comes after the failure stage \"lose\""},
		{"new failure key before success", dealRows(), "new,junk,preparation,won,lose,apology",
			"error: the in-progress stage \"preparation\" comes after the failure stage \"junk\""},
		{"two success stages moved", []Status{{ID: 1, StatusID: "WON", Sort: 10, Semantics: "S"}, {ID: 2, StatusID: "DONE", Sort: 20, Semantics: "S"}}, "done,won",
			"error: stage \"won\" is a second success stage besides \"done\""},
		{"an old contradiction the portal holds is left alone", []Status{{ID: 1, StatusID: "NEW", Sort: 10}, {ID: 2, StatusID: "WON", Sort: 20, Semantics: "S"}, {ID: 3, StatusID: "PREP", Sort: 30}},
			"new,won,prep,offer", "new=10/,won=20/S,prep=30/,+offer=40/F"},
		{"but not when the policy moves it", []Status{{ID: 1, StatusID: "NEW", Sort: 10}, {ID: 2, StatusID: "WON", Sort: 20, Semantics: "S"}, {ID: 3, StatusID: "PREP", Sort: 30}},
			"won,new,prep", "error: the in-progress stage \"new\" comes after the success stage \"won\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := PlanStages(tc.rows, stagesOf(tc.keys))
			var got string
			if err != nil {
				got = "error: " + err.Error()
				if !strings.HasPrefix(got, strings.Replace(tc.want, "error: ", "error: stage order: ", 1)) {
					t.Errorf("got %s\nwant %s", got, tc.want)
				}
				return
			}
			var parts []string
			prev := 0
			for _, r := range rows {
				mark := ""
				if r.Row < 0 {
					mark = "+"
				} else if stageKey(tc.rows[r.Row].StatusID) != r.Key {
					t.Errorf("row %d is %s, not %s", r.Row, tc.rows[r.Row].StatusID, r.Key)
				}
				if r.Sort <= prev && !strings.HasPrefix(tc.name, "equal SORT") {
					t.Errorf("SORT %d of %s does not increase", r.Sort, r.Key)
				}
				prev = r.Sort
				parts = append(parts, fmt.Sprintf("%s%s=%d/%s", mark, r.Key, r.Sort, r.Semantics))
			}
			got = strings.Join(parts, ",")
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestApplyStageOrder: a pipeline update writes only the statuses whose
// values change, and refuses an order that contradicts the stages'
// semantics without changing anything.
func TestApplyStageOrder(t *testing.T) {
	p := tiny()
	p.Statuses = slices.DeleteFunc(p.Statuses, func(s Status) bool { return s.EntityID == "DEAL_STAGE_3" })
	for _, s := range dealRows() {
		s.ID += 100
		s.EntityID = "DEAL_STAGE_3"
		p.Statuses = append(p.Statuses, s)
	}
	p.fixCounters()
	before := map[int64]Status{}
	for _, s := range p.Statuses {
		before[s.ID] = s
	}
	pl := graph.Pipeline{Entity: "deal", Key: "wholesale", Name: "Wholesale", Stages: []graph.Stage{
		{Key: "new", Name: "New"}, {Key: "offer", Name: "Offer"}, {Key: "preparation", Name: "Preparation"},
		{Key: "won", Name: "Won"}, {Key: "lose", Name: "Lost"}, {Key: "apology", Name: "Apology"}}}
	// Names as in the policy, so that only the new stage differs.
	for i := range p.Statuses {
		s := &p.Statuses[i]
		if s.EntityID == "DEAL_STAGE_3" {
			s.Name = map[string]string{"C3:NEW": "New", "C3:PREPARATION": "Preparation", "C3:WON": "Won", "C3:LOSE": "Lost", "C3:APOLOGY": "Apology"}[s.StatusID]
			before[s.ID] = *s
		}
	}
	if _, err := p.Apply(plan.Change{Address: "crm_pipeline.deal.wholesale", Action: plan.Update, ID: 3, After: &graph.Resource{Pipeline: &pl}}, nil); err != nil {
		t.Fatal(err)
	}
	var added []Status
	for _, s := range p.Statuses {
		if b, ok := before[s.ID]; !ok {
			added = append(added, s)
		} else if b != s {
			t.Errorf("status %s changed: %+v → %+v", s.StatusID, b, s)
		}
	}
	if len(added) != 1 || added[0].StatusID != "C3:OFFER" || added[0].Sort != 15 || added[0].Semantics != "" {
		t.Errorf("added %+v, want C3:OFFER at SORT 15 in progress", added)
	}
	g, _ := Read(p)
	i := slices.IndexFunc(g.Pipelines, func(x graph.Pipeline) bool { return x.Key == "wholesale" })
	var keys []string
	for _, s := range g.Pipelines[i].Stages {
		keys = append(keys, s.Key+"/"+s.Semantics)
	}
	if strings.Join(keys, ",") != "new/,offer/,preparation/,won/S,lose/F,apology/F" {
		t.Errorf("read back %v", keys)
	}
	// An in-progress stage after the success stage is refused; nothing changes.
	snap := slices.Clone(p.Statuses)
	bad := pl
	bad.Stages = []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}, {Key: "offer", Name: "Offer"}, {Key: "lose", Name: "Lost"}}
	_, err := p.Apply(plan.Change{Address: "crm_pipeline.deal.wholesale", Action: plan.Update, ID: 3, After: &graph.Resource{Pipeline: &bad}}, nil)
	if err == nil || !strings.Contains(err.Error(), `the in-progress stage "offer" comes after the success stage "won"`) {
		t.Errorf("err = %v", err)
	}
	if !slices.Equal(snap, p.Statuses) {
		t.Error("a refused stage order changed the statuses")
	}
}
