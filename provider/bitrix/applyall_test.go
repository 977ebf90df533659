package bitrix

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// mixedChanges is a plan over the XL portal that exercises what ApplyAll
// batches and what makes it compact between changes: role updates (one
// role twice), a role replaced, a role deleted, a role created, and a
// pipeline created in the middle (its default rows reach every role, and
// later role updates set cells on it).
func mixedChanges(t *testing.T, g *graph.Graph) []plan.Change {
	t.Helper()
	cells, _ := xlCellChanges(g)
	var out []plan.Change
	for i := 0; i < 60; i += 3 {
		out = append(out, cells[i])
	}
	// The first role again, back to what the portal says.
	r0 := g.CRMRoles[0]
	out = append(out, plan.Change{Address: "crm_role." + r0.Key, Action: plan.Update, ID: r0.ID, After: &graph.Resource{CRMRole: &r0}})
	r1, r2 := g.CRMRoles[1], g.CRMRoles[2]
	out = append(out,
		plan.Change{Address: "crm_role." + r1.Key, Action: plan.Replace, ID: r1.ID, Before: &graph.Resource{CRMRole: &r1}, After: cells[1].After},
		plan.Change{Address: "crm_role." + r2.Key, Action: plan.Delete, ID: r2.ID, Before: &graph.Resource{CRMRole: &r2}})
	pl := graph.Pipeline{Entity: "deal", Key: "retail_new", Name: "Retail (new)", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}}
	out = append(out, plan.Change{Address: "crm_pipeline.deal.retail_new", Action: plan.Create, After: &graph.Resource{Pipeline: &pl}})
	for _, i := range []int{3, 4, 30} {
		r := g.CRMRoles[i]
		r.Perms = append(append([]graph.CRMPerm(nil), cells[i].After.CRMRole.Perms...),
			graph.CRMPerm{Entity: "deal", Pipeline: "retail_new", Action: "read", Level: "own"},
			graph.CRMPerm{Entity: "deal", Pipeline: "retail_new", Stage: "won", Action: "write", Level: "none"})
		out = append(out, plan.Change{Address: "crm_role." + r.Key, Action: plan.Update, ID: r.ID, After: &graph.Resource{CRMRole: &r}})
	}
	nr := g.CRMRoles[5]
	nr.Key, nr.Name = "brand_new", "Brand new"
	out = append(out, plan.Change{Address: "crm_role.brand_new", Action: plan.Create, After: &graph.Resource{CRMRole: &nr}})
	out = append(out, cells[6], cells[6])
	return out
}

// ApplyAll leaves the portal byte for byte as Apply one change after the
// other does (each Apply compacts b_crm_role_perms at once).
func TestApplyAllIsApplyInSequence(t *testing.T) {
	data := xlOnce()
	p0, _ := Decode(data, "xl.json")
	g, _ := Read(p0)
	changes := mixedChanges(t, g)

	seq, _ := Decode(data, "xl.json")
	a := NewApplier(seq, nil)
	var want []int64
	for _, ch := range changes {
		id, err := a.Apply(ch)
		if err != nil {
			t.Fatalf("%s: %v", ch.Address, err)
		}
		want = append(want, id)
	}
	batch, _ := Decode(data, "xl.json")
	got, err := NewApplier(batch, nil).ApplyAll(context.Background(), changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ApplyAll returned %d IDs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d (%s): ID %d, want %d", i, changes[i].Address, got[i], want[i])
		}
	}
	bs, _ := seq.Encode()
	bb, _ := batch.Encode()
	if !bytes.Equal(bs, bb) {
		t.Fatalf("ApplyAll wrote another portal than Apply in sequence (%d vs %d bytes)", len(bb), len(bs))
	}
	if bytes.Equal(bs, data) {
		t.Fatal("the changes changed nothing")
	}
}

// A failing change stops ApplyAll with a ChangeError naming it, and the
// table is compacted (no row of a changed role twice).
func TestApplyAllStopsAtFailure(t *testing.T) {
	data := xlOnce()
	p, _ := Decode(data, "xl.json")
	g, _ := Read(p)
	cells, _ := xlCellChanges(g)
	bad := g.CRMRoles[7]
	bad.Perms = []graph.CRMPerm{{Entity: "deal", Pipeline: "no_such_pipeline", Action: "read", Level: "all"}}
	changes := []plan.Change{cells[0], cells[1], {Address: "crm_role." + bad.Key, Action: plan.Update, ID: bad.ID, After: &graph.Resource{CRMRole: &bad}}, cells[2]}
	ids, err := NewApplier(p, nil).ApplyAll(context.Background(), changes)
	var ce *ChangeError
	if !errors.As(err, &ce) || ce.Index != 2 || len(ids) != 2 {
		t.Fatalf("ApplyAll = %v, %v; want a ChangeError at change 2 after 2 IDs", ids, err)
	}
	seen := map[int64]bool{}
	for _, r := range p.RolePerms {
		if seen[r.ID] {
			t.Fatalf("row %d twice", r.ID)
		}
		seen[r.ID] = true
	}
	if g2, an := Read(p); len(an) != 0 || len(g2.CRMRoles) != len(g.CRMRoles) {
		t.Fatalf("after the failure: %d roles, anomalies %v", len(g2.CRMRoles), an)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewApplier(p, nil).ApplyAll(ctx, changes); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ApplyAll = %v", err)
	}
}
