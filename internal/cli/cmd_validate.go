package cli

import (
	"fmt"

	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/graph"
	"github.com/spf13/cobra"
)

func newValidateCmd(c *Command) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "validate [dir]",
		Short: "Check a policy directory against the schema and its cross-references",
		Long: `Validate loads every *.cue (or *.hcl) file of the directory (default "."),
checks it against the embedded schema and checks cross-references (pipelines,
stages, subjects, levels allowed for each action). Every problem is reported
with its file:line:col. Exit status 1 when the policy has errors.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", format)
			}
			res := c.compile(dirArg(args), cmd.ErrOrStderr())
			if format == "json" {
				c.printDiags(cmd.OutOrStdout(), res.Diags, res.Files, "json")
				if res.Diags.HasErrors() {
					return exitCode(ExitError)
				}
				return nil
			}
			if len(res.Diags) > 0 {
				c.printDiags(cmd.ErrOrStderr(), res.Diags, res.Files, "text")
			}
			if res.Diags.HasErrors() {
				fmt.Fprintf(cmd.ErrOrStderr(), "\n%s\n", errorCount(res.Diags))
				return exitCode(ExitError)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Success! The policy is valid (%s).\n", summarize(res.Graph))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func dirArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return "."
}

func errorCount(ds diag.Diagnostics) string {
	n := 0
	for _, d := range ds {
		if d.Severity == diag.Error {
			n++
		}
	}
	if n == 1 {
		return "1 error."
	}
	return fmt.Sprintf("%d errors.", n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summarize counts the objects of a graph for one-line reports.
func summarize(g *graph.Graph) string {
	cells := 0
	for _, r := range g.CRMRoles {
		cells += len(r.Perms)
	}
	return fmt.Sprintf("%s with %s, %s, %s, %s, %s, %s",
		plural(len(g.CRMRoles), "CRM role", "CRM roles"), plural(cells, "cell", "cells"),
		plural(len(g.TelephonyRoles), "telephony role", "telephony roles"),
		plural(len(g.OpenlineRoles), "open-channel role", "open-channel roles"),
		plural(len(g.OpenChannels), "open channel", "open channels"),
		plural(len(g.Workgroups), "workgroup", "workgroups"),
		plural(len(g.FieldRules), "field rule", "field rules"))
}
