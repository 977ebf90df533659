package cli

import (
	"fmt"
	"strings"

	"github.com/b24perm/b24perm/provider/local"
	"github.com/spf13/cobra"
)

func newInitCmd(c *Command) *cobra.Command {
	var live string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the local demo portal (.b24perm/portal.json)",
		Long: `Init writes the embedded demo portal — a small sales company with 10 users,
7 departments, CRM, telephony and open-channel roles and two workgroups — to
the local backend's file, so that plan and apply can be tried without a real
Bitrix24. b24perm never falls back to it: without init, --live demo (or
B24PERM_LIVE=demo) names it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := c.liveSpec(live)
			if err != nil {
				return err
			}
			path, ok := local.ParseSpec(spec)
			if !ok {
				// Never echo the spec: a webhook URL or DSN holds a secret.
				kind, _, _ := strings.Cut(spec, ":")
				if kind == "http" || kind == "https" {
					return fmt.Errorf("init creates a local demo portal; a cloud portal needs no init: run plan --live webhook:https://PORTAL/rest/USER/TOKEN/")
				}
				return fmt.Errorf("init creates a local demo portal; a %s backend is not a local:PATH backend and needs no init (plan --live %s:… reads it directly; a cloud portal's URL is written webhook:https://…)", kind, kind)
			}
			if err := local.Init(path, force); err != nil {
				return err
			}
			p := local.New(path)
			g, err := p.Read(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created the demo portal at %s: %s, %s, %s.\n", path,
				plural(len(g.Directory.Users), "user", "users"), plural(len(g.Directory.Departments), "department", "departments"), summarize(g))
			return nil
		},
	}
	cmd.Flags().StringVar(&live, "live", "", "local:PATH of the portal file (default local:"+local.DefaultPath+")")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing portal file")
	return cmd
}
