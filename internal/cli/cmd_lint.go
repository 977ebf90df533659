package cli

import (
	"fmt"
	"path"
	"sort"

	"github.com/b24perm/b24perm/lint"
	"github.com/spf13/cobra"
)

func newLintCmd(c *Command) *cobra.Command {
	var format, backend string
	var strict bool
	cmd := &cobra.Command{
		Use:   "lint [dir]",
		Short: "Find conflicting, redundant, broad, unused and shadowed permissions",
		Long: `lint checks the policy for the conflict and hygiene cases of the Bitrix24
help desk, over the live backend's directory (to know who is in which
department). Formats: text, json, sarif (for GitHub code scanning). With
--strict, warnings make the exit status 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := c.compile(dirArg(args), cmd.ErrOrStderr())
			if res.Diags.HasErrors() {
				c.printDiags(cmd.ErrOrStderr(), res.Diags, res.Files, "text")
				return exitCode(ExitError)
			}
			prov, err := c.openLive(backend, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			live, err := prov.Read(cmd.Context())
			if err != nil {
				return err
			}
			findings := lint.Run(res.Graph, live.Directory, nil)
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				if findings == nil {
					findings = []lint.Finding{}
				}
				if err := writeJSON(out, map[string]any{"format_version": 1, "findings": findings}); err != nil {
					return err
				}
			case "sarif":
				if err := writeJSON(out, sarif(findings)); err != nil {
					return err
				}
			case "text":
				for _, f := range findings {
					where := ""
					if f.Source != nil {
						where = fmt.Sprintf("%s:%d:%d: ", f.Source.File, f.Source.Line, f.Source.Col)
					}
					fmt.Fprintf(out, "%s%s %s: %s\n", where, f.Severity, f.Rule, f.Message)
				}
				fmt.Fprintf(out, "%s.\n", plural(len(findings), "finding", "findings"))
			default:
				return fmt.Errorf("--format must be text, json or sarif, not %q", format)
			}
			if strict {
				for _, f := range findings {
					if f.Severity == "warning" {
						return exitCode(ExitError)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text, json or sarif")
	registerLive(cmd, &backend)
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when there are warnings")
	return cmd
}

// sarif renders findings as SARIF 2.1.0 for GitHub code scanning.
func sarif(findings []lint.Finding) map[string]any {
	var ids []string
	for id := range lint.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var rules []map[string]any
	for _, id := range ids {
		rules = append(rules, map[string]any{"id": id, "shortDescription": map[string]string{"text": lint.Rules[id]}})
	}
	results := []map[string]any{}
	for _, f := range findings {
		level := "warning"
		if f.Severity == "note" {
			level = "note"
		}
		r := map[string]any{"ruleId": f.Rule, "level": level, "message": map[string]string{"text": f.Message}}
		if f.Source != nil {
			r["locations"] = []map[string]any{{"physicalLocation": map[string]any{
				"artifactLocation": map[string]string{"uri": path.Clean(f.Source.File)},
				"region":           map[string]int{"startLine": f.Source.Line, "startColumn": max(f.Source.Col, 1)}}}}
		}
		results = append(results, r)
	}
	return map[string]any{"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"runs": []map[string]any{{"tool": map[string]any{"driver": map[string]any{"name": "b24perm", "informationUri": "https://github.com/b24perm/b24perm", "rules": rules}}, "results": results}}}
}
