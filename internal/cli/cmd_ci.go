package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/ghapi"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/planfile"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/spf13/cobra"
)

// Labels b24perm manages on pull requests.
const (
	labelWidening = "permissions:widening"
	labelDestroy  = "permissions:destroy"
	labelNoAccess = "permissions:no-access-change"
)

func newCICmd(c *Command) *cobra.Command {
	cmd := &cobra.Command{Use: "ci", Short: "CI integrations"}
	var f planFlags
	var base, prFlag, artifact string
	var redact, writeArtifact string
	var failed []string
	var planOut string
	var failOnWidening, dryRun bool
	var maxBytes int
	gh := &cobra.Command{
		Use:   "github [dir]",
		Short: "Post the plan (or the policy diff) as one pull-request comment, with summary, annotations and labels",
		Long: `ci github is what the GitHub Action runs. It computes the plan against the
live backend, or with --base the policy-vs-policy diff (no secrets needed, so
it works on forks), and then:
  - writes the markdown to $GITHUB_STEP_SUMMARY,
  - prints ::notice/::error annotations at the policy lines responsible,
  - creates or updates ONE pull-request comment (found by a hidden marker),
    truncated with a link to the full plan artifact past GitHub's limit,
  - sets the labels permissions:widening, permissions:destroy and
    permissions:no-access-change.
It reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH, GITHUB_API_URL,
GITHUB_SERVER_URL and GITHUB_RUN_ID; the token is never printed.
With --dry-run it prints the comment and the labels it would set instead
of calling the GitHub API.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := c.streams.Getenv
			dir := dirArg(args)
			stderr := cmd.ErrOrStderr()
			ev := readEvent(env("GITHUB_EVENT_PATH"))
			doRedact, err := redactMode(redact, ev)
			if err != nil {
				return err
			}
			pr := prNumber(prFlag, ev)
			headSHA := orDefault(ev.PullRequest.Head.SHA, env("GITHUB_SHA"))
			var p *plan.Plan
			var dirGraph *graph.Directory
			var planErr error
			var diags bytes.Buffer
			if base != "" {
				backend := f.live
				if _, named := c.streams.LookupEnv("B24PERM_LIVE"); backend == "" && !named && env("B24PERM_WEBHOOK_URL") == "" && !defaultPortalExists() {
					// A fork's pull request: no secrets, so no portal. The
					// demo portal's people would be someone else's.
					backend = noPortal
				}
				p, dirGraph, planErr = c.policyDiff(cmd, base, "", dir, backend, true)
			} else {
				var pl *planned
				if pl, planErr = c.makePlan(cmd.Context(), dir, &f, io.MultiWriter(stderr, &diags), false); planErr == nil {
					p, dirGraph = pl.plan, pl.live.Directory
					if planOut != "" {
						if err := planfile.Write(planOut, p); err != nil {
							return err
						}
					}
				}
			}
			// The checks that failed before the plan come first: the plan
			// gets what is left of GitHub's limit, so that the comment is
			// never refused for its size (nor the artifact by github-post).
			checks, err := failedChecks(failed)
			if err != nil {
				return err
			}
			var body string
			var labels []string
			if planErr != nil {
				// Atlantis reports a failed plan in the comment: the reviewer
				// must see why there is no plan, not only the job log.
				body = failureComment(planErr, diags.String(), headSHA, env)
			} else {
				hint := "See the full plan in the workflow artifact."
				if artifact != "" {
					hint = "The full plan: " + artifact
				} else if u := runURL(env); u != "" {
					hint = fmt.Sprintf("The full plan is in the artifacts of [this run](%s).", u)
				}
				// Header, footer and redaction change the size after the
				// render; render again with less room when they overflow.
				budget := maxBytes - 600 - len(checks)
				for try := 0; ; try++ {
					var md bytes.Buffer
					if err := plan.RenderMarkdown(&md, p, plan.RenderOptions{MaxBytes: budget, ArtifactHint: hint, SourceURL: sourceURL(env, headSHA)}); err != nil {
						return err
					}
					body = withHeaderFooter(md.String(), headSHA, env, base != "")
					if doRedact {
						body = redactPeople(body, dirGraph)
					}
					over := len(body) + len(checks) - maxBytes
					if over <= 0 || try == 3 || budget < 2000 {
						break
					}
					budget -= over + 500
				}
				if p.Access != nil && p.Access.Widening {
					labels = append(labels, labelWidening)
				}
				if _, _, destroy := p.Summary(); destroy > 0 {
					labels = append(labels, labelDestroy)
				}
				if p.HasChanges() && p.Access != nil && p.Access.NoChange() {
					labels = append(labels, labelNoAccess)
				}
			}
			if checks != "" {
				body = strings.TrimRight(body, "\n") + "\n" + checks
			}
			outputs := map[string]string{"has-changes": "false", "widening": "false", "destroy": "false", "failed": fmt.Sprint(planErr != nil || checks != "")}
			if planOut != "" && base == "" && planErr == nil {
				outputs["plan-file"] = planOut
			}
			if p != nil {
				_, _, destroy := p.Summary()
				outputs["has-changes"] = fmt.Sprint(p.HasChanges())
				outputs["widening"] = fmt.Sprint(p.Access != nil && p.Access.Widening)
				outputs["destroy"] = fmt.Sprint(destroy > 0)
			}
			if err := setOutputs(env, outputs); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if path := env("GITHUB_STEP_SUMMARY"); path != "" {
				if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					f.WriteString(body + "\n")
					f.Close()
				}
			}
			if p != nil {
				annotate(out, p, doRedact, dirGraph)
			}
			token := env("GITHUB_TOKEN")
			switch {
			case writeArtifact != "":
				// Fork-safe path: this job runs untrusted code without a write
				// token; `ci github-post` in a workflow_run job posts it.
				if err := writeCommentArtifact(writeArtifact, commentArtifact{PR: pr, HeadSHA: headSHA, Labels: labels, Failed: planErr != nil || checks != ""}, body); err != nil {
					return err
				}
				fmt.Fprintf(out, "Wrote the b24perm comment for pull request #%d to %s (labels: %s); a workflow_run job posts it with `b24perm ci github-post`.\n", pr, writeArtifact, strings.Join(orNone(labels), ", "))
			case dryRun:
				target := "the pull request"
				if pr > 0 {
					target = fmt.Sprintf("pull request #%d", pr)
				}
				fmt.Fprintf(out, "Dry run: not posting. The b24perm comment on %s would read (labels: %s):\n\n%s\n", target, strings.Join(orNone(labels), ", "), strings.TrimRight(body, "\n"))
			case pr > 0 && token != "" && env("GITHUB_REPOSITORY") != "":
				client := &ghapi.Client{BaseURL: orDefault(env("GITHUB_API_URL"), "https://api.github.com"), Token: token, Repo: env("GITHUB_REPOSITORY")}
				if err := postComment(cmd, env, client, pr, body, labels, planErr != nil || checks != ""); err != nil {
					return err
				}
			default:
				fmt.Fprintln(out, "No pull request or GITHUB_TOKEN: the comment was written to the job summary only.")
			}
			if planErr != nil {
				return planErr
			}
			if checks != "" {
				return fmt.Errorf("%d check(s) failed before the plan; see the comment", len(failed))
			}
			if failOnWidening && widening(stderr, p) {
				return exitCode(ExitWidening)
			}
			return nil
		},
	}
	f.register(gh)
	gh.Flags().StringVar(&base, "base", "", "compare with the policy at this git revision instead of the live portal")
	gh.Flags().StringVar(&prFlag, "pr", "", "pull request number (default: from GITHUB_EVENT_PATH)")
	gh.Flags().StringVar(&artifact, "artifact-url", "", "link to the full plan, shown when the comment is truncated")
	gh.Flags().StringVar(&redact, "redact", "auto", "replace people's names and e-mails with initials and user IDs: auto (only for public repositories, from the event payload), true or false")
	gh.Flags().Lookup("redact").NoOptDefVal = "true"
	gh.Flags().StringVarP(&planOut, "out", "o", "", "save the live plan to this file (the plan that merging applies); not with --base")
	gh.Flags().StringArrayVar(&failed, "failed-check", nil, "NAME=FILE: a check that failed before the plan (lint, permission tests); its output is shown in the comment and the command fails after posting (repeatable)")
	gh.Flags().StringVar(&writeArtifact, "write-artifact", "", "write the comment and its labels to this directory instead of posting (fork pull requests: post it from a workflow_run job with `ci github-post`)")
	gh.Flags().BoolVar(&failOnWidening, "fail-on-widening", false, "exit 3 when access widens on a sensitive field or admin-level cell, or objects that grant access cannot be read")
	gh.Flags().BoolVar(&dryRun, "dry-run", false, "print the comment and labels instead of posting them (no GitHub API call)")
	gh.Flags().IntVar(&maxBytes, "max-bytes", plan.DefaultMaxBytes, "comment size limit")
	cmd.AddCommand(gh, newCISamePlanCmd(c), newCIGitHubPostCmd(c), newCIGitHubDriftCmd(c), newCIGitHubReviewedPlanCmd(c), newCIGitHubApplyReportCmd(c))
	return cmd
}

// defaultPortalExists reports whether the local portal b24perm uses when
// no backend is named exists (b24perm init made it).
func defaultPortalExists() bool {
	path, _ := local.ParseSpec(DefaultLive)
	_, err := os.Stat(path)
	return err == nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

func prNumber(flag string, ev ghEvent) int {
	if flag != "" {
		var n int
		fmt.Sscan(flag, &n)
		return n
	}
	if ev.PullRequest.Number > 0 {
		return ev.PullRequest.Number
	}
	return ev.Number
}

// annotationsPerKind is how many annotations of one kind (error,
// warning, notice) GitHub shows for a step; it drops the rest silently
// (actions/toolkit docs/problem-matchers.md, "Limitations").
const annotationsPerKind = 10

// annotate prints GitHub workflow commands at the policy lines
// responsible: errors for widened sensitive or admin access first, then
// notices for changes, each kind capped at what GitHub shows, with one
// plain log line saying how many were left out (the PR comment and the
// plan list them all).
func annotate(w interface{ Write([]byte) (int, error) }, p *plan.Plan, redact bool, dir *graph.Directory) {
	esc := func(s string) string {
		s = strings.ReplaceAll(s, "%", "%25")
		s = strings.ReplaceAll(s, "\r", "%0D")
		return strings.ReplaceAll(s, "\n", "%0A")
	}
	seen := map[string]bool{}
	lines := map[string][]string{}
	emit := func(kind string, pos *graph.Pos, msg string) {
		if pos == nil || !pos.IsValid() {
			return
		}
		if redact {
			msg = redactPeople(msg, dir)
		}
		line := fmt.Sprintf("::%s file=%s,line=%d,col=%d::%s\n", kind, pos.File, pos.Line, pos.Col, esc(msg))
		if !seen[line] {
			seen[line] = true
			lines[kind] = append(lines[kind], line)
		}
	}
	if p.Access != nil {
		for _, g := range p.Access.Groups {
			for _, c := range g.Changes {
				if c.Widens && (c.Sensitive || c.Admin) {
					emit("error", c.Source, fmt.Sprintf("widens access: %s %s → %s for %s", c.Label, c.Before, c.After, plural(len(g.Users), "user", "users")))
				}
			}
		}
	}
	for _, ch := range p.Changes {
		for _, a := range ch.Attrs {
			emit("notice", a.Source, fmt.Sprintf("%s %s: %s", ch.Action, ch.Address, plan.AttrLine(ch, a, p.Names)))
		}
		if len(ch.Attrs) == 0 {
			emit("notice", ch.Source, fmt.Sprintf("%s %s", ch.Action.Verb(), ch.Address))
		}
	}
	left := 0
	for _, kind := range []string{"error", "notice"} {
		ls := lines[kind]
		if len(ls) > annotationsPerKind {
			left += len(ls) - annotationsPerKind
			ls = ls[:annotationsPerKind]
		}
		for _, l := range ls {
			fmt.Fprint(w, l)
		}
	}
	if left > 0 {
		fmt.Fprintf(w, "b24perm: %s not printed (GitHub shows %d of each kind per step); the plan and the PR comment list every change\n",
			plural(left, "more annotation", "more annotations"), annotationsPerKind)
	}
}

// redactPeople replaces e-mails and names with user IDs and initials.
func redactPeople(s string, dir *graph.Directory) string {
	if dir == nil {
		return s
	}
	var pairs [][2]string
	for _, u := range dir.Users {
		id := fmt.Sprintf("user #%d", u.ID)
		if u.Email != "" {
			pairs = append(pairs, [2]string{u.Email, id}, [2]string{strings.ToLower(u.Email), id})
		}
		if u.Name != "" {
			var ini []string
			for _, part := range strings.Fields(u.Name) {
				ini = append(ini, string([]rune(part)[0])+".")
			}
			pairs = append(pairs, [2]string{u.Name, strings.Join(ini, " ") + fmt.Sprintf(" (#%d)", u.ID)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...).Replace(s)
}
