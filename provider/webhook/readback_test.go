package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
)

// A portal that accepts a write but drops one of its fields: apply must
// not say "complete"; the read-back names the field (issue 16 #7).
func TestReadBackNamesDroppedField(t *testing.T) {
	secret := graph.Workgroup{Key: "board", Name: "Board room", Visibility: "secret", Owner: "user:ivan@example.com", Members: []string{"user:elena@example.com"}}
	public := secret
	public.Key, public.Name, public.Visibility = "lounge", "Lounge", "public"
	for _, tc := range []struct {
		name   string
		drop   map[string][]string
		edit   func(g *graph.Graph)
		kind   graph.Kind
		wantIn string
	}{
		{"create drops VISIBLE", map[string][]string{"sonet_group.create": {"VISIBLE"}},
			func(g *graph.Graph) { g.Workgroups = append(g.Workgroups, secret) }, graph.KindWorkgroup, "did not keep VISIBLE: it reads back Y, b24perm wrote N"},
		{"create drops OPENED", map[string][]string{"sonet_group.create": {"OPENED"}},
			func(g *graph.Graph) { g.Workgroups = append(g.Workgroups, public) }, graph.KindWorkgroup, "did not keep OPENED: it reads back N, b24perm wrote Y"},
		{"update drops NAME", map[string][]string{"sonet_group.update": {"NAME"}},
			func(g *graph.Graph) { g.Workgroups[0].Name = "Renamed" }, graph.KindWorkgroup, `did not keep NAME: it reads back "`},
		{"update drops VISIBLE", map[string][]string{"sonet_group.update": {"VISIBLE"}},
			func(g *graph.Graph) { g.Workgroups[0].Visibility = "secret" }, graph.KindWorkgroup, "did not keep VISIBLE"},
		{"removal ignored", map[string][]string{"sonet_group.user.delete": {"USER_ID"}},
			func(g *graph.Graph) { g.Workgroups[0].Members, g.Workgroups[0].Moderators = nil, nil }, graph.KindWorkgroup, "is still in it"},
		{"role ignored", map[string][]string{"sonet_group.user.update": {"ROLE"}},
			func(g *graph.Graph) {
				w := &g.Workgroups[0]
				w.Moderators, w.Members = append(w.Moderators, w.Members...), nil
			}, graph.KindWorkgroup, `has ROLE "K", b24perm wrote "E"`},
		{"pipeline rename dropped", map[string][]string{"crm.category.update": {"fields.name"}},
			func(g *graph.Graph) {
				for i := range g.Pipelines {
					if g.Pipelines[i].Key != graph.DefaultPipeline {
						g.Pipelines[i].Name = "Renamed pipeline"
						return
					}
				}
				t.Fatal("no non-default pipeline")
			}, graph.KindPipeline, "did not keep name"},
		{"channel queue type dropped", map[string][]string{"imopenlines.config.update": {"PARAMS.QUEUE_TYPE"}},
			func(g *graph.Graph) {
				g.OpenChannels[0].QueueType = map[string]string{"evenly": "strictly"}[g.OpenChannels[0].QueueType] + map[string]string{"strictly": "evenly", "all": "evenly"}[g.OpenChannels[0].QueueType]
			}, graph.KindOpenChannel, "did not keep QUEUE_TYPE"},
	} {
		for _, fault := range []bool{false, true} {
			name := tc.name
			if !fault {
				name += " (no fault)"
			}
			t.Run(name, func(t *testing.T) {
				o := sim.Options{Token: "tok"}
				if fault {
					o.DropParams = tc.drop
				}
				_, u := serve(t, o, nil)
				p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
				live, err := p.Read(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				desired := cloneGraph(t, live)
				desired.Settings = &graph.Settings{Mode: map[string]string{graph.DomainOpenlines: graph.ModeAuthoritative}}
				tc.edit(desired)
				desired.Normalize()
				pl, ds := plan.Diff(desired, live, plan.Options{})
				if ds.HasErrors() {
					t.Fatal(ds)
				}
				var changes []plan.Change
				for _, c := range pl.Changes {
					if c.Addr.Kind == tc.kind && !c.Manual {
						changes = append(changes, c)
					}
				}
				if len(changes) == 0 {
					t.Fatal("no change planned")
				}
				var reported []provider.Result
				err = p.Apply(context.Background(), provider.ApplyRequest{Changes: changes, IDs: pl.LiveIDs, Report: func(r provider.Result) { reported = append(reported, r) }})
				if !fault {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.wantIn) || !strings.Contains(err.Error(), "read-back") {
					t.Fatalf("want a read-back error containing %q, got %v", tc.wantIn, err)
				}
				for _, r := range reported {
					if r.Err == nil {
						t.Errorf("%s reported as done", r.Address)
					}
				}
			})
		}
	}
}

func cloneGraph(t *testing.T, g *graph.Graph) *graph.Graph {
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var out graph.Graph
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}
