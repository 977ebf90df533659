package compiler

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/importer"
)

func TestCompileExamplesIsDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 3; i++ {
		res := CompileDir("../policies", Options{})
		for _, d := range res.Diags {
			t.Errorf("%s", d.Short())
		}
		if res.Graph == nil {
			t.Fatal("no graph")
		}
		b, _ := res.Graph.JSON()
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatal("two compilations differ")
		}
	}
}

func TestCUEAndHCLCompileToTheSameGraph(t *testing.T) {
	c := CompileDir("../policies", Options{})
	h := CompileDir("../examples/hcl", Options{})
	if h.Diags.HasErrors() {
		t.Fatalf("hcl: %v", h.Diags.Err())
	}
	cb, _ := c.Graph.JSON()
	hb, _ := h.Graph.JSON()
	if !bytes.Equal(cb, hb) {
		t.Fatal("CUE and HCL graphs differ")
	}
	if c.Graph.Digest() != h.Graph.Digest() {
		t.Fatal("digests differ")
	}
}

// Bad inputs that are awkward in testscript: each gives a diagnostic at
// the file, and no panic.
func TestBadFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		setup   func(dir string)
		summary string
		detail  string
		line    int
	}{
		"non-UTF-8": {func(dir string) {
			os.WriteFile(filepath.Join(dir, "a.cue"), []byte("crm: roles: x: name: \"caf\xe9\"\n"), 0o644)
		}, "Invalid encoding", "not valid UTF-8 (byte 0xe9 at offset 25)", 1},
		"10 MB file": {func(dir string) {
			os.WriteFile(filepath.Join(dir, "big.cue"), bytes.Repeat([]byte("// padding\n"), 1_000_000), 0o644)
		}, "File too large", "a policy file may be at most 8 MB", 1},
		"unreadable file": {func(dir string) {
			os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "a.cue"))
		}, "Cannot read file", "no such file", 1},
		// Issue 16 #14: only regular files, symlinks staying in the
		// directory, a size cap; none of these may hang or exhaust memory.
		"symlink to /dev/zero": {func(dir string) {
			os.Symlink("/dev/zero", filepath.Join(dir, "a.cue"))
		}, "Not a regular file", "outside the policy directory", 1},
		"device inside the directory": {func(dir string) {
			// A link inside the directory to a link to a device.
			os.Symlink("/dev/zero", filepath.Join(dir, "zero"))
			os.Symlink("zero", filepath.Join(dir, "a.cue"))
		}, "Not a regular file", "outside the policy directory", 1},
		"FIFO": {func(dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "x.cue"), 0o644); err != nil {
				panic(err)
			}
		}, "Not a regular file", "x.cue is a named pipe (FIFO); policy files must be regular files", 1},
		"symlink leaving the directory": {func(dir string) {
			outside := filepath.Join(filepath.Dir(dir), "outside-"+filepath.Base(dir)+".cue")
			os.WriteFile(outside, []byte("root:x:0:0:SECRET-FIRST-LINE\n"), 0o644)
			os.Symlink(outside, filepath.Join(dir, "a.cue"))
		}, "Not a regular file", "a.cue is a symbolic link to", 1},
		"sparse 9 MB file": {func(dir string) {
			f, _ := os.Create(filepath.Join(dir, "a.cue"))
			f.Truncate(9 << 20)
			f.Close()
		}, "File too large", "a.cue is larger than 8 MB", 1},
		"wrong package mix": {func(dir string) {
			os.WriteFile(filepath.Join(dir, "a.cue"), []byte("package a\ncrm: roles: x: name: \"X\"\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "b.cue"), []byte("package b\ncrm: roles: y: name: \"Y\"\n"), 0o644)
		}, "Invalid policy", "package", 0},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			res := CompileDir(dir, Options{})
			if res.Graph != nil || !res.Diags.HasErrors() {
				t.Fatalf("expected an error, got graph=%v diags=%v", res.Graph != nil, res.Diags)
			}
			for _, d := range res.Diags {
				if strings.Contains(d.Detail, "SECRET-FIRST-LINE") {
					t.Errorf("a file outside the directory shows in a diagnostic: %s", d.Detail)
				}
			}
			d := res.Diags[0]
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %q / %q, want %q / …%q…", d.Summary, d.Detail, tc.summary, tc.detail)
			}
			if tc.line > 0 && (d.Subject == nil || d.Subject.Start.Line != tc.line || !strings.HasPrefix(d.Subject.Filename, dir)) {
				t.Errorf("range %+v", d.Subject)
			}
		})
	}
}

// The generator's XL organization written as CUE compiles back to the
// generated permissions.
func TestGeneratedPolicyRoundTrips(t *testing.T) {
	g := gen.Generate(gen.Sizes["s"], 3)
	files, err := importer.Write(g)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n, b := range files {
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	res := CompileDir(dir, Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Err())
	}
	want := *g
	want.Directory, want.Settings = nil, nil
	a, _ := want.Normalize().JSON()
	b, _ := res.Graph.JSON()
	if !bytes.Equal(a, b) {
		t.Fatal("generated graph and compiled import differ")
	}
}

// BenchmarkCompileXL validates and compiles the XL organization's policy
// (200 CRM roles, 50 pipelines × 12 stages, 500 workgroups, 1,000 field
// rules), generated once.
func BenchmarkCompileXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	files, err := importer.Write(g)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	size := 0
	for n, c := range files {
		size += len(c)
		os.WriteFile(filepath.Join(dir, n), c, 0o644)
	}
	b.ReportMetric(float64(size)/1e6, "MB-of-CUE")
	b.ResetTimer()
	for b.Loop() {
		if res := CompileDir(dir, Options{}); res.Graph == nil {
			b.Fatal(res.Diags.Err())
		}
	}
}

// A symbolic link that stays inside the policy directory is read.
func TestSymlinkInsideDirectoryIsRead(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "shared"), 0o755)
	os.WriteFile(filepath.Join(dir, "shared", "roles.txt"), []byte("crm: roles: x: name: \"X\"\n"), 0o644)
	os.Symlink(filepath.Join("shared", "roles.txt"), filepath.Join(dir, "a.cue"))
	if res := CompileDir(dir, Options{}); res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
}

// BenchmarkBuildXL is the Go half of compiling the XL organization: the
// graph from the decoded document (CUE evaluation excluded).
func BenchmarkBuildXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	files, err := importer.Write(g)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for n, c := range files {
		os.WriteFile(filepath.Join(dir, n), c, 0o644)
	}
	srcs := map[string][]byte{}
	names, abs, _ := readDir(dir, srcs)
	ix := newSrcIndexSized(1 << 16)
	doc, ds := compileCUE(dir, names, abs, srcs, ix)
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	b.ResetTimer()
	for b.Loop() {
		if g, ds := build(doc, ix); g == nil || ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}
