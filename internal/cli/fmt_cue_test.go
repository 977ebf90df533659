package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// uglyCUE are inputs that need formatting, so that the comparison below is
// not only over files that are already formatted.
var uglyCUE = map[string]string{
	"ugly/nested.cue":   "crm: roles: x: {name:\"X\"}\n",
	"ugly/comments.cue": "// c\ncrm:   roles:{\n  a: {name:\"A\",   // trailing\n read: \"all\"}\n}\n",
	"ugly/lists.cue":    "x: [1,2,\n3]\ny: {a: 1, b: 2}\n",
}

// TestFmtMatchesCueFmt formats every CUE file in the repository (and a few
// badly formatted ones) with b24perm's fmt and with cue fmt v0.17.1 itself,
// and requires identical bytes (issue 14 #7).
func TestFmtMatchesCueFmt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cue v0.17.1; runs in the full (non -short) test run")
	}
	cue := cueBinary(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "*.cue").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range strings.Fields(string(out)) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	for f, s := range uglyCUE {
		files[f] = []byte(s)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d CUE files", len(files))
	}
	dir := t.TempDir()
	for f, b := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(cue, "fmt", "--files", dir)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cue fmt: %v\n%s", err, msg)
	}
	for f, src := range files {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := formatCUE(f, src)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: b24perm fmt differs from cue fmt:\n--- b24perm\n%s\n--- cue fmt\n%s", f, got, want)
		}
	}
}

// cueBinary returns cue v0.17.1: $B24PERM_CUE if set, else one installed
// with `go install` into the user cache (built once, then reused).
func cueBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("B24PERM_CUE"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "b24perm-test", "cue-v0.17.1")
	exe := filepath.Join(bin, "cue")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	cmd := exec.Command("go", "install", "cuelang.org/go/cmd/cue@v0.17.1")
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing cue v0.17.1 (set B24PERM_CUE to a cue binary to skip this): %v\n%s", err, msg)
	}
	return exe
}
