package cli

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/b24perm/b24perm/internal/atomicfile"
	"github.com/b24perm/b24perm/internal/ghapi"
	"github.com/spf13/cobra"
)

// reviewedPlanFile is the file of the plan artifact policy-plan.yml
// uploads (b24perm-plan-<head sha>) that the apply job compares with the
// plan at the merge commit.
const reviewedPlanFile = "plan-full.json"

func ghClient(env func(string) string) (*ghapi.Client, error) {
	token, repo := env("GITHUB_TOKEN"), env("GITHUB_REPOSITORY")
	if token == "" || repo == "" {
		return nil, fmt.Errorf("GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
	}
	return &ghapi.Client{BaseURL: orDefault(env("GITHUB_API_URL"), "https://api.github.com"), Token: token, Repo: repo}, nil
}

// mergedPull finds the pull request a commit on the default branch merged.
func mergedPull(cmd *cobra.Command, client *ghapi.Client, sha string) (*ghapi.MergedPull, error) {
	pulls, err := client.PullsOfCommit(cmd.Context(), sha)
	if err != nil {
		return nil, fmt.Errorf("looking up the pull request of %s: %v", shortSHA(sha), err)
	}
	if len(pulls) == 0 {
		return nil, nil
	}
	return &pulls[0], nil
}

// newCIGitHubReviewedPlanCmd fetches the plan that was reviewed on the
// pull request a merge commit belongs to, for `ci same-plan` in the apply
// job.
func newCIGitHubReviewedPlanCmd(c *Command) *cobra.Command {
	var sha, out, prefix string
	cmd := &cobra.Command{
		Use:   "github-reviewed-plan --sha SHA --out FILE",
		Short: "Fetch the plan reviewed on the pull request a merge commit belongs to (for `ci same-plan` before apply)",
		Long: `ci github-reviewed-plan runs in the apply job on the default branch. It finds the
pull request commit --sha merged, and the artifact policy-plan.yml uploaded
for that pull request's head (b24perm-plan-<head sha>), and writes its
plan-full.json to --out. A pull request from a fork was planned without the
portal (no secrets), so it has no reviewed live plan: the command says so and
writes nothing, and the job applies the plan at the merge commit. A commit
that belongs to no pull request, or a same-repository pull request without
the artifact, is an error: nothing was reviewed.
It reads GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL (the job needs
` + "`permissions: actions: read, pull-requests: read`" + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env := c.streams.Getenv
			if sha == "" || out == "" {
				return fmt.Errorf("--sha and --out are required")
			}
			client, err := ghClient(env)
			if err != nil {
				return err
			}
			pr, err := mergedPull(cmd, client, sha)
			if err != nil {
				return err
			}
			if pr == nil {
				return fmt.Errorf("commit %s belongs to no pull request: no plan was reviewed; refusing to apply (change the policy through a pull request)", shortSHA(sha))
			}
			repo := env("GITHUB_REPOSITORY")
			if pr.Head.Repo == nil || !strings.EqualFold(pr.Head.Repo.FullName, repo) {
				fmt.Fprintf(cmd.OutOrStdout(), "Pull request #%d came from a fork: it was reviewed as a policy-vs-base diff, without a live plan; the plan at the merge commit is applied.\n", pr.Number)
				return nil
			}
			name := prefix + pr.Head.SHA
			a, err := client.FindArtifact(cmd.Context(), name, pr.Head.SHA)
			if err != nil {
				return fmt.Errorf("looking for the reviewed plan of pull request #%d: %v", pr.Number, err)
			}
			if a == nil {
				return fmt.Errorf("pull request #%d has no artifact %s (its plan job did not finish, or the artifact expired): the plan that was reviewed is unknown; refusing to apply", pr.Number, name)
			}
			zb, err := client.DownloadArtifact(cmd.Context(), a, 256<<20)
			if err != nil {
				return fmt.Errorf("downloading %s: %v", name, err)
			}
			plan, err := fileFromZip(zb, reviewedPlanFile, 128<<20)
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := atomicfile.Write(out, plan, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Fetched the plan reviewed on pull request #%d (at %s) to %s.\n", pr.Number, shortSHA(pr.Head.SHA), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&sha, "sha", "", "the merge commit being applied (github.sha)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "where to write the reviewed plan (JSON)")
	cmd.Flags().StringVar(&prefix, "artifact-prefix", "b24perm-plan-", "name of the plan artifact before the head SHA")
	return cmd
}

// fileFromZip returns the regular file name at the top of a zip archive.
func fileFromZip(zb []byte, name string, limit int64) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		return nil, fmt.Errorf("not a zip archive: %v", err)
	}
	for _, f := range zr.File {
		if f.Name != name || !f.Mode().IsRegular() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
		}
		return b, nil
	}
	return nil, fmt.Errorf("no %s in the archive", name)
}

// newCIGitHubApplyReportCmd comments the apply's outcome on the pull
// request the applied commit merged.
func newCIGitHubApplyReportCmd(c *Command) *cobra.Command {
	var sha, status string
	cmd := &cobra.Command{
		Use:   "github-apply-report --sha SHA --status STATUS [LOG]",
		Short: "Comment the apply's outcome and log on the merged pull request",
		Long: `ci github-apply-report runs last in the apply job (also when it failed). It
finds the pull request commit --sha merged and comments the job's status and
the end of the apply's log (LOG; "apply did not run" when it is missing).
A commit that belongs to no pull request gets no comment.
It reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_SERVER_URL
and GITHUB_RUN_ID.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := c.streams.Getenv
			if sha == "" {
				return fmt.Errorf("--sha is required")
			}
			client, err := ghClient(env)
			if err != nil {
				return err
			}
			pr, err := mergedPull(cmd, client, sha)
			if err != nil {
				return err
			}
			if pr == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Commit %s belongs to no pull request: no report posted.\n", shortSHA(sha))
				return nil
			}
			log := "apply did not run"
			if len(args) == 1 {
				if b, err := os.ReadFile(args[0]); err == nil {
					log = strings.TrimSpace(string(b))
				}
			}
			const keep = 60000
			if len(log) > keep {
				cut := strings.Index(log[len(log)-keep:], "\n")
				log = "…\n" + log[len(log)-keep+cut+1:]
			}
			var b strings.Builder
			fmt.Fprintf(&b, "### b24perm apply — %s\n\n", orDefault(status, "unknown"))
			if line := commitLine(sha, env); line != "" {
				b.WriteString(strings.Replace(line, "Planned", "Applied", 1) + "\n\n")
			}
			fmt.Fprintf(&b, "```\n%s\n```\n", fence(log))
			cm, err := client.CreateComment(cmd.Context(), pr.Number, b.String())
			if err != nil {
				return fmt.Errorf("commenting on pull request #%d: %v", pr.Number, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Reported the apply (%s) on pull request #%d: %s\n", orDefault(status, "unknown"), pr.Number, cm.HTMLURL)
			return nil
		},
	}
	cmd.Flags().StringVar(&sha, "sha", "", "the merge commit applied (github.sha)")
	cmd.Flags().StringVar(&status, "status", "", "the job's status (job.status)")
	return cmd
}
