package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"
)

// planChangesView is what must be equal between the reviewed plan and the
// plan at the merge commit: the changes, not positions, IDs or timing.
type planChangesView struct {
	Changes []struct {
		Address    string `json:"address"`
		Action     string `json:"action"`
		Manual     bool   `json:"manual"`
		Attributes []struct {
			Kind   string `json:"kind"`
			Action string `json:"action"`
			Path   string `json:"path"`
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"attributes"`
	} `json:"changes"`
}

func newCISamePlanCmd(c *Command) *cobra.Command {
	return &cobra.Command{
		Use:   "same-plan REVIEWED.json CURRENT.json",
		Short: "Fail unless two JSON plans make the same changes (binds apply-on-merge to the reviewed plan)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var views [2]planChangesView
			for i, path := range args {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &views[i]); err != nil {
					return fmt.Errorf("%s is not a JSON plan (b24perm plan --format json): %v", path, err)
				}
			}
			a, b := views[0].Changes, views[1].Changes
			for i := 0; i < max(len(a), len(b)); i++ {
				switch {
				case i >= len(a):
					return fmt.Errorf("the plan at the merge commit has a change the review did not show: %s %s", b[i].Action, b[i].Address)
				case i >= len(b):
					return fmt.Errorf("the reviewed change %s %s is no longer in the plan", a[i].Action, a[i].Address)
				case a[i].Address != b[i].Address || a[i].Action != b[i].Action || a[i].Manual != b[i].Manual || !slices.Equal(a[i].Attributes, b[i].Attributes):
					return fmt.Errorf("%s differs from the reviewed plan: the portal or the policy changed since review; plan and review again", b[i].Address)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The plan at the merge commit is the reviewed plan (%s).\n", plural(len(a), "change", "changes"))
			return nil
		},
	}
}
