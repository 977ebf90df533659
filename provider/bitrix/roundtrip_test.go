package bitrix

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/google/go-cmp/cmp"
)

// canon strips what a live read may legitimately change — keys derived
// from names, IDs, STATUS_IDs, settings and tests — so that a desired and
// a live graph compare on their permissions alone.
func canon(t *testing.T, g *graph.Graph) *graph.Graph {
	t.Helper()
	c := &graph.Graph{}
	wgName := map[string]string{}
	for _, w := range g.Workgroups {
		wgName[w.Key] = w.Name
	}
	pipeName := map[string]string{}
	for _, p := range g.Pipelines {
		pipeName[p.Entity+"/"+p.Key] = p.Name
	}
	spName := map[string]string{}
	for _, s := range g.SmartProcesses {
		spName[s.Key] = s.Name
		c.SmartProcesses = append(c.SmartProcesses, graph.SmartProcess{Key: s.Name, Name: s.Name})
	}
	ent := func(e string) string {
		if k, ok := strings.CutPrefix(e, graph.SmartProcessPrefix); ok {
			return graph.SmartProcessPrefix + spName[k]
		}
		return e
	}
	pipe := func(e, k string) string {
		if k == "" || k == graph.DefaultPipeline {
			return k
		}
		return pipeName[e+"/"+k]
	}
	subj := func(in []string) []string {
		out := []string{}
		for _, s := range in {
			sub, err := graph.ParseSubject(s)
			if err != nil {
				t.Fatalf("subject %q: %v", s, err)
			}
			if strings.HasPrefix(sub.Kind, "workgroup_") {
				sub.Ref = wgName[sub.Ref]
			}
			out = append(out, sub.String())
		}
		slices.Sort(out)
		return out
	}
	for _, p := range g.Pipelines {
		if p.Entity == "lead" && len(p.Stages) == 0 {
			continue // the lead statuses always exist on a portal
		}
		cp := graph.Pipeline{Entity: ent(p.Entity), Key: pipe(p.Entity, p.Key), Name: p.Name}
		for _, s := range p.Stages {
			cp.Stages = append(cp.Stages, graph.Stage{Key: s.Key, Name: s.Name})
		}
		c.Pipelines = append(c.Pipelines, cp)
	}
	for _, r := range g.CRMRoles {
		cr := graph.CRMRole{Key: r.Name, Name: r.Name, Assign: subj(r.Assign)}
		for _, p := range r.Perms {
			p.Pipeline = pipe(p.Entity, p.Pipeline)
			p.Entity = ent(p.Entity)
			cr.Perms = append(cr.Perms, p)
		}
		c.CRMRoles = append(c.CRMRoles, cr)
	}
	simple := func(in []graph.SimpleRole) []graph.SimpleRole {
		var out []graph.SimpleRole
		for _, r := range in {
			out = append(out, graph.SimpleRole{Key: r.Name, Name: r.Name, Assign: subj(r.Assign), Perms: r.Perms})
		}
		return out
	}
	c.TelephonyRoles = simple(g.TelephonyRoles)
	c.OpenlineRoles = simple(g.OpenlineRoles)
	for _, w := range g.Workgroups {
		c.Workgroups = append(c.Workgroups, graph.Workgroup{Key: w.Name, Name: w.Name, Visibility: w.Visibility, Owner: w.Owner,
			Moderators: w.Moderators, Members: w.Members, Features: w.Features})
	}
	for _, f := range g.FieldRules {
		c.FieldRules = append(c.FieldRules, graph.FieldRule{Key: fmt.Sprintf("%s/%s/%s/%v", ent(f.Entity), pipe(f.Entity, f.Pipeline), f.Field, f.Native),
			Native: f.Native, Entity: ent(f.Entity), Pipeline: pipe(f.Entity, f.Pipeline), Field: f.Field, Stages: f.Stages, View: subj(f.View), Edit: subj(f.Edit)})
	}
	return c.Normalize()
}

// randomGraph is a gen organization with the cell forms gen does not
// produce: stage-level none, transitions, toggles, non-chain sets, smart
// processes, lead stages, native field rules and feature permissions.
func randomGraph(seed uint64) *graph.Graph {
	g := gen.Generate(gen.Sizes["s"], seed)
	g.Settings = nil
	r := rand.New(rand.NewPCG(seed, 7))
	g.SmartProcesses = append(g.SmartProcesses, graph.SmartProcess{Key: "delivery", Name: "Delivery"})
	g.Pipelines = append(g.Pipelines,
		graph.Pipeline{Entity: "smart:delivery", Key: "default", Name: "Deliveries", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "shipped", Name: "Shipped"}, {Key: "success", Name: "Done"}}},
		graph.Pipeline{Entity: "smart:delivery", Key: "express", Name: "Express", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "success", Name: "Done"}}},
		graph.Pipeline{Entity: "lead", Key: "default", Name: "Leads", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "in_process", Name: "In progress"}, {Key: "junk", Name: "Junk"}}},
	)
	dealStages := []string{"stage_01", "stage_02", "stage_03"}
	for i := range g.CRMRoles {
		role := &g.CRMRoles[i]
		add := func(c graph.CRMPerm) { role.Perms = append(role.Perms, c) }
		switch r.IntN(4) {
		case 0:
			add(graph.CRMPerm{Entity: "deal", Pipeline: "default", Stage: dealStages[r.IntN(3)], Action: "read", Level: "none"})
		case 1:
			add(graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "transition", Level: graph.TransitionAny})
			add(graph.CRMPerm{Entity: "deal", Pipeline: "default", Stage: "stage_01", Action: "transition", Level: "stage_02,stage_03"})
		case 2:
			add(graph.CRMPerm{Entity: "smart:delivery", Pipeline: "express", Action: "read", Level: "own+open"})
			add(graph.CRMPerm{Entity: "smart:delivery", Pipeline: "default", Stage: "shipped", Action: "write", Level: "none"})
			add(graph.CRMPerm{Entity: "smart:delivery", Pipeline: "default", Action: "write", Level: "department"})
		case 3:
			add(graph.CRMPerm{Entity: "lead", Pipeline: "default", Stage: "junk", Action: "read", Level: "all"})
			add(graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "automation", Level: "all"})
			add(graph.CRMPerm{Entity: "deal", Pipeline: "default", Stage: "stage_01", Action: "hide_sum", Level: "none"})
			add(graph.CRMPerm{Entity: "deal", Pipeline: "default", Action: "hide_sum", Level: "all"})
			add(graph.CRMPerm{Entity: "webform", Action: "read", Level: "all"})
			add(graph.CRMPerm{Entity: "saletarget", Action: "read", Level: "subdepartments"})
		}
		if r.IntN(3) == 0 && len(g.Workgroups) > 0 {
			role.Assign = append(role.Assign, "workgroup_members:"+g.Workgroups[r.IntN(len(g.Workgroups))].Key)
		}
	}
	for i := range g.Workgroups {
		if r.IntN(2) == 0 {
			g.Workgroups[i].Features = append(g.Workgroups[i].Features, graph.FeaturePerm{Feature: "blog", Operation: "write_post", Role: "moderators"},
				graph.FeaturePerm{Feature: "files", Operation: "write", Role: "nobody"})
		}
	}
	g.FieldRules = append(g.FieldRules,
		graph.FieldRule{Key: "native_a", Native: true, Entity: "contact", Field: "UF_CRM_PASSPORT", View: []string{"group:administrators", g.Directory.Users[1].Email}},
		graph.FieldRule{Key: "lead_budget", Entity: "lead", Pipeline: "default", Field: "UF_CRM_BUDGET", Stages: []string{"junk"}, View: []string{"group:employees"}},
		graph.FieldRule{Key: "delivery_addr", Entity: "smart:delivery", Pipeline: "express", Field: "UF_ADDR", Edit: []string{"user:" + g.Directory.Users[2].Email}},
	)
	g.FieldRules[len(g.FieldRules)-3].View[1] = "user:" + g.Directory.Users[1].Email
	return g.Normalize()
}

func TestRoundTripRandomGraphs(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			g := randomGraph(seed)
			p, err := FromGraph(g, "test")
			if err != nil {
				t.Fatal(err)
			}
			if seed%2 == 0 {
				p.UseLegacyLetters(2)
			}
			// Through JSON, as the local backend stores it.
			b, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			p2, err := Decode(b, "portal.json")
			if err != nil {
				t.Fatal(err)
			}
			live, anomalies := Read(p2)
			if len(anomalies) > 0 {
				t.Fatalf("anomalies: %v", anomalies)
			}
			if d := cmp.Diff(canon(t, g), canon(t, live)); d != "" {
				t.Fatalf("round trip differs (-desired +live):\n%s", d)
			}
			// The live graph carries IDs and the directory.
			for _, r := range live.CRMRoles {
				if r.ID == 0 {
					t.Fatalf("role %s has no ID", r.Key)
				}
			}
			if len(live.Directory.Users) != len(g.Directory.Users) {
				t.Fatalf("users: %d, want %d", len(live.Directory.Users), len(g.Directory.Users))
			}
		})
	}
}

func TestNeverWritesDashOrInheritRows(t *testing.T) {
	p, err := FromGraph(randomGraph(3), "test")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[permKey]bool{}
	for _, r := range p.RolePerms {
		if r.Attr == "-" || strings.Contains(string(r.Settings), "INHERIT") {
			t.Fatalf("row %d written with inherit: %+v", r.ID, r)
		}
		if r.Field == "-" && (string(r.Settings) == `["0"]` || string(r.Settings) == `["BLOCKED"]`) {
			t.Fatalf("row %d: entity-level minimum stored: %+v", r.ID, r)
		}
		k := permKey{r.RoleID, r.Entity, r.Field, r.FieldValue, r.PermType}
		if seen[k] {
			t.Fatalf("duplicate row for %+v", k)
		}
		seen[k] = true
	}
}
