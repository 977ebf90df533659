package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

func dir() *graph.Directory {
	return &graph.Directory{
		Users: []graph.User{
			{ID: 1, Email: "admin@example.com", Name: "Admin", Departments: []int64{1}},
			{ID: 42, Email: "anna@example.com", Name: "Anna Petrova", Departments: []int64{7}},
			{ID: 43, Email: "boris@example.com", Name: "Boris Ivanov", Departments: []int64{7}},
		},
		Departments: []graph.Department{{ID: 1, Name: "Company"}, {ID: 3, Name: "Sales", Parent: 1}, {ID: 7, Name: "Wholesale", Parent: 3}},
	}
}

func pipelines() []graph.Pipeline {
	return []graph.Pipeline{
		{Entity: "deal", Key: "default", Name: "General", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}},
		{Entity: "deal", Key: "wholesale", Name: "Wholesale", ID: 3, Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}},
	}
}

func admin(id int64) graph.CRMRole {
	return graph.CRMRole{Key: "administrator", Name: "Administrator", ID: id, Assign: []string{"user:admin@example.com"},
		Perms: []graph.CRMPerm{{Entity: "config", Action: "write", Level: "all"}}}
}

func liveGraph() *graph.Graph {
	return (&graph.Graph{Directory: dir(), Pipelines: pipelines(), CRMRoles: []graph.CRMRole{
		admin(1),
		{Key: "manager", Name: "Manager", ID: 2, Assign: []string{"department_tree:Company/Sales"}, Perms: []graph.CRMPerm{
			{Entity: "deal", Pipeline: "default", Action: "read", Level: "department"},
			{Entity: "deal", Pipeline: "wholesale", Action: "read", Level: "department"},
			{Entity: "deal", Pipeline: "wholesale", Action: "write", Level: "own"},
		}},
		{Key: "interns", Name: "Interns", ID: 5, Assign: []string{"user:boris@example.com"}},
	}}).Normalize()
}

func desiredGraph() *graph.Graph {
	g := (&graph.Graph{Pipelines: pipelines(), Settings: &graph.Settings{Mode: map[string]string{"crm": "authoritative"}}, CRMRoles: []graph.CRMRole{
		admin(0),
		{Key: "manager", Name: "Manager", Assign: []string{"department_tree:Company/Sales", "user:42"}, Perms: []graph.CRMPerm{
			{Entity: "deal", Pipeline: "default", Action: "read", Level: "department"},
			{Entity: "deal", Pipeline: "wholesale", Action: "read", Level: "all"},
			{Entity: "deal", Pipeline: "wholesale", Action: "write", Level: "own"},
			{Entity: "deal", Pipeline: "wholesale", Stage: "won", Action: "write", Level: "none"},
		}},
	}}).Normalize()
	g.SetSource("crm_role.manager", graph.Pos{File: "policies/crm.cue", Line: 12, Col: 13})
	g.SetSource(graph.CellSourceKey("manager", graph.CRMPerm{Entity: "deal", Pipeline: "wholesale", Action: "read"}), graph.Pos{File: "policies/crm.cue", Line: 18, Col: 10})
	return g
}

func TestDiffCellsAssignmentsAndDeletes(t *testing.T) {
	p, ds := Diff(desiredGraph(), liveGraph(), Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	add, change, destroy := p.Summary()
	if add != 0 || change != 1 || destroy != 1 {
		t.Fatalf("summary %d/%d/%d: %+v", add, change, destroy, p.Changes)
	}
	m := p.Changes[0]
	if m.Address != "crm_role.manager" || m.ID != 2 || len(m.Attrs) != 3 {
		t.Fatalf("manager change: %+v", m)
	}
	// "user:42" is the same subject as anna@example.com: one assignment added.
	if m.Attrs[0].Kind != AttrAssign || m.Attrs[0].After != "user:anna@example.com" {
		t.Errorf("assignment: %+v", m.Attrs[0])
	}
	if c := m.Attrs[2]; c.Cell.Stage != "won" || c.Before != "own" || !c.BeforeInherited || c.After != "none" || c.AfterInherited {
		t.Errorf("stage cell: %+v", c)
	}
	if d := p.Changes[1]; d.Action != Delete || d.Address != "crm_role.interns" {
		t.Errorf("delete: %+v", d)
	}
	p.Access = access.ComputeDelta(p.Before, p.After, dir(), desiredGraph())
	var text, md, js bytes.Buffer
	RenderText(&text, p, RenderOptions{})
	RenderMarkdown(&md, p, RenderOptions{})
	p.ToolVersion, p.Backend = "test", "local: portal.json"
	RenderJSON(&js, p)
	golden(t, "plan.txt", text.Bytes())
	golden(t, "plan.md", md.Bytes())
	golden(t, "plan.json", js.Bytes())
}

func TestSemanticEqualityIsNoChange(t *testing.T) {
	live := liveGraph()
	d := liveGraph()
	for i := range d.CRMRoles {
		d.CRMRoles[i].ID = 0
		if d.CRMRoles[i].Key == "manager" {
			// The subject by ID.
			d.CRMRoles[i].Assign = []string{"department_tree:#3"}
		}
	}
	d.Directory = nil
	d.Normalize()
	p, ds := Diff(d, live, Options{})
	if ds.HasErrors() || p.HasChanges() {
		t.Fatalf("expected no changes: %v %+v", ds.Err(), p.Changes)
	}
	// A stage row equal to its inherited value is not the same as no row:
	// it is explicit and beats other roles' inherited values (§3.3).
	for i := range d.CRMRoles {
		if d.CRMRoles[i].Key == "manager" {
			d.CRMRoles[i].Perms = append(d.CRMRoles[i].Perms, graph.CRMPerm{Entity: "deal", Pipeline: "wholesale", Stage: "new", Action: "read", Level: "department"})
		}
	}
	d.Normalize()
	p, ds = Diff(d, live, Options{})
	if ds.HasErrors() || len(p.Changes) != 1 || len(p.Changes[0].Attrs) != 1 {
		t.Fatalf("expected one cell change: %v %+v", ds.Err(), p.Changes)
	}
	if a := p.Changes[0].Attrs[0]; a.Action != Create || a.Before != "department" || !a.BeforeInherited || a.AfterInherited {
		t.Errorf("explicit stage row: %+v", a)
	}
}

func TestModesAndProtect(t *testing.T) {
	d := desiredGraph()
	d.Settings.Mode["crm"] = "additive"
	p, _ := Diff(d, liveGraph(), Options{})
	if len(p.Unmanaged) != 1 || p.Unmanaged[0].Address != "crm_role.interns" || strings.Contains(p.Changes[len(p.Changes)-1].Address, "interns") {
		t.Errorf("additive must keep interns as unmanaged: %+v / %+v", p.Unmanaged, p.Changes)
	}
	d.Settings.Mode["crm"] = "observe"
	p, _ = Diff(d, liveGraph(), Options{})
	if p.HasChanges() || len(p.Observed) != 2 {
		t.Errorf("observe reports only: %+v", p)
	}
	// Protected and undeclared: not deleted, with a warning.
	d.Settings.Mode["crm"] = "authoritative"
	d.Settings.Protect = []string{"crm_role.interns"}
	p, _ = Diff(d, liveGraph(), Options{})
	if len(p.Changes) != 1 || len(p.Warnings) != 1 {
		t.Errorf("protected role deleted: %+v %v", p.Changes, p.Warnings)
	}
	d.Removed = []graph.Removed{{Address: "crm_role.interns", Reason: "program ended"}}
	p, _ = Diff(d, liveGraph(), Options{})
	if len(p.Changes) != 2 || !strings.Contains(p.Changes[1].Reason, "program ended") {
		t.Errorf("removed entry must allow the delete: %+v", p.Changes)
	}
}

func TestLockoutGuard(t *testing.T) {
	d := desiredGraph()
	d.CRMRoles[0].Assign = []string{"user:nobody@example.com"}
	if _, ds := Diff(d, liveGraph(), Options{}); !ds.HasErrors() {
		t.Fatal("an unknown subject must be an error")
	}
	d = desiredGraph()
	d.CRMRoles = d.CRMRoles[1:] // the administrator role is no longer declared → deleted
	_, ds := Diff(d, liveGraph(), Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "no CRM administrator would remain") {
		t.Fatalf("lockout not refused: %v", ds)
	}
}

// The guards judge the portal as the targeted apply leaves it: a policy
// that moves administrator access from one role to another is fine as a
// whole, but not with only the removal selected.
func TestLockoutGuardTargeted(t *testing.T) {
	d := desiredGraph()
	d.CRMRoles[0] = graph.CRMRole{Key: "supervisor", Name: "Supervisor", Assign: []string{"user:anna@example.com"},
		Perms: []graph.CRMPerm{{Entity: "config", Action: "write", Level: "all"}}}
	d.Normalize()
	if _, ds := Diff(d, liveGraph(), Options{}); ds.HasErrors() {
		t.Fatalf("the whole plan keeps an administrator: %v", ds)
	}
	for _, o := range []Options{{Excludes: []string{"crm_role.supervisor"}}, {Targets: []string{"crm_role.administrator"}}} {
		_, ds := Diff(d, liveGraph(), o)
		if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "no CRM administrator would remain") || !strings.Contains(ds.Err().Error(), "-target/-exclude") {
			t.Errorf("%+v: lockout not refused: %v", o, ds)
		}
	}
	if _, ds := Diff(d, liveGraph(), Options{Targets: []string{"crm_role.supervisor", "crm_role.administrator"}}); ds.HasErrors() {
		t.Errorf("both changes selected: %v", ds)
	}
	// The admin role assigned through a workgroup: removing the workgroup's
	// members locks out as surely as removing the role.
	live := liveGraph()
	live.Workgroups = []graph.Workgroup{{Key: "admins", Name: "Admins", ID: 9, Owner: "user:admin@example.com", Members: []string{"user:anna@example.com"}}}
	live.CRMRoles[0].Assign = []string{"workgroup_members:admins"}
	live.Directory.Users = append(live.Directory.Users, graph.User{ID: 50, Email: "gone@example.com", Name: "Gone", Inactive: true})
	live.Normalize()
	d = desiredGraph()
	d.CRMRoles[0].Assign = []string{"workgroup_members:admins"}
	d.Workgroups = []graph.Workgroup{{Key: "admins", Name: "Admins", Owner: "user:gone@example.com", Members: []string{}}}
	d.Settings.Mode["workgroups"] = "authoritative"
	d.Normalize()
	if _, ds := Diff(d, live, Options{}); !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "no CRM administrator would remain") {
		t.Errorf("lockout through workgroup membership not refused: %v", ds)
	}
}

// A protected role losing assignments is judged on the changes apply makes.
func TestProtectTargeted(t *testing.T) {
	d := desiredGraph()
	d.Settings.Protect = []string{"crm_role.manager"}
	d.CRMRoles[1].Assign = []string{"user:42"}
	d.Normalize()
	if _, ds := Diff(d, liveGraph(), Options{}); !ds.HasErrors() {
		t.Fatal("protected role losing assignments must be refused")
	}
	if _, ds := Diff(d, liveGraph(), Options{Targets: []string{"crm_role.manager"}}); !ds.HasErrors() {
		t.Fatal("targeted: protected role losing assignments must be refused")
	}
	if _, ds := Diff(d, liveGraph(), Options{Excludes: []string{"crm_role.manager"}}); ds.HasErrors() {
		t.Fatalf("the protected role is left out: %v", ds)
	}
}

func TestTargetsAndRekeyByState(t *testing.T) {
	p, ds := Diff(desiredGraph(), liveGraph(), Options{Targets: []string{"crm_role.manager"}})
	if ds.HasErrors() || len(p.Changes) != 1 || !p.Targeted {
		t.Fatalf("target: %v %+v", ds, p.Changes)
	}
	if _, ds := Diff(desiredGraph(), liveGraph(), Options{Targets: []string{"crm_role.nope"}}); !ds.HasErrors() {
		t.Error("unknown target must be an error")
	}
	// State says live role 5 is crm_role.manager_v2: the live "Interns"
	// role is re-keyed and renamed, not deleted and created.
	d := desiredGraph()
	d.CRMRoles = append(d.CRMRoles, graph.CRMRole{Key: "trainees", Name: "Trainees", Assign: []string{"user:boris@example.com"}, Perms: []graph.CRMPerm{}})
	d.Normalize()
	p, _ = Diff(d, liveGraph(), Options{IDs: map[string]int64{"crm_role.trainees": 5}})
	var found bool
	for _, c := range p.Changes {
		if c.Address == "crm_role.trainees" && c.Action == Update && c.ID == 5 && c.Attrs[0].Path == "name" {
			found = true
		}
		if c.Action == Delete || c.Action == Create {
			t.Errorf("rename must be an update: %+v", c)
		}
	}
	if !found {
		t.Errorf("no rename update: %+v", p.Changes)
	}
}

func BenchmarkDiffXLNoChange(b *testing.B) { benchDiff(b, 0) }
func BenchmarkDiffXL1Percent(b *testing.B) { benchDiff(b, 100) }

// A protect entry that names nothing is an error with a did-you-mean; one
// naming a live-only object is fine; b24perm diff (PolicyOnly) skips it.
func TestProtectUnknownAddress(t *testing.T) {
	d := desiredGraph()
	d.Settings.Protect = []string{"crm_role.administator", "crm_role.interns"}
	d.SetSource(graph.ProtectSourceKey("crm_role.administator"), graph.Pos{File: "policies/settings.cue", Line: 12, Col: 32})
	_, ds := Diff(d, liveGraph(), Options{})
	if len(ds) != 1 || ds[0].Summary != "Protected address matches nothing" || !strings.Contains(ds[0].Detail, `(did you mean "crm_role.administrator"?)`) ||
		ds[0].Subject == nil || ds[0].Subject.Start.Line != 12 || ds[0].Subject.Start.Column != 32 {
		t.Fatalf("diags: %+v", ds)
	}
	if _, ds := Diff(d, liveGraph(), Options{PolicyOnly: true}); ds.HasErrors() {
		t.Errorf("policy-only diff: %v", ds)
	}
	if got := nearest("telephony_role.zzz", []string{"crm_role.administrator", "crm_role.manager"}); got != "" {
		t.Errorf("nearest of an unrelated address: %q", got)
	}
}

// What an update deletes (a stage, a row the model cannot read) is a
// destroy: listed as an attribute and counted in Summary.
func TestUpdateDestroysCounted(t *testing.T) {
	d := desiredGraph()
	live := liveGraph()
	// The live wholesale pipeline has a stage the policy no longer has.
	for i := range live.Pipelines {
		if live.Pipelines[i].Key == "wholesale" {
			live.Pipelines[i].Stages = append(live.Pipelines[i].Stages, graph.Stage{Key: "lost", Name: "Lost"})
		}
	}
	live.Dropped = []graph.DroppedRow{{Kind: graph.KindCRMRole, ObjectID: 2, Table: "b_crm_role_perms", Row: 77, Problem: `unknown ATTR "Q"`},
		{Kind: graph.KindCRMRole, ObjectID: 1, Table: "b_crm_role_perms", Row: 78, Problem: "not updated"}}
	p, ds := Diff(d, live, Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	var rows, stages int
	for _, c := range p.Changes {
		s, r := c.Destroys()
		stages, rows = stages+s, rows+r
		for _, a := range c.Attrs {
			if a.Kind == AttrRow && (c.Address != "crm_role.manager" || a.Path != "row b_crm_role_perms #77") {
				t.Errorf("row on %s: %+v", c.Address, a)
			}
		}
	}
	_, _, destroy := p.Summary()
	if stages != 1 || rows != 1 || destroy != 3 { // and the Interns role
		t.Errorf("stages %d, rows %d, destroy %d; want 1, 1, 3", stages, rows, destroy)
	}
}
