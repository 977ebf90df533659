package cli_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/b24perm/b24perm/internal/cputime"

	"github.com/b24perm/b24perm/internal/cli"
)

// BenchmarkWhoCanCachedXL is a repeated `who-can deal read` over the XL
// example with a warm graph cache (issue 17: ≤ 150 ms), in process:
// cpu-s/op is the figure to compare on a shared machine.
func BenchmarkWhoCanCachedXL(b *testing.B) {
	dir := b.TempDir()
	env := map[string]string{"B24PERM_CACHE_DIR": filepath.Join(dir, "cache"), "NO_COLOR": "1"}
	run := func(out io.Writer, args ...string) {
		var errb bytes.Buffer
		c := cli.New(args, cli.Streams{Out: out, Err: &errb, Getenv: func(k string) string { return env[k] }})
		if code := c.Run(); code != 0 {
			b.Fatalf("%v: exit %d\n%s", args, code, errb.String())
		}
	}
	run(io.Discard, "gen-example", "--size", "xl", "--out", filepath.Join(dir, "xl"))
	args := []string{"who-can", "deal", "read", "--live", "local:" + filepath.Join(dir, "xl/portal.json"), filepath.Join(dir, "xl/policies")}
	var first bytes.Buffer
	run(&first, args...) // fills the cache
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		var out bytes.Buffer
		run(&out, args...)
		if !bytes.Equal(out.Bytes(), first.Bytes()) {
			b.Fatal("a cached answer differs from the first one")
		}
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}
