package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/b24perm/b24perm/apply"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/planfile"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/sqldb"
	"github.com/b24perm/b24perm/state"
	"github.com/spf13/cobra"
)

func newApplyCmd(c *Command) *cobra.Command {
	var f planFlags
	var autoApprove bool
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE|dir]",
		Short: "Make the live portal match the policy (or apply a saved plan)",
		Long: `Apply with a saved plan file applies exactly that plan, after checking that
neither the policy, the state nor any live object it read has changed since
(otherwise it refuses: the plan is stale), and that planning again now, from
the recorded policy, gives exactly its changes (otherwise the file was edited:
it refuses, naming the first change that differs). protect and the lockout
guard judge it again, and it is shown before it is applied. Apply with a
directory (default ".") plans, shows the plan, and asks for "yes" (or
--auto-approve).

The state is locked for the whole apply; a second apply fails at once and
names the holder of the lock.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := dirArg(args)
			st, err := os.Stat(arg)
			if err == nil && !st.IsDir() {
				return c.applySaved(cmd, arg, &f)
			}
			if err != nil && strings.HasSuffix(arg, ".json") {
				return fmt.Errorf("cannot read the saved plan %s: %v", arg, errors.Unwrap(err))
			}
			return c.applyDir(cmd, arg, &f, autoApprove)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	cmd.Flags().Bool("confirm-manual", false, "record that an administrator made this plan's manual changes by hand")
	cmd.Flags().String("after-apply", "", "shell command to run after a successful apply (e.g. a Bitrix cache-clear script)")
	return cmd
}

// afterApply runs the --after-apply hook, or tells how to clear the
// portal's caches after a direct database write.
func (c *Command) afterApply(cmd *cobra.Command, prov provider.Provider) error {
	hook, _ := cmd.Flags().GetString("after-apply")
	db, isDB := prov.(*sqldb.Provider)
	if hook == "" {
		if isDB {
			fmt.Fprintf(cmd.OutOrStdout(), "\nThe permission tables were written directly: %s.\nOr pass --after-apply \"COMMAND\" to run it automatically.\n", db.CacheHint)
		}
		return nil
	}
	sh := exec.CommandContext(cmd.Context(), "sh", "-c", hook)
	sh.Stdout, sh.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := sh.Run(); err != nil {
		return fmt.Errorf("the --after-apply command failed: %v (the apply itself succeeded)", err)
	}
	return nil
}

func (c *Command) lockState(cmd *cobra.Command, f *planFlags) (state.Store, func() error, error) {
	store, err := c.openState(cmd.Context(), f.statePath)
	if err != nil {
		return nil, nil, err
	}
	if !f.lock {
		return store, func() error { return nil }, nil
	}
	unlock, err := c.takeLock(cmd, store, "apply", f.lockTimeout)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot apply: %w", err)
	}
	return store, unlock, nil
}

func (c *Command) applyDir(cmd *cobra.Command, dir string, f *planFlags, autoApprove bool) error {
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	store, unlock, err := c.lockState(cmd, f)
	if err != nil {
		return err
	}
	defer unlock()
	pl, err := c.makePlan(cmd.Context(), dir, f, stderr, false)
	if err != nil {
		return err
	}
	if err := c.renderPlan(out, pl.plan, "text", f.renderOptions()); err != nil {
		return err
	}
	if !pl.plan.HasChanges() {
		return nil
	}
	if !autoApprove {
		if !f.input {
			return fmt.Errorf("apply needs confirmation, and --input=false forbids asking: add --auto-approve, or apply a saved plan")
		}
		ok, err := c.confirm(out)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(out, "\nApply cancelled.")
			return exitCode(ExitError)
		}
	}
	return c.runApply(cmd, store, pl.st, pl, false)
}

// confirm asks for "yes" on stdin; with no usable stdin it refuses.
func (c *Command) confirm(out io.Writer) (bool, error) {
	if c.streams.In == nil {
		return false, errors.New("no terminal to confirm on: run with --auto-approve, or apply a saved plan")
	}
	fmt.Fprint(out, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(c.streams.In).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(out)
		return false, errors.New("no answer on standard input: run with --auto-approve to apply without confirmation")
	}
	return strings.TrimSpace(line) == "yes", nil
}

// applySaved applies a saved plan only if planning again now gives
// exactly it: the same policy (digest), the same state, the same live
// objects, the same changes. The fresh plan runs every guard again
// (protect, lockout), and it is shown before it is applied.
func (c *Command) applySaved(cmd *cobra.Command, path string, f *planFlags) error {
	stderr := cmd.ErrOrStderr()
	p, err := planfile.Read(path)
	if err != nil {
		return err
	}
	if len(f.targets) > 0 || len(f.excludes) > 0 {
		return fmt.Errorf("-target and -exclude cannot be used with a saved plan: it applies the targets it was made with")
	}
	pol, err := c.loadPolicy(p.PolicyDir, stderr)
	if err != nil {
		return err
	}
	if d := pol.Graph.Digest(); d != p.PolicyDigest {
		return fmt.Errorf("the policy in %s changed since the plan was made; run plan again", p.PolicyDir)
	}
	store, unlock, err := c.lockState(cmd, f)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := store.Load()
	if err != nil {
		return err
	}
	prov, err := c.openLive(f.live, stderr)
	if err != nil {
		return err
	}
	if prov.Describe() != p.Backend {
		return fmt.Errorf("the plan was made against %s, not %s", p.Backend, prov.Describe())
	}
	live, err := c.readLive(cmd.Context(), prov, stderr, c.forceProgress || c.streams.ErrIsTTY)
	if err != nil {
		return err
	}
	fresh, live, ds := diffLive(pol, prov, live, st, p.Targets, p.Excludes, p.PolicyDir)
	if err := apply.Verify(p, fresh, st, false); err != nil {
		return err
	}
	// The same changes: the guards judge them again (a plan file made by
	// an older or altered b24perm may hold what they refuse).
	if len(ds) > 0 {
		c.printDiags(stderr, ds, pol.Files, "text")
	}
	if ds.HasErrors() {
		return exitCode(ExitError)
	}
	c.accessDelta(fresh, live, pol, f, stderr)
	pl := &planned{pol: pol, prov: prov, st: st, live: live, plan: fresh}
	if fresh.HasChanges() {
		fmt.Fprintf(cmd.OutOrStdout(), "Applying the saved plan %s (checked: planning again now gives exactly these changes).\n\n", path)
		if err := c.renderPlan(cmd.OutOrStdout(), fresh, "text", f.renderOptions()); err != nil {
			return err
		}
	}
	return c.runApply(cmd, store, st, pl, true)
}

func (c *Command) runApply(cmd *cobra.Command, store state.Store, st *state.State, pl *planned, saved bool) error {
	out := cmd.OutOrStdout()
	if !pl.plan.HasChanges() {
		fmt.Fprintln(out, "\nNo changes. Nothing to apply.")
		return nil
	}
	fmt.Fprintln(out)
	stop := c.startProgress(cmd.ErrOrStderr(), c.forceProgress || c.streams.ErrIsTTY, "Applying to "+pl.prov.Describe(), "still applying")
	o, err := apply.Run(cmd.Context(), apply.Options{Provider: pl.prov, Store: store, State: st, Plan: pl.plan, Desired: pl.pol.Graph, Saved: saved,
		Recheck: recheck(pl, st, !saved), LockWait: portalLockWait(cmd),
		OnResult: func(ch plan.Change, r provider.Result) {
			verb := map[plan.Action]string{plan.Create: "Creation", plan.Update: "Modification", plan.Delete: "Destruction", plan.Replace: "Replacement"}[ch.Action]
			if r.Err != nil {
				fmt.Fprintf(out, "%s: %s failed: %v\n", ch.Address, verb, r.Err)
				return
			}
			fmt.Fprintf(out, "%s: %s complete [id=%d]\n", ch.Address, verb, r.ID)
		}})
	stop(err)
	var stale *apply.StaleError
	var mismatch *apply.MismatchError
	var locked *local.LockedError
	var sqlStale *sqldb.StaleError
	if errors.As(err, &stale) || errors.As(err, &mismatch) || errors.As(err, &locked) || errors.As(err, &sqlStale) {
		return err // refused before the first change: nothing to list
	}
	add, change, destroy := 0, 0, 0
	for _, ch := range o.Applied {
		switch ch.Action {
		case plan.Create:
			add++
		case plan.Update:
			change++
			st, rows := ch.Destroys()
			destroy += st + rows
		case plan.Delete:
			destroy++
		case plan.Replace:
			add++
			destroy++
		}
	}
	if len(o.Manual) > 0 {
		confirm, _ := cmd.Flags().GetBool("confirm-manual")
		if confirm && err == nil {
			apply.ConfirmManual(st, o.Manual, pl.prov.Capabilities().CanRead, time.Now())
			if serr := store.Save(st); serr != nil {
				return serr
			}
			fmt.Fprintf(out, "\nRecorded %d manual changes as done by an administrator (--confirm-manual).\n", len(o.Manual))
		} else {
			fmt.Fprintf(out, "\n%s must be made by hand (b24perm did NOT apply them):\n", plural(len(o.Manual), "change", "changes"))
			for _, ch := range o.Manual {
				for _, s := range ch.ManualSteps {
					fmt.Fprintf(out, "  - %s\n", s)
				}
			}
			fmt.Fprintln(out, "When they are done, run apply again with --confirm-manual to record them.")
		}
	}
	if err != nil {
		fmt.Fprintf(out, "\nApply failed: %d applied, %d failed, %d not attempted.\n", len(o.Applied), len(o.Failed), len(o.NotAttempted))
		if pl.prov.Capabilities().Transactional && len(o.Applied) == 0 {
			fmt.Fprintln(out, "The backend applies all changes or none: the portal is unchanged.")
		}
		for _, ch := range o.NotAttempted {
			fmt.Fprintf(out, "  not applied: %s\n", ch.Address)
		}
		return err
	}
	fmt.Fprintf(out, "\nApply complete! Resources: %d added, %d changed, %d destroyed.\n", add, change, destroy)
	return c.afterApply(cmd, pl.prov)
}

// recheck re-reads the portal right before the first write and refuses a
// plan whose basis changed since it was shown or saved: an edit made while
// apply waited for "yes", or another apply with another state file. A
// backend that can lock its writers (the local portal file) is re-read
// holding its lock; the cloud backend cannot lock Bitrix24, so its re-read
// narrows the window to the writes themselves; SQL checks its rows inside
// the transaction instead.
func recheck(pl *planned, st *state.State, confirmed bool) func(context.Context) error {
	if _, ok := pl.prov.(*sqldb.Provider); ok {
		return nil
	}
	return func(ctx context.Context) error {
		// The local portal file still holding the bytes the plan read
		// reads as the same graph: no need to decode it again.
		if lp, ok := pl.prov.(*local.Provider); ok {
			if same, err := lp.Unchanged(); err != nil || same {
				if err != nil {
					return err
				}
				return apply.CheckFresh(pl.plan, st, pl.pol.Graph, pl.live, confirmed)
			}
		}
		live, err := pl.prov.Read(ctx)
		if err != nil {
			return err
		}
		// The plan's fingerprints cover what the backend read (kinds it
		// cannot read keep their state baselines and are not compared).
		return apply.CheckFresh(pl.plan, st, pl.pol.Graph, live, confirmed)
	}
}

// portalLockWait is how long apply waits for another apply's write lock on
// the portal: --lock-timeout, or 30 s (it is held for one re-read and write).
func portalLockWait(cmd *cobra.Command) time.Duration {
	if d, _ := cmd.Flags().GetDuration("lock-timeout"); d > 0 {
		return d
	}
	return 30 * time.Second
}
