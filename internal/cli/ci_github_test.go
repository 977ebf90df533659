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
	readOnly bool // 403 on writes, as for a fork pull request's token
	limited  int  // secondary rate-limit answers (403 + Retry-After) before serving
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
		"GITHUB_API_URL": srv.URL, "GITHUB_STEP_SUMMARY": summary, "GITHUB_RUN_ID": "42", "NO_COLOR": "1"}
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
	env := map[string]string{"GITHUB_TOKEN": "ghs_secret_token_123", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_API_URL": srv.URL, "NO_COLOR": "1"}
	t.Chdir(dir)
	var out bytes.Buffer
	code := cli.New([]string{"ci", "github", "--pr", "7", "policies"}, cli.Streams{Out: &out, Err: &out, Getenv: func(k string) string { return env[k] }}).Run()
	return code, out.String()
}
