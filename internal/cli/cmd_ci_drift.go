package cli

import (
	"fmt"
	"strings"

	"github.com/b24perm/b24perm/internal/ghapi"
	"github.com/b24perm/b24perm/plan"
	"github.com/spf13/cobra"
)

const (
	labelDrift = "permissions:drift"
	driftTitle = "Bitrix24 permissions drifted from the policy"
)

// newCIGitHubDriftCmd keeps one drift issue in step with the scheduled
// drift job: opened (or updated) while the portal differs from the policy,
// closed with a comment once it matches again. It goes through the same
// GitHub client as the PR comment (Retry-After, secondary rate limits, a
// clear 403), and creates its label first because an issue cannot be
// labelled with a label the repository does not have.
func newCIGitHubDriftCmd(c *Command) *cobra.Command {
	var exit int
	cmd := &cobra.Command{
		Use:   "github-drift --exitcode N REPORT",
		Short: "Open, update or close the drift issue from `drift --detailed-exitcode --format markdown`",
		Long: `ci github-drift runs after ` + "`b24perm drift --detailed-exitcode --format markdown > REPORT`" + `.
With --exitcode 2 (drift) it creates the permissions:drift label when the
repository lacks it and opens the drift issue with REPORT as its body, or
updates the open one. With --exitcode 0 (no drift) it closes the open drift
issue with a comment linking the run; with no open issue it does nothing.
It reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_SERVER_URL
and GITHUB_RUN_ID; the job needs ` + "`permissions: issues: write`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := c.streams.Getenv
			if exit != 0 && exit != 2 {
				return fmt.Errorf("--exitcode must be 0 (no drift) or 2 (drift), not %d: the drift command itself failed", exit)
			}
			token, repo := env("GITHUB_TOKEN"), env("GITHUB_REPOSITORY")
			if token == "" || repo == "" {
				return fmt.Errorf("GITHUB_TOKEN and GITHUB_REPOSITORY must be set to manage the drift issue")
			}
			client := &ghapi.Client{BaseURL: orDefault(env("GITHUB_API_URL"), "https://api.github.com"), Token: token, Repo: repo}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			open, err := client.FindOpenIssue(ctx, labelDrift, plan.DriftMarker)
			if err != nil {
				return fmt.Errorf("looking for the open drift issue: %v", err)
			}
			if exit == 0 {
				if open == nil {
					fmt.Fprintln(out, "No drift, and no open drift issue.")
					return nil
				}
				msg := "The portal matches the policy again"
				if u := runURL(env); u != "" {
					msg += fmt.Sprintf(" ([drift run](%s))", u)
				}
				if err := client.CloseIssue(ctx, open.Number, msg+"; closing."); err != nil {
					return fmt.Errorf("closing drift issue #%d: %v", open.Number, err)
				}
				fmt.Fprintf(out, "No drift: closed drift issue #%d.\n", open.Number)
				return nil
			}
			b, err := readSmall(args[0], 16<<20)
			if err != nil {
				return err
			}
			body := string(b)
			if !strings.HasPrefix(body, plan.DriftMarker) {
				return fmt.Errorf("%s is not a drift report (`b24perm drift --format markdown`): it does not start with %s", args[0], plan.DriftMarker)
			}
			body = capIssueBody(body, runURL(env))
			if open != nil {
				if _, err := client.EditIssueBody(ctx, open.Number, body); err != nil {
					return fmt.Errorf("updating drift issue #%d: %v", open.Number, err)
				}
				setOutputs(env, map[string]string{"issue-url": open.HTMLURL})
				fmt.Fprintf(out, "Drift: updated drift issue #%d.\n", open.Number)
				return nil
			}
			if err := client.EnsureLabel(ctx, labelDrift, "d93f0b", "The Bitrix24 portal differs from the policy (opened by the drift workflow)"); err != nil {
				return fmt.Errorf("creating the %s label: %v", labelDrift, err)
			}
			is, err := client.CreateIssue(ctx, driftTitle, body, []string{labelDrift})
			if err != nil {
				return fmt.Errorf("opening the drift issue: %v", err)
			}
			setOutputs(env, map[string]string{"issue-url": is.HTMLURL})
			fmt.Fprintf(out, "Drift: opened drift issue #%d.\n", is.Number)
			return nil
		},
	}
	cmd.Flags().IntVar(&exit, "exitcode", -1, "exit code of `b24perm drift --detailed-exitcode`: 2 opens or updates the issue, 0 closes it")
	return cmd
}

// capIssueBody keeps an issue body under GitHub's 65,536-character limit,
// cutting at a line and pointing at the run for the rest (drift
// --format markdown budgets its sections already; this is the backstop).
func capIssueBody(body, run string) string {
	const limit = 65000
	if len(body) <= limit {
		return body
	}
	cut := strings.LastIndex(body[:limit-400], "\n")
	if cut < 0 {
		cut = limit - 400
	}
	tail := "\n\n… shortened to fit GitHub's limit"
	if run != "" {
		tail += fmt.Sprintf("; the full report is in the log of the [drift run](%s)", run)
	}
	return body[:cut] + tail + ".\n"
}
