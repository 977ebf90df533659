package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBlock returns the shell script of the workflow step named name: the
// lines of its `run: |` block, unindented. Plain text, not YAML: the step
// is ours and written that way, and the test should fail loudly if it
// stops being so.
func runBlock(t *testing.T, workflow, name string) string {
	t.Helper()
	b, err := os.ReadFile(workflow)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "- name: "+name {
			continue
		}
		run := strings.TrimSpace(lines[i+1])
		if run != "run: |" {
			t.Fatalf("%s: step %q: want `run: |` on the next line, have %q", workflow, name, run)
		}
		indent := len(lines[i+2]) - len(strings.TrimLeft(lines[i+2], " "))
		var script []string
		for _, s := range lines[i+2:] {
			if strings.TrimSpace(s) != "" && len(s)-len(strings.TrimLeft(s, " ")) < indent {
				break
			}
			script = append(script, strings.TrimPrefix(s, strings.Repeat(" ", indent)))
		}
		return strings.Join(script, "\n")
	}
	t.Fatalf("%s has no step %q", workflow, name)
	return ""
}

// TestApplyWorkflowEmptySecret: with the B24PERM_LIVE secret unset, GitHub
// sets the variable to "" — the apply-on-merge workflow must stop before
// planning, and the action's checks must fail, instead of anything
// reaching the demo portal (issue 14 #1). b24perm's own refusal of an
// empty B24PERM_LIVE is testdata/script/live_explicit.txtar.
func TestApplyWorkflowEmptySecret(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to run the workflow's steps: ", err)
	}
	root, _ := filepath.Abs("../..")
	guard := runBlock(t, filepath.Join(root, ".github/workflows/policy-apply.yml"), "Require the live and state backends")
	for _, tc := range []struct{ live, state, want string }{
		{"", "postgres://state", "The B24PERM_LIVE secret is empty or missing"},
		{"webhook:https://x/rest/1/t/", "", "The B24PERM_STATE secret is empty or missing"},
	} {
		cmd := exec.Command(bash, "-e", "-c", guard)
		cmd.Env = append(os.Environ(), "B24PERM_LIVE="+tc.live, "B24PERM_STATE="+tc.state)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "::error::"+tc.want) {
			t.Errorf("guard with B24PERM_LIVE=%q B24PERM_STATE=%q: err %v, output %q; want a failure with %q", tc.live, tc.state, err, out, tc.want)
		}
	}
	cmd := exec.Command(bash, "-e", "-c", guard)
	cmd.Env = append(os.Environ(), "B24PERM_LIVE=webhook:https://x/rest/1/t/", "B24PERM_STATE=postgres://state")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("guard with both secrets: %v %s", err, out)
	}

	// The action (action.yml) runs scripts/action-checks with LIVE from its
	// input: empty without base is an error, not a demo-portal lint.
	tmp := t.TempDir()
	gh := filepath.Join(tmp, "github_output")
	checks := exec.Command(bash, filepath.Join(root, "scripts/action-checks"))
	checks.Env = append(os.Environ(), "DIR=policies", "RUNNER_TEMP="+tmp, "GITHUB_OUTPUT="+gh, "LIVE=", "BASE=", "PATH="+tmp+":"+os.Getenv("PATH"))
	// A b24perm that records being run: validate may run, nothing else.
	fake := "#!/bin/sh\necho \"$@\" >> " + filepath.Join(tmp, "calls") + "\n"
	if err := os.WriteFile(filepath.Join(tmp, "b24perm"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := checks.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "::error::b24perm: the live input is empty") {
		t.Errorf("action-checks with an empty live input: err %v, output %q", err, out)
	}
	calls, _ := os.ReadFile(filepath.Join(tmp, "calls"))
	if strings.Contains(string(calls), "lint") || strings.Contains(string(calls), "test") {
		t.Errorf("action-checks ran %q with an empty live input", calls)
	}
}
