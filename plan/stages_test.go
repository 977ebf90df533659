package plan

import (
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// TestStageOrder: a declared stage order is checked against the semantics
// of the stages on the portal (b_crm_status.SEMANTICS as the reader gives
// them), and a reorder is an update of the pipeline.
func TestStageOrder(t *testing.T) {
	live := (&graph.Graph{Directory: dir(), Pipelines: []graph.Pipeline{{Entity: "deal", Key: "default", Name: "General", ID: 0, Stages: []graph.Stage{
		{Key: "new", Name: "New", StatusID: "NEW"}, {Key: "prep", Name: "Prep", StatusID: "PREP"},
		{Key: "done", Name: "Done", StatusID: "DONE", Semantics: "S"}, {Key: "lost", Name: "Lost", StatusID: "LOST", Semantics: "F"}}}}}).Normalize()
	for _, tc := range []struct {
		name  string
		keys  string
		attrs string // kind:path:action
		diag  string // severity: summary — detail fragment
	}{
		{name: "same order", keys: "new,prep,done,lost"},
		{name: "reordered in progress", keys: "prep,new,done,lost", attrs: "order:stage order:~"},
		{name: "new stage in its place", keys: "new,offer,prep,done,lost", attrs: "stage:stages.offer:+"},
		{name: "in progress after success", keys: "new,done,prep,lost", attrs: "order:stage order:~",
			diag: `error: Stage order contradicts stage semantics — deal pipeline "default": the in-progress stage "prep" comes after the success stage "done"`},
		{name: "failure before success (keys alone would not tell)", keys: "new,prep,lost,done", attrs: "order:stage order:~",
			diag: `error: Stage order contradicts stage semantics — deal pipeline "default": the success stage "done" comes after the failure stage "lost"`},
		{name: "new stage after the failures becomes one", keys: "new,prep,done,lost,no_budget", attrs: "stage:stages.no_budget:+",
			diag: `warning: New stage becomes a failure stage — deal pipeline "default": new stage "no_budget" comes after the success stage "done"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stages []graph.Stage
			for k := range strings.SplitSeq(tc.keys, ",") {
				name := strings.ToUpper(k[:1]) + k[1:]
				stages = append(stages, graph.Stage{Key: k, Name: name})
			}
			desired := &graph.Graph{Pipelines: []graph.Pipeline{{Entity: "deal", Key: "default", Name: "General", Stages: stages}}}
			pa := graph.Addr{Kind: graph.KindPipeline, Key: "deal.default"}
			for i, s := range stages {
				desired.SetSource(graph.StageSourceKey(pa, s.Key), graph.Pos{File: "crm.cue", Line: 10 + i, Col: 3})
			}
			desired = desired.Normalize()
			p, ds := Diff(desired, live, Options{})
			var got []string
			for _, c := range p.Changes {
				for _, a := range c.Attrs {
					got = append(got, string(a.Kind)+":"+a.Path+":"+string(a.Action))
				}
			}
			if strings.Join(got, " ") != tc.attrs {
				t.Errorf("attrs %v, want %v", got, tc.attrs)
			}
			var dg []string
			for _, d := range ds {
				dg = append(dg, string(d.Severity)+": "+d.Summary+" — "+d.Detail)
				if d.Subject == nil || d.Subject.Filename != "crm.cue" {
					t.Errorf("diagnostic without the stage's place: %+v", d)
				}
			}
			if tc.diag == "" && len(dg) > 0 || tc.diag != "" && (len(dg) != 1 || !strings.HasPrefix(dg[0], tc.diag)) {
				t.Errorf("diagnostics %q, want %q", dg, tc.diag)
			}
			if tc.diag != "" && strings.HasPrefix(tc.diag, "error") != (ds.HasErrors()) {
				t.Errorf("HasErrors = %v", ds.HasErrors())
			}
		})
	}
}
