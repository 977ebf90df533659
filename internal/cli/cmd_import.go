package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/b24perm/b24perm/importer"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/state"
	"github.com/spf13/cobra"
)

func newImportCmd(c *Command) *cobra.Command {
	var live, out, statePath string
	var force bool
	cmd := &cobra.Command{
		Use:   "import --out DIR",
		Short: "Write CUE policy files for everything on the live portal",
		Long: `Import reads the live portal and writes readable, formatted CUE for its
pipelines, roles, workgroups and field rules into DIR, with the live IDs in
comments. Planning the written policy right after import shows no changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			prov, err := c.openLive(live, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			g, err := prov.Read(cmd.Context())
			if err != nil {
				return err
			}
			st, err := c.loadStateAt(cmd, statePath)
			if err != nil {
				return err
			}
			g = plan.Rekey(g, st.IDs())
			files, err := importer.Write(g)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			var names []string
			for n := range files {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				p := filepath.Join(out, n)
				if _, err := os.Stat(p); err == nil && !force {
					return fmt.Errorf("%s exists; use --force to overwrite", p)
				}
			}
			for _, n := range names {
				if err := os.WriteFile(filepath.Join(out, n), files[n], 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s\n", filepath.ToSlash(filepath.Join(out, n)))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Imported %s from %s.\n", summarize(g), prov.Describe())
			// What the read could not carry into the policy, as plan shows it.
			for _, a := range readAnomalies(prov) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s\n", a)
			}
			if um := readUnmanaged(prov); len(um) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Not imported: objects b24perm keeps but does not manage:\n")
				for _, u := range um {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %s %q (ID %d): %s\n", u.Address, u.Name, u.ID, u.Reason)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&live, "live", "", "live backend (default local:.b24perm/portal.json)")
	cmd.Flags().StringVar(&out, "out", "", "directory to write the CUE files to")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	cmd.Flags().StringVar(&statePath, "state", "", "state file whose addresses to keep (default "+state.DefaultPath+")")
	return cmd
}
