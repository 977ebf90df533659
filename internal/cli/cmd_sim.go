package cli

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/sim"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/sqldb"
	"github.com/spf13/cobra"
)

func newSimCmd(c *Command) *cobra.Command {
	cmd := &cobra.Command{Use: "sim", Short: "Simulated portals to try backends against"}
	var dsn, seed string
	dbInit := &cobra.Command{
		Use:   "db-init --dsn mysql://…|postgres://… [--seed demo|s|m|xl]",
		Short: "Create the Bitrix24 permission tables in an empty database and load a seed portal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dsn == "" {
				return fmt.Errorf("--dsn is required")
			}
			if !sqldb.ParseSpec(dsn) {
				// Never echo it: it may hold a password or a token.
				return fmt.Errorf("--dsn must be mysql://USER:PASS@HOST:PORT/DB or postgres://USER:PASS@HOST:PORT/DB")
			}
			created, err := sqldb.EnsureDatabase(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			p, err := sqldb.Open(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer p.Close()
			if created {
				fmt.Fprintf(cmd.OutOrStdout(), "Created database %s.\n", p.Describe())
			} else if p.HasSchema(cmd.Context()) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s already holds the Bitrix24 permission tables; nothing to do.\n", p.Describe())
				return nil
			}
			var portal *bitrix.Portal
			if seed == "demo" {
				portal, err = bitrix.Decode(local.DemoPortal(), "the demo portal")
			} else if sz, ok := gen.Sizes[seed]; ok {
				portal, err = bitrix.FromGraph(gen.Generate(sz, 1), seed+".bitrix24.example")
			} else {
				return fmt.Errorf("--seed must be demo, s, m or xl")
			}
			if err != nil {
				return err
			}
			if err := p.InitSchema(cmd.Context()); err != nil {
				return err
			}
			if err := p.Seed(cmd.Context(), portal); err != nil {
				return fmt.Errorf("loading the seed: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created the Bitrix24 permission tables in %s and loaded the %s portal (%d users, %d CRM roles).\n",
				p.Describe(), seed, len(portal.Users), len(portal.Roles))
			return nil
		},
	}
	dbInit.Flags().StringVar(&dsn, "dsn", "", "database: mysql://USER:PASS@HOST:PORT/DB or postgres://USER:PASS@HOST:PORT/DB")
	dbInit.Flags().StringVar(&seed, "seed", "demo", "portal to load: demo, or a generated size s, m, xl")
	cmd.AddCommand(dbInit)
	cmd.AddCommand(newSimServeCmd(c))
	return cmd
}

func newSimServeCmd(c *Command) *cobra.Command {
	var addr, portalPath, token, urlFile string
	var rps float64
	var burst int
	var fail, html float64
	var userTokens, dropParams []string
	cmd := &cobra.Command{
		Use:   "serve --addr 127.0.0.1:PORT [--portal FILE]",
		Short: "Serve a simulated Bitrix24 REST API (webhooks) on localhost",
		Long: `sim serve answers the REST methods the webhook backend uses, with Bitrix24's
request and response shapes, its leaky-bucket rate limit (503
QUERY_LIMIT_EXCEEDED), batch semantics, 50-item pages, ERROR_METHOD_NOT_FOUND
for the role methods that do not exist, wrong-token errors, and injected
faults. The portal is a local backend's file (default: the demo portal),
served as its tables: the REST methods read and change those rows in
memory; the file is not written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var portal *bitrix.Portal
			var err error
			if portalPath != "" {
				portal, err = local.LoadTables(portalPath)
			} else {
				portal, err = local.DemoTables()
			}
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			if host, _, _ := net.SplitHostPort(ln.Addr().String()); host != "127.0.0.1" && host != "::1" && host != "localhost" {
				ln.Close()
				return fmt.Errorf("sim serve listens on loopback only, not %s", addr)
			}
			users := map[string]int64{}
			for _, ut := range userTokens {
				tok, id, ok := strings.Cut(ut, "=")
				n, err := strconv.ParseInt(id, 10, 64)
				if !ok || err != nil {
					return fmt.Errorf("--user-token wants TOKEN=USER_ID, not %q", ut)
				}
				users[tok] = n
			}
			drop := map[string][]string{}
			for _, d := range dropParams {
				method, name, ok := strings.Cut(d, ":")
				if !ok || method == "" || name == "" {
					return fmt.Errorf("--drop-param wants METHOD:PARAM, not %q", d)
				}
				drop[method] = append(drop[method], name)
			}
			srv := sim.New(portal, sim.Options{Token: token, UserTokens: users, RPS: rps, Burst: burst, Fail5xxRate: fail, HTMLRate: html, DropParams: drop})
			u := fmt.Sprintf("http://%s/rest/1/%s/", ln.Addr(), token)
			fmt.Fprintf(cmd.OutOrStdout(), "Simulated Bitrix24 REST API on %s\nWebhook: %s\n", ln.Addr(), u)
			if urlFile != "" {
				if err := os.WriteFile(urlFile, []byte(u), 0o600); err != nil {
					return err
				}
			}
			hs := &http.Server{Handler: srv}
			go func() {
				<-cmd.Context().Done()
				hs.Close()
			}()
			if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8624", "loopback address to listen on (port 0 picks one)")
	cmd.Flags().StringVar(&portalPath, "portal", "", "portal file (default: the embedded demo portal)")
	cmd.Flags().StringVar(&token, "token", "simtoken", "webhook token the simulator accepts")
	cmd.Flags().StringVar(&urlFile, "write-url", "", "write the webhook URL to this file once listening")
	cmd.Flags().Float64Var(&rps, "rps", 2, "leaky-bucket drain rate (requests per second; 0 disables)")
	cmd.Flags().IntVar(&burst, "burst", 50, "leaky-bucket size")
	cmd.Flags().Float64Var(&fail, "fail-rate", 0, "share of requests answered with HTTP 502")
	cmd.Flags().Float64Var(&html, "html-rate", 0, "share of requests answered with an HTML error page")
	cmd.Flags().StringArrayVar(&dropParams, "drop-param", nil, "METHOD:PARAM: accept the call but ignore this parameter (PARAMS.X for a nested one), as a portal that drops a field would (repeatable)")
	cmd.Flags().StringArrayVar(&userTokens, "user-token", nil, "TOKEN=USER_ID: a webhook of an ordinary user (repeatable), for verify")
	return cmd
}
