package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadRegular: the bytes of files around the limit, and the refusal
// of a file over it.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 100_000} {
		p := filepath.Join(dir, "f")
		want := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadRegular(p, 100_000)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: err %v, same %v", n, err, bytes.Equal(got, want))
		}
		if n > 10 {
			if _, err := ReadRegular(p, int64(n-1)); err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Fatalf("%d bytes over a limit of %d: %v", n, n-1, err)
			}
		}
	}
}

// BenchmarkReadRegular15MB reads a file the size of the XL portal.
func BenchmarkReadRegular15MB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "portal.json")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 15<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ReadRegular(p, 256<<20); err != nil {
			b.Fatal(err)
		}
	}
}
