package plan

import (
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// rekey gives live objects the keys of the desired objects they are:
// first by the live ID recorded in state, then by equal key, then by equal
// display name; the rest keep their name-derived keys (suffixed with
// "_live<ID>" if that collides). Pipeline and workgroup renames are
// carried into the cells and subjects that reference them. The live graph
// is not modified; a re-keyed copy is returned.
func rekey(desired, live *graph.Graph, ids map[string]int64) *graph.Graph {
	out := *live
	// byID: kind → live ID → the keys state records for it. One ID can
	// have several pipeline keys: deal categories (b_crm_deal_category)
	// and smart-process/smart-invoice categories (b_crm_item_category)
	// are numbered separately, so only the entity tells them apart.
	byID := map[graph.Kind]map[int64][]string{}
	for _, addr := range sortedKeys(ids) {
		id := ids[addr]
		a, err := graph.ParseAddr(addr)
		if err != nil || id == 0 {
			continue // objects without live IDs (confirmed manual changes) claim nothing
		}
		if byID[a.Kind] == nil {
			byID[a.Kind] = map[int64][]string{}
		}
		byID[a.Kind][id] = append(byID[a.Kind][id], a.Key)
	}
	// claimed: kind → keys the state gives a live ID; such a key goes to
	// the object with that ID only.
	claimed := map[graph.Kind]map[string]bool{}
	for kind, m := range byID {
		claimed[kind] = make(map[string]bool, len(m))
		for _, ks := range m {
			for _, k := range ks {
				claimed[kind][k] = true
			}
		}
	}
	dres := desired.Resources()
	desiredKeys := map[graph.Kind]map[string]string{} // kind → key → lower name
	for a, r := range dres {
		if desiredKeys[a.Kind] == nil {
			desiredKeys[a.Kind] = map[string]string{}
		}
		desiredKeys[a.Kind][a.Key] = strings.ToLower(strings.TrimSpace(r.Name()))
	}
	// assign decides the new key of every live object of one kind.
	assign := func(kind graph.Kind, items []struct {
		key, name string
		id        int64
		fixed     bool
	}) []string {
		newKeys := make([]string, len(items))
		taken := map[string]bool{}
		// 1. state IDs, and keys that may not change (default pipelines).
		for i, it := range items {
			if it.fixed {
				newKeys[i] = it.key
				taken[it.key] = true
				continue
			}
			if it.id == 0 {
				continue
			}
			for _, k := range byID[kind][it.id] {
				if !taken[k] && samePrefix(kind, k, it.key) {
					newKeys[i] = k
					taken[k] = true
					break
				}
			}
		}
		// 2. equal keys.
		for i, it := range items {
			if newKeys[i] == "" {
				if _, ok := desiredKeys[kind][it.key]; ok && !taken[it.key] && !claimed[kind][it.key] {
					newKeys[i] = it.key
					taken[it.key] = true
				}
			}
		}
		// 3. equal names.
		var dkeys []string // sorted once, when needed
		for i, it := range items {
			if newKeys[i] != "" {
				continue
			}
			if dkeys == nil {
				dkeys = sortedKeys(desiredKeys[kind])
			}
			name := strings.ToLower(strings.TrimSpace(it.name))
			for _, dk := range dkeys {
				if desiredKeys[kind][dk] == name && !taken[dk] && !claimed[kind][dk] && samePrefix(kind, dk, it.key) {
					newKeys[i] = dk
					taken[dk] = true
					break
				}
			}
		}
		// 4. own keys.
		for i, it := range items {
			if newKeys[i] != "" {
				continue
			}
			k := it.key
			if taken[k] || desiredKeys[kind][k] != "" {
				k = k + "_live" + itoa(it.id)
			}
			newKeys[i] = k
			taken[k] = true
		}
		return newKeys
	}
	type item = struct {
		key, name string
		id        int64
		fixed     bool
	}

	// Smart processes.
	{
		var items []item
		for _, s := range live.SmartProcesses {
			items = append(items, item{s.Key, s.Name, s.EntityTypeID, false})
		}
		nk := assign(graph.KindSmartProcess, items)
		out.SmartProcesses = slices.Clone(live.SmartProcesses)
		for i := range out.SmartProcesses {
			out.SmartProcesses[i].Key = nk[i]
		}
	}
	smartRename := map[string]string{}
	for i, s := range live.SmartProcesses {
		if s.Key != out.SmartProcesses[i].Key {
			smartRename[graph.SmartProcessPrefix+s.Key] = graph.SmartProcessPrefix + out.SmartProcesses[i].Key
		}
	}
	entity := func(e string) string {
		if n, ok := smartRename[e]; ok {
			return n
		}
		return e
	}
	// Pipelines (keys "entity.key").
	pipeRename := map[string]string{} // "entity/oldkey" → newkey
	{
		var items []item
		for _, p := range live.Pipelines {
			items = append(items, item{graph.PipelineKey(entity(p.Entity), p.Key), p.Name, p.ID, p.Key == graph.DefaultPipeline})
		}
		nk := assign(graph.KindPipeline, items)
		out.Pipelines = slices.Clone(live.Pipelines)
		for i := range out.Pipelines {
			p := &out.Pipelines[i]
			newEntity := entity(p.Entity)
			newKey := strings.TrimPrefix(nk[i], newEntity+".")
			pipeRename[p.Entity+"/"+p.Key] = newKey
			p.Entity, p.Key = newEntity, newKey
		}
	}
	pipe := func(e, k string) string {
		if k == "" {
			return ""
		}
		if n, ok := pipeRename[e+"/"+k]; ok {
			return n
		}
		return k
	}
	// Workgroups (needed before subjects).
	wgRename := map[string]string{}
	{
		var items []item
		for _, w := range live.Workgroups {
			items = append(items, item{w.Key, w.Name, w.ID, false})
		}
		nk := assign(graph.KindWorkgroup, items)
		out.Workgroups = slices.Clone(live.Workgroups)
		for i := range out.Workgroups {
			if out.Workgroups[i].Key != nk[i] {
				wgRename[out.Workgroups[i].Key] = nk[i]
			}
			out.Workgroups[i].Key = nk[i]
		}
	}
	subjects := func(in []string) []string {
		if len(wgRename) == 0 {
			return in
		}
		res := make([]string, len(in))
		for i, s := range in {
			res[i] = s
			if kind, ref, ok := strings.Cut(s, ":"); ok && strings.HasPrefix(kind, "workgroup_") {
				if n, ok := wgRename[ref]; ok {
					res[i] = kind + ":" + n
				}
			}
		}
		return res
	}
	// CRM roles.
	{
		var items []item
		for _, r := range live.CRMRoles {
			items = append(items, item{r.Key, r.Name, r.ID, false})
		}
		nk := assign(graph.KindCRMRole, items)
		out.CRMRoles = make([]graph.CRMRole, len(live.CRMRoles))
		for i, r := range live.CRMRoles {
			r.Key = nk[i]
			r.Assign = subjects(r.Assign)
			if len(pipeRename) > 0 || len(smartRename) > 0 {
				perms := make([]graph.CRMPerm, len(r.Perms))
				for j, c := range r.Perms {
					c.Pipeline = pipe(c.Entity, c.Pipeline)
					c.Entity = entity(c.Entity)
					perms[j] = c
				}
				r.Perms = perms
				r.Normalize()
			}
			out.CRMRoles[i] = r
		}
	}
	simple := func(kind graph.Kind, in []graph.SimpleRole) []graph.SimpleRole {
		var items []item
		for _, r := range in {
			items = append(items, item{r.Key, r.Name, r.ID, false})
		}
		nk := assign(kind, items)
		res := make([]graph.SimpleRole, len(in))
		for i, r := range in {
			r.Key = nk[i]
			r.Assign = subjects(r.Assign)
			res[i] = r
		}
		return res
	}
	out.TelephonyRoles = simple(graph.KindTelephony, live.TelephonyRoles)
	out.OpenlineRoles = simple(graph.KindOpenline, live.OpenlineRoles)
	{
		var items []item
		for _, c := range live.OpenChannels {
			items = append(items, item{c.Key, c.Name, c.ID, false})
		}
		nk := assign(graph.KindOpenChannel, items)
		out.OpenChannels = slices.Clone(live.OpenChannels)
		for i := range out.OpenChannels {
			out.OpenChannels[i].Key = nk[i]
		}
	}
	{
		var items []item
		for _, f := range live.FieldRules {
			items = append(items, item{f.Key, f.Entity + "." + f.Field, 0, false})
		}
		// Field rules have no names; match them by (entity, pipeline, field).
		// Each live rule takes the first desired rule (in order) with its
		// match key that is not taken yet.
		type match struct {
			entity, field, pipeline string
			native                  bool
		}
		byMatch := map[match][]string{}
		for _, d := range desired.FieldRules {
			m := match{d.Entity, d.Field, d.Pipeline, d.Native}
			byMatch[m] = append(byMatch[m], d.Key)
		}
		nk := make([]string, len(items))
		taken := map[string]bool{}
		for i, f := range live.FieldRules {
			for _, k := range byMatch[match{entity(f.Entity), f.Field, pipe(f.Entity, f.Pipeline), f.Native}] {
				if !taken[k] {
					nk[i] = k
					taken[k] = true
					break
				}
			}
		}
		for i, f := range live.FieldRules {
			if nk[i] == "" {
				k := f.Key
				if taken[k] || desiredKeys[graph.KindFieldRule][k] != "" {
					k += "_live"
				}
				nk[i] = k
				taken[k] = true
			}
		}
		out.FieldRules = make([]graph.FieldRule, len(live.FieldRules))
		for i, f := range live.FieldRules {
			f.Key = nk[i]
			f.Pipeline = pipe(f.Entity, f.Pipeline)
			f.Entity = entity(f.Entity)
			f.View, f.Edit = subjects(f.View), subjects(f.Edit)
			out.FieldRules[i] = f
		}
	}
	out.Sources = nil
	return out.Normalize()
}

// samePrefix keeps pipeline matching within one entity.
func samePrefix(kind graph.Kind, desiredKey, liveKey string) bool {
	if kind != graph.KindPipeline {
		return true
	}
	de, _, _ := strings.Cut(desiredKey, ".")
	le, _, _ := strings.Cut(liveKey, ".")
	return de == le
}

// Rekey returns live with the keys recorded in state (ids) where known,
// and name-derived keys elsewhere; import uses it so that written policies
// keep the addresses state already tracks.
func Rekey(live *graph.Graph, ids map[string]int64) *graph.Graph {
	return rekey(&graph.Graph{}, live, ids)
}
