package atomicfile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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

// A writer killed mid-write (kill -9) leaves its temp file; the next write
// or read of the file removes it, but never the temp file of a writer
// that is still running (issue 16 #16).
func TestCleanStaleAfterDeadWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portal.json")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no `true` to get a dead process ID from")
	}
	deadPID := dead.Process.Pid
	old := time.Now().Add(-2 * StaleAfter)
	files := map[string]bool{ // name → should survive
		fmt.Sprintf(".portal.json.tmp-p%d-123", deadPID):     false, // dead writer
		fmt.Sprintf(".portal.json.tmp-p%d-456", os.Getpid()): true,  // a live writer (this process)
		".portal.json.tmp-789":                               true,  // old pattern, recent: may be in use
		".portal.json.tmp-790":                               false, // old pattern, old
		".other.json.tmp-p1-1":                               true,  // another file's
		"portal.json.backup.tmp":                             false, // keep's link, old
	}
	for n := range files {
		os.WriteFile(filepath.Join(dir, n), bytes.Repeat([]byte("x"), 4<<10), 0o644)
	}
	os.Chtimes(filepath.Join(dir, ".portal.json.tmp-790"), old, old)
	os.Chtimes(filepath.Join(dir, "portal.json.backup.tmp"), old, old)
	if err := Write(path, []byte("new"), true); err != nil {
		t.Fatal(err)
	}
	for n, survive := range files {
		_, err := os.Stat(filepath.Join(dir, n))
		if survive != (err == nil) {
			t.Errorf("%s: exists=%v, want %v", n, err == nil, survive)
		}
	}
	// A live writer's temp file older than StaleAfter goes too.
	live := filepath.Join(dir, fmt.Sprintf(".portal.json.tmp-p%d-456", os.Getpid()))
	os.Chtimes(live, old, old)
	CleanStale(path)
	if _, err := os.Stat(live); err == nil {
		t.Error("a temp file older than StaleAfter survived")
	}
}
