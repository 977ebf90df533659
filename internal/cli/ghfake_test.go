package cli_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakeGitHub is the part of GitHub's REST API that b24perm's CI commands
// use, with GitHub's shapes and failure modes: issue comments (create,
// list, update), issue and repository labels (creating an issue with a
// label the repository lacks is refused with 422, the strict reading, as
// `gh issue create --label` fails on it),
// issues (list by label, create, edit, close), pull requests (read, and
// which one a merge commit belongs to), 5xx answers, secondary rate
// limits (403 + Retry-After) and read-only tokens (403 on writes, as on
// a pull request from a fork). Go tests read its fields; testscripts read
// the files it keeps in dump (see dumpTo).
type fakeGitHub struct {
	mu         sync.Mutex
	server     string // https://github.com-like address for html_url
	issues     map[int]*fakeIssue
	comments   map[int64]*fakeComment
	nextID     int64
	repoLabels map[string]bool
	fail5xx    int
	readOnly   bool // 403 on writes
	limited    int  // secondary rate-limit answers (403 + Retry-After) before serving
	posts      int  // comments created
	patches    int  // comments updated
	auth       []string
	requests   []string
	artifacts  []*fakeArtifact
	public     bool   // GET /repos/acme/perms says public
	dump       string // directory the state is written to after each request
}

type fakeIssue struct {
	Number   int
	Title    string
	Body     string
	State    string
	Labels   map[string]bool
	PR       bool
	HeadSHA  string
	MergeSHA string // the commit merging this pull request produced
	Fork     bool   // its head is in someone/perms
}

type fakeArtifact struct {
	ID      int64
	Name    string
	HeadSHA string
	Zip     []byte
}

type fakeComment struct {
	ID    int64
	Issue int
	Body  string
}

func newFakeGitHub() *fakeGitHub {
	return &fakeGitHub{server: "https://github.com/acme/perms", issues: map[int]*fakeIssue{}, comments: map[int64]*fakeComment{}, repoLabels: map[string]bool{}}
}

// pr adds (or moves) pull request n to head sha.
func (f *fakeGitHub) pr(n int, head string) *fakeIssue {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.issues[n]
	if is == nil {
		is = &fakeIssue{Number: n, Title: fmt.Sprintf("PR %d", n), State: "open", Labels: map[string]bool{}, PR: true}
		f.issues[n] = is
	}
	is.HeadSHA = head
	f.dumpLocked()
	return is
}

// commentsOn returns the bodies of issue n's comments, oldest first.
func (f *fakeGitHub) commentsOn(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.sortedComments() {
		if c.Issue == n {
			out = append(out, c.Body)
		}
	}
	return out
}

func (f *fakeGitHub) sortedComments() []*fakeComment {
	var cs []*fakeComment
	for _, c := range f.comments {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	return cs
}

func (f *fakeGitHub) labelsOf(n int) map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	if is := f.issues[n]; is != nil {
		for l := range is.Labels {
			out[l] = true
		}
	}
	return out
}

var (
	reIssueComments = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/(\d+)/comments$`)
	reComment       = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/comments/(\d+)$`)
	reIssueLabels   = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/(\d+)/labels$`)
	reIssueLabel    = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/(\d+)/labels/([^/]+)$`)
	reIssue         = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/(\d+)$`)
	reIssues        = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues$`)
	rePull          = regexp.MustCompile(`^/repos/[^/]+/[^/]+/pulls/(\d+)$`)
	reCommitPulls   = regexp.MustCompile(`^/repos/[^/]+/[^/]+/commits/([0-9a-f]+)/pulls$`)
	reRepoLabel     = regexp.MustCompile(`^/repos/[^/]+/[^/]+/labels/([^/]+)$`)
	reRepoLabels    = regexp.MustCompile(`^/repos/[^/]+/[^/]+/labels$`)
	reArtifacts     = regexp.MustCompile(`^/repos/[^/]+/[^/]+/actions/artifacts$`)
	reArtifactZip   = regexp.MustCompile(`^/repos/[^/]+/[^/]+/actions/artifacts/(\d+)/zip$`)
	reBlob          = regexp.MustCompile(`^/blob/(\d+)\.zip$`)
)

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.dumpLocked()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
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
	var in map[string]any
	json.Unmarshal(body, &in)
	str := func(k string) string { s, _ := in[k].(string); return s }
	path := r.URL.Path
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	notFound := func() { reply(404, map[string]string{"message": "Not Found"}) }
	num := func(re *regexp.Regexp) int { n, _ := strconv.Atoi(re.FindStringSubmatch(path)[1]); return n }
	issue := func(re *regexp.Regexp) *fakeIssue { return f.issues[num(re)] }
	commentJSON := func(c *fakeComment) map[string]any {
		return map[string]any{"id": c.ID, "body": c.Body, "html_url": fmt.Sprintf("%s/issues/%d#issuecomment-%d", f.server, c.Issue, c.ID)}
	}
	issueJSON := func(is *fakeIssue) map[string]any {
		var labels []map[string]string
		for _, l := range sortedSet(is.Labels) {
			labels = append(labels, map[string]string{"name": l})
		}
		m := map[string]any{"number": is.Number, "title": is.Title, "body": is.Body, "state": is.State, "labels": labels, "html_url": fmt.Sprintf("%s/issues/%d", f.server, is.Number)}
		if is.PR {
			m["pull_request"] = map[string]string{"url": fmt.Sprintf("%s/pull/%d", f.server, is.Number)}
		}
		return m
	}
	switch {
	case r.Method == "GET" && regexp.MustCompile(`^/repos/[^/]+/[^/]+$`).MatchString(path):
		vis := "private"
		if f.public {
			vis = "public"
		}
		reply(200, map[string]any{"full_name": strings.TrimPrefix(path, "/repos/"), "private": !f.public, "visibility": vis})
	case r.Method == "GET" && rePull.MatchString(path):
		is := issue(rePull)
		if is == nil || !is.PR {
			notFound()
			return
		}
		reply(200, map[string]any{"number": is.Number, "state": is.State, "head": map[string]string{"sha": is.HeadSHA}})
	case r.Method == "GET" && reCommitPulls.MatchString(path):
		sha := reCommitPulls.FindStringSubmatch(path)[1]
		out := []map[string]any{}
		for _, n := range sortedIssueNumbers(f.issues) {
			if is := f.issues[n]; is.PR && (is.MergeSHA == sha || is.HeadSHA == sha) {
				repo := "acme/perms"
				if is.Fork {
					repo = "someone/perms"
				}
				out = append(out, map[string]any{"number": n, "head": map[string]any{"sha": is.HeadSHA, "repo": map[string]string{"full_name": repo}}})
			}
		}
		reply(200, out)
	case r.Method == "GET" && reArtifacts.MatchString(path):
		out := []map[string]any{}
		for _, a := range f.artifacts {
			if name := r.URL.Query().Get("name"); name == "" || name == a.Name {
				out = append(out, map[string]any{"id": a.ID, "name": a.Name, "size_in_bytes": len(a.Zip), "expired": false,
					"archive_download_url": fmt.Sprintf("http://%s/repos/acme/perms/actions/artifacts/%d/zip", r.Host, a.ID),
					"workflow_run":         map[string]any{"id": 1000 + a.ID, "head_sha": a.HeadSHA}})
			}
		}
		reply(200, map[string]any{"total_count": len(out), "artifacts": out})
	case r.Method == "GET" && reArtifactZip.MatchString(path):
		// GitHub redirects to a signed address on another host.
		http.Redirect(w, r, fmt.Sprintf("/blob/%s.zip", reArtifactZip.FindStringSubmatch(path)[1]), http.StatusFound)
	case r.Method == "GET" && reBlob.MatchString(path):
		id, _ := strconv.ParseInt(reBlob.FindStringSubmatch(path)[1], 10, 64)
		for _, a := range f.artifacts {
			if a.ID == id {
				w.Header().Set("Content-Type", "application/zip")
				w.Write(a.Zip)
				return
			}
		}
		notFound()
	case r.Method == "GET" && reIssueComments.MatchString(path):
		n := num(reIssueComments)
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, page = max(per, 30), max(page, 1)
		out := []map[string]any{}
		for _, c := range f.sortedComments() {
			if c.Issue == n {
				out = append(out, commentJSON(c))
			}
		}
		lo, hi := min((page-1)*per, len(out)), min(page*per, len(out))
		reply(200, out[lo:hi])
	case r.Method == "POST" && reIssueComments.MatchString(path):
		if issue(reIssueComments) == nil {
			notFound()
			return
		}
		f.nextID++
		c := &fakeComment{ID: f.nextID, Issue: num(reIssueComments), Body: str("body")}
		f.comments[c.ID] = c
		f.posts++
		reply(201, commentJSON(c))
	case r.Method == "PATCH" && reComment.MatchString(path):
		id, _ := strconv.ParseInt(reComment.FindStringSubmatch(path)[1], 10, 64)
		c := f.comments[id]
		if c == nil {
			notFound()
			return
		}
		c.Body = str("body")
		f.patches++
		reply(200, commentJSON(c))
	case r.Method == "GET" && reIssueLabels.MatchString(path):
		is := issue(reIssueLabels)
		if is == nil {
			notFound()
			return
		}
		out := []map[string]string{}
		for _, l := range sortedSet(is.Labels) {
			out = append(out, map[string]string{"name": l})
		}
		reply(200, out)
	case r.Method == "POST" && reIssueLabels.MatchString(path):
		is := issue(reIssueLabels)
		if is == nil {
			notFound()
			return
		}
		var req struct{ Labels []string }
		json.Unmarshal(body, &req)
		for _, l := range req.Labels {
			// Adding a label to an issue creates it in the repository.
			is.Labels[l], f.repoLabels[l] = true, true
		}
		reply(200, []any{})
	case r.Method == "DELETE" && reIssueLabel.MatchString(path):
		is := issue(reIssueLabel)
		l, _ := url.PathUnescape(reIssueLabel.FindStringSubmatch(path)[2])
		if is == nil || !is.Labels[l] {
			notFound()
			return
		}
		delete(is.Labels, l)
		reply(200, []any{})
	case r.Method == "GET" && reRepoLabel.MatchString(path):
		l, _ := url.PathUnescape(reRepoLabel.FindStringSubmatch(path)[1])
		if !f.repoLabels[l] {
			notFound()
			return
		}
		reply(200, map[string]string{"name": l})
	case r.Method == "POST" && reRepoLabels.MatchString(path):
		if f.repoLabels[str("name")] {
			reply(422, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "Label", "code": "already_exists", "field": "name"}}})
			return
		}
		f.repoLabels[str("name")] = true
		reply(201, map[string]string{"name": str("name")})
	case r.Method == "GET" && reIssues.MatchString(path):
		q := r.URL.Query()
		out := []map[string]any{}
		for _, n := range sortedIssueNumbers(f.issues) {
			is := f.issues[n]
			if st := q.Get("state"); st != "" && st != "all" && is.State != st {
				continue
			}
			if l := q.Get("labels"); l != "" && !is.Labels[l] {
				continue
			}
			out = append(out, issueJSON(is))
		}
		reply(200, out)
	case r.Method == "POST" && reIssues.MatchString(path):
		var req struct {
			Title, Body string
			Labels      []string
		}
		json.Unmarshal(body, &req)
		is := &fakeIssue{Number: len(f.issues) + 100, Title: req.Title, Body: req.Body, State: "open", Labels: map[string]bool{}}
		for _, l := range req.Labels {
			if !f.repoLabels[l] {
				reply(422, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "Label", "code": "invalid", "field": "labels", "value": l}}})
				return
			}
			is.Labels[l] = true
		}
		f.issues[is.Number] = is
		reply(201, issueJSON(is))
	case r.Method == "PATCH" && reIssue.MatchString(path):
		is := issue(reIssue)
		if is == nil {
			notFound()
			return
		}
		if _, ok := in["body"]; ok {
			is.Body = str("body")
		}
		if s := str("state"); s != "" {
			is.State = s
		}
		reply(200, issueJSON(is))
	default:
		notFound()
	}
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func sortedIssueNumbers(m map[int]*fakeIssue) []int {
	var out []int
	for n := range m {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// dumpLocked writes the state for testscripts to read, when dump is set:
// issue-N/state (open/closed, then the labels, one a line), issue-N/body.md,
// issue-N/comment-ID.md, labels (the repository's) and requests (one
// "METHOD URI" a line).
func (f *fakeGitHub) dumpLocked() {
	if f.dump == "" {
		return
	}
	os.RemoveAll(f.dump)
	os.MkdirAll(f.dump, 0o755)
	write := func(name, s string) {
		p := filepath.Join(f.dump, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	for n, is := range f.issues {
		dir := fmt.Sprintf("issue-%d", n)
		write(dir+"/state", strings.Join(append([]string{is.State}, sortedSet(is.Labels)...), "\n")+"\n")
		if is.Body != "" {
			write(dir+"/body.md", is.Body)
		}
	}
	for _, c := range f.comments {
		write(fmt.Sprintf("issue-%d/comment-%d.md", c.Issue, c.ID), c.Body)
	}
	write("labels", strings.Join(sortedSet(f.repoLabels), "\n")+"\n")
	write("requests", strings.Join(f.requests, "\n")+"\n")
}

// githubFakes holds each script's fake GitHub.
var githubFakes sync.Map

func githubFakeCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: github-fake start|pr N SHA [fork]|merge N SHA|artifact NAME SHA FILE...|public|read-only|rate-limit N")
	}
	if args[0] == "start" {
		f := newFakeGitHub()
		f.dump = ts.MkAbs("github")
		srv := httptest.NewServer(f)
		ts.Defer(srv.Close)
		githubFakes.Store(ts, f)
		ts.Setenv("GITHUB_API_URL", srv.URL)
		f.mu.Lock()
		f.dumpLocked()
		f.mu.Unlock()
		return
	}
	v, ok := githubFakes.Load(ts)
	if !ok {
		ts.Fatalf("github-fake start first")
	}
	f := v.(*fakeGitHub)
	n := 0
	if len(args) > 1 && args[0] != "artifact" {
		var err error
		n, err = strconv.Atoi(args[1])
		ts.Check(err)
	}
	switch {
	case args[0] == "pr" && (len(args) == 3 || len(args) == 4 && args[3] == "fork"):
		is := f.pr(n, args[2])
		f.mu.Lock()
		is.Fork = len(args) == 4
		f.mu.Unlock()
	case args[0] == "artifact" && len(args) >= 4:
		// artifact NAME HEAD_SHA FILE...: a run at HEAD_SHA uploaded FILEs.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, name := range args[3:] {
			w, err := zw.Create(filepath.Base(name))
			ts.Check(err)
			w.Write([]byte(ts.ReadFile(name)))
		}
		ts.Check(zw.Close())
		f.mu.Lock()
		f.artifacts = append(f.artifacts, &fakeArtifact{ID: int64(len(f.artifacts) + 1), Name: args[1], HeadSHA: args[2], Zip: buf.Bytes()})
		f.mu.Unlock()
	case args[0] == "merge" && len(args) == 3:
		is := f.pr(n, f.issues[n].HeadSHA)
		f.mu.Lock()
		is.MergeSHA, is.State = args[2], "closed"
		f.dumpLocked()
		f.mu.Unlock()
	case args[0] == "public" && len(args) == 1:
		f.mu.Lock()
		f.public = true
		f.mu.Unlock()
	case args[0] == "read-only" && len(args) == 1:
		f.mu.Lock()
		f.readOnly = true
		f.mu.Unlock()
	case args[0] == "rate-limit" && len(args) == 2:
		f.mu.Lock()
		f.limited = n
		f.mu.Unlock()
	default:
		ts.Fatalf("usage: github-fake start|pr N SHA|merge N SHA|read-only|rate-limit N")
	}
}
