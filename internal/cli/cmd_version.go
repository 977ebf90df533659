package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X …/internal/cli.Version=v1.2.3";
// otherwise the module version from the build info is used.
var Version = ""

// ToolVersion returns the version recorded in saved plans and state.
func ToolVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func vcsRevision() (rev string, modified bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified
}

func newVersionCmd(c *Command) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the b24perm version and VCS revision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "b24perm %s\n", ToolVersion())
			if rev, mod := vcsRevision(); rev != "" {
				if mod {
					rev += " (modified)"
				}
				fmt.Fprintf(out, "revision %s\n", rev)
			}
			return nil
		},
	}
}
