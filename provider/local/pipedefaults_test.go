package local

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
)

// A plan that creates a deal pipeline and a smart process with a second
// pipeline converges in one apply on the local backend: Bitrix's default
// rights on the new pipelines (provider/bitrix/defaults.go) are written
// and the declared roles are set back to the policy in the same apply; in
// additive mode the undeclared role keeps them.
func TestNewPipelineDefaultsConvergeLocal(t *testing.T) {
	for _, mode := range []string{graph.ModeAuthoritative, graph.ModeAdditive} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "portal.json")
			if err := Init(path, false); err != nil {
				t.Fatal(err)
			}
			p := New(path)
			live, err := p.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			desired := *live
			desired.Settings = &graph.Settings{Mode: map[string]string{graph.DomainCRM: mode}}
			desired.SmartProcesses = append(slices.Clone(live.SmartProcesses), graph.SmartProcess{Key: "contracts", Name: "Contracts"})
			desired.Pipelines = append(slices.Clone(live.Pipelines),
				graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}},
				graph.Pipeline{Entity: "smart:contracts", Key: graph.DefaultPipeline, Name: "General", Stages: []graph.Stage{{Key: "new", Name: "New"}}},
				graph.Pipeline{Entity: "smart:contracts", Key: "express", Name: "Express", Stages: []graph.Stage{{Key: "new", Name: "New"}}})
			desired.CRMRoles = nil
			for _, r := range live.CRMRoles {
				r.Perms = slices.Clone(r.Perms)
				switch r.Name {
				case "Manager":
					r.Perms = append(r.Perms,
						graph.CRMPerm{Entity: "deal", Pipeline: "retail", Action: "read", Level: "own"},
						graph.CRMPerm{Entity: "smart:contracts", Pipeline: "express", Action: "write", Level: "department"})
				case "Administrator":
					if mode == graph.ModeAdditive {
						continue
					}
				}
				desired.CRMRoles = append(desired.CRMRoles, r)
			}
			desired.Normalize()
			pl, ds := plan.Diff(&desired, live, plan.Options{PipelineDefaults: p.PipelineDefaults})
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			if err := p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
				t.Fatal(err)
			}
			again, err := p.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			next, _ := plan.Diff(&desired, again, plan.Options{IDs: pl.LiveIDs, PipelineDefaults: p.PipelineDefaults})
			for _, c := range next.Changes {
				t.Errorf("not converged: %s %s %v", c.Action, c.Address, c.Attrs)
			}
			// In additive mode the kept Administrator holds the defaults on
			// all three new pipelines: 9 (deal) + 10 + 10 (open smart process).
			n := 0
			for _, r := range again.CRMRoles {
				if r.Name != "Administrator" {
					continue
				}
				for _, c := range r.Perms {
					if c.Pipeline == "retail" || c.Entity == "smart:contracts" {
						n++
					}
				}
			}
			want := 0
			if mode == graph.ModeAdditive {
				want = 29
			}
			if n != want {
				t.Errorf("Administrator has %d cells on the new pipelines, want %d", n, want)
			}
		})
	}
}
