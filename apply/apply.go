// Package apply carries out a plan through a provider and keeps the state
// in step: it re-checks a saved plan against the live portal, applies the
// changes in order, records every outcome, and stops at the first failure.
package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/state"
)

// Locked runs fn holding the store's lock; the lock is released however
// fn ends (error or panic), and a failure to release it is reported.
func Locked(ctx context.Context, store state.Store, info state.LockInfo, fn func() error) (err error) {
	unlock, err := store.Lock(ctx, info)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("releasing the state lock: %w", uerr)
		}
	}()
	return fn()
}

// Options for one apply.
type Options struct {
	Provider provider.Provider
	Store    state.Store
	State    *state.State
	Plan     *plan.Plan
	// Desired is the compiled policy the plan was made from.
	Desired *graph.Graph
	// Saved marks a plan read from a file: it is checked for staleness.
	Saved bool
	// Recheck, when set, runs right before the first change is made,
	// holding the provider's write lock if it has one (provider.Locker):
	// it re-reads the portal and refuses (StaleError, MismatchError) a
	// plan whose basis changed meanwhile, e.g. while apply waited for
	// "yes". Nothing is applied when it fails.
	Recheck func(ctx context.Context) error
	// LockWait bounds the wait for the provider's write lock (0: as long
	// as ctx allows).
	LockWait time.Duration
	// OnResult is called for every change as its outcome is known.
	OnResult func(c plan.Change, r provider.Result)
}

// Outcome says exactly what happened.
type Outcome struct {
	Applied      []plan.Change
	Failed       []plan.Change
	NotAttempted []plan.Change
	Manual       []plan.Change
}

// StaleError refuses a plan whose basis changed: a saved plan, or the
// plan an interactive apply showed before its "yes".
type StaleError struct {
	Reason string
	// Confirmed marks the plan apply showed (and was told "yes" to, or
	// --auto-approve), re-checked right before the write.
	Confirmed bool
}

func (e *StaleError) Error() string {
	if e.Confirmed {
		return "Plan is stale: " + e.Reason + ". Nothing was applied. Run plan again."
	}
	return "Saved plan is stale: " + e.Reason + ". Run plan again."
}

// MismatchError refuses a saved plan whose changes are not the ones its
// recorded policy and the unchanged live portal give: the file was edited
// (a recomputed checksum does not make it trustworthy) or made by
// another b24perm.
type MismatchError struct {
	Address      string
	Saved, Fresh string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("Saved plan does not match its policy and the live portal: for %s it says %s, but planning again gives %s. The plan file was edited or made by another b24perm; nothing was applied. Run plan again.", e.Address, e.Saved, e.Fresh)
}

// CheckSaved refuses a saved plan whose state or live objects changed
// since it was made. live is a fresh read of the portal.
func CheckSaved(p *plan.Plan, st *state.State, desired, live *graph.Graph) error {
	if err := checkState(p, st); err != nil {
		return err
	}
	return checkFingerprints(p.Fingerprints, plan.Fingerprints(desired, live, st.IDs()), false)
}

// CheckFresh is the check right before the write: p (shown and approved,
// or a saved plan already verified) is refused when any live object it
// read changed since; live is a new read of a backend that reads every
// kind. Equal fingerprints over the same policy and state give the same
// changes, so nothing needs to be planned again.
func CheckFresh(p *plan.Plan, st *state.State, desired, live *graph.Graph, confirmed bool) error {
	if err := checkState(p, st); err != nil {
		return err
	}
	return checkFingerprints(p.Fingerprints, plan.Fingerprints(desired, live, st.IDs()), confirmed)
}

// Verify refuses a plan unless planning again now gives exactly it: the
// state is the one it was made against, every live object it read is
// unchanged (else StaleError), and its changes are the fresh plan's
// (else MismatchError). fresh is made from the same policy, the state
// and a new read of the portal, with the same -target/-exclude; the
// guards (protect, lockout) ran on it. confirmed marks the re-check of
// an interactive apply after its "yes".
func Verify(saved, fresh *plan.Plan, st *state.State, confirmed bool) error {
	if err := checkState(saved, st); err != nil {
		return err
	}
	if err := checkFingerprints(saved.Fingerprints, fresh.Fingerprints, confirmed); err != nil {
		return err
	}
	if saved.PolicyDigest != fresh.PolicyDigest {
		return &StaleError{Reason: "the policy changed since the plan was made", Confirmed: confirmed}
	}
	return sameChanges(saved.Changes, fresh.Changes)
}

func checkState(p *plan.Plan, st *state.State) error {
	if err := state.CheckLineage(p.StateLineage, st); err != nil {
		return err
	}
	if p.StateSerial != st.Serial {
		return &StaleError{Reason: fmt.Sprintf("the state changed since the plan was made (serial %d → %d)", p.StateSerial, st.Serial)}
	}
	return nil
}

func checkFingerprints(then, now map[string]string, confirmed bool) error {
	var changed []string
	for a, fp := range then {
		if now[a] != fp {
			changed = append(changed, a)
		}
	}
	for a := range now {
		if _, ok := then[a]; !ok {
			changed = append(changed, a)
		}
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		what := changed[0]
		if len(changed) > 1 {
			what = fmt.Sprintf("%s and %d more", changed[0], len(changed)-1)
		}
		return &StaleError{Reason: fmt.Sprintf("%s changed on the portal since the plan was made", what), Confirmed: confirmed}
	}
	return nil
}

// sameChanges compares two change lists in order, ignoring only where in
// the policy files a declaration sits (a moved comment moves it, and the
// policy digest does not cover it).
func sameChanges(saved, fresh []plan.Change) error {
	find := func(cs []plan.Change, addr string) *plan.Change {
		for i := range cs {
			if cs[i].Address == addr {
				return &cs[i]
			}
		}
		return nil
	}
	say := func(c *plan.Change) string {
		if c == nil {
			return "no change"
		}
		s := c.Action.Verb()
		if c.Manual {
			s = "a manual " + s
		}
		return s
	}
	for i := 0; i < max(len(saved), len(fresh)); i++ {
		var s, f *plan.Change
		if i < len(saved) {
			s = &saved[i]
		}
		if i < len(fresh) {
			f = &fresh[i]
		}
		switch {
		case s == nil:
			return &MismatchError{Address: f.Address, Saved: "no change", Fresh: say(f)}
		case f == nil || s.Address != f.Address:
			return &MismatchError{Address: s.Address, Saved: say(s), Fresh: say(find(fresh, s.Address))}
		case !bytes.Equal(changeKey(*s), changeKey(*f)):
			fs, ss := say(f), say(s)
			if fs == ss {
				ss, fs = "one "+ss, "another"
			}
			return &MismatchError{Address: s.Address, Saved: ss, Fresh: fs}
		}
	}
	return nil
}

// changeKey is a change's meaning: its JSON without source positions.
func changeKey(c plan.Change) []byte {
	c.Source = nil
	c.Attrs = slices.Clone(c.Attrs)
	for i := range c.Attrs {
		c.Attrs[i].Source = nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

// Run applies p. The caller holds the state lock for the whole plan,
// confirm and apply sequence (so that nobody changes the state between
// the plan the user approved and its apply); Locked wraps that.
//
// The state is saved after every reported result on non-transactional
// backends (a crash leaves it matching the portal) — once per group of
// results a provider reports together (ReportBatch) — and once at the
// end on transactional ones. Manual changes are never applied nor recorded. The
// run stops at the first failure: Outcome says exactly which changes were
// applied, which failed and which were not attempted. If the provider
// panics, what was reported so far is saved before the panic goes on.
func Run(ctx context.Context, o Options) (out *Outcome, err error) {
	out = &Outcome{}
	var todo []plan.Change
	for _, c := range o.Plan.Changes {
		if c.Manual {
			out.Manual = append(out.Manual, c)
			continue
		}
		todo = append(todo, c)
	}
	st := o.State
	if st.Resources == nil {
		st.Resources = map[string]state.Resource{}
	}
	if o.Plan.ToolVersion != "" {
		st.ToolVersion = o.Plan.ToolVersion
	}
	ids := st.IDs()
	for a, id := range o.Plan.LiveIDs {
		if _, ok := ids[a]; !ok {
			ids[a] = id
		}
	}
	caps := o.Provider.Capabilities()
	transactional := caps.Transactional
	now := time.Now()
	done := map[int]bool{}
	var saveErr error
	// note records one outcome in st; it reports whether st changed.
	note := func(r provider.Result) bool {
		c := todo[r.Index]
		done[r.Index] = true
		if r.Err != nil {
			out.Failed = append(out.Failed, c)
			return false
		}
		out.Applied = append(out.Applied, c)
		if c.Action == plan.Delete {
			delete(st.Resources, c.Address)
		} else {
			st.Resources[c.Address] = plan.Recorded(c, r.ID, now, false, caps.CanRead)
		}
		return true
	}
	save := func() {
		if !transactional && saveErr == nil {
			saveErr = o.Store.Save(st)
		}
	}
	onResult := func(r provider.Result) {
		if o.OnResult != nil {
			o.OnResult(todo[r.Index], r)
		}
	}
	record := func(r provider.Result) {
		if note(r) {
			save()
		}
		onResult(r)
	}
	// Outcomes known together are saved together: the provider writes
	// nothing more before this returns, so the state matches the portal
	// as closely as with a save per outcome, at one save instead of many.
	recordBatch := func(rs []provider.Result) {
		changed := false
		for _, r := range rs {
			changed = note(r) || changed
		}
		if changed {
			save()
		}
		for _, r := range rs {
			onResult(r)
		}
	}
	if len(todo) > 0 {
		if l, ok := o.Provider.(provider.Locker); ok {
			lctx, cancel := ctx, context.CancelFunc(func() {})
			if o.LockWait > 0 {
				lctx, cancel = context.WithTimeout(ctx, o.LockWait)
			}
			unlock, err := l.Lock(lctx)
			cancel()
			if err != nil {
				out.NotAttempted = todo
				return out, err
			}
			defer unlock()
		}
		if o.Recheck != nil {
			if err := o.Recheck(ctx); err != nil {
				out.NotAttempted = todo
				return out, err
			}
		}
	}
	var applyErr error
	if len(todo) > 0 {
		func() {
			defer func() {
				if p := recover(); p != nil {
					// Keep what the provider reported before it crashed.
					_ = o.Store.Save(st)
					panic(p)
				}
			}()
			applyErr = o.Provider.Apply(ctx, provider.ApplyRequest{Changes: todo, IDs: ids, Report: record, ReportBatch: recordBatch})
		}()
	}
	for i, c := range todo {
		if !done[i] {
			out.NotAttempted = append(out.NotAttempted, c)
		}
	}
	if applyErr == nil && len(out.Failed) == 0 {
		// Everything declared and live is managed from now on.
		if o.Desired != nil {
			for a, r := range o.Desired.Resources() {
				as := a.String()
				if _, ok := st.Resources[as]; ok {
					continue
				}
				if id, ok := o.Plan.LiveIDs[as]; ok {
					st.Resources[as] = state.Resource{ID: id, Name: r.Name(), Kind: string(a.Kind), Fingerprint: r.Fingerprint()}
				}
			}
		}
		// The policy counts as applied only when nothing was left out:
		// no -target/-exclude and no manual steps still to do.
		if len(o.Plan.Changes) == len(out.Applied) && !o.Plan.Targeted {
			st.PolicyDigest = o.Plan.PolicyDigest
		}
	}
	if err := o.Store.Save(st); err != nil {
		saveErr = errors.Join(saveErr, err)
	}
	if applyErr != nil {
		return out, applyErr
	}
	return out, saveErr
}

// ConfirmManual records in st that an administrator made the manual
// changes by hand, at now: a deletion drops the record; anything else
// records what the policy declares (with its content for kinds the
// backend cannot read: it is their baseline from now on). Workgroup
// feature permissions ("workgroup.K#features") record their fingerprint.
func ConfirmManual(st *state.State, manual []plan.Change, readable func(graph.Kind) bool, now time.Time) {
	if st.Resources == nil {
		st.Resources = map[string]state.Resource{}
	}
	for _, ch := range manual {
		if ch.Action == plan.Delete {
			delete(st.Resources, ch.Address)
			continue
		}
		if plan.IsFeaturesKey(ch.Address) {
			if ch.After != nil && ch.After.Workgroup != nil {
				st.Resources[ch.Address] = state.Resource{Name: ch.Name, Fingerprint: plan.FeaturesFingerprint(ch.After.Workgroup),
					At: now.UTC().Truncate(time.Second), Confirmed: true}
			}
			continue
		}
		if ch.After == nil {
			continue
		}
		id := st.Resources[ch.Address].ID
		st.Resources[ch.Address] = plan.Recorded(ch, id, now, true, readable)
	}
}
