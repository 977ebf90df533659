package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/internal/cli"
)

// TestGraphCachePortalSameSizeAndTime: the cache entry's file is named by
// the portal's path, size and time, but an entry answers only for the
// portal's bytes: a portal edited in place that keeps its size and time
// is answered afresh, never from the entry of its old bytes.
func TestGraphCachePortalSameSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"B24PERM_CACHE_DIR": filepath.Join(dir, "cache"), "NO_COLOR": "1", "B24PERM_DEBUG": "cache"}
	run := func(args ...string) (string, string) {
		var out, errb bytes.Buffer
		c := cli.New(args, cli.Streams{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
		if code := c.Run(); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errb.String())
		}
		return out.String(), errb.String()
	}
	run("gen-example", "--size", "s", "--out", filepath.Join(dir, "s"))
	portal := filepath.Join(dir, "s", "portal.json")
	args := []string{"who-can", "deal", "read", "--live", "local:" + portal, filepath.Join(dir, "s", "policies")}
	first, _ := run(args...)
	if again, errs := run(args...); again != first || !strings.Contains(errs, "cache: hit") {
		t.Fatalf("second question: not a hit with the same answer:\n%s", errs)
	}
	st, err := os.Stat(portal)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(portal)
	if err != nil {
		t.Fatal(err)
	}
	const from, to = `"LAST_NAME": "00002"`, `"LAST_NAME": "99992"`
	if !bytes.Contains(b, []byte(from)) || !strings.Contains(first, "User 00002") {
		t.Fatalf("the generated portal changed: no %s", from)
	}
	if err := os.WriteFile(portal, bytes.Replace(b, []byte(from), []byte(to), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(portal, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(portal); st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatal("the edit changed the portal's size or time")
	}
	got, errs := run(args...)
	if strings.Contains(errs, "cache: hit") || !strings.Contains(got, "User 99992") || strings.Contains(got, "User 00002") {
		t.Fatalf("edited portal answered from the cache:\n%s\n%s", errs, got)
	}
	if again, errs := run(args...); again != got || !strings.Contains(errs, "cache: hit") {
		t.Fatalf("the edited portal's answer is not cached:\n%s", errs)
	}
}
