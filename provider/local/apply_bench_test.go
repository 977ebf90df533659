package local

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/cputime"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
)

var (
	scaledMu    sync.Mutex
	scaledFiles = map[int][]byte{}
)

// scaledXL is the portal file gen-example --size xl --scale n writes.
func scaledXL(b *testing.B, n int) []byte {
	scaledMu.Lock()
	defer scaledMu.Unlock()
	if f, ok := scaledFiles[n]; ok {
		return f
	}
	p, err := bitrix.FromGraph(gen.Generate(gen.Scale(gen.Sizes["xl"], n), 1), "generated.bitrix24.example")
	if err != nil {
		b.Fatal(err)
	}
	f, err := p.Encode()
	if err != nil {
		b.Fatal(err)
	}
	scaledFiles[n] = f
	return f
}

// onePercent changes every 100th CRM cell of the portal (a chain level to
// none, none to all), as scripts/bench's 1% policy does: about every role
// gets an update.
func onePercent(g *graph.Graph) []plan.Change {
	var out []plan.Change
	n := 0
	for i := range g.CRMRoles {
		r := g.CRMRoles[i]
		r.Perms = append([]graph.CRMPerm(nil), r.Perms...)
		changed := false
		for j := range r.Perms {
			c := &r.Perms[j]
			switch c.Action {
			case "read", "add", "write", "delete", "export", "import":
			default:
				continue
			}
			if n++; n%100 != 0 {
				continue
			}
			if c.Level == "none" {
				c.Level = "all"
			} else {
				c.Level = "none"
			}
			changed = true
		}
		if changed {
			out = append(out, plan.Change{Address: "crm_role." + r.Key, Action: plan.Update, ID: r.ID, After: &graph.Resource{CRMRole: &r}})
		}
	}
	return out
}

// BenchmarkLocalApply1Pct is the backend's part of `b24perm apply` on the
// generated XL portal and on 4× XL with about 1% of the cells changed: the
// plan's Read, the re-check under the lock (Unchanged) and Apply (apply
// the changes, encode, write atomically). From x1 to x4 the CPU time per
// op must grow about 4× (issue 17: at most 4.5×).
func BenchmarkLocalApply1Pct(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run("x"+string(rune('0'+n)), func(b *testing.B) {
			data := scaledXL(b, n)
			path := filepath.Join(b.TempDir(), "portal.json")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
			g, err := New(path).Read(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			changes := onePercent(g)
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := os.WriteFile(path, data, 0o644); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := cputime.Process()
				p := New(path)
				if _, err := p.Read(context.Background()); err != nil {
					b.Fatal(err)
				}
				if same, err := p.Unchanged(); err != nil || !same {
					b.Fatalf("Unchanged = %v, %v", same, err)
				}
				if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: changes}); err != nil {
					b.Fatal(err)
				}
				cpu += cputime.Process() - cpu0
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(len(changes)), "roles")
		})
	}
}
