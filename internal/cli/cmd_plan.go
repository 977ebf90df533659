package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/planfile"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/sqldb"
	"github.com/b24perm/b24perm/provider/webhook"
	"github.com/b24perm/b24perm/state"
	"github.com/spf13/cobra"
)

// planFlags are shared by plan, apply and drift.
type planFlags struct {
	live, statePath string
	targets         []string
	excludes        []string
	noAccess        bool
	lockTimeout     time.Duration
	lock, input     bool
	compact         bool
	limit           int
}

func (f *planFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.live, "live", "", "live backend: webhook:URL, mysql://…, postgres://…, local:PATH or demo (default $B24PERM_LIVE, else local:"+local.DefaultPath+" once init made it)")
	cmd.Flags().StringVar(&f.statePath, "state", "", "state file (default "+state.DefaultPath+")")
	cmd.Flags().StringArrayVar(&f.targets, "target", nil, "limit the plan to this address or kind (repeatable)")
	cmd.Flags().StringArrayVar(&f.excludes, "exclude", nil, "leave this address or kind out of the plan (repeatable)")
	cmd.Flags().BoolVar(&f.noAccess, "no-access", false, "skip computing the access delta")
	cmd.Flags().DurationVar(&f.lockTimeout, "lock-timeout", 0, "wait this long for a state lock held by another run (default: fail at once)")
	cmd.Flags().BoolVar(&f.lock, "lock", true, "take the state lock while applying (--lock=false is dangerous if others apply)")
	cmd.Flags().BoolVar(&f.input, "input", true, "ask for input; with --input=false, apply without --auto-approve fails instead of asking")
	cmd.Flags().BoolVar(&f.compact, "compact", false, "one line per changed object and a short access section (for large plans)")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "show only the first N changed objects in detail (0: all)")
}

// renderOptions are the text renderer's size options of a run.
func (f *planFlags) renderOptions() plan.RenderOptions {
	return plan.RenderOptions{Compact: f.compact, Limit: f.limit}
}

// planned is everything a plan run produced.
type planned struct {
	pol   *policy
	prov  provider.Provider
	store state.Store
	st    *state.State
	live  *graph.Graph
	plan  *plan.Plan
}

// makePlan compiles the policy, reads the live portal and state, and
// diffs. It prints diagnostics and returns exitCode(1) on errors.
func (c *Command) makePlan(ctx context.Context, dir string, f *planFlags, stderr io.Writer, drift bool) (*planned, error) {
	// The live portal is read while the policy compiles: they share
	// nothing, and on XL each takes a good part of the plan's time. The
	// read's messages wait in a buffer so that they never interleave with
	// the compiler's diagnostics; a policy error cancels the read.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type liveRead struct {
		prov provider.Provider
		g    *graph.Graph
		err  error
	}
	var readOut bytes.Buffer
	progress := c.forceProgress || c.streams.ErrIsTTY
	done := make(chan liveRead, 1)
	c.reading.Store(true)
	go func() {
		defer c.reading.Store(false)
		prov, err := c.openLive(f.live, &readOut)
		if err != nil {
			done <- liveRead{err: err}
			return
		}
		// The compile phase says "and reading the portal" while both run.
		g, err := c.readLiveTicks(readCtx, prov, &readOut, progress, false)
		done <- liveRead{prov, g, err}
	}()
	pol, err := c.loadPolicy(dir, stderr)
	if err != nil {
		cancel()
		<-done
		stderr.Write(readOut.Bytes())
		return nil, err
	}
	stopRead := c.reporter(stderr, c.forceProgress).phase(func() string { return "reading the portal" }, "Read the portal")
	lr := <-done
	stopRead()
	stderr.Write(readOut.Bytes())
	if lr.err != nil {
		return nil, lr.err
	}
	prov, live := lr.prov, lr.g
	store, err := c.openState(ctx, f.statePath)
	if err != nil {
		return nil, err
	}
	st, err := store.Load()
	if err != nil {
		return nil, err
	}
	stopDiff := c.reporter(stderr, c.forceProgress).phase(func() string { return "comparing the policy with the portal" }, "Compared the policy with the portal")
	p, live, ds := diffLive(pol, prov, live, st, f.targets, f.excludes, dir)
	stopDiff()
	if len(ds) > 0 {
		c.printDiags(stderr, ds, pol.Files, "text")
	}
	if ds.HasErrors() {
		return nil, exitCode(ExitError)
	}
	p.Drift = drift
	if drift {
		// Tell what changed on the portal from what the policy declares
		// and b24perm never applied.
		applied := func(addr string) (string, bool) { r, ok := st.Resources[addr]; return r.Fingerprint, ok }
		plan.ClassifyDrift(p, applied, st.Serial > 0 && st.PolicyDigest == p.PolicyDigest, st.Serial == 0 && len(st.Resources) == 0)
	}
	c.accessDelta(p, live, pol, f, stderr)
	return &planned{pol: pol, prov: prov, store: store, st: st, live: live, plan: p}, nil
}

// diffLive diffs the compiled policy against a live read and the state:
// the plan (with its header filled in), the live graph it was diffed
// against (with confirmed manual changes laid over it), and the
// diagnostics of the guards. Plan, apply and apply of a saved plan all
// make their plans here, so that a saved plan can be made again exactly.
func diffLive(pol *policy, prov provider.Provider, live *graph.Graph, st *state.State, targets, excludes []string, dir string) (*plan.Plan, *graph.Graph, diag.Diagnostics) {
	opts := plan.Options{IDs: st.IDs(), Targets: targets, Excludes: excludes}
	if pd, ok := prov.(provider.PipelineDefaulter); ok {
		opts.PipelineDefaults = pd.PipelineDefaults
	}
	if caps := prov.Capabilities(); !caps.Transactional || len(caps.Write) < len(graph.Kinds) || len(caps.Read) < len(graph.Kinds) {
		opts.Writable = caps.CanWrite
		opts.Readable, opts.Recorded = caps.CanRead, st.Resources
		opts.UnreadableWhy = "cannot be read by this backend"
	}
	_, cloud := prov.(*webhook.Provider)
	if cloud {
		opts.UnreadableWhy = "cannot be read over REST"
		opts.FeaturesUnreadable = true
	}
	p, ds := plan.Diff(pol.Graph, live, opts)
	if db, ok := prov.(*sqldb.Provider); ok {
		ds = append(ds, fieldRulesUnsupported(db, p)...)
		sqldb.MarkManual(p.Changes, p.Names)
	}
	p.ToolVersion, p.Backend, p.PolicyDir = ToolVersion(), prov.Describe(), dir
	p.StateLineage, p.StateSerial = st.Lineage, st.Serial
	if st.Serial == 0 {
		p.StateLineage = ""
	}
	p.Anomalies = readAnomalies(prov)
	for _, u := range readUnmanaged(prov) {
		// A role the plan destroys or replaces takes its unmanaged rows
		// with it: say so instead of "kept".
		if i := slices.IndexFunc(p.Changes, func(c plan.Change) bool { return c.Address == u.Address }); i >= 0 &&
			(p.Changes[i].Action == plan.Delete || p.Changes[i].Action == plan.Replace) {
			p.Anomalies = append(p.Anomalies, fmt.Sprintf("%s will be %s together with its %s", u.Address,
				map[plan.Action]string{plan.Delete: "destroyed", plan.Replace: "replaced"}[p.Changes[i].Action],
				strings.Replace(u.Reason, ", kept as they are:", ":", 1)))
			continue
		}
		p.Unmanaged = append(p.Unmanaged, u)
	}
	if db, ok := prov.(*sqldb.Provider); ok {
		p.Anomalies = append(append(p.Anomalies, db.Warnings()...), db.Anomalies...)
	}
	return p, live, ds
}

// accessDelta fills in the plan's access delta unless --no-access.
func (c *Command) accessDelta(p *plan.Plan, live *graph.Graph, pol *policy, f *planFlags, stderr io.Writer) {
	if f.noAccess {
		return
	}
	start := time.Now()
	stopDelta := c.reporter(stderr, c.forceProgress).phase(func() string { return "computing who gains and loses access" }, "Computed the access delta")
	if p.Drift {
		// Drift's access delta runs from the portal as b24perm left it to
		// the portal now: the direction the changes happened.
		p.Access = access.ComputeDelta(p.AppliedGraph(), p.Before, live.Directory, pol.Graph)
	} else {
		p.Access = p.AccessDelta(live.Directory, pol.Graph)
	}
	stopDelta()
	if c.forceProgress {
		fmt.Fprintf(stderr, "Computed the access delta in %.2fs\n", time.Since(start).Seconds())
	}
}

func (c *Command) renderPlan(w io.Writer, p *plan.Plan, format string, o plan.RenderOptions) error {
	stop := c.reporter(c.streams.Err, c.forceProgress).phase(func() string { return "writing the plan" }, "Wrote the plan")
	defer stop()
	switch format {
	case "text", "":
		o.Color = c.Color()
		return plan.RenderText(w, p, o)
	case "markdown":
		return plan.RenderMarkdown(w, p, plan.RenderOptions{})
	case "json":
		return plan.RenderJSON(w, p)
	}
	return fmt.Errorf("--format must be text, markdown or json, not %q", format)
}

// registerRedact adds --redact to plan and drift, whose output CI keeps
// as artifacts, logs and issues: on a public repository everyone reads
// those, as they read the PR comment.
func registerRedact(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "redact", "false", "replace people's names and e-mails with initials and user IDs in the output (not in the saved plan): true, false, or auto (only for public repositories: from GITHUB_EVENT_PATH's payload, else asked of the GitHub API with GITHUB_TOKEN; redacted when it cannot be known)")
	cmd.Flags().Lookup("redact").NoOptDefVal = "true"
}

// redactFlag resolves --redact for plan and drift. Unlike ci github's
// (which runs on pull request events, whose payload names the
// repository's visibility), auto here may run on a schedule, whose payload
// does not: it then asks the API, and redacts when nothing says the
// repository is private.
func (c *Command) redactFlag(cmd *cobra.Command, v string) (bool, error) {
	if v != "auto" {
		return redactMode(v, ghEvent{})
	}
	env := c.streams.Getenv
	ev := readEvent(env("GITHUB_EVENT_PATH"))
	if ev.Repository.Visibility != "" || ev.Repository.Private != nil {
		return redactMode(v, ev)
	}
	if client, err := ghClient(env); err == nil {
		if public, err := client.Public(cmd.Context()); err == nil {
			return public, nil
		}
	}
	return true, nil
}

// renderRedacted renders the plan, with people redacted when asked.
func (c *Command) renderRedacted(w io.Writer, pl *planned, format string, o plan.RenderOptions, redact bool) error {
	if !redact {
		return c.renderPlan(w, pl.plan, format, o)
	}
	var buf bytes.Buffer
	if err := c.renderPlan(&buf, pl.plan, format, o); err != nil {
		return err
	}
	var dir *graph.Directory
	if pl.live != nil {
		dir = pl.live.Directory
	}
	_, err := io.WriteString(w, redactPeople(buf.String(), dir))
	return err
}

func newPlanCmd(c *Command) *cobra.Command {
	var f planFlags
	var out, format, redact string
	var detailed, failOnWidening bool
	cmd := &cobra.Command{
		Use:   "plan [dir]",
		Short: "Show what apply would change on the live portal, and who gains or loses access",
		Long: `Plan compiles the policy directory (default "."), reads the live portal and
the state, and shows the changes that would make the portal match the policy,
followed by the access changes they cause.

With --detailed-exitcode the exit status is 0 for no changes, 1 for an error
and 2 when there are changes. With --fail-on-widening it is 3 when the plan
widens access to a sensitive field or grants admin-level rights, or when
objects that grant access could not be read (their access may widen).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "markdown" && format != "json" {
				return fmt.Errorf("--format must be text, markdown or json, not %q", format)
			}
			doRedact, err := c.redactFlag(cmd, redact)
			if err != nil {
				return err
			}
			pl, err := c.makePlan(cmd.Context(), dirArg(args), &f, cmd.ErrOrStderr(), false)
			if err != nil {
				return err
			}
			if err := c.renderRedacted(cmd.OutOrStdout(), pl, format, f.renderOptions(), doRedact); err != nil {
				return err
			}
			if out != "" {
				if err := planfile.Write(out, pl.plan); err != nil {
					return fmt.Errorf("saving the plan: %w", err)
				}
				if format == "text" {
					fmt.Fprintf(cmd.OutOrStdout(), "\nSaved the plan to %s. To apply exactly this plan, run:\n  b24perm apply %s\n", out, out)
				}
			}
			if failOnWidening && widening(cmd.ErrOrStderr(), pl.plan) {
				return exitCode(ExitWidening)
			}
			if detailed && pl.plan.HasChanges() {
				return exitCode(ExitChanges)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "save the plan to this file for apply")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, markdown or json")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when there are changes, 0 when there are none")
	cmd.Flags().BoolVar(&failOnWidening, "fail-on-widening", false, "exit 3 when access widens on a sensitive field or admin-level cell, or objects that grant access cannot be read")
	registerRedact(cmd, &redact)
	return cmd
}

func newDriftCmd(c *Command) *cobra.Command {
	var f planFlags
	var format, redact string
	var detailed bool
	cmd := &cobra.Command{
		Use:   "drift [dir]",
		Short: "Show what changed on the portal outside b24perm",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doRedact, err := c.redactFlag(cmd, redact)
			if err != nil {
				return err
			}
			pl, err := c.makePlan(cmd.Context(), dirArg(args), &f, cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			if err := c.renderRedacted(cmd.OutOrStdout(), pl, format, f.renderOptions(), doRedact); err != nil {
				return err
			}
			if detailed && pl.plan.HasChanges() {
				return exitCode(ExitChanges)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, markdown or json")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when the portal has drifted")
	registerRedact(cmd, &redact)
	return cmd
}

func sortedAddrs(m map[graph.Addr]graph.Resource) []graph.Addr {
	out := make([]graph.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b graph.Addr) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// fieldRulesUnsupported: a database without b24perm's field-rule table
// supports everything but third-party field rules (native visibility is
// Bitrix's own table). A plan that would write them is an
// error at each rule; otherwise the plan only notes it.
func fieldRulesUnsupported(db *sqldb.Provider, p *plan.Plan) diag.Diagnostics {
	msg := db.FieldRulesUnsupported()
	if msg == "" {
		return nil
	}
	var ds diag.Diagnostics
	for _, ch := range p.Changes {
		if ch.Addr.Kind != graph.KindFieldRule || sqldb.NativeFieldRule(ch) {
			continue // native visibility is Bitrix's b_user_field_permission
		}
		var r *diag.Range
		if ch.Source != nil && ch.Source.IsValid() {
			r = &diag.Range{Filename: ch.Source.File, Start: diag.Pos{Line: ch.Source.Line, Column: ch.Source.Col}, End: diag.Pos{Line: ch.Source.Line, Column: ch.Source.Col}}
		}
		ds.Errorf(r, "Field rules are unsupported on this database", "%s: %s. Remove the field rules from the policy, or use another backend.", ch.Address, msg)
	}
	if len(ds) == 0 {
		p.Warnings = append(p.Warnings, msg+".")
	}
	return ds
}

// readAnomalies are the notes of the backend's last Read for the plan
// output: rows the portal model cannot represent (bitrix.Read's
// anomalies, the same for every backend) and what could not be read.
func readAnomalies(prov provider.Provider) []string {
	switch p := prov.(type) {
	case *local.Provider:
		return p.Anomalies
	case *webhook.Provider:
		return append(slices.Clone(p.Anomalies), p.Warnings()...)
	case *sqldb.Provider:
		return p.Anomalies
	}
	return nil
}

// readUnmanaged are the roles and permission rows the backend's last Read
// keeps but b24perm does not manage (bitrix.Notes), listed with the
// plan's own unmanaged objects.
func readUnmanaged(prov provider.Provider) []plan.Unmanaged {
	switch p := prov.(type) {
	case *local.Provider:
		return p.Unmanaged
	case *webhook.Provider:
		return p.Unmanaged
	}
	return nil
}

// widening reports whether --fail-on-widening fails the plan: access
// widens on a sensitive or admin-level cell, or objects the backend could
// not read (unknown baseline) grant access — nothing is known to compare
// them with, so they may widen; that is said in one line on w.
func widening(w io.Writer, p *plan.Plan) bool {
	unknown := p.UnknownGranting()
	if note := plan.UnknownWideningNote(unknown); note != "" {
		fmt.Fprintln(w, note)
	}
	return len(unknown) > 0 || p.Access != nil && p.Access.Widening
}
