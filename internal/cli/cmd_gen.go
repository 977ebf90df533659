package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/importer"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/spf13/cobra"
)

func newGenExampleCmd(c *Command) *cobra.Command {
	var size, out string
	var seed uint64
	var scale int
	cmd := &cobra.Command{
		Use:   "gen-example --size s|m|xl [--scale N] --out DIR",
		Short: "Generate a large synthetic organization: a policy and a matching local portal",
		Long: `gen-example writes DIR/policies/*.cue and DIR/portal.json for a synthetic
company. Size xl is the benchmark organization: 10,000 users, 1,000
departments, 200 CRM roles, 50 deal pipelines × 12 stages, 50 telephony and 50
open-channel roles, 500 workgroups and 1,000 field rules. The portal holds the
same permissions, so "plan DIR/policies --live local:DIR/portal.json" is empty.
--scale N multiplies the users, departments, roles, workgroups, field rules and
open channels by N and keeps the pipelines and stages (2 and 4 with xl are the
scaling benchmarks).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sz, ok := gen.Sizes[size]
			if !ok {
				return fmt.Errorf("--size must be s, m or xl, not %q", size)
			}
			if scale < 1 {
				return fmt.Errorf("--scale must be 1 or more, not %d", scale)
			}
			sz = gen.Scale(sz, scale)
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			g := gen.Generate(sz, seed)
			portal, err := bitrix.FromGraph(g, "generated.bitrix24.example")
			if err != nil {
				return err
			}
			files, err := importer.Write(g)
			if err != nil {
				return err
			}
			pdir := filepath.Join(out, "policies")
			if err := os.MkdirAll(pdir, 0o755); err != nil {
				return err
			}
			var names []string
			for n := range files {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if err := os.WriteFile(filepath.Join(pdir, n), files[n], 0o644); err != nil {
					return err
				}
			}
			settings := "settings: {\n\tmode: crm: \"authoritative\"\n\tprotect: [" + quoteList(g.Settings.Protect) + "]\n\tsensitive_fields: [" + quoteList(g.Settings.SensitiveFields) + "]\n}\n"
			if err := os.WriteFile(filepath.Join(pdir, "settings.cue"), []byte(settings), 0o644); err != nil {
				return err
			}
			if err := local.SaveTables(filepath.Join(out, "portal.json"), portal); err != nil {
				return err
			}
			os.Remove(filepath.Join(out, "portal.json.backup"))
			fmt.Fprintf(cmd.OutOrStdout(), "Generated size %s in %s: %s, %s users, %s departments.\n", sz.Name, out, summarize(g),
				fmt.Sprint(len(g.Directory.Users)), fmt.Sprint(len(g.Directory.Departments)))
			fmt.Fprintf(cmd.OutOrStdout(), "\nNext, plan it against its portal:\n  b24perm plan --live local:%s %s\n",
				filepath.ToSlash(filepath.Join(out, "portal.json")), filepath.ToSlash(pdir))
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "size", "s", "s, m or xl")
	cmd.Flags().StringVar(&out, "out", "", "output directory")
	cmd.Flags().IntVar(&scale, "scale", 1, "multiply the size's users, departments and roles by N")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed (same seed, same organization)")
	return cmd
}

func quoteList(in []string) string {
	q := make([]string, len(in))
	for i, s := range in {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
