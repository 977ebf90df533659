package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// A plan that creates a pipeline predicts the rights the portal gives the
// existing roles on it (Options.PipelineDefaults; provider/bitrix/defaults.go):
// a declared role is updated to the policy's cells, a kept undeclared role
// (additive) holds the defaults in the after-state; nothing is predicted
// for a pipeline the plan does not create (observe, -exclude), nor for a
// system role.
func TestNewPipelineDefaults(t *testing.T) {
	defaults := func(roleID int64, entity string, smartTypeID int64) []graph.CRMPerm {
		if entity != "deal" {
			t.Errorf("entity %q", entity)
		}
		return []graph.CRMPerm{{Entity: entity, Pipeline: "ignored", Action: "read", Level: "all"}, {Entity: entity, Action: "transition", Level: graph.TransitionAny}}
	}
	retail := graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}}}
	build := func(mode string) (*graph.Graph, *graph.Graph) {
		live := liveGraph()
		live.CRMRoles = append(live.CRMRoles, graph.CRMRole{Key: "sign", Name: "Sign", ID: 9, System: true})
		live.Normalize()
		desired := desiredGraph()
		desired.Settings.Mode["crm"] = mode
		desired.Pipelines = append(desired.Pipelines, retail)
		for i, r := range desired.CRMRoles {
			if r.Key == "manager" {
				desired.CRMRoles[i].Perms = append(slices.Clone(r.Perms), graph.CRMPerm{Entity: "deal", Pipeline: "retail", Action: "read", Level: "own"})
			}
		}
		desired.Normalize()
		return desired, live
	}
	cellsOn := func(p *Plan, addr string) []string {
		for _, c := range p.Changes {
			if c.Address != addr {
				continue
			}
			var out []string
			for _, a := range c.Attrs {
				if a.Cell != nil && a.Cell.Pipeline == "retail" {
					out = append(out, a.Cell.Action+":"+a.Before+">"+a.After)
				}
			}
			return out
		}
		return nil
	}

	desired, live := build(graph.ModeAuthoritative)
	p, ds := Diff(desired, live, Options{PipelineDefaults: defaults})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if got := cellsOn(p, "crm_role.manager"); !slices.Equal(got, []string{"read:all>own", "transition:any>none"}) {
		t.Errorf("manager: %v", got)
	}
	if got := cellsOn(p, "crm_role.administrator"); !slices.Equal(got, []string{"read:all>none", "transition:any>none"}) {
		t.Errorf("administrator (declared, no cells there): %v", got)
	}
	for _, c := range p.Changes {
		if c.Address == "crm_role.sign" {
			t.Errorf("system role changed: %+v", c)
		}
	}

	// Additive: interns are not declared and keep the defaults, which the
	// after-state (the access delta's) shows.
	desired, live = build(graph.ModeAdditive)
	p, _ = Diff(desired, live, Options{PipelineDefaults: defaults})
	i := slices.IndexFunc(p.After.CRMRoles, func(r graph.CRMRole) bool { return r.Key == "interns" })
	if i < 0 || len(p.After.CRMRoles[i].Perms) != 2 || p.After.CRMRoles[i].Perms[0].Pipeline != "retail" {
		t.Errorf("interns after the apply: %+v", p.After.CRMRoles)
	}
	if j := slices.IndexFunc(p.Before.CRMRoles, func(r graph.CRMRole) bool { return r.Key == "interns" }); len(p.Before.CRMRoles[j].Perms) != 0 {
		t.Errorf("interns before: %+v", p.Before.CRMRoles[j])
	}

	// Not created by this plan: nothing predicted.
	for name, opts := range map[string]Options{
		"excluded":  {PipelineDefaults: defaults, Excludes: []string{"crm_pipeline.deal.retail"}},
		"no writes": {PipelineDefaults: defaults, Writable: func(k graph.Kind) bool { return k != graph.KindPipeline }},
	} {
		desired, live = build(graph.ModeAuthoritative)
		p, _ = Diff(desired, live, opts)
		if got := cellsOn(p, "crm_role.administrator"); len(got) != 0 {
			t.Errorf("%s: administrator %v", name, got)
		}
	}
	desired, live = build(graph.ModeObserve)
	if got := newPipelineDefaults(desired, live, live.Resources(), desired.Resources(), Options{PipelineDefaults: defaults}); len(got) != 0 {
		t.Errorf("observe: %v", got)
	}
}

// On a backend that cannot read roles (the cloud webhook) the plan warns
// that a new pipeline gives the roles default rights it cannot show.
func TestNewPipelineDefaultsUnreadableRoles(t *testing.T) {
	desired, live := desiredGraph(), liveGraph()
	desired.Pipelines = append(desired.Pipelines, graph.Pipeline{Entity: "deal", Key: "retail", Name: "Retail", Stages: []graph.Stage{{Key: "new", Name: "New"}}})
	desired.Normalize()
	readable := func(k graph.Kind) bool { return k != graph.KindCRMRole }
	p, _ := Diff(desired, live, Options{Readable: readable, Writable: readable})
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, `default rights on the new pipeline "Retail"`) }) {
		t.Errorf("warnings %q", p.Warnings)
	}
	p, _ = Diff(desired, live, Options{})
	if len(p.Warnings) != 0 {
		t.Errorf("warnings with readable roles: %q", p.Warnings)
	}
}
