package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// newPipelineDefaults predicts what Bitrix does to the existing CRM roles
// when the plan creates a pipeline: it gives every role it reaches a
// default set on the new pipeline (DealCategory::add,
// DefaultCategoryPermissions; provider/bitrix/defaults.go). It returns the
// live roles with those cells added, by address. Declared roles are then
// diffed against these (the plan updates them to the policy's cells in the
// same apply, after the pipeline is created); undeclared roles that are
// kept (additive) hold them after the apply.
//
// A pipeline is new when the policy declares it and the portal does not
// have it; a new smart process also creates its default pipeline. Nothing
// is predicted without opts.PipelineDefaults, for a pipeline the plan does
// not create (observe mode, -target/-exclude, a backend that cannot write
// pipelines).
func newPipelineDefaults(desired, live *graph.Graph, lres, dres map[graph.Addr]graph.Resource, opts Options) map[graph.Addr]graph.CRMRole {
	if opts.PipelineDefaults == nil {
		return nil
	}
	type pipe struct{ entity, key string }
	var pipes []pipe
	creates := func(a graph.Addr) bool {
		if desired.ModeFor(a.Kind.Domain()) == graph.ModeObserve {
			return false
		}
		if opts.Writable != nil && !opts.Writable(a.Kind) {
			return false
		}
		keep := len(opts.Targets) == 0
		for _, t := range opts.Targets {
			keep = keep || a.Matches(t)
		}
		for _, e := range opts.Excludes {
			keep = keep && !a.Matches(e)
		}
		return keep
	}
	for a, r := range dres {
		if _, ok := lres[a]; ok {
			continue
		}
		switch {
		case r.Pipeline != nil && creates(a):
			pipes = append(pipes, pipe{r.Pipeline.Entity, r.Pipeline.Key})
		case r.SmartProcess != nil && creates(a):
			pipes = append(pipes, pipe{graph.SmartProcessPrefix + r.SmartProcess.Key, graph.DefaultPipeline})
		}
	}
	if len(pipes) == 0 {
		return nil
	}
	slices.SortFunc(pipes, func(a, b pipe) int { return strings.Compare(a.entity+"/"+a.key, b.entity+"/"+b.key) })
	pipes = slices.Compact(pipes)
	smartIDs := map[string]int64{}
	for _, sp := range live.SmartProcesses {
		smartIDs[sp.Key] = sp.EntityTypeID
	}
	out := map[graph.Addr]graph.CRMRole{}
	for a, r := range lres {
		if r.CRMRole == nil || r.CRMRole.System || r.CRMRole.ID == 0 {
			continue
		}
		role := *r.CRMRole
		added := false
		for _, p := range pipes {
			var stid int64
			if key, ok := strings.CutPrefix(p.entity, graph.SmartProcessPrefix); ok {
				stid = smartIDs[key]
			}
			for _, c := range opts.PipelineDefaults(role.ID, p.entity, stid) {
				c.Entity, c.Pipeline, c.Stage = p.entity, p.key, ""
				if !added {
					role.Perms = slices.Clone(role.Perms)
					added = true
				}
				role.Perms = append(role.Perms, c)
			}
		}
		if added {
			slices.SortFunc(role.Perms, graph.CompareCRMPerm)
			out[a] = role
		}
	}
	return out
}

// withRoles returns g with the CRM roles of roles (by ID) replaced.
func withRoles(g *graph.Graph, roles map[graph.Addr]graph.CRMRole) *graph.Graph {
	if len(roles) == 0 {
		return g
	}
	byID := map[int64]graph.CRMRole{}
	for _, r := range roles {
		byID[r.ID] = r
	}
	out := *g
	out.CRMRoles = slices.Clone(g.CRMRoles)
	for i, r := range out.CRMRoles {
		if nr, ok := byID[r.ID]; ok && r.ID != 0 {
			nr.Key = r.Key
			out.CRMRoles[i] = nr
		}
	}
	return &out
}

// unpredictedDefaults warns when the plan creates pipelines on a backend
// that cannot read CRM roles (the cloud webhook): Bitrix gives every role
// default rights on them that the plan cannot show or correct.
func unpredictedDefaults(changes []Change, opts Options) string {
	if opts.PipelineDefaults != nil || opts.Readable == nil || opts.Readable(graph.KindCRMRole) {
		return ""
	}
	var names []string
	for _, c := range changes {
		if c.Action == Create && !c.Manual && c.After != nil && c.After.Pipeline != nil && c.After.Pipeline.Key != graph.DefaultPipeline {
			names = append(names, fmt.Sprintf("%q", c.After.Pipeline.Name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("Bitrix24 gives every existing CRM role default rights on the new pipeline %s (all levels on a deal pipeline, the maximum on a smart-process or invoice pipeline of a type with open permissions), which this backend can neither read nor change: check the roles in CRM → Settings → Access permissions after the apply.", strings.Join(names, ", "))
}
