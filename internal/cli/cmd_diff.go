package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/spf13/cobra"
)

func newDiffCmd(c *Command) *cobra.Command {
	var base, format, backend string
	var noAccess bool
	cmd := &cobra.Command{
		Use:   "diff (--base GIT_REF [dir] | DIR_A DIR_B)",
		Short: "Compare two policies: the graph changes and who gains or loses access, without live access",
		Long: `diff compiles the policy at a git revision (--base, e.g. origin/main) and in
the working tree, or two directories, and prints what changes and the access
delta. It needs no live credentials, so it works on pull requests from forks;
the directory that resolves users comes from --live (default: the local
demo portal). Exit status 2 with --detailed-exitcode when they differ.`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var dirA, dirB string
			switch {
			case base != "" && len(args) <= 1:
				dirB = dirArg(args)
			case base == "" && len(args) == 2:
				dirA, dirB = args[0], args[1]
			default:
				return fmt.Errorf("give --base GIT_REF [dir], or two directories")
			}
			p, _, err := c.policyDiff(cmd, base, dirA, dirB, backend, !noAccess)
			if err != nil {
				return err
			}
			if err := c.renderPlan(cmd.OutOrStdout(), p, format, plan.RenderOptions{}); err != nil {
				return err
			}
			if detailed, _ := cmd.Flags().GetBool("detailed-exitcode"); detailed && p.HasChanges() {
				return exitCode(ExitChanges)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "git revision of the base policy (e.g. origin/main)")
	cmd.Flags().StringVar(&format, "format", "text", "text, markdown or json")
	registerLive(cmd, &backend)
	cmd.Flags().BoolVar(&noAccess, "no-access", false, "skip the access delta")
	cmd.Flags().Bool("detailed-exitcode", false, "exit 2 when the policies differ")
	return cmd
}

// checkoutDir writes the policy files of dir at git revision rev into out.
func checkoutDir(rev, dir, out string) error {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return fmt.Errorf("--base needs a git checkout: %v", err)
	}
	abs, _ := filepath.Abs(dir)
	rel, err := filepath.Rel(strings.TrimSpace(string(top)), abs)
	if err != nil {
		return err
	}
	rel = filepath.ToSlash(rel)
	list, err := exec.Command("git", "ls-tree", "--name-only", rev+":"+rel).Output()
	if err != nil {
		return fmt.Errorf("git revision %s has no directory %s", rev, rel)
	}
	for _, name := range strings.Fields(string(list)) {
		if !strings.HasSuffix(name, ".cue") && !strings.HasSuffix(name, ".hcl") {
			continue
		}
		b, err := exec.Command("git", "show", rev+":"+rel+"/"+name).Output()
		if err != nil {
			return fmt.Errorf("reading %s at %s: %v", name, rev, err)
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// policyDiff compares the policy in dirB with the one in dirA, or with dirB
// at git revision base when base is set. The live backend only supplies
// the directory that resolves users.
// noPortal as policyDiff's backend diffs the policies without reading any
// portal.
const noPortal = "\x00none"

func (c *Command) policyDiff(cmd *cobra.Command, base, dirA, dirB, backend string, withAccess bool) (*plan.Plan, *graph.Directory, error) {
	if base != "" {
		tmp, err := os.MkdirTemp("", "b24perm-base-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(tmp)
		if err := checkoutDir(base, dirB, tmp); err != nil {
			return nil, nil, err
		}
		dirA = tmp
	}
	stderr := cmd.ErrOrStderr()
	a, err := c.loadPolicy(dirA, stderr)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.loadPolicy(dirB, stderr)
	if err != nil {
		return nil, nil, err
	}
	// noPortal (ci github --base on a fork's pull request, which gets no
	// secrets): no directory to resolve people or compute who gains
	// access; the diff shows the policy changes and says so.
	var dirGraph *graph.Directory
	if backend == noPortal {
		dirGraph = policyDirectory(a.Graph, b.Graph)
		withAccess = false
	} else {
		prov, err := c.openLive(backend, stderr)
		if err != nil {
			return nil, nil, err
		}
		live, err := prov.Read(cmd.Context())
		if err != nil {
			return nil, nil, err
		}
		dirGraph = live.Directory
	}
	p, ds := plan.DiffPolicies(a.Graph, b.Graph, dirGraph)
	if len(ds) > 0 {
		c.printDiags(stderr, ds, b.Files, "text")
	}
	if ds.HasErrors() {
		return nil, nil, exitCode(ExitError)
	}
	p.Backend = fmt.Sprintf("policy %s vs %s", dirB, dirA)
	if base != "" {
		p.Backend = fmt.Sprintf("policy %s vs %s", dirB, base)
	}
	if withAccess {
		p.Access = access.ComputeDelta(p.Before, p.After, dirGraph, b.Graph)
	}
	if backend == noPortal {
		// Made-up IDs must not reach the comment (redaction would show
		// them as user numbers); the policies' own references are shown.
		return p, nil, nil
	}
	return p, dirGraph, nil
}
