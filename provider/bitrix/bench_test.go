package bitrix

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/cputime"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

var xlOnce = sync.OnceValue(func() []byte {
	b, err := GenerateXL(1).Encode()
	if err != nil {
		panic(err)
	}
	return b
})

// BenchmarkReadXL: decode the XL portal file and read it into the graph.
func BenchmarkReadXL(b *testing.B) {
	data := xlOnce()
	b.SetBytes(int64(len(data)))
	cpu0 := cputime.Process()
	for b.Loop() {
		p, err := Decode(data, "xl.json")
		if err != nil {
			b.Fatal(err)
		}
		if g, an := Read(p); len(g.CRMRoles) != 200 || len(an) != 0 {
			b.Fatalf("roles %d anomalies %d", len(g.CRMRoles), len(an))
		}
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// xlCellChanges changes every role's read level on every deal pipeline:
// 200 role updates, 10,200 cells.
func xlCellChanges(g *graph.Graph) ([]plan.Change, int) {
	var changes []plan.Change
	cells := 0
	for i := range g.CRMRoles {
		r := g.CRMRoles[i]
		r.Perms = append([]graph.CRMPerm(nil), r.Perms...)
		for j := range r.Perms {
			c := &r.Perms[j]
			if c.Entity == "deal" && c.Stage == "" && c.Action == "read" {
				if c.Level == "own" {
					c.Level = "department"
				} else {
					c.Level = "own"
				}
				cells++
			}
		}
		changes = append(changes, plan.Change{Address: "crm_role." + r.Key, Action: plan.Update, ID: r.ID, After: &graph.Resource{CRMRole: &r}})
	}
	return changes, cells
}

func BenchmarkApplyXL10kCells(b *testing.B) {
	data := xlOnce()
	p0, _ := Decode(data, "xl.json")
	g, _ := Read(p0)
	changes, cells := xlCellChanges(g)
	if cells < 10000 {
		b.Fatalf("only %d cells", cells)
	}
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		p, _ := Decode(data, "xl.json")
		b.StartTimer()
		cpu0 := cputime.Process()
		if _, err := NewApplier(p, nil).ApplyAll(context.Background(), changes); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - cpu0
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

func TestXLBudgets(t *testing.T) {
	if testing.Short() {
		return
	}
	data := xlOnce()
	r := testing.Benchmark(BenchmarkReadXL)
	if r.NsPerOp() > 1e9 {
		t.Errorf("XL decode+read takes %v, budget 1 s", time.Duration(r.NsPerOp()))
	}
	p, _ := Decode(data, "xl.json")
	g, _ := Read(p)
	changes, _ := xlCellChanges(g)
	if _, err := NewApplier(p, nil).ApplyAll(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	g2, an := Read(p)
	if len(an) != 0 {
		t.Fatalf("anomalies after apply: %v", an[:1])
	}
	for i, r := range g2.CRMRoles {
		want := changes[i].After.CRMRole
		want.Normalize() // a changed level may now equal a stage override
		if len(r.Perms) != len(want.Perms) {
			t.Fatalf("role %s: %d cells, want %d", r.Key, len(r.Perms), len(want.Perms))
		}
		for j := range r.Perms {
			if r.Perms[j] != want.Perms[j] {
				t.Fatalf("role %s cell %d: %+v, want %+v", r.Key, j, r.Perms[j], want.Perms[j])
			}
		}
	}
}

// BenchmarkEncodeXL: the XL portal file as apply writes it.
func BenchmarkEncodeXL(b *testing.B) {
	p, _ := Decode(xlOnce(), "xl.json")
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}
