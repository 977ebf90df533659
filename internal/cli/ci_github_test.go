package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/b24perm/b24perm/internal/cli"
)

// fakeGitHub implements the few endpoints ci github uses.
type fakeGitHub struct {
	mu       sync.Mutex
	comments map[int64]string
	nextID   int64
	labels   map[string]bool
	fail5xx  int
	readOnly bool   // 403 on writes, as for a fork pull request's token
	headSHA  string // head of pull request 7 (GET /pulls/7)
	limited  int    // secondary rate-limit answers (403 + Retry-After) before serving
	posts    int
	patches  int
	auth     []string
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if f.fail5xx > 0 {
		f.fail5xx--
		http.Error(w, "boom", http.StatusBadGateway)
		return
	}
	if f.limited > 0 {
		f.limited--
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`))
		return
	}
	if f.readOnly && r.Method != "GET" {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"message":"Resource not accessible by integration"}`))
		return
	}
	body, _ := io.ReadAll(r.Body)
	path := r.URL.Path
	switch {
	case r.Method == "GET" && strings.HasSuffix(path, "/pulls/7"):
		json.NewEncoder(w).Encode(map[string]any{"number": 7, "state": "open", "head": map[string]string{"sha": f.headSHA}})
	case r.Method == "GET" && strings.HasSuffix(path, "/issues/7/comments"):
		var out []map[string]any
		for id, b := range f.comments {
			out = append(out, map[string]any{"id": id, "body": b})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "POST" && strings.HasSuffix(path, "/issues/7/comments"):
		var in map[string]string
		json.Unmarshal(body, &in)
		f.nextID++
		f.comments[f.nextID] = in["body"]
		f.posts++
		w.WriteHeader(201)
		w.Write([]byte(`{}`))
	case r.Method == "PATCH" && strings.Contains(path, "/issues/comments/"):
		var in map[string]string
		json.Unmarshal(body, &in)
		var id int64
		for k := range f.comments {
			if strings.HasSuffix(path, "/"+itoa(k)) {
				id = k
			}
		}
		f.comments[id] = in["body"]
		f.patches++
		w.Write([]byte(`{}`))
	case r.Method == "GET" && strings.HasSuffix(path, "/issues/7/labels"):
		var out []map[string]string
		for l := range f.labels {
			out = append(out, map[string]string{"name": l})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "POST" && strings.HasSuffix(path, "/issues/7/labels"):
		var in map[string][]string
		json.Unmarshal(body, &in)
		for _, l := range in["labels"] {
			f.labels[l] = true
		}
		w.Write([]byte(`[]`))
	case r.Method == "DELETE" && strings.Contains(path, "/issues/7/labels/"):
		delete(f.labels, path[strings.LastIndex(path, "/")+1:])
		w.Write([]byte(`[]`))
	default:
		http.NotFound(w, r)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCIGitHubCommentUpdateLabelsTruncation(t *testing.T) {
	fake := &fakeGitHub{comments: map[int64]string{1: "an unrelated comment"}, nextID: 1, labels: map[string]bool{"permissions:destroy": true}, fail5xx: 1}
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
	if fake.posts != 1 || fake.patches != 0 || len(fake.comments) != 2 {
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
	body := fake.comments[2]
	if !strings.HasPrefix(body, "<!-- b24perm-plan -->") || strings.Contains(body, "anna@example.com") || strings.Contains(body, "Anna Petrova") || !strings.Contains(body, "A. P. (#2)") {
		t.Errorf("comment not redacted or unmarked:\n%s", body)
	}
	if !fake.labels["permissions:destroy"] || !fake.labels["permissions:widening"] {
		t.Errorf("labels: %v", fake.labels)
	}
	if b, _ := os.ReadFile(summary); !bytes.Contains(b, []byte("b24perm plan")) {
		t.Error("job summary not written")
	}
	// The second run updates the same comment, truncated past the limit.
	out, code = run("ci", "github", "--max-bytes", "1500", "policies")
	if code != 0 || fake.posts != 1 || fake.patches != 1 || len(fake.comments) != 2 {
		t.Fatalf("second run must update: exit %d posts=%d patches=%d\n%s", code, fake.posts, fake.patches, out)
	}
	if c := fake.comments[2]; !strings.Contains(c, "Shortened") || !strings.Contains(c, "/acme/perms/actions/runs/42") || len(c) > 1500 {
		t.Errorf("truncated comment (%d bytes):\n%s", len(c), c)
	}
}

func TestCIGitHubForkReadOnlyToken(t *testing.T) {
	fake := &fakeGitHub{comments: map[int64]string{}, labels: map[string]bool{}, readOnly: true}
	code, out := runCIGitHubPR7(t, fake)
	if code == 0 || !strings.Contains(out, "cannot write comments") || !strings.Contains(out, "fork") || strings.Contains(out, "ghs_secret_token_123") {
		t.Fatalf("exit %d, want a clear read-only-token message:\n%s", code, out)
	}
	if fake.posts != 0 {
		t.Fatal("nothing may be posted")
	}
}

func TestCIGitHubSecondaryRateLimit(t *testing.T) {
	fake := &fakeGitHub{comments: map[int64]string{}, labels: map[string]bool{}, limited: 1}
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
	fake := &fakeGitHub{comments: map[int64]string{}, labels: map[string]bool{}, headSHA: head}
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
	fake.headSHA = strings.Repeat("e", 40)
	out, code = run("ci", "github-post", "--head-sha", head, "artifact")
	if code == 0 || !strings.Contains(out, "not posting") || fake.posts != 0 {
		t.Fatalf("a stale artifact must not be posted (exit %d):\n%s", code, out)
	}
	fake.headSHA = head
	// A tampered artifact with a foreign label and no marker: refused / filtered.
	os.WriteFile(filepath.Join(dir, "artifact", "comment.json"), []byte(`{"format":"b24perm-pr-comment/1","pr":7,"head_sha":"`+head+`","labels":["permissions:widening","approved"]}`), 0o644)
	out, code = run("ci", "github-post", "--head-sha", head, "artifact")
	if code != 0 || fake.posts != 1 {
		t.Fatalf("post: exit %d posts %d:\n%s", code, fake.posts, out)
	}
	if fake.labels["approved"] || !fake.labels["permissions:widening"] {
		t.Errorf("only b24perm's labels may be set from an artifact: %v", fake.labels)
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
	fake := &fakeGitHub{comments: map[int64]string{}, labels: map[string]bool{}}
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
	for _, c := range fake.comments {
		if !strings.Contains(c, "### b24perm plan — failed") || !strings.Contains(c, "crm.cue:") {
			t.Errorf("failure comment lacks the title or the position:\n%s", c)
		}
	}
}

// TestCIGitHubFailedChecksInComment: lint or test failures the action saw
// before the plan are shown in the comment, and the job fails after posting.
func TestCIGitHubFailedChecksInComment(t *testing.T) {
	fake := &fakeGitHub{comments: map[int64]string{}, labels: map[string]bool{}}
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
	for _, c := range fake.comments {
		if !strings.Contains(c, "permission tests failed") || !strings.Contains(c, "interns cannot read deals") {
			t.Errorf("the failed check is not in the comment:\n%s", c)
		}
	}
}
