// Package gen generates synthetic organizations of a given size: a
// directory (users, departments) and a permission graph over it. It feeds
// benchmarks and `b24perm gen-example`; the output is deterministic.
package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// Size is the scale of a generated organization.
type Size struct {
	Name           string
	Users          int
	Departments    int
	CRMRoles       int
	Pipelines      int // deal pipelines besides the default one
	Stages         int // stages per pipeline
	TelephonyRoles int
	OpenlineRoles  int
	Workgroups     int
	FieldRules     int
	OpenChannels   int
}

// Sizes are the named presets; xl is the benchmark target of the issues.
var Sizes = map[string]Size{
	"s":  {"s", 50, 10, 5, 3, 5, 2, 2, 5, 10, 2},
	"m":  {"m", 1000, 100, 30, 10, 8, 10, 10, 50, 100, 10},
	"xl": {"xl", 10000, 1000, 200, 50, 12, 50, 50, 500, 1000, 100},
}

// Scale returns sz with n times the users, departments, roles, workgroups,
// field rules and open channels; pipelines and stages stay as they are, so
// the organization keeps its shape and only grows. Scale(sz, 1) is sz.
func Scale(sz Size, n int) Size {
	if n <= 1 {
		return sz
	}
	sz.Name = fmt.Sprintf("%sx%d", sz.Name, n)
	sz.Users *= n
	sz.Departments *= n
	sz.CRMRoles *= n
	sz.TelephonyRoles *= n
	sz.OpenlineRoles *= n
	sz.Workgroups *= n
	sz.FieldRules *= n
	sz.OpenChannels *= n
	return sz
}

var chain = []string{"read", "add", "write", "delete", "export", "import"}

// Generate builds the organization. The graph is normalized and carries a
// Directory; subjects use e-mails and department paths.
func Generate(sz Size, seed uint64) *graph.Graph {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	g := &graph.Graph{Directory: &graph.Directory{}}
	dir := g.Directory

	// Departments: a tree with fan-out ~10 below "Company".
	dir.Departments = append(dir.Departments, graph.Department{ID: 1, Name: "Company"})
	paths := map[int64]string{1: "Company"}
	for i := 2; i <= sz.Departments; i++ {
		parent := int64(1)
		if i > 11 {
			parent = int64(2 + r.IntN(min(i-2, sz.Departments/10+1)))
		}
		name := fmt.Sprintf("Dept %04d", i)
		dir.Departments = append(dir.Departments, graph.Department{ID: int64(i), Name: name, Parent: parent})
		paths[int64(i)] = paths[parent] + "/" + name
	}
	dir.Groups = []graph.Group{{ID: 1, Name: "administrators"}, {ID: 2, Name: "employees"}}
	for i := 1; i <= sz.Users; i++ {
		u := graph.User{ID: int64(i), Email: fmt.Sprintf("user%05d@example.com", i), Name: fmt.Sprintf("User %05d", i),
			Departments: []int64{int64(1 + r.IntN(sz.Departments))}, Groups: []int64{2}}
		if i == 1 {
			u.Admin, u.Groups, u.Departments = true, []int64{1, 2}, []int64{1}
		}
		dir.Users = append(dir.Users, u)
	}
	user := func() string { return "user:" + dir.Users[r.IntN(len(dir.Users))].Email }
	dept := func() string {
		d := dir.Departments[r.IntN(len(dir.Departments))]
		if r.IntN(2) == 0 {
			return graph.SubjDepartmentAll + ":" + paths[d.ID]
		}
		return graph.SubjDepartment + ":" + paths[d.ID]
	}

	// Pipelines.
	stageKeys := make([]string, sz.Stages)
	for s := range stageKeys {
		stageKeys[s] = fmt.Sprintf("stage_%02d", s+1)
	}
	pipelines := []string{graph.DefaultPipeline}
	for p := 1; p <= sz.Pipelines; p++ {
		pipelines = append(pipelines, fmt.Sprintf("pipeline_%02d", p))
	}
	for _, pk := range pipelines {
		pl := graph.Pipeline{Entity: "deal", Key: pk, Name: "Pipeline " + strings.TrimPrefix(pk, "pipeline_")}
		if pk == graph.DefaultPipeline {
			pl.Name = "General"
		}
		for _, sk := range stageKeys {
			pl.Stages = append(pl.Stages, graph.Stage{Key: sk, Name: "Stage " + sk[6:]})
		}
		g.Pipelines = append(g.Pipelines, pl)
	}

	// CRM roles: entity defaults with some pipeline and stage overrides.
	for i := 0; i < sz.CRMRoles; i++ {
		role := graph.CRMRole{Key: fmt.Sprintf("role_%03d", i), Name: fmt.Sprintf("Role %03d", i)}
		if i == 0 {
			role.Name = "Administrator"
			role.Assign = []string{"user:" + dir.Users[0].Email}
			role.Perms = append(role.Perms, graph.CRMPerm{Entity: "config", Action: "write", Level: "all"})
		} else {
			for k := 0; k < 1+r.IntN(3); k++ {
				if r.IntN(3) == 0 {
					role.Assign = append(role.Assign, user())
				} else {
					role.Assign = append(role.Assign, dept())
				}
			}
		}
		base := map[string]string{}
		for _, a := range chain {
			base[a] = graph.CRMLevels[1+r.IntN(len(graph.CRMLevels)-1)]
			if i == 0 {
				base[a] = "all"
			}
		}
		for _, pk := range pipelines {
			for _, a := range chain {
				lvl := base[a]
				if r.IntN(10) == 0 {
					lvl = graph.CRMLevels[r.IntN(len(graph.CRMLevels))]
				}
				role.Perms = append(role.Perms, graph.CRMPerm{Entity: "deal", Pipeline: pk, Action: a, Level: lvl})
				if r.IntN(8) == 0 {
					sk := stageKeys[r.IntN(len(stageKeys))]
					role.Perms = append(role.Perms, graph.CRMPerm{Entity: "deal", Pipeline: pk, Stage: sk, Action: a, Level: graph.CRMLevels[r.IntN(3)]})
				}
			}
		}
		for _, e := range []string{"lead", "contact", "company"} {
			p := ""
			if e == "lead" {
				p = graph.DefaultPipeline
			}
			for _, a := range chain {
				role.Perms = append(role.Perms, graph.CRMPerm{Entity: e, Pipeline: p, Action: a, Level: base[a]})
			}
		}
		g.CRMRoles = append(g.CRMRoles, role)
	}

	simple := func(prefix string, n int, table []graph.SimpleAction) []graph.SimpleRole {
		var out []graph.SimpleRole
		for i := 0; i < n; i++ {
			sr := graph.SimpleRole{Key: fmt.Sprintf("%s_%03d", prefix, i), Name: fmt.Sprintf("%s %03d", prefix, i), Assign: []string{dept()}}
			for _, a := range table {
				sr.Perms = append(sr.Perms, graph.SimplePerm{Entity: a.Entity, Action: a.Action, Level: a.Levels[r.IntN(len(a.Levels))]})
			}
			out = append(out, sr)
		}
		return out
	}
	g.TelephonyRoles = simple("telephony", sz.TelephonyRoles, graph.TelephonyActions)
	g.OpenlineRoles = simple("openlines", sz.OpenlineRoles, graph.OpenlineActions)

	vis := []string{"public", "private", "secret"}
	for i := 0; i < sz.Workgroups; i++ {
		w := graph.Workgroup{Key: fmt.Sprintf("group_%03d", i), Name: fmt.Sprintf("Group %03d", i), Visibility: vis[r.IntN(3)], Owner: user()}
		for k := 0; k < 1+r.IntN(2); k++ {
			w.Moderators = append(w.Moderators, user())
		}
		for k := 0; k < 5+r.IntN(20); k++ {
			w.Members = append(w.Members, user())
		}
		if r.IntN(3) == 0 {
			w.Features = append(w.Features, graph.FeaturePerm{Feature: "tasks", Operation: "edit_tasks", Role: "members"})
		}
		g.Workgroups = append(g.Workgroups, w)
	}
	for i := 0; i < sz.FieldRules; i++ {
		fr := graph.FieldRule{Key: fmt.Sprintf("field_rule_%04d", i), Entity: "deal", Pipeline: pipelines[r.IntN(len(pipelines))],
			Field: fmt.Sprintf("UF_CRM_FIELD_%04d", i), View: []string{dept()}, Edit: []string{user()}}
		if r.IntN(2) == 0 {
			fr.Stages = []string{stageKeys[r.IntN(len(stageKeys))]}
		}
		g.FieldRules = append(g.FieldRules, fr)
	}
	// Open channels draw from their own stream, so that adding them left
	// every other generated object as it was.
	rc := rand.New(rand.NewPCG(seed, 0xc4a7))
	for i := 0; i < sz.OpenChannels; i++ {
		c := graph.OpenChannel{Key: fmt.Sprintf("channel_%03d", i), Name: fmt.Sprintf("Channel %03d", i), QueueType: graph.QueueTypes[rc.IntN(3)]}
		for k := 0; k < 1+rc.IntN(8); k++ {
			if rc.IntN(4) == 0 {
				c.Queue = append(c.Queue, graph.SubjDepartment+":"+paths[dir.Departments[rc.IntN(len(dir.Departments))].ID])
			} else {
				c.Queue = append(c.Queue, "user:"+dir.Users[rc.IntN(len(dir.Users))].Email)
			}
		}
		g.OpenChannels = append(g.OpenChannels, c)
	}
	g.Settings = &graph.Settings{Mode: map[string]string{graph.DomainCRM: graph.ModeAuthoritative}, Protect: []string{"crm_role.role_000"},
		SensitiveFields: []string{"deal.OPPORTUNITY"}}
	return g.Normalize()
}
