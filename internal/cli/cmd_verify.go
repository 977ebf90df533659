package cli

import (
	jsonStd "encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/spf13/cobra"
)

func newVerifyCmd(c *Command) *cobra.Command {
	var live string
	var as []string
	cmd := &cobra.Command{
		Use:   "verify --as EMAIL=WEBHOOK_URL… [dir]",
		Short: "Check declared CRM permissions on a cloud portal through test users' own webhooks",
		Long: `Cloud REST cannot read CRM roles, so verify checks their effect instead: for
each test user (--as user@example.com=https://portal/rest/ID/TOKEN/, a webhook
created by that user) it asks the portal which access codes the user holds
(user.access) and which deal pipelines the user can read (crm.category.list),
and compares them with what the policy says. Mismatches are listed cell by
cell; the exit status is 1 when there is any.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(as) == 0 {
				return fmt.Errorf("give at least one --as EMAIL=WEBHOOK_URL")
			}
			stderr, out := cmd.ErrOrStderr(), cmd.OutOrStdout()
			pol, err := c.loadPolicy(dirArg(args), stderr)
			if err != nil {
				return err
			}
			prov, err := c.openLive(live, stderr)
			if err != nil {
				return err
			}
			lg, err := prov.Read(cmd.Context())
			if err != nil {
				return err
			}
			r := access.New(pol.Graph, lg.Directory)
			mismatches := 0
			for _, pair := range as {
				email, hook, ok := strings.Cut(pair, "=")
				if !ok {
					return fmt.Errorf("--as wants EMAIL=WEBHOOK_URL, not %q", rest.Redact(pair))
				}
				u, ok := r.LookupUser(email)
				if !ok {
					return fmt.Errorf("no user %q on the portal", email)
				}
				if !strings.Contains(hook, "://") {
					// A bare token: the test user's webhook on the same portal.
					spec, err := c.liveSpec(live)
					if err != nil {
						return err
					}
					base, ok := strings.CutPrefix(spec, "webhook:")
					if !ok {
						return fmt.Errorf("--as %s=TOKEN needs a webhook --live backend to build the URL from; give the full webhook URL", email)
					}
					hook = tokenPart.ReplaceAllString(base, "${1}"+hook+"/")
				}
				client, err := rest.New(hook, c.restOptions())
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s (%s):\n", u.Label(), client.Describe())
				// Access codes, one user.access question each, 50 per request.
				var codes []access.Held
				seen := map[string]bool{}
				for _, h := range r.UserSubjects(u) {
					if h.Code != "" && !seen[h.Code] && !strings.HasPrefix(h.Code, "SG") {
						seen[h.Code] = true
						codes = append(codes, h)
					}
				}
				for start := 0; start < len(codes); start += 50 {
					var cmds []rest.Cmd
					for i, h := range codes[start:min(start+50, len(codes))] {
						cmds = append(cmds, rest.Cmd{Key: fmt.Sprintf("k%03d", i), Method: "user.access", Params: url.Values{"ACCESS[0]": {h.Code}}})
					}
					res, err := client.Batch(cmd.Context(), cmds, true)
					if err != nil {
						return err
					}
					for i, h := range codes[start:min(start+50, len(codes))] {
						br := res[fmt.Sprintf("k%03d", i)]
						if br.Err != nil {
							return fmt.Errorf("user.access: %v", br.Err)
						}
						if strings.TrimSpace(string(br.Result)) != "true" {
							mismatches++
							fmt.Fprintf(out, "  ✗ access code %s (%s): the portal says the user does not hold it\n", h.Code, h.Why)
						}
					}
				}
				// Deal pipelines the user can read.
				resp, err := client.Call(cmd.Context(), "crm.category.list", map[string]any{"entityTypeId": 2}, true)
				if err != nil {
					return err
				}
				var cats struct {
					Categories []struct {
						ID   any    `json:"id"`
						Name string `json:"name"`
					} `json:"categories"`
				}
				if err := jsonUnmarshal(resp.Result, &cats); err != nil {
					return fmt.Errorf("crm.category.list: %v", err)
				}
				visible := map[string]bool{}
				for _, cat := range cats.Categories {
					visible[strings.ToLower(cat.Name)] = true
				}
				for _, pl := range pol.Graph.Pipelines {
					if pl.Entity != "deal" {
						continue
					}
					name := pl.Name
					if live := livePipelineName(lg, pl); live != "" {
						name = live
					}
					level := r.CRM(u, access.CRMQuery{Entity: "deal", Pipeline: pl.Key, Action: "read"}).Level
					want, got := level != "none", visible[strings.ToLower(name)]
					switch {
					case want && !got:
						mismatches++
						fmt.Fprintf(out, "  ✗ Deal · pipeline %q · read: the policy says %s, the portal hides the pipeline\n", name, level)
					case !want && got:
						mismatches++
						fmt.Fprintf(out, "  ✗ Deal · pipeline %q · read: the policy says none, the portal shows the pipeline\n", name)
					default:
						fmt.Fprintf(out, "  ✓ Deal · pipeline %q · read: %s\n", name, map[bool]string{true: "visible", false: "hidden"}[got])
					}
				}
			}
			if mismatches > 0 {
				fmt.Fprintf(out, "\n%s between the policy and the portal.\n", plural(mismatches, "mismatch", "mismatches"))
				return exitCode(ExitError)
			}
			fmt.Fprintln(out, "\nThe portal behaves as the policy says for these users.")
			return nil
		},
	}
	cmd.Flags().StringVar(&live, "live", "", "live backend for the directory (usually the admin webhook)")
	cmd.Flags().StringArrayVar(&as, "as", nil, "EMAIL=WEBHOOK_URL of a test user (repeatable)")
	return cmd
}

// livePipelineName is the portal's name of a declared pipeline (the
// default pipeline keeps its portal name).
func livePipelineName(live *graph.Graph, p graph.Pipeline) string {
	for _, lp := range live.Pipelines {
		if lp.Entity == p.Entity && (lp.Key == p.Key || strings.EqualFold(lp.Name, p.Name)) {
			return lp.Name
		}
	}
	return ""
}

var _ = strconv.Itoa

var tokenPart = regexp.MustCompile(`(/rest/\d+/)[^/]+/?$`)

func jsonUnmarshal(b []byte, v any) error { return jsonStd.Unmarshal(b, v) }
