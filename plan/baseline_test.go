package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/state"
)

// A backend that cannot read CRM roles: the live graph has none. Without
// a state record a declared role is unknown (Verify), never created; with
// a recorded content the role is diffed against it; an older record with
// only a matching fingerprint counts as the declared role.
func TestUnreadableKindsUseTheStateAsBaseline(t *testing.T) {
	live := liveGraph()
	live.CRMRoles = nil
	noRoles := func(k graph.Kind) bool { return k != graph.KindCRMRole }
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

	p, ds := Diff(desiredGraph(), live, Options{Readable: noRoles, UnreadableWhy: "cannot be read over REST"})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	add, change, destroy := p.Summary()
	if add+change+destroy != 0 || p.UnknownCount() != 2 {
		t.Fatalf("summary %d/%d/%d, %d unknown: %+v", add, change, destroy, p.UnknownCount(), p.Changes)
	}
	for _, c := range p.Changes {
		if c.Action != Verify || !c.Manual || c.Baseline == nil || c.Baseline.Source != BaselineUnknown || len(c.ManualSteps) != 1 {
			t.Errorf("%s: %+v", c.Address, c)
		}
	}
	if got := p.Changes[1].Reason; got != "unknown: never applied through b24perm (cannot be read over REST): b24perm will not change it automatically" {
		t.Errorf("reason %q", got)
	}
	if p.Unreadable == nil || p.Unreadable.Unknown != 2 || p.Unreadable.FromState != 0 {
		t.Errorf("unreadable %+v", p.Unreadable)
	}

	// The state recorded the manager as confirmed with deal/wholesale read
	// at department, and the administrator by fingerprint only.
	canon, _ := Diff(desiredGraph(), liveGraph(), Options{})
	var mgr, adm *graph.Resource
	for _, c := range canon.Changes {
		if c.Address == "crm_role.manager" {
			m := *c.Before.CRMRole
			m.Assign = c.After.CRMRole.Assign
			mgr = &graph.Resource{CRMRole: &m}
		}
	}
	for _, r := range []graph.CRMRole{admin(0)} {
		adm = &graph.Resource{CRMRole: &r}
	}
	rec := map[string]state.Resource{
		"crm_role.manager":       {Name: "Manager", At: at, Confirmed: true, Content: mgr},
		"crm_role.administrator": {Name: "Administrator", Fingerprint: adm.Fingerprint()},
		"crm_role.gone":          {Name: "Gone", At: at, Content: &graph.Resource{CRMRole: &graph.CRMRole{Name: "Gone", Assign: []string{}}}},
	}
	p, ds = Diff(desiredGraph(), live, Options{Readable: noRoles, Recorded: rec, Writable: noRoles})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if len(p.Changes) != 2 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	m := p.Changes[0]
	if m.Address != "crm_role.manager" || m.Action != Update || !m.Manual || m.Baseline.Source != BaselineState || len(m.Attrs) != 2 {
		t.Fatalf("manager: %+v", m)
	}
	if got := m.Baseline.Describe(); got != "known from state, confirmed by hand 2026-11-30 09:00 UTC" {
		t.Errorf("describe %q", got)
	}
	if d := p.Changes[1]; d.Address != "crm_role.gone" || d.Action != Delete || d.Baseline.Source != BaselineState {
		t.Errorf("gone: %+v", d)
	}
	// Fingerprints cover only what was read: a saved plan's stale check
	// compares them with a fresh read, which has no CRM roles.
	for a := range p.Fingerprints {
		if a == "crm_role.manager" || a == "crm_role.administrator" {
			t.Errorf("fingerprint of unread %s", a)
		}
	}
	if p.Unreadable.FromState != 3 || p.Unreadable.Unknown != 0 {
		t.Errorf("unreadable %+v", p.Unreadable)
	}
	// The result graph has the roles as applied, for the access delta.
	if len(p.Before.CRMRoles) != 3 || len(p.After.CRMRoles) != 2 {
		t.Errorf("before %d roles, after %d", len(p.Before.CRMRoles), len(p.After.CRMRoles))
	}
}

// Over unknown roles the access delta computes no gains or losses from
// their absence: it names them and counts the users they reach.
func TestAccessDeltaOverUnknownBaseline(t *testing.T) {
	live := liveGraph()
	live.CRMRoles = nil
	p, ds := Diff(desiredGraph(), live, Options{Readable: func(k graph.Kind) bool { return k != graph.KindCRMRole }, UnreadableWhy: "cannot be read over REST"})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	d := p.AccessDelta(dir(), desiredGraph())
	if len(d.Groups) != 0 || d.Gainers != 0 || d.Losers != 0 || d.NoChange() {
		t.Fatalf("delta computed from an absence: %+v", d)
	}
	u := d.Unknown
	if u == nil || len(u.Objects) != 2 || u.Objects[0] != "crm_role.administrator" || u.Users != 3 || u.Why != "cannot be read over REST" {
		t.Fatalf("unknown: %+v", u)
	}
	// The plan's own graphs are left as they were.
	if len(p.Before.CRMRoles) != 0 {
		t.Errorf("before changed: %d roles", len(p.Before.CRMRoles))
	}
}

// A large access delta is capped in text: groups and changes beyond the
// limits are summarized with counts.
func TestAccessTextIsCapped(t *testing.T) {
	d := &access.Delta{Gainers: 100}
	for i := range 100 {
		g := access.DeltaGroup{Users: []access.UserRef{{ID: int64(i), Name: fmt.Sprintf("U%d", i)}, {ID: int64(1000 + i), Name: "V"}}}
		for j := range 30 {
			g.Changes = append(g.Changes, access.CellChange{Domain: "crm", Label: fmt.Sprintf("cell %d/%d", i, j), Before: "none", After: "all", Widens: true})
		}
		d.Groups = append(d.Groups, g)
	}
	var b bytes.Buffer
	RenderAccessText(&b, d, false)
	out := b.String()
	if n := strings.Count(out, "\n"); n > MaxAccessGroups*(MaxAccessChanges+2)+5 {
		t.Errorf("%d lines", n)
	}
	for _, want := range []string{"… and 60 more groups of users (120 users) with other changes; every group: --format json", "… and 5 more changes for these users (--format json)"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out[len(out)-500:])
		}
	}
}

// Workgroup feature permissions that the backend can neither read nor
// write: a manual change of their own, with an unknown baseline, until an
// administrator confirms them; then they are taken as live.
func TestUnreadableFeatures(t *testing.T) {
	desired := gen.Generate(gen.Sizes["s"], 1)
	live := gen.Generate(gen.Sizes["s"], 1)
	desired.Directory = nil
	var key string
	for i := range live.Workgroups {
		if len(live.Workgroups[i].Features) > 0 && key == "" {
			key = live.Workgroups[i].Key
			live.Workgroups[i].Features = nil
		}
	}
	if key == "" {
		t.Fatal("no workgroup with feature permissions")
	}
	opts := Options{FeaturesUnreadable: true, UnreadableWhy: "cannot be read over REST"}
	p, ds := Diff(desired, live, opts)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if len(p.Changes) != 1 || p.Changes[0].Address != FeaturesKey(key) || !p.Changes[0].Manual ||
		p.Changes[0].Baseline.Describe() != "unknown: feature permissions cannot be read over REST" {
		t.Fatalf("changes: %+v", p.Changes)
	}
	d := p.AccessDelta(live.Directory, desired)
	if len(d.Groups) != 0 || d.Unknown == nil || d.Unknown.Objects[0] != FeaturesKey(key) {
		t.Fatalf("delta over unknown features: %+v", d)
	}
	var w *graph.Workgroup
	for i := range desired.Workgroups {
		if desired.Workgroups[i].Key == key {
			w = &desired.Workgroups[i]
		}
	}
	opts.Recorded = map[string]state.Resource{FeaturesKey(key): {Fingerprint: FeaturesFingerprint(w)}}
	if p, _ := Diff(desired, live, opts); p.HasChanges() {
		t.Fatalf("confirmed features still differ: %+v", p.Changes)
	}
}
