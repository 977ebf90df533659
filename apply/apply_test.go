package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/state"
	"github.com/rogpeppe/go-internal/lockedfile"
)

// fakeProvider applies changes one by one, optionally failing or panicking
// at an index, and reports like a real backend: at once when not
// transactional, after the "commit" when transactional.
type fakeProvider struct {
	transactional bool
	failAt        int // -1: never
	panicAt       int // -1: never
	nextID        int64
	gotIDs        map[string]int64
	attempted     []string
}

func (f *fakeProvider) Describe() string                           { return "fake" }
func (f *fakeProvider) Read(context.Context) (*graph.Graph, error) { return &graph.Graph{}, nil }
func (f *fakeProvider) Capabilities() provider.Capabilities        { return provider.All(f.transactional) }

func (f *fakeProvider) Apply(ctx context.Context, req provider.ApplyRequest) error {
	f.gotIDs = maps.Clone(req.IDs)
	var results []provider.Result
	for i, c := range req.Changes {
		if i == f.panicAt {
			panic("backend crashed")
		}
		f.attempted = append(f.attempted, c.Address)
		r := provider.Result{Index: i, Address: c.Address, ID: req.IDs[c.Address]}
		if c.Action == plan.Create {
			f.nextID++
			r.ID = f.nextID
		}
		if i == f.failAt {
			r.Err = errors.New("portal said no")
			if f.transactional {
				// All or nothing: only the failure is reported.
				req.Report(r)
				return fmt.Errorf("%s: %w", c.Address, r.Err)
			}
			req.Report(r)
			return fmt.Errorf("%s: %w", c.Address, r.Err)
		}
		if f.transactional {
			results = append(results, r)
		} else {
			req.Report(r)
		}
	}
	for _, r := range results {
		req.Report(r)
	}
	return nil
}

// memStore is an in-memory state.Store that counts saves and keeps a copy
// of every saved version.
type memStore struct {
	saved []state.State
	fail  error
}

func (m *memStore) Load() (*state.State, error) { return state.New(), nil }
func (m *memStore) Save(s *state.State) error {
	if m.fail != nil {
		return m.fail
	}
	s.Serial++
	c := *s
	c.Resources = maps.Clone(s.Resources)
	m.saved = append(m.saved, c)
	return nil
}
func (m *memStore) Lock(context.Context, state.LockInfo) (func() error, error) {
	return func() error { return nil }, nil
}
func (m *memStore) ForceUnlock(string) error { return nil }
func (m *memStore) Describe() string         { return "memory" }

func role(key, name string) *graph.Resource {
	return &graph.Resource{CRMRole: &graph.CRMRole{Key: key, Name: name}}
}

func change(a plan.Action, key string, id int64) plan.Change {
	c := plan.Change{Addr: graph.Addr{Kind: graph.KindCRMRole, Key: key}, Address: "crm_role." + key, Action: a, Name: strings.ToUpper(key), ID: id}
	if a != plan.Delete {
		c.After = role(key, strings.ToUpper(key))
	}
	if a != plan.Create {
		c.Before = role(key, "old")
	}
	return c
}

func addrs(cs []plan.Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Address)
	}
	return out
}

func startState() *state.State {
	st := state.New()
	st.Resources["crm_role.b"] = state.Resource{ID: 20, Name: "old", Kind: "crm_role"}
	st.Resources["crm_role.c"] = state.Resource{ID: 30, Name: "C", Kind: "crm_role"}
	return st
}

func fourChanges() *plan.Plan {
	manual := change(plan.Update, "m", 40)
	manual.Manual = true
	manual.ManualSteps = []string{"CRM → Settings → Access permissions → M"}
	return &plan.Plan{
		PolicyDigest: "sha256:new", ToolVersion: "v9",
		LiveIDs: map[string]int64{"crm_role.b": 99, "crm_role.m": 40},
		Changes: []plan.Change{change(plan.Create, "a", 0), change(plan.Update, "b", 20), manual, change(plan.Delete, "c", 30), change(plan.Create, "d", 0)},
	}
}

func TestRunOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name                            string
		transactional                   bool
		failAt                          int
		applied, failed, notAttempted   []string
		saves                           int
		digest                          string
		resources                       []string
		wantErr                         bool
		savesAfterEachApplied, targeted bool
		withoutManual                   bool
	}{
		{name: "all applied, state saved after each", failAt: -1,
			applied: []string{"crm_role.a", "crm_role.b", "crm_role.c", "crm_role.d"}, failed: []string{}, notAttempted: []string{},
			saves: 5, resources: []string{"crm_role.a", "crm_role.b", "crm_role.d"}},
		{name: "no manual steps left: the policy counts as applied", failAt: -1, withoutManual: true,
			applied: []string{"crm_role.a", "crm_role.b", "crm_role.c", "crm_role.d"}, failed: []string{}, notAttempted: []string{},
			saves: 5, digest: "sha256:new", resources: []string{"crm_role.a", "crm_role.b", "crm_role.d"}},
		{name: "targeted plan does not record the policy", failAt: -1, withoutManual: true, targeted: true,
			applied: []string{"crm_role.a", "crm_role.b", "crm_role.c", "crm_role.d"}, failed: []string{}, notAttempted: []string{},
			saves: 5, resources: []string{"crm_role.a", "crm_role.b", "crm_role.d"}},
		{name: "failure stops the run", failAt: 2, wantErr: true,
			applied: []string{"crm_role.a", "crm_role.b"}, failed: []string{"crm_role.c"}, notAttempted: []string{"crm_role.d"},
			saves: 3, resources: []string{"crm_role.a", "crm_role.b", "crm_role.c"}},
		{name: "first change fails", failAt: 0, wantErr: true,
			applied: []string{}, failed: []string{"crm_role.a"}, notAttempted: []string{"crm_role.b", "crm_role.c", "crm_role.d"},
			saves: 1, resources: []string{"crm_role.b", "crm_role.c"}},
		{name: "transactional: one save", transactional: true, failAt: -1, withoutManual: true,
			applied: []string{"crm_role.a", "crm_role.b", "crm_role.c", "crm_role.d"}, failed: []string{}, notAttempted: []string{},
			saves: 1, digest: "sha256:new", resources: []string{"crm_role.a", "crm_role.b", "crm_role.d"}},
		{name: "transactional failure: nothing applied", transactional: true, failAt: 2, wantErr: true,
			applied: []string{}, failed: []string{"crm_role.c"}, notAttempted: []string{"crm_role.a", "crm_role.b", "crm_role.d"},
			saves: 1, resources: []string{"crm_role.b", "crm_role.c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prov := &fakeProvider{transactional: tc.transactional, failAt: tc.failAt, panicAt: -1, nextID: 100}
			store := &memStore{}
			st := startState()
			p := fourChanges()
			if tc.withoutManual {
				p.Changes = slices.DeleteFunc(p.Changes, func(c plan.Change) bool { return c.Manual })
			}
			p.Targeted = tc.targeted
			var seen []string
			out, err := Run(context.Background(), Options{Provider: prov, Store: store, State: st, Plan: p,
				OnResult: func(c plan.Change, r provider.Result) { seen = append(seen, c.Address) }})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got := addrs(out.Applied); !slices.Equal(got, tc.applied) {
				t.Errorf("applied %v, want %v", got, tc.applied)
			}
			if got := addrs(out.Failed); !slices.Equal(got, tc.failed) {
				t.Errorf("failed %v, want %v", got, tc.failed)
			}
			if got := addrs(out.NotAttempted); !slices.Equal(got, tc.notAttempted) {
				t.Errorf("not attempted %v, want %v", got, tc.notAttempted)
			}
			if slices.Contains(prov.attempted, "crm_role.m") {
				t.Error("a manual change was sent to the provider")
			}
			wantManual := []string{"crm_role.m"}
			if tc.withoutManual {
				wantManual = []string{}
			}
			if got := addrs(out.Manual); !slices.Equal(got, wantManual) {
				t.Errorf("manual %v", got)
			}
			if len(store.saved) != tc.saves {
				t.Errorf("%d saves, want %d", len(store.saved), tc.saves)
			}
			if got := st.Addresses(); !slices.Equal(got, tc.resources) {
				t.Errorf("state %v, want %v", got, tc.resources)
			}
			if st.PolicyDigest != tc.digest {
				t.Errorf("policy digest %q, want %q", st.PolicyDigest, tc.digest)
			}
			if want := append(append([]string{}, tc.applied...), tc.failed...); !slices.Equal(seen, want) && !tc.transactional {
				t.Errorf("OnResult saw %v, want %v", seen, want)
			}
			// The last saved version is the state in memory.
			if last := store.saved[len(store.saved)-1]; !maps.Equal(last.Resources, st.Resources) {
				t.Errorf("last save %v differs from state %v", last.Resources, st.Resources)
			}
			// State IDs win over the plan's live IDs.
			if prov.gotIDs["crm_role.b"] != 20 || prov.gotIDs["crm_role.m"] != 40 {
				t.Errorf("IDs given to the provider: %v", prov.gotIDs)
			}
			if a, ok := st.Resources["crm_role.a"]; ok {
				if a.ID != 101 || a.Kind != "crm_role" || a.Name != "A" || a.Fingerprint != role("a", "A").Fingerprint() {
					t.Errorf("created resource in state: %+v", a)
				}
			}
			if st.ToolVersion != "v9" {
				t.Errorf("tool version %q", st.ToolVersion)
			}
		})
	}
}

// Non-transactional: every intermediate save matches the portal after
// that change (a crash between changes leaves a true state).
func TestRunSavesAfterEveryChange(t *testing.T) {
	store := &memStore{}
	p := fourChanges()
	_, err := Run(context.Background(), Options{Provider: &fakeProvider{failAt: -1, panicAt: -1}, Store: store, State: startState(), Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"crm_role.a", "crm_role.b", "crm_role.c"},
		{"crm_role.a", "crm_role.b", "crm_role.c"},
		{"crm_role.a", "crm_role.b"},
		{"crm_role.a", "crm_role.b", "crm_role.d"},
		{"crm_role.a", "crm_role.b", "crm_role.d"},
	}
	for i, s := range store.saved {
		if got := slices.Sorted(maps.Keys(s.Resources)); !slices.Equal(got, want[i]) {
			t.Errorf("save %d: %v, want %v", i, got, want[i])
		}
		if s.Serial != int64(i+1) {
			t.Errorf("save %d: serial %d", i, s.Serial)
		}
	}
}

func TestRunPanicSavesProgress(t *testing.T) {
	store := &memStore{}
	st := startState()
	p := fourChanges()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		Run(context.Background(), Options{Provider: &fakeProvider{failAt: -1, panicAt: 1, nextID: 100}, Store: store, State: st, Plan: p})
	}()
	last := store.saved[len(store.saved)-1]
	if last.Resources["crm_role.a"].ID != 101 {
		t.Fatalf("the change applied before the panic is not in the saved state: %v", last.Resources)
	}
}

func TestRunSaveFailureIsReported(t *testing.T) {
	store := &memStore{fail: errors.New("disk full")}
	out, err := Run(context.Background(), Options{Provider: &fakeProvider{failAt: -1, panicAt: -1}, Store: store, State: startState(), Plan: fourChanges()})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	if len(out.Applied) != 4 {
		t.Errorf("applied %v", addrs(out.Applied))
	}
}

func TestRunNothingToDo(t *testing.T) {
	store := &memStore{}
	prov := &fakeProvider{failAt: -1, panicAt: -1}
	st := state.New()
	out, err := Run(context.Background(), Options{Provider: prov, Store: store, State: st, Plan: &plan.Plan{PolicyDigest: "sha256:p"}})
	if err != nil || len(out.Applied)+len(out.Failed)+len(out.NotAttempted) != 0 || prov.gotIDs != nil {
		t.Fatalf("empty plan: %+v %v", out, err)
	}
	if st.PolicyDigest != "sha256:p" || len(store.saved) != 1 {
		t.Errorf("empty plan: digest %q, %d saves", st.PolicyDigest, len(store.saved))
	}
}

func TestLocked(t *testing.T) {
	s := state.NewFileStore(filepath.Join(t.TempDir(), "state.json"))
	info := state.Identity("apply", "ivan", "test")
	boom := errors.New("boom")
	if err := Locked(context.Background(), s, info, func() error {
		if _, err := s.Lock(context.Background(), state.Identity("apply", "olga", "test")); err == nil {
			t.Error("lock not held inside Locked")
		}
		return boom
	}); err != boom {
		t.Fatalf("err = %v", err)
	}
	func() {
		defer func() { recover() }()
		Locked(context.Background(), s, info, func() error { panic("x") })
	}()
	unlock, err := s.Lock(context.Background(), info)
	if err != nil {
		t.Fatalf("lock not released after an error and a panic: %v", err)
	}
	unlock()
}

// fixture compiles the repository's example policies against a fresh demo
// portal.
type fixture struct {
	desired *graph.Graph
	prov    *local.Provider
	store   *state.FileStore
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	res := compiler.CompileDir("../policies", compiler.Options{})
	if res.Diags.HasErrors() {
		t.Fatalf("policies: %v", res.Diags)
	}
	dir := t.TempDir()
	portal := filepath.Join(dir, "portal.json")
	if err := local.Init(portal, false); err != nil {
		t.Fatal(err)
	}
	return &fixture{desired: res.Graph, prov: local.New(portal), store: state.NewFileStore(filepath.Join(dir, "state.json"))}
}

func (f *fixture) plan(t testing.TB) (*plan.Plan, *state.State, *graph.Graph) {
	t.Helper()
	st, err := f.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	live, err := f.prov.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, ds := plan.Diff(f.desired, live, plan.Options{IDs: st.IDs()})
	if ds.HasErrors() {
		t.Fatalf("diff: %v", ds)
	}
	p.StateLineage, p.StateSerial = st.Lineage, st.Serial
	return p, st, live
}

// Apply on the local backend converges: the next plan is empty, and a
// second apply of an empty plan changes nothing on the portal.
func TestConvergesOnLocalBackend(t *testing.T) {
	f := newFixture(t)
	p, st, _ := f.plan(t)
	if !p.HasChanges() {
		t.Fatal("the demo portal already matches the policy")
	}
	out, err := Run(context.Background(), Options{Provider: f.prov, Store: f.store, State: st, Plan: p, Desired: f.desired})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Applied)+len(out.Manual) != len(p.Changes) || len(out.Failed) != 0 {
		t.Fatalf("outcome: %d applied, %d failed of %d", len(out.Applied), len(out.Failed), len(p.Changes))
	}
	p2, st2, _ := f.plan(t)
	if p2.HasChanges() {
		t.Fatalf("re-plan after apply has %d changes: %v", len(p2.Changes), addrs(p2.Changes))
	}
	if st2.Serial != 1 || st2.PolicyDigest != p.PolicyDigest || len(st2.Resources) == 0 {
		t.Errorf("state after apply: serial %d, digest %q, %d resources", st2.Serial, st2.PolicyDigest, len(st2.Resources))
	}
	for a, r := range st2.Resources {
		// (The default pipeline of an entity has ID 0 in Bitrix24.)
		if (r.ID == 0 && !strings.HasSuffix(a, ".default")) || r.Kind == "" || r.Fingerprint == "" {
			t.Errorf("state entry %s incomplete: %+v", a, r)
		}
	}
}

func TestCheckSaved(t *testing.T) {
	f := newFixture(t)
	p, st, live := f.plan(t)
	// Simulate apply having run once so the state has a lineage in use.
	if err := CheckSaved(p, st, f.desired, live); err != nil {
		t.Fatalf("fresh plan: %v", err)
	}
	t.Run("lineage", func(t *testing.T) {
		q := *p
		q.StateLineage = "other-lineage"
		err := CheckSaved(&q, st, f.desired, live)
		if err == nil || !strings.Contains(err.Error(), "Saved plan does not match the given state") || !strings.Contains(err.Error(), "other-lineage") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("serial", func(t *testing.T) {
		moved := *st
		moved.Serial = st.Serial + 2
		err := CheckSaved(p, &moved, f.desired, live)
		want := fmt.Sprintf("Saved plan is stale: the state changed since the plan was made (serial %d → %d). Run plan again.", st.Serial, st.Serial+2)
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
	})
	t.Run("live object changed", func(t *testing.T) {
		changed := *live
		changed.CRMRoles = slices.Clone(live.CRMRoles)
		var name string
		for i := range changed.CRMRoles {
			if changed.CRMRoles[i].Name == "Manager" {
				changed.CRMRoles[i].Name = "Sales manager"
				name = "found"
			}
		}
		if name == "" {
			t.Fatal("no Manager role in the demo portal")
		}
		err := CheckSaved(p, st, f.desired, changed.Normalize())
		var se *StaleError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "Saved plan is stale: crm_role.manager changed on the portal since the plan was made") || !strings.Contains(err.Error(), "changed on the portal since the plan was made") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("directory changed", func(t *testing.T) {
		changed := *live
		dir := *live.Directory
		dir.Users = slices.Clone(dir.Users)
		dir.Users[0].Name += " Jr."
		changed.Directory = &dir
		if err := CheckSaved(p, st, f.desired, &changed); err == nil || !strings.Contains(err.Error(), "directory") {
			t.Fatalf("err = %v", err)
		}
	})
}

// BenchmarkRunNonTransactional500: 500 changes on a backend that reports
// each at once, with the file state saved (atomically) after every one.
func BenchmarkRunNonTransactional500(b *testing.B) {
	var changes []plan.Change
	for i := range 500 {
		changes = append(changes, change(plan.Create, fmt.Sprintf("r%04d", i), 0))
	}
	p := &plan.Plan{Changes: changes}
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		store := state.NewFileStore(filepath.Join(dir, "state.json"))
		if _, err := Run(context.Background(), Options{Provider: &fakeProvider{failAt: -1, panicAt: -1}, Store: store, State: state.New(), Plan: p}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyLocal: plan + apply of the example policies on the demo
// portal (transactional local backend, one state save).
func BenchmarkApplyLocal(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		f := newFixture(b)
		p, st, _ := f.plan(b)
		b.StartTimer()
		if _, err := Run(context.Background(), Options{Provider: f.prov, Store: f.store, State: st, Plan: p, Desired: f.desired}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckSaved: the stale check of a saved plan on the demo portal.
func BenchmarkCheckSaved(b *testing.B) {
	f := newFixture(b)
	p, st, live := f.plan(b)
	for b.Loop() {
		if err := CheckSaved(p, st, f.desired, live); err != nil {
			b.Fatal(err)
		}
	}
}

// Verify: a saved plan goes through only when planning again gives
// exactly it; an edited change (with a valid checksum, which Verify does
// not look at) is a MismatchError naming the first differing address.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	saved, st, _ := f.plan(t)
	fresh, _, _ := f.plan(t)
	if err := Verify(saved, fresh, st, false); err != nil {
		t.Fatalf("same plan: %v", err)
	}
	// Source positions are not part of a change's meaning.
	moved := *saved
	moved.Changes = slices.Clone(saved.Changes)
	moved.Changes[0].Source = &graph.Pos{File: "x.cue", Line: 99, Col: 1}
	if err := Verify(&moved, fresh, st, false); err != nil {
		t.Errorf("moved declaration: %v", err)
	}
	last := len(saved.Changes) - 1
	if saved.Changes[last].Address != "crm_role.interns" || saved.Changes[last].Action != plan.Delete {
		t.Fatalf("fixture: last change is %s %s", saved.Changes[last].Action.Verb(), saved.Changes[last].Address)
	}
	for _, tc := range []struct {
		name string
		edit func(p *plan.Plan)
		want string
	}{
		{"other address", func(p *plan.Plan) { p.Changes[last].Address = "crm_role.administrator" },
			"for crm_role.administrator it says delete, but planning again gives no change"},
		{"dropped change", func(p *plan.Plan) { p.Changes = p.Changes[:last] },
			"for crm_role.interns it says no change, but planning again gives delete"},
		{"added change", func(p *plan.Plan) {
			p.Changes = append(p.Changes, plan.Change{Address: "crm_role.manager", Action: plan.Delete})
		}, "for crm_role.manager it says delete, but planning again gives update"},
		{"other action", func(p *plan.Plan) { p.Changes[0].Action = plan.Delete }, "it says delete, but planning again gives"},
		{"other attribute", func(p *plan.Plan) {
			p.Changes[0].Attrs = slices.Clone(p.Changes[0].Attrs)
			p.Changes[0].Attrs[0].After = "tampered"
		}, "it says one"},
		{"other ID", func(p *plan.Plan) { p.Changes[last].ID = 1 }, "for crm_role.interns it says one delete, but planning again gives another"},
	} {
		q := *saved
		q.Changes = slices.Clone(saved.Changes)
		tc.edit(&q)
		err := Verify(&q, fresh, st, false)
		var me *MismatchError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A live change is stale, not a mismatch; after a confirmation it
	// says so.
	q := *fresh
	q.Fingerprints = maps.Clone(fresh.Fingerprints)
	q.Fingerprints["crm_role.manager"] = "x"
	err := Verify(saved, &q, st, true)
	var se *StaleError
	if !errors.As(err, &se) || err.Error() != "Plan is stale: crm_role.manager changed on the portal since the plan was made. Nothing was applied. Run plan again." {
		t.Errorf("stale: %v", err)
	}
}

// Run holds the provider's write lock across Recheck and the write: a
// failed recheck or a lock held elsewhere applies nothing and saves no
// state.
func TestRunRecheckAndPortalLock(t *testing.T) {
	f := newFixture(t)
	p, st, _ := f.plan(t)
	before, _ := os.ReadFile(f.prov.Path())
	unchanged := func(what string) {
		t.Helper()
		if now, _ := os.ReadFile(f.prov.Path()); !bytes.Equal(now, before) {
			t.Errorf("%s: the portal was written", what)
		}
		if _, err := os.Stat(f.store.Path); err == nil {
			t.Errorf("%s: the state was saved", what)
		}
	}
	var lockedDuringRecheck bool
	out, err := Run(context.Background(), Options{Provider: f.prov, Store: f.store, State: st, Plan: p, Desired: f.desired,
		Recheck: func(ctx context.Context) error {
			// The lock is ours now: another taker must wait.
			ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, lerr := f.prov.Lock(ctx2)
			var le *local.LockedError
			lockedDuringRecheck = errors.As(lerr, &le)
			return &StaleError{Reason: "x changed on the portal since the plan was made", Confirmed: true}
		}})
	var se *StaleError
	if !errors.As(err, &se) || len(out.NotAttempted) != len(p.Changes) || len(out.Applied) != 0 {
		t.Fatalf("recheck failure: err %v, outcome %+v", err, out)
	}
	if !lockedDuringRecheck {
		t.Error("Recheck ran without the portal lock")
	}
	unchanged("stale")

	fh, err := lockedfile.OpenFile(f.prov.Path()+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Run(context.Background(), Options{Provider: f.prov, Store: f.store, State: st, Plan: p, Desired: f.desired, LockWait: 200 * time.Millisecond})
	var le *local.LockedError
	if !errors.As(err, &le) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("lock held elsewhere: err %v after %v", err, time.Since(start))
	}
	unchanged("locked")
	fh.Close()
	if _, err := Run(context.Background(), Options{Provider: f.prov, Store: f.store, State: st, Plan: p, Desired: f.desired, LockWait: time.Second}); err != nil {
		t.Fatalf("lock released: %v", err)
	}
}
