package compiler

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestSourceDigest: the policy half of the graph cache's key changes
// with any byte, name, added or removed policy file, not with files the
// compile ignores; a directory the compile refuses has none.
func TestSourceDigest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	digest := func() string {
		t.Helper()
		d, ok := SourceDigest(dir)
		if !ok {
			t.Fatal("no digest")
		}
		return d
	}
	if _, ok := SourceDigest(dir); ok {
		t.Error("an empty directory has a digest")
	}
	write("a.cue", "crm: roles: {}\n")
	write("b.cue", "x: 1\n")
	d0 := digest()
	if digest() != d0 {
		t.Fatal("the digest of unchanged files changed")
	}
	seen := map[string]string{d0: "start"}
	step := func(what string, change func()) {
		t.Helper()
		change()
		d := digest()
		if prev, dup := seen[d]; dup {
			t.Fatalf("%s: the digest is the one of %s", what, prev)
		}
		seen[d] = what
	}
	step("one byte", func() { write("b.cue", "x: 2\n") })
	step("a byte moved across files", func() { write("a.cue", "crm: roles: {}\nx"); write("b.cue", ": 2\n") })
	step("a file added", func() { write("c.cue", "") })
	step("a file renamed", func() { os.Rename(filepath.Join(dir, "c.cue"), filepath.Join(dir, "d.cue")) })
	step("a file removed", func() { os.Remove(filepath.Join(dir, "b.cue")) })
	d := digest()
	write("notes.txt", "ignored")
	write(".hidden.cue", "ignored")
	if digest() != d {
		t.Error("files the compile ignores changed the digest")
	}
	write("big.cue", "")
	if err := os.Truncate(filepath.Join(dir, "big.cue"), MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	if _, ok := SourceDigest(dir); ok {
		t.Error("a file over the size limit has a digest")
	}
	os.Remove(filepath.Join(dir, "big.cue"))
	if runtime.GOOS != "windows" {
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo.cue"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := SourceDigest(dir); ok { // and does not block
			t.Error("a FIFO has a digest")
		}
	}
}
