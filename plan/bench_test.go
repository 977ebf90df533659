package plan

import (
	"testing"

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
	for b.Loop() {
		if _, ds := Diff(desired, live, Options{}); ds.HasErrors() {
			b.Fatal(ds.Err())
		}
	}
}
