package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/b24perm/b24perm/internal/atomicfile"
	"github.com/b24perm/b24perm/internal/ghapi"
	"github.com/b24perm/b24perm/plan"
	"github.com/spf13/cobra"
)

// ghEvent is the part of GITHUB_EVENT_PATH's payload b24perm reads.
type ghEvent struct {
	Number      int `json:"number"`
	PullRequest struct {
		Number int `json:"number"`
		Head   struct {
			SHA string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
	Repository struct {
		Private    *bool  `json:"private"`
		Visibility string `json:"visibility"`
	} `json:"repository"`
}

func readEvent(path string) ghEvent {
	var ev ghEvent
	if path == "" {
		return ev
	}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &ev)
	}
	return ev
}

// redactMode resolves --redact: auto redacts only when the event payload
// says the repository is public, because everyone can read its comments;
// the reviewers of a private repository need the names.
func redactMode(v string, ev ghEvent) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "auto", "":
		if ev.Repository.Visibility != "" {
			return ev.Repository.Visibility == "public", nil
		}
		return ev.Repository.Private != nil && !*ev.Repository.Private, nil
	}
	return false, fmt.Errorf("--redact must be auto, true or false, not %q", v)
}

func serverURL(env func(string) string) string {
	return strings.TrimRight(orDefault(env("GITHUB_SERVER_URL"), "https://github.com"), "/")
}

// runURL links the workflow run, when running in one.
func runURL(env func(string) string) string {
	if env("GITHUB_RUN_ID") == "" || env("GITHUB_REPOSITORY") == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%s", serverURL(env), env("GITHUB_REPOSITORY"), env("GITHUB_RUN_ID"))
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// commitLine says which commit the comment was made at and links the run,
// the first thing a reviewer checks on a bot comment.
func commitLine(sha string, env func(string) string) string {
	var parts []string
	if sha != "" {
		c := "`" + shortSHA(sha) + "`"
		if repo := env("GITHUB_REPOSITORY"); repo != "" {
			c = fmt.Sprintf("[`%s`](%s/%s/commit/%s)", shortSHA(sha), serverURL(env), repo, sha)
		}
		parts = append(parts, "at commit "+c)
	}
	if u := runURL(env); u != "" {
		parts = append(parts, fmt.Sprintf("[workflow run](%s)", u))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Planned " + strings.Join(parts, " · ")
}

// withHeaderFooter adds the commit line under the comment's title and the
// footer saying what merging does.
func withHeaderFooter(md, sha string, env func(string) string, policyDiff bool) string {
	if line := commitLine(sha, env); line != "" {
		if i := strings.Index(md, "\n\n"); i >= 0 {
			md = md[:i+2] + line + "\n\n" + md[i+2:]
		}
	}
	md = strings.TrimRight(md, "\n") + "\n\n---\n"
	if policyDiff {
		md += "This is the policy-vs-base diff (no live portal was read, as on a pull request from a fork: who gains or loses access is not known without the portal); the apply on merge plans against the live portal again.\n"
	} else {
		at := ""
		if sha != "" {
			at = fmt.Sprintf(" (saved plan at `%s`)", shortSHA(sha))
		}
		md += fmt.Sprintf("Merging this pull request applies exactly this plan%s; the apply refuses if the portal changed meanwhile.\n", at)
	}
	return md
}

// failureComment is the comment posted when validation or planning fails.
func failureComment(err error, diags, sha string, env func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### b24perm plan — failed\n\n", plan.Marker)
	if line := commitLine(sha, env); line != "" {
		b.WriteString(line + "\n\n")
	}
	msg := strings.TrimSpace(diags)
	var ee *exitError
	if !errors.As(err, &ee) || msg == "" {
		msg = strings.TrimSpace(msg + "\n" + err.Error())
	}
	if len(msg) > 20000 {
		msg = msg[:20000] + "\n…"
	}
	fmt.Fprintf(&b, "b24perm could not plan this pull request:\n\n```\n%s\n```\n\nNothing will be applied until this is fixed.\n", fence(msg))
	return b.String()
}

// commentArtifact is what an untrusted pull_request job hands to the
// trusted workflow_run job. Every field is re-checked there.
type commentArtifact struct {
	Format  string   `json:"format"`
	PR      int      `json:"pr"`
	HeadSHA string   `json:"head_sha"`
	Labels  []string `json:"labels"`
	Failed  bool     `json:"failed,omitempty"`
}

const (
	artifactFormat  = "b24perm-pr-comment/1"
	artifactMeta    = "comment.json"
	artifactBody    = "comment.md"
	maxCommentBytes = 65536
)

func writeCommentArtifact(dir string, meta commentArtifact, body string) error {
	meta.Format = artifactFormat
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the comment artifact directory: %v", err)
	}
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, artifactMeta), append(b, '\n'), false); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, artifactBody), []byte(body), false)
}

// readCommentArtifact reads and checks an artifact made by untrusted code.
func readCommentArtifact(dir string) (commentArtifact, string, error) {
	var meta commentArtifact
	b, err := readSmall(filepath.Join(dir, artifactMeta), 64<<10)
	if err != nil {
		return meta, "", err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, "", fmt.Errorf("%s: not a b24perm comment artifact: %v", filepath.Join(dir, artifactMeta), err)
	}
	if meta.Format != artifactFormat {
		return meta, "", fmt.Errorf("%s: format %q, want %q", filepath.Join(dir, artifactMeta), meta.Format, artifactFormat)
	}
	if meta.PR <= 0 {
		return meta, "", fmt.Errorf("%s: no pull request number", filepath.Join(dir, artifactMeta))
	}
	body, err := readSmall(filepath.Join(dir, artifactBody), maxCommentBytes)
	if err != nil {
		return meta, "", err
	}
	if !strings.HasPrefix(string(body), plan.Marker) {
		return meta, "", fmt.Errorf("%s: does not start with the b24perm marker; refusing to post it", filepath.Join(dir, artifactBody))
	}
	var labels []string
	for _, l := range meta.Labels {
		if l == labelWidening || l == labelDestroy || l == labelNoAccess {
			labels = append(labels, l)
		}
	}
	meta.Labels = labels
	return meta, string(body), nil
}

func readSmall(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("reading the comment artifact: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", path, fi.Size(), limit)
	}
	return os.ReadFile(path)
}

func postComment(cmd *cobra.Command, env func(string) string, client *ghapi.Client, pr int, body string, labels []string, failed bool) error {
	created, url, err := client.UpsertComment(cmd.Context(), pr, plan.Marker, body)
	if err != nil {
		return fmt.Errorf("posting the PR comment: %v", err)
	}
	if url != "" {
		if err := setOutputs(env, map[string]string{"comment-url": url}); err != nil {
			return err
		}
	}
	if !failed {
		if err := client.SetLabels(cmd.Context(), pr, []string{labelWidening, labelDestroy, labelNoAccess}, labels); err != nil {
			return fmt.Errorf("setting labels: %v", err)
		}
	}
	verb := "Updated"
	if created {
		verb = "Created"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s the b24perm comment on pull request #%d (labels: %s).\n", verb, pr, strings.Join(orNone(labels), ", "))
	return nil
}

// newCIGitHubPostCmd posts a comment artifact from the trusted side of the
// fork-safe pair (a workflow_run job with a write token, running no code of
// the pull request).
func newCIGitHubPostCmd(c *Command) *cobra.Command {
	var headSHA string
	cmd := &cobra.Command{
		Use:   "github-post DIR",
		Short: "Post a comment artifact written by `ci github --write-artifact` (the workflow_run half of fork-safe pull requests)",
		Long: `ci github-post runs in a workflow_run job that has a write token and runs
none of the pull request's code. It reads the artifact the pull_request job
uploaded, checks it (format, size, the b24perm marker, only b24perm's own
labels) and that the pull request's current head is --head-sha (the
workflow_run event's head_sha, so an artifact cannot target another pull
request), then creates or updates the one b24perm comment and the labels.
It reads GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := c.streams.Getenv
			meta, body, err := readCommentArtifact(args[0])
			if err != nil {
				return err
			}
			if headSHA == "" {
				return fmt.Errorf("--head-sha is required (the workflow_run event's head_sha)")
			}
			if meta.HeadSHA != headSHA {
				return fmt.Errorf("the artifact was made at %s, not at the run's head %s; refusing to post it", shortSHA(meta.HeadSHA), shortSHA(headSHA))
			}
			token, repo := env("GITHUB_TOKEN"), env("GITHUB_REPOSITORY")
			if token == "" || repo == "" {
				return fmt.Errorf("GITHUB_TOKEN and GITHUB_REPOSITORY must be set to post the comment")
			}
			client := &ghapi.Client{BaseURL: orDefault(env("GITHUB_API_URL"), "https://api.github.com"), Token: token, Repo: repo}
			pull, err := client.GetPull(cmd.Context(), meta.PR)
			if err != nil {
				return fmt.Errorf("reading pull request #%d: %v", meta.PR, err)
			}
			if pull.Head.SHA != headSHA {
				return fmt.Errorf("pull request #%d is at %s, not at the run's head %s (a newer push, or an artifact for another pull request); not posting", meta.PR, shortSHA(pull.Head.SHA), shortSHA(headSHA))
			}
			return postComment(cmd, env, client, meta.PR, body, meta.Labels, meta.Failed)
		},
	}
	cmd.Flags().StringVar(&headSHA, "head-sha", "", "the head commit the pull_request run planned (github.event.workflow_run.head_sha)")
	return cmd
}

// setOutputs appends step outputs to $GITHUB_OUTPUT, when set.
func setOutputs(env func(string) string, kv map[string]string) error {
	path := env("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing step outputs: %v", err)
	}
	defer f.Close()
	for _, k := range sortedKeys(kv) {
		fmt.Fprintf(f, "%s=%s\n", k, strings.ReplaceAll(kv[k], "\n", " "))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fence keeps text from closing the code block it is shown in.
func fence(text string) string { return strings.ReplaceAll(text, "```", "'''") }

// failedChecks renders the checks the action ran before the plan that
// failed (lint, permission tests), so the comment shows them.
func failedChecks(specs []string) (string, error) {
	var b strings.Builder
	// At most 16,000 characters of check output in all, so that the plan
	// keeps most of the comment.
	each := 8000
	if len(specs) > 2 {
		each = 16000 / len(specs)
	}
	for _, spec := range specs {
		name, file, ok := strings.Cut(spec, "=")
		if !ok || name == "" || file == "" {
			return "", fmt.Errorf("--failed-check wants NAME=FILE, not %q", spec)
		}
		out, err := readSmall(file, 1<<20)
		if err != nil {
			return "", err
		}
		text := strings.TrimSpace(string(out))
		if len(text) > each {
			cut := strings.LastIndex(text[:each], "\n")
			if cut < each/2 {
				for cut = each; cut > 0 && !utf8.RuneStart(text[cut]); cut-- {
				}
			}
			text = text[:cut] + "\n…"
		}
		fmt.Fprintf(&b, "\n#### :x: %s failed\n\n```\n%s\n```\n", name, fence(text))
	}
	return b.String(), nil
}

// sourceURL links a policy line to the file at the planned commit on
// GitHub; nil outside a repository run.
func sourceURL(env func(string) string, sha string) func(string, int) string {
	repo := env("GITHUB_REPOSITORY")
	if repo == "" || sha == "" {
		return nil
	}
	return func(file string, line int) string {
		return fmt.Sprintf("%s/%s/blob/%s/%s#L%d", serverURL(env), repo, sha, strings.TrimPrefix(filepath.ToSlash(filepath.Clean(file)), "./"), line)
	}
}
