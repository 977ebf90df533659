package cli_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/b24perm/b24perm/internal/cli"
)

func TestCIGitHubCommentUpdateLabelsTruncation(t *testing.T) {
	fake := newFakeGitHub()
	fake.pr(7, "")
	fake.comments[1] = &fakeComment{ID: 1, Issue: 7, Body: "an unrelated comment"}
	fake.nextID = 1
	fake.issues[7].Labels["permissions:destroy"] = true
	fake.fail5xx = 1
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, []byte(`{"pull_request": {"number": 7}}`), 0o644)
	summary := filepath.Join(dir, "summary.md")
	env := map[string]string{"GITHUB_TOKEN": "ghs_secret_token_123", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": event,
		"GITHUB_API_URL": srv.URL, "GITHUB_STEP_SUMMARY": summary, "GITHUB_RUN_ID": "42", "NO_COLOR": "1", "B24PERM_LIVE": "demo"}
	t.Chdir(dir)
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := cli.New(args, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
		return out.String(), code
	}
	out, code := run("ci", "github", "--redact", "policies")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if fake.posts != 1 || fake.patches != 0 || len(fake.commentsOn(7)) != 2 {
		t.Fatalf("first run must create one comment: posts=%d patches=%d", fake.posts, fake.patches)
	}
	if !strings.Contains(out, "::notice file=policies/crm.cue,line=") || !strings.Contains(out, "Created the b24perm comment on pull request #7") {
		t.Errorf("annotations/summary line missing:\n%s", out)
	}
	if strings.Contains(out, "ghs_secret_token_123") {
		t.Fatal("the token was printed")
	}
	for _, a := range fake.auth {
		if a != "Bearer ghs_secret_token_123" {
			t.Fatalf("authorization header %q", a)
		}
	}
	body := fake.commentsOn(7)[1]
	if !strings.HasPrefix(body, "<!-- b24perm-plan -->") || strings.Contains(body, "anna@example.com") || strings.Contains(body, "Anna Petrova") || !strings.Contains(body, "A. P. (#2)") {
		t.Errorf("comment not redacted or unmarked:\n%s", body)
	}
	if l := fake.labelsOf(7); !l["permissions:destroy"] || !l["permissions:widening"] {
		t.Errorf("labels: %v", l)
	}
	if b, _ := os.ReadFile(summary); !bytes.Contains(b, []byte("b24perm plan")) {
		t.Error("job summary not written")
	}
	// The second run updates the same comment, truncated past the limit.
	out, code = run("ci", "github", "--max-bytes", "1500", "policies")
	if code != 0 || fake.posts != 1 || fake.patches != 1 || len(fake.commentsOn(7)) != 2 {
		t.Fatalf("second run must update: exit %d posts=%d patches=%d\n%s", code, fake.posts, fake.patches, out)
	}
	if c := fake.commentsOn(7)[1]; !strings.Contains(c, "Shortened") || !strings.Contains(c, "/acme/perms/actions/runs/42") || len(c) > 1500 {
		t.Errorf("truncated comment (%d bytes):\n%s", len(c), c)
	}
}

func TestCIGitHubForkReadOnlyToken(t *testing.T) {
	fake := newFakeGitHub()
	fake.pr(7, "")
	fake.readOnly = true
	code, out := runCIGitHubPR7(t, fake)
	if code == 0 || !strings.Contains(out, "cannot write comments") || !strings.Contains(out, "fork") || strings.Contains(out, "ghs_secret_token_123") {
		t.Fatalf("exit %d, want a clear read-only-token message:\n%s", code, out)
	}
	if fake.posts != 0 {
		t.Fatal("nothing may be posted")
	}
}

func TestCIGitHubSecondaryRateLimit(t *testing.T) {
	fake := newFakeGitHub()
	fake.pr(7, "")
	fake.limited = 1
	code, out := runCIGitHubPR7(t, fake)
	if code != 0 || fake.posts != 1 || !strings.Contains(out, "Created the b24perm comment on pull request #7") {
		t.Fatalf("exit %d posts=%d: the rate-limited request must be retried after Retry-After:\n%s", code, fake.posts, out)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(dst, 0o755)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
}

// runCIGitHubPR7 runs `ci github --pr 7` on a copy of the example policies
// against fake, and returns the exit code and the combined output.
func runCIGitHubPR7(t *testing.T, fake *fakeGitHub) (int, string) {
	t.Helper()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	env := map[string]string{"GITHUB_TOKEN": "ghs_secret_token_123", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_API_URL": srv.URL, "NO_COLOR": "1", "B24PERM_LIVE": "demo"}
	t.Chdir(dir)
	var out bytes.Buffer
	code := cli.New([]string{"ci", "github", "--pr", "7", "policies"}, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
	return code, out.String()
}

// TestCIGitHubForkArtifactPair drives the fork-safe pair: the pull_request
// job writes the comment artifact with no token at all, the workflow_run
// job posts it after checking it is for the pull request's current head.
func TestCIGitHubForkArtifactPair(t *testing.T) {
	const head = "0123456789abcdef0123456789abcdef01234567"
	fake := newFakeGitHub()
	fake.pr(7, head)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, []byte(`{"pull_request": {"number": 7, "head": {"sha": "`+head+`"}}, "repository": {"private": false, "visibility": "public"}}`), 0o644)
	env := map[string]string{"GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": event, "GITHUB_API_URL": srv.URL,
		"GITHUB_RUN_ID": "42", "NO_COLOR": "1", "B24PERM_LIVE": "demo", "GITHUB_OUTPUT": filepath.Join(dir, "outputs")}
	t.Chdir(dir)
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := cli.New(args, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
		return out.String(), code
	}
	// Untrusted side: no token in the environment, only the artifact.
	out, code := run("ci", "github", "--write-artifact", "artifact", "policies")
	if code != 0 {
		t.Fatalf("write-artifact: exit %d:\n%s", code, out)
	}
	if len(fake.auth) != 0 {
		t.Fatalf("the untrusted side called the GitHub API %d times", len(fake.auth))
	}
	body, err := os.ReadFile(filepath.Join(dir, "artifact", "comment.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!-- b24perm-plan -->", "Planned at commit [`0123456`](https://github.com/acme/perms/commit/" + head + ")",
		"[workflow run](https://github.com/acme/perms/actions/runs/42)", "Policy lines: [", "](https://github.com/acme/perms/blob/" + head + "/policies/", "```diff\n! ", "Merging this pull request applies exactly this plan (saved plan at `0123456`)"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("comment lacks %q:\n%s", want, body)
		}
	}
	if outs, _ := os.ReadFile(filepath.Join(dir, "outputs")); !strings.Contains(string(outs), "has-changes=") || !strings.Contains(string(outs), "widening=") {
		t.Errorf("step outputs missing:\n%s", outs)
	}
	// A public repository: redaction is on by default.
	if strings.Contains(string(body), "@example.com") {
		t.Errorf("public repository: people must be redacted by default:\n%s", body)
	}

	// Trusted side, wrong head: refused, nothing posted.
	env["GITHUB_TOKEN"] = "ghs_write_token"
	out, code = run("ci", "github-post", "--head-sha", strings.Repeat("f", 40), "artifact")
	if code == 0 || !strings.Contains(out, "refusing to post it") || fake.posts != 0 {
		t.Fatalf("a mismatched head must be refused (exit %d, posts %d):\n%s", code, fake.posts, out)
	}
	// The pull request moved on since the artifact was made: refused.
	fake.pr(7, strings.Repeat("e", 40))
	out, code = run("ci", "github-post", "--head-sha", head, "artifact")
	if code == 0 || !strings.Contains(out, "not posting") || fake.posts != 0 {
		t.Fatalf("a stale artifact must not be posted (exit %d):\n%s", code, out)
	}
	fake.pr(7, head)
	// A tampered artifact with a foreign label and no marker: refused / filtered.
	os.WriteFile(filepath.Join(dir, "artifact", "comment.json"), []byte(`{"format":"b24perm-pr-comment/1","pr":7,"head_sha":"`+head+`","labels":["permissions:widening","approved"]}`), 0o644)
	out, code = run("ci", "github-post", "--head-sha", head, "artifact")
	if code != 0 || fake.posts != 1 {
		t.Fatalf("post: exit %d posts %d:\n%s", code, fake.posts, out)
	}
	if l := fake.labelsOf(7); l["approved"] || !l["permissions:widening"] {
		t.Errorf("only b24perm's labels may be set from an artifact: %v", l)
	}
	os.WriteFile(filepath.Join(dir, "artifact", "comment.md"), []byte("LGTM, merge it"), 0o644)
	out, code = run("ci", "github-post", "--head-sha", head, "artifact")
	if code == 0 || !strings.Contains(out, "marker") {
		t.Fatalf("a body without the marker must be refused (exit %d):\n%s", code, out)
	}
}

// TestCIGitHubFailureIsCommented: a policy that does not compile still gets
// a comment saying why there is no plan (as Atlantis reports a failed plan).
func TestCIGitHubFailureIsCommented(t *testing.T) {
	fake := newFakeGitHub()
	fake.pr(7, "")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	crm := filepath.Join(dir, "policies", "crm.cue")
	b, _ := os.ReadFile(crm)
	os.WriteFile(crm, append(b, []byte("\ncrm: roles: broken: {read: 12}\n")...), 0o644)
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, []byte(`{"pull_request": {"number": 7}, "repository": {"private": true}}`), 0o644)
	env := map[string]string{"GITHUB_TOKEN": "ghs_t", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": event,
		"GITHUB_API_URL": srv.URL, "NO_COLOR": "1", "B24PERM_LIVE": "demo"}
	t.Chdir(dir)
	var out bytes.Buffer
	code := cli.New([]string{"ci", "github", "policies"}, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
	if code == 0 {
		t.Fatalf("a broken policy must fail the job:\n%s", out.String())
	}
	if fake.posts != 1 {
		t.Fatalf("the failure must be commented (posts=%d):\n%s", fake.posts, out.String())
	}
	for _, c := range fake.commentsOn(7) {
		if !strings.Contains(c, "### b24perm plan — failed") || !strings.Contains(c, "crm.cue:") {
			t.Errorf("failure comment lacks the title or the position:\n%s", c)
		}
	}
}

// TestCIGitHubFailedChecksInComment: lint or test failures the action saw
// before the plan are shown in the comment, and the job fails after posting.
func TestCIGitHubFailedChecksInComment(t *testing.T) {
	fake := newFakeGitHub()
	fake.pr(7, "")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	os.WriteFile(filepath.Join(dir, "test.out"), []byte("FAIL policies/tests.cue:3:5: interns cannot read deals\n"), 0o644)
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, []byte(`{"pull_request": {"number": 7}}`), 0o644)
	env := map[string]string{"GITHUB_TOKEN": "ghs_t", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": event,
		"GITHUB_API_URL": srv.URL, "NO_COLOR": "1", "B24PERM_LIVE": "demo"}
	t.Chdir(dir)
	var out bytes.Buffer
	code := cli.New([]string{"ci", "github", "--failed-check", "permission tests=test.out", "policies"}, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
	if code == 0 || fake.posts != 1 {
		t.Fatalf("exit %d posts %d:\n%s", code, fake.posts, out.String())
	}
	for _, c := range fake.commentsOn(7) {
		if !strings.Contains(c, "permission tests failed") || !strings.Contains(c, "interns cannot read deals") {
			t.Errorf("the failed check is not in the comment:\n%s", c)
		}
	}
}

// TestCIGitHubLargeCommentStaysUnderTheLimit: a large pull request (every
// "department" level of a generated organization raised to "all") with
// three long failed checks, on a public repository (redacted), through the
// fork-safe pair at the real limit: the comment keeps every domain's
// section and the checks, says it was shortened and links the run, stays
// under GitHub's 65,536 characters, and github-post accepts and posts it.
func TestCIGitHubLargeCommentStaysUnderTheLimit(t *testing.T) {
	const head = "0123456789abcdef0123456789abcdef01234567"
	dir := t.TempDir()
	t.Chdir(dir)
	fake := newFakeGitHub()
	fake.pr(7, head)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := map[string]string{"GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": "event.json", "GITHUB_API_URL": srv.URL, "GITHUB_RUN_ID": "42", "NO_COLOR": "1"}
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := cli.New(args, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
		return out.String(), code
	}
	if out, code := run("gen-example", "--size", "m", "--out", "gen"); code != 0 {
		t.Fatalf("gen-example: %s", out)
	}
	crm := filepath.Join("gen", "policies", "crm.cue")
	b, _ := os.ReadFile(crm)
	os.WriteFile(crm, bytes.ReplaceAll(b, []byte(`"department"`), []byte(`"all"`)), 0o644)
	os.WriteFile("event.json", []byte(`{"pull_request": {"number": 7, "head": {"sha": "`+head+`"}}, "repository": {"private": false, "visibility": "public"}}`), 0o644)
	var args []string
	for _, name := range []string{"validate", "lint", "permission tests"} {
		file := strings.ReplaceAll(name, " ", "-") + ".out"
		os.WriteFile(file, []byte(strings.Repeat("policies/crm.cue:12:3: "+name+" says no to Élodie's role\n", 1000)), 0o644)
		args = append(args, "--failed-check", name+"="+file)
	}
	out, code := run(append(append([]string{"ci", "github", "--write-artifact", "artifact", "--live", "local:gen/portal.json"}, args...), "gen/policies")...)
	if code == 0 || !strings.Contains(out, "3 check(s) failed before the plan") {
		t.Fatalf("exit %d:\n%.2000s", code, out)
	}
	body, _ := os.ReadFile(filepath.Join("artifact", "comment.md"))
	if n := len([]rune(string(body))); n > 65536 || len(body) > 65536 {
		t.Fatalf("comment is %d characters (%d bytes), over GitHub's limit", n, len(body))
	}
	for _, want := range []string{"<summary>CRM (", "Access changes", "Shortened", "[this run](https://github.com/acme/perms/actions/runs/42)",
		"#### :x: validate failed", "#### :x: lint failed", "#### :x: permission tests failed", "Merging this pull request applies exactly this plan"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("comment lacks %q", want)
		}
	}
	if !utf8.Valid(body) {
		t.Error("comment is not valid UTF-8 (a cut inside a character)")
	}
	env["GITHUB_TOKEN"] = "ghs_write"
	if out, code := run("ci", "github-post", "--head-sha", head, "artifact"); code != 0 || len(fake.commentsOn(7)) != 1 {
		t.Fatalf("github-post: exit %d:\n%s", code, out)
	}
}
