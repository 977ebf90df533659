package cli

import (
	"github.com/spf13/cobra"
)

func newCompileCmd(c *Command) *cobra.Command {
	return &cobra.Command{
		Use:   "compile [dir]",
		Short: "Print the normalized permission graph of a policy as canonical JSON",
		Long: `Compile validates the policy directory (default ".") and prints its
normalized permission graph as canonical JSON: the same policy always gives
byte-identical output, whether written in CUE or HCL.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := c.compile(dirArg(args), cmd.ErrOrStderr())
			if len(res.Diags) > 0 {
				c.printDiags(cmd.ErrOrStderr(), res.Diags, res.Files, "text")
			}
			if res.Graph == nil {
				return exitCode(ExitError)
			}
			b, err := res.Graph.JSON()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
