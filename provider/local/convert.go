package local

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// keys derives stable keys from names, as any live backend must: the
// portal itself has no keys. Collisions get "_<id>" appended.
type keys struct {
	pipeline   map[string]map[int64]string // entity → category ID → key
	pipelineID map[string]map[string]int64 // entity → key → category ID
	workgroup  map[int64]string
	smart      map[int64]string // entity type ID → key
	smartID    map[string]int64
}

func (p *Portal) keys() *keys {
	k := &keys{pipeline: map[string]map[int64]string{}, pipelineID: map[string]map[string]int64{}, workgroup: map[int64]string{},
		smart: map[int64]string{}, smartID: map[string]int64{}}
	used := map[string]bool{}
	for _, s := range sortedByID(p.SmartProcesses, func(s SmartProcess) int64 { return s.ID }) {
		key := bitrix.UniqueKey(used, s.Title, s.ID)
		k.smart[s.ID], k.smartID[key] = key, s.ID
	}
	perEntity := map[string]map[string]bool{}
	for _, pl := range sortedByID(p.Pipelines, func(p Pipeline) int64 { return p.ID }) {
		e := pl.Entity
		if k.pipeline[e] == nil {
			k.pipeline[e], k.pipelineID[e], perEntity[e] = map[int64]string{}, map[string]int64{}, map[string]bool{graph.DefaultPipeline: true}
		}
		key := graph.DefaultPipeline
		if pl.ID != 0 {
			key = bitrix.UniqueKey(perEntity[e], pl.Name, pl.ID)
		}
		k.pipeline[e][pl.ID], k.pipelineID[e][key] = key, pl.ID
	}
	used = map[string]bool{}
	for _, w := range sortedByID(p.Workgroups, func(w Workgroup) int64 { return w.ID }) {
		k.workgroup[w.ID] = bitrix.UniqueKey(used, w.Name, w.ID)
	}
	return k
}

func sortedByID[T any](in []T, id func(T) int64) []T {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	return out
}

// index builds the subject index of the portal.
func (p *Portal) index(k *keys) *graph.Index {
	var wgs []graph.Workgroup
	for id, key := range k.workgroup {
		wgs = append(wgs, graph.Workgroup{Key: key, ID: id})
	}
	return graph.NewIndex(&p.Directory, wgs)
}

// ToGraph returns the live graph in normal form. Anomalies are stored
// rows that do not fit the model (reported as drift, never fatal). The
// upgrade of old files reads them with it.
func (p *Portal) ToGraph() (*graph.Graph, []string) {
	k := p.keys()
	ix := p.index(k)
	var anomalies []string
	dir := p.Directory
	dir.Users = slices.Clone(dir.Users)
	dir.Departments = slices.Clone(dir.Departments)
	dir.Groups = slices.Clone(dir.Groups)
	g := &graph.Graph{Directory: &dir}
	subjects := func(codes []string) []string {
		out := make([]string, 0, len(codes))
		for _, c := range codes {
			out = append(out, ix.SubjectForCode(c).String())
		}
		return out
	}
	for _, s := range p.SmartProcesses {
		g.SmartProcesses = append(g.SmartProcesses, graph.SmartProcess{Key: k.smart[s.ID], Name: s.Title, EntityTypeID: s.ID})
	}
	for _, pl := range p.Pipelines {
		gp := graph.Pipeline{Entity: p.entityName(pl.Entity, k), Key: k.pipeline[pl.Entity][pl.ID], Name: pl.Name, ID: pl.ID}
		gp.Stages = slices.Clone(pl.Stages)
		// The old format has no SEMANTICS: the stages have what the
		// upgrade writes for them (bitrix.PlanStages).
		sems, _ := graph.StageSemantics(gp.Stages, nil)
		for i := range gp.Stages {
			gp.Stages[i].Semantics = cmp.Or(gp.Stages[i].Semantics, sems[i])
		}
		g.Pipelines = append(g.Pipelines, gp)
	}
	used := map[string]bool{}
	for _, r := range sortedByID(p.CRMRoles, func(r CRMRole) int64 { return r.ID }) {
		role := graph.CRMRole{Key: bitrix.UniqueKey(used, r.Name, r.ID), Name: r.Name, ID: r.ID, System: r.System, Assign: subjects(r.Relations)}
		for _, c := range r.Perms {
			pk := ""
			if c.Category >= 0 {
				var ok bool
				pk, ok = k.pipeline[c.Entity][c.Category]
				if !ok {
					anomalies = append(anomalies, fmt.Sprintf("CRM role %q (ID %d) has a %s permission for category %d, which does not exist", r.Name, r.ID, c.Entity, c.Category))
					continue
				}
			}
			if _, ok := graph.LookupCRMEntity(p.entityName(c.Entity, k)); !ok {
				anomalies = append(anomalies, fmt.Sprintf("CRM role %q (ID %d) has a permission for unknown entity %q", r.Name, r.ID, c.Entity))
				continue
			}
			role.Perms = append(role.Perms, graph.CRMPerm{Entity: p.entityName(c.Entity, k), Pipeline: pk, Stage: c.Stage, Action: c.Action, Level: c.Level})
		}
		g.CRMRoles = append(g.CRMRoles, role)
	}
	simple := func(in []SimpleRole) []graph.SimpleRole {
		used := map[string]bool{}
		var out []graph.SimpleRole
		for _, r := range sortedByID(in, func(r SimpleRole) int64 { return r.ID }) {
			out = append(out, graph.SimpleRole{Key: bitrix.UniqueKey(used, r.Name, r.ID), Name: r.Name, ID: r.ID, Assign: subjects(r.Access), Perms: slices.Clone(r.Perms)})
		}
		return out
	}
	g.TelephonyRoles = simple(p.TelephonyRoles)
	g.TelephonySecurityOff = p.TelephonySecurityOff
	g.OpenlineRoles = simple(p.OpenlineRoles)
	user := func(id int64) string { return ix.SubjectForCode("U" + strconv.FormatInt(id, 10)).String() }
	for _, w := range p.Workgroups {
		gw := graph.Workgroup{Key: k.workgroup[w.ID], Name: w.Name, ID: w.ID, Visibility: graph.VisibilityOf(w.Visible, w.Opened), Archived: w.Closed,
			Owner: user(w.Owner), Features: slices.Clone(w.Features), DisabledFeatures: slices.Clone(w.DisabledFeatures)}
		for _, x := range []struct {
			ids []int64
			to  *[]string
		}{{w.Banned, &gw.Banned}, {w.Requests, &gw.Requests}, {w.Invited, &gw.Invited}} {
			for _, id := range x.ids {
				*x.to = append(*x.to, user(id))
			}
		}
		for _, m := range w.Moderators {
			gw.Moderators = append(gw.Moderators, user(m))
		}
		for _, m := range w.Members {
			gw.Members = append(gw.Members, user(m))
		}
		g.Workgroups = append(g.Workgroups, gw)
	}
	used = map[string]bool{}
	for _, c := range sortedByID(p.OpenChannels, func(c OpenChannel) int64 { return c.ID }) {
		gc := graph.OpenChannel{Key: bitrix.UniqueKey(used, c.Name, c.ID), Name: c.Name, ID: c.ID, Inactive: !c.Active, QueueType: c.QueueType}
		for _, q := range c.Queue {
			prefix := "U"
			if q.Type == "department" {
				prefix = "D"
			} else if q.Type != "user" {
				anomalies = append(anomalies, fmt.Sprintf("open channel %q (ID %d) has a queue entry of unknown type %q", c.Name, c.ID, q.Type))
				continue
			}
			gc.Queue = append(gc.Queue, ix.SubjectForCode(prefix+strconv.FormatInt(q.ID, 10)).String())
		}
		g.OpenChannels = append(g.OpenChannels, gc)
	}
	used = map[string]bool{}
	for _, f := range sortedByID(p.FieldRules, func(f FieldRule) int64 { return f.ID }) {
		pk := ""
		if f.Category >= 0 {
			pk = k.pipeline[f.Entity][f.Category]
		}
		name := f.Entity + "_" + f.Field
		if pk != "" && pk != graph.DefaultPipeline {
			name = f.Entity + "_" + pk + "_" + f.Field
		}
		g.FieldRules = append(g.FieldRules, graph.FieldRule{Key: bitrix.UniqueKey(used, name, f.ID), Native: f.Native, Entity: p.entityName(f.Entity, k),
			Pipeline: pk, Field: f.Field, Stages: slices.Clone(f.Stages), View: subjects(f.View), Edit: subjects(f.Edit)})
	}
	return g.Normalize(), anomalies
}

// entityName maps a stored entity ("deal", "dynamic_<typeId>") to the
// graph's ("deal", "smart:<key>").
func (p *Portal) entityName(stored string, k *keys) string {
	if id, ok := strings.CutPrefix(stored, "dynamic_"); ok {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			if key, ok := k.smart[n]; ok {
				return graph.SmartProcessPrefix + key
			}
		}
	}
	return stored
}

// storedEntity is the inverse of entityName.
func (p *Portal) storedEntity(name string, k *keys) (string, error) {
	if key, ok := strings.CutPrefix(name, graph.SmartProcessPrefix); ok {
		id, ok := k.smartID[key]
		if !ok {
			return "", fmt.Errorf("smart process %q does not exist on the portal", key)
		}
		return "dynamic_" + strconv.FormatInt(id, 10), nil
	}
	return name, nil
}

func sortAddrs(a []graph.Addr) {
	slices.SortFunc(a, func(x, y graph.Addr) int { return cmp.Compare(x.String(), y.String()) })
}
