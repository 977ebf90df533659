package plan

import (
	"fmt"
	"testing"

	"github.com/b24perm/b24perm/internal/cputime"

	"github.com/b24perm/b24perm/gen"
)

// benchDiff diffs the XL organization against itself, with one cell in
// every `every` changed (0: none).
func benchDiff(b *testing.B, every int) {
	live := gen.Generate(gen.Sizes["xl"], 1)
	desired := gen.Generate(gen.Sizes["xl"], 1)
	desired.Directory = nil
	n := 0
	for i := range desired.CRMRoles {
		for j := range desired.CRMRoles[i].Perms {
			n++
			if every > 0 && n%every == 0 {
				desired.CRMRoles[i].Perms[j].Level = "all"
			}
		}
	}
	desired.Normalize()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, ds := Diff(desired, live, Options{}); ds.HasErrors() {
			b.Fatal(ds.Err())
		}
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkPlanXLAccess is a local-backend plan with its access delta
// where 1% or 10% of the XL organization's CRM cells change (issue 14 #3:
// 10% ≤ 5 s, ≤ 1 GiB), and one that creates all 200 CRM roles (every
// cell changes for every user). Run with -benchtime=1x.
func BenchmarkPlanXLAccess(b *testing.B) {
	for _, every := range []int{100, 10, 0} {
		name := fmt.Sprintf("%dpct", 100/max(every, 1))
		if every == 0 {
			name = "create-all-roles"
		}
		b.Run(name, func(b *testing.B) {
			live := gen.Generate(gen.Sizes["xl"], 1)
			if every == 0 {
				live.CRMRoles = nil
			}
			desired := gen.Generate(gen.Sizes["xl"], 1)
			desired.Directory = nil
			n := 0
			for i := range desired.CRMRoles {
				for j := range desired.CRMRoles[i].Perms {
					n++
					if every > 0 && n%every == 0 {
						c := &desired.CRMRoles[i].Perms[j]
						c.Level = map[bool]string{true: "none", false: "all"}[c.Level == "all"]
					}
				}
			}
			desired.Normalize()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for b.Loop() {
				p, ds := Diff(desired, live, Options{})
				if ds.HasErrors() {
					b.Fatal(ds.Err())
				}
				d := p.AccessDelta(live.Directory, desired)
				b.ReportMetric(float64(d.Gainers+d.Losers), "users-changed")
				b.ReportMetric(float64(len(d.Groups)), "groups")
			}
			b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
