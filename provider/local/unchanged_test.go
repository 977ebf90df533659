package local

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// Apply starts from the tables of the last Read only while the file holds
// the bytes Read decoded: an edit in between (another tool, a hand) is
// applied on, not overwritten with the old tables.
func TestApplyReusesReadOnlyWhileUnchanged(t *testing.T) {
	path := demoPath(t)
	p := New(path)
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if same, err := p.Unchanged(); err != nil || !same {
		t.Fatalf("Unchanged right after Read = %v, %v", same, err)
	}
	// Someone renames a role in the file after the Read.
	bp, err := LoadTables(path)
	if err != nil {
		t.Fatal(err)
	}
	m := *roleByKey(g, "manager")
	other := 0
	if bp.Roles[other].ID == m.ID {
		other = 1
	}
	bp.Roles[other].Name = "Renamed by hand"
	if err := SaveTables(path, bp); err != nil {
		t.Fatal(err)
	}
	if same, err := p.Unchanged(); err != nil || same {
		t.Fatalf("Unchanged after an edit = %v, %v", same, err)
	}
	m.Perms = append([]graph.CRMPerm{{Entity: "company", Action: "delete", Level: "department"}}, m.Perms...)
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: []plan.Change{{Address: "crm_role.manager", Action: plan.Update, ID: m.ID, After: &graph.Resource{CRMRole: &m}}}}); err != nil {
		t.Fatal(err)
	}
	after, err := LoadTables(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Roles[other].Name != "Renamed by hand" {
		t.Errorf("the edit made after the Read was lost: role %q", after.Roles[other].Name)
	}
	// The applied change is there, and Apply consumed the Read's tables.
	if same, _ := p.Unchanged(); same {
		t.Error("Unchanged after Apply without a new Read")
	}
	g2, err := New(path).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := roleByKey(g2, "manager"); r == nil || !slices.Contains(r.Perms, graph.CRMPerm{Entity: "company", Action: "delete", Level: "department"}) {
		t.Fatalf("manager after apply: %+v", r)
	}
	// Same bytes again: Apply uses the Read's tables and writes what a
	// fresh decode would give.
	want, _ := os.ReadFile(path)
	q := New(path)
	if _, err := q.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := q.Apply(context.Background(), provider.ApplyRequest{}); err != nil {
		t.Fatal(err)
	}
	fresh, _ := bitrix.Decode(want, path)
	wantOut, _ := fresh.Encode()
	if got, _ := os.ReadFile(path); string(got) != string(wantOut) {
		t.Error("an empty apply from the Read's tables wrote another file than from a fresh decode")
	}
}
