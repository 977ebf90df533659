package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	for i, tc := range []struct {
		data, backup string
		keep         bool
	}{
		{data: "one", keep: true},                   // new file, new directory: nothing to back up
		{data: "two", backup: "one", keep: true},    // the old content is kept
		{data: "three", backup: "one", keep: false}, // no backup asked: the old backup stays
	} {
		if err := Write(path, []byte(tc.data), tc.keep); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if b, _ := os.ReadFile(path); string(b) != tc.data {
			t.Errorf("%d: file holds %q, want %q", i, b, tc.data)
		}
		b, err := os.ReadFile(path + ".backup")
		if tc.backup == "" && err == nil || tc.backup != "" && string(b) != tc.backup {
			t.Errorf("%d: backup holds %q (%v), want %q", i, b, err, tc.backup)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		for _, e := range entries {
			if e.Name() != "state.json" && e.Name() != "state.json.backup" {
				t.Errorf("%d: left behind %s", i, e.Name())
			}
		}
	}
}

// A rename that fails (here: the target is a directory) leaves the target
// as it was and no temp file behind.
func TestWriteFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(path, "inside"), []byte("x"), 0o644)
	if err := Write(path, []byte("new"), false); err == nil {
		t.Fatal("replacing a directory succeeded")
	}
	if b, err := os.ReadFile(filepath.Join(path, "inside")); err != nil || string(b) != "x" {
		t.Errorf("the directory was touched: %q %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
