package cli_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringApply kills `b24perm apply` with SIGKILL at random moments
// and checks that the portal and the state are always readable, and that
// the next apply converges to an empty plan.
func TestKillDuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; run without -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "b24perm")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/b24perm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("gen-example", "--size", "xl", "--out", "xl"); err != nil {
		t.Fatalf("gen: %v %s", err, out)
	}
	// Change most read/write levels so the apply is large (~16,000 cells).
	crm := filepath.Join(dir, "xl/policies/crm.cue")
	b, _ := os.ReadFile(crm)
	s := string(b)
	for _, from := range []string{`"department"`, `"own"`, `"open"`} {
		s = strings.ReplaceAll(s, "read:   "+from, `read:   "all"`)
	}
	os.WriteFile(crm, []byte(s), 0o644)
	args := []string{"--live", "local:xl/portal.json", "--state", "xl/state.json", "--no-access", "xl/policies"}
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	runs := 50
	if n, err := strconv.Atoi(os.Getenv("B24PERM_CRASH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	for i := 0; i < runs; i++ {
		cmd := exec.Command(bin, append([]string{"apply", "--auto-approve"}, args...)...)
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(1700)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
		for _, f := range []string{"xl/portal.json", "xl/state.json"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && !json.Valid(b) {
				t.Fatalf("run %d: %s is not valid JSON after a kill", i, f)
			}
		}
		// Every tenth run, the state and portal must still plan cleanly.
		if i%10 == 9 {
			cmd := exec.Command(bin, append([]string{"plan", "--detailed-exitcode"}, args...)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) && !strings.Contains(string(out), "is locked") {
				t.Fatalf("run %d: plan after a kill failed: %v\n%s", i, err, out)
			}
		}
		// A lock left by the killed process names its dead holder and the
		// way out.
		if lb, err := os.ReadFile(filepath.Join(dir, "xl/state.json.lock")); err == nil {
			out, err := run(append([]string{"apply", "--auto-approve"}, args...)...)
			if err == nil || !strings.Contains(out, "no longer running") {
				t.Fatalf("run %d: a dead lock must be reported: %s", i, out)
			}
			var info struct{ ID string }
			json.Unmarshal(lb, &info)
			if out, err := run("force-unlock", "--state", "xl/state.json", info.ID); err != nil {
				t.Fatalf("force-unlock: %v %s", err, out)
			}
		}
	}
	if out, err := run(append([]string{"apply", "--auto-approve"}, args...)...); err != nil {
		t.Fatalf("apply after kills: %v\n%s", err, out)
	}
	out, err := run(append([]string{"plan", "--detailed-exitcode"}, args...)...)
	if err != nil || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after convergence: %v\n%s", err, out)
	}
	// The temp files of the killed writers are gone (issue 16 #16).
	entries, _ := os.ReadDir(filepath.Join(dir, "xl"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left behind after the kills and a converging run: %s", e.Name())
		}
	}
	t.Logf("%d runs, %d kills, portal and state always valid, converged", runs, kills)
}
