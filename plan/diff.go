package plan

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/state"
)

// Options tune a diff.
type Options struct {
	// IDs is the state: address → live ID.
	IDs map[string]int64
	// Targets and Excludes limit the plan (-target/-exclude): exact
	// addresses or a kind ("crm_role").
	Targets, Excludes []string
	// Writable says whether the backend can change a kind; other changes
	// become manual steps. nil means everything is writable.
	Writable func(graph.Kind) bool
	// ManualSteps describes a manual change; nil uses generic steps.
	ManualSteps func(Change) []string
	// PolicyOnly says live is another policy, not the portal (b24perm
	// diff): a protect entry may then name a portal object neither
	// policy declares, and is not checked.
	PolicyOnly bool
	// Readable says whether the backend can read a kind back; nil means
	// every kind. The baseline of a kind it cannot read is Recorded.
	Readable func(graph.Kind) bool
	// UnreadableWhy says why ("cannot be read over REST").
	UnreadableWhy string
	// Recorded is the state (address → record): what was applied or
	// confirmed, the baseline of the kinds the backend cannot read.
	Recorded map[string]state.Resource
	// FeaturesUnreadable: the backend can neither read nor write workgroup
	// feature permissions (REST). Confirmed ones (Recorded under
	// FeaturesKey) are taken as live; changes to them become manual
	// changes of their own with an unknown baseline.
	FeaturesUnreadable bool
	// PipelineDefaults returns the cells (entity level; Pipeline and Stage
	// are ignored) that the portal gives the live CRM role roleID when a
	// pipeline of entity is created: Bitrix writes default rights for
	// every existing role (provider/bitrix/defaults.go). smartTypeID is the
	// live entity type ID of a smart-process entity, 0 when the plan
	// creates the type. nil means the backend does not know; the plan then
	// leaves the defaults to show as drift on the next plan.
	PipelineDefaults func(roleID int64, entity string, smartTypeID int64) []graph.CRMPerm
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Diff computes the plan that makes live match desired. Both graphs must be
// normalized. Diagnostics report problems the user must fix (unknown
// subjects, a lockout, a protected role losing its assignments).
func Diff(desired, live *graph.Graph, opts Options) (*Plan, diag.Diagnostics) {
	var ds diag.Diagnostics
	live = rekey(desired, live, opts.IDs)
	ix := graph.NewIndex(live.Directory, live.Workgroups)
	desired, ds = canonicalize(desired, ix)
	if !opts.PolicyOnly {
		ds = append(ds, stageOrder(desired, live)...)
	}

	p := &Plan{FormatVersion: FormatVersion, PolicyDigest: desired.Digest(), Fingerprints: map[string]string{}, LiveIDs: map[string]int64{},
		Names: names(desired, live)}
	keepLiveOnly(desired, live)
	switch {
	case live.TelephonySecurityOff && !desired.TelephonySecurityOff:
		p.Warnings = append(p.Warnings, "telephony security is off on the portal (its plan lacks voximplant_security): Bitrix ignores telephony roles and applies its defaults; b24perm cannot switch it on; state telephony: security: \"off\" so that who-can and test answer as the portal does")
	case !live.TelephonySecurityOff && desired.TelephonySecurityOff:
		p.Warnings = append(p.Warnings, "the policy says telephony security is off (telephony: security: \"off\"), but the portal applies its telephony roles; b24perm cannot switch it off")
	}
	// Fingerprints cover what was read, not the baselines from the state.
	for a, r := range live.Resources() {
		if opts.Readable != nil && !opts.Readable(a.Kind) {
			continue
		}
		p.Fingerprints[a.String()] = r.Fingerprint()
		if id := r.ID(); id != 0 {
			p.LiveIDs[a.String()] = id
		}
	}
	live, base, un := baselines(desired, live, opts)
	p.Unreadable = un
	if opts.FeaturesUnreadable {
		live = overlayConfirmedFeatures(desired, live, opts.Recorded)
	}
	lres := live.Resources()
	if live.Directory != nil {
		b, _ := json.Marshal(live.Directory)
		sum := sha256.Sum256(b)
		p.Fingerprints["directory"] = hex.EncodeToString(sum[:12])
	}
	dres := desired.Resources()
	// Roles as they will be once the plan's new pipelines exist, before the
	// role changes run.
	withDefaults := newPipelineDefaults(desired, live, lres, dres, opts)
	all := map[graph.Addr]bool{}
	for a := range lres {
		all[a] = true
	}
	for a := range dres {
		all[a] = true
	}
	addrs := slices.SortedFunc(maps.Keys(all), func(a, b graph.Addr) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), cmp.Compare(a.Key, b.Key))
	})
	protected := map[string]bool{}
	removed := map[string]string{}
	if desired.Settings != nil {
		for _, a := range desired.Settings.Protect {
			protected[a] = true
		}
	}
	for _, r := range desired.Removed {
		removed[r.Address] = r.Reason
	}
	if !opts.PolicyOnly {
		ds = append(ds, unknownProtected(desired, all, opts.Readable)...)
	}
	dropped := map[droppedKey][]graph.DroppedRow{}
	for _, r := range live.Dropped {
		k := droppedKey{r.Kind, r.ObjectID}
		dropped[k] = append(dropped[k], r)
	}
	var creates, deletes []Change
	for _, a := range addrs {
		d, inDesired := dres[a]
		l, inLive := lres[a]
		mode := desired.ModeFor(a.Kind.Domain())
		bl := base[a]
		var ch Change
		switch {
		case bl != nil && bl.Source == BaselineUnknown && !inLive:
			if !inDesired {
				p.Unmanaged = append(p.Unmanaged, Unmanaged{Address: a.String(), Name: opts.Recorded[a.String()].Name, ID: opts.Recorded[a.String()].ID,
					Reason: fmt.Sprintf("%s (%s); no longer declared, left alone", bl.Describe(), un.Why)})
				continue
			}
			ch = Change{Action: Verify, After: clone(d), Attrs: createAttrs(a, d),
				Reason: fmt.Sprintf("%s (%s): b24perm will not change it automatically", bl.Describe(), un.Why)}
		case inDesired && inLive:
			reason := ""
			if r, ok := withDefaults[a]; ok {
				l.CRMRole = &r
				reason = "Bitrix gives every role default rights on a new pipeline; this update sets the policy's"
			}
			attrs := diffResource(a, l, d, desired)
			if len(attrs) == 0 {
				continue
			}
			// The update rewrites the object's stored rows: those the
			// model cannot read go with it, and are listed as destroyed.
			for _, r := range dropped[droppedKey{a.Kind, l.ID()}] {
				attrs = append(attrs, AttrChange{Kind: AttrRow, Action: Delete, Path: fmt.Sprintf("row %s #%d", r.Table, r.Row), Before: r.Problem})
			}
			ch = Change{Action: Update, Before: clone(l), After: clone(d), Attrs: attrs, ID: l.ID(), Reason: reason}
			if l.CRMRole != nil && l.CRMRole.System {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s matches the system role %q (ID %d), which b24perm never modifies; rename the declared role or remove it", a, l.Name(), l.ID()))
				continue
			}
		case inDesired:
			ch = Change{Action: Create, After: clone(d), Attrs: createAttrs(a, d)}
		default:
			if l.CRMRole != nil && l.CRMRole.System {
				p.Unmanaged = append(p.Unmanaged, Unmanaged{Address: a.String(), Name: l.Name(), ID: l.ID(), Reason: "system role, never managed"})
				continue
			}
			switch mode {
			case graph.ModeAuthoritative:
			case graph.ModeObserve:
			default:
				p.Unmanaged = append(p.Unmanaged, Unmanaged{Address: a.String(), Name: l.Name(), ID: l.ID(),
					Reason: fmt.Sprintf("not declared; kept because %s is additive", a.Kind.Domain())})
				continue
			}
			if a.Kind == graph.KindPipeline && strings.HasSuffix(a.Key, "."+graph.DefaultPipeline) {
				continue // the default pipeline always exists
			}
			ch = Change{Action: Delete, Before: clone(l), ID: l.ID(), Reason: fmt.Sprintf("not declared in the policy; %s is authoritative", a.Kind.Domain())}
			if protected[a.String()] {
				if why, ok := removed[a.String()]; ok {
					ch.Reason = "protected, removed on purpose: " + why
				} else {
					p.Warnings = append(p.Warnings, fmt.Sprintf("%s is protected (settings.protect): it is not deleted although the policy no longer declares it; add {address: %q, reason: \"…\"} to removed to delete it", a, a.String()))
					continue
				}
			}
		}
		ch.Addr, ch.Address, ch.Domain = a, a.String(), a.Kind.Domain()
		ch.Name = displayName(ch)
		ch.Baseline = bl
		if pos, ok := desired.Source(a.String()); ok {
			pp := pos
			ch.Source = &pp
		}
		if mode == graph.ModeObserve {
			p.Observed = append(p.Observed, ch)
			continue
		}
		if ch.Action == Verify {
			ch.Manual = true
			ch.ManualSteps = verifySteps(ch)
		} else if opts.Writable != nil && !opts.Writable(a.Kind) {
			ch.Manual = true
			if opts.ManualSteps != nil {
				ch.ManualSteps = opts.ManualSteps(ch)
			} else {
				ch.ManualSteps = DefaultManualSteps(ch, p.Names)
			}
		}
		if ch.Action == Delete {
			deletes = append(deletes, ch)
		} else {
			creates = append(creates, ch)
		}
	}
	// Deletes run after creations and updates, in reverse kind order, so
	// assignments move before roles disappear.
	slices.SortStableFunc(deletes, func(a, b Change) int { return cmp.Compare(kindOrder(b.Addr.Kind), kindOrder(a.Addr.Kind)) })
	p.Changes = append(creates, deletes...)
	var tds diag.Diagnostics
	p.Changes, tds = filterTargets(p.Changes, all, opts)
	ds = append(ds, tds...)
	if opts.FeaturesUnreadable {
		why := opts.UnreadableWhy
		if why == "" {
			why = "cannot be read by this backend"
		}
		p.Changes = splitFeatureChanges(p.Changes, p.Names, why)
	}
	p.Before, p.After = live, result(withRoles(live, withDefaults), p.Changes)
	p.After.Settings = desired.Settings
	// The guards judge the portal as apply would leave it: only the
	// changes that survive -target/-exclude are made, so a targeted plan
	// can lock out where the whole one would not.
	for _, ch := range p.Changes {
		if ch.Action == Update && protected[ch.Address] && removed[ch.Address] == "" && lostAssignments(ch.Attrs) {
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Protected role would lose assignments", Subject: sourceRange(desired, ch.Address),
				Detail: fmt.Sprintf("%s is protected (settings.protect) and this plan removes %s from it; add a removed entry with a reason to allow it", ch.Address, strings.Join(removedAssignments(ch.Attrs), ", "))})
		}
	}
	ds = append(ds, lockout(p.Before, p.After, p.Changes, ix, p.Targeted || len(opts.Targets) > 0 || len(opts.Excludes) > 0)...)
	if w := unpredictedDefaults(p.Changes, opts); w != "" {
		p.Warnings = append(p.Warnings, w)
	}
	if len(opts.Targets) > 0 || len(opts.Excludes) > 0 {
		p.Targeted = true
		p.Targets, p.Excludes = slices.Clone(opts.Targets), slices.Clone(opts.Excludes)
		p.Warnings = append(p.Warnings, "Resource targeting is in effect: the plan may be incomplete, and applying it may leave the portal different from the policy.")
	}
	return p, ds.Sort()
}

func clone(r graph.Resource) *graph.Resource { return &r }

type droppedKey struct {
	kind graph.Kind
	id   int64
}

func kindOrder(k graph.Kind) int { return slices.Index(graph.Kinds, k) }

func displayName(ch Change) string {
	if ch.After != nil {
		return ch.After.Name()
	}
	if ch.Before != nil {
		return ch.Before.Name()
	}
	return ch.Address
}

func sourceRange(g *graph.Graph, key string) *diag.Range {
	p, ok := g.Source(key)
	if !ok {
		return nil
	}
	return &diag.Range{Filename: p.File, Start: diag.Pos{Line: p.Line, Column: p.Col}, End: diag.Pos{Line: p.Line, Column: p.Col}}
}

func lostAssignments(attrs []AttrChange) bool { return len(removedAssignments(attrs)) > 0 }

func removedAssignments(attrs []AttrChange) []string {
	var out []string
	for _, a := range attrs {
		if a.Kind == AttrAssign && a.Action == Delete {
			out = append(out, a.Before)
		}
	}
	return out
}

// names collects pipeline and stage display names for renderers.
func names(desired, live *graph.Graph) map[string]string {
	m := map[string]string{}
	for _, g := range []*graph.Graph{live, desired} {
		for _, p := range g.Pipelines {
			m[p.Entity+"/"+p.Key] = p.Name
			for _, s := range p.Stages {
				m[p.Entity+"/"+p.Key+"/"+s.Key] = s.Name
			}
		}
		for _, s := range g.SmartProcesses {
			m[graph.SmartProcessPrefix+s.Key] = s.Name
		}
		for _, w := range g.Workgroups {
			m["workgroup/"+w.Key] = w.Name
		}
	}
	return m
}

// keepLiveOnly copies into desired's workgroups (a copy made by
// canonicalize) what only the live side holds: banned users, join
// requests and invitations. A policy does not state them and a plan never
// changes them, so the state after the plan still has them; a user the
// policy declares a member is a member (Normalize drops them there).
func keepLiveOnly(desired, live *graph.Graph) {
	byKey := map[string]*graph.Workgroup{}
	for i := range live.Workgroups {
		byKey[live.Workgroups[i].Key] = &live.Workgroups[i]
	}
	for i := range desired.Workgroups {
		w := &desired.Workgroups[i]
		if l := byKey[w.Key]; l != nil {
			w.Banned, w.Requests, w.Invited = slices.Clone(l.Banned), slices.Clone(l.Requests), slices.Clone(l.Invited)
			w.Normalize()
		}
	}
}

// canonicalize returns a copy of desired whose subjects are in the
// directory's preferred form, reporting subjects that do not resolve.
func canonicalize(desired *graph.Graph, ix *graph.Index) (*graph.Graph, diag.Diagnostics) {
	var ds diag.Diagnostics
	declaredWG := map[string]bool{}
	for _, w := range desired.Workgroups {
		declaredWG[w.Key] = true
	}
	out := *desired
	conv := func(addr graph.Addr, subjects []string, what string) []string {
		res := make([]string, 0, len(subjects))
		for _, s := range subjects {
			c, err := ix.Canonical(s)
			if err != nil {
				sub, _ := graph.ParseSubject(s)
				if strings.HasPrefix(sub.Kind, "workgroup_") && declaredWG[sub.Ref] {
					res = append(res, s)
					continue
				}
				r := sourceRange(desired, graph.AssignSourceKey(addr, s))
				if r == nil {
					r = sourceRange(desired, addr.String())
				}
				summary := "Unknown " + strings.ReplaceAll(sub.Kind, "_", " ")
				if errors.Is(err, graph.ErrAmbiguousUser) {
					summary = "Ambiguous user"
				}
				ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: summary, Subject: r,
					Detail: fmt.Sprintf("%s of %s: %v", what, addr, err)})
				continue
			}
			res = append(res, c)
		}
		return res
	}
	out.CRMRoles = slices.Clone(desired.CRMRoles)
	for i := range out.CRMRoles {
		r := &out.CRMRoles[i]
		r.Assign = graph.SortedSet(conv(graph.Addr{Kind: graph.KindCRMRole, Key: r.Key}, r.Assign, "assignment"))
		if r.Assign == nil {
			r.Assign = []string{}
		}
	}
	simple := func(kind graph.Kind, in []graph.SimpleRole) []graph.SimpleRole {
		res := slices.Clone(in)
		for i := range res {
			res[i].Assign = graph.SortedSet(conv(graph.Addr{Kind: kind, Key: res[i].Key}, res[i].Assign, "assignment"))
			if res[i].Assign == nil {
				res[i].Assign = []string{}
			}
		}
		return res
	}
	out.TelephonyRoles = simple(graph.KindTelephony, desired.TelephonyRoles)
	out.OpenlineRoles = simple(graph.KindOpenline, desired.OpenlineRoles)
	out.Workgroups = slices.Clone(desired.Workgroups)
	for i := range out.Workgroups {
		w := &out.Workgroups[i]
		a := graph.Addr{Kind: graph.KindWorkgroup, Key: w.Key}
		if o := conv(a, []string{w.Owner}, "owner"); len(o) == 1 {
			w.Owner = o[0]
		}
		w.Moderators = conv(a, w.Moderators, "moderator")
		w.Members = conv(a, w.Members, "member")
		w.Normalize()
	}
	out.OpenChannels = slices.Clone(desired.OpenChannels)
	for i := range out.OpenChannels {
		c := &out.OpenChannels[i]
		a := graph.Addr{Kind: graph.KindOpenChannel, Key: c.Key}
		c.Queue = conv(a, queueOperators(desired, a, c, ix, &ds), "queue entry")
		c.Normalize()
	}
	out.FieldRules = slices.Clone(desired.FieldRules)
	for i := range out.FieldRules {
		f := &out.FieldRules[i]
		a := graph.Addr{Kind: graph.KindFieldRule, Key: f.Key}
		f.View = graph.SortedSet(conv(a, f.View, "view subject"))
		f.Edit = graph.SortedSet(conv(a, f.Edit, "edit subject"))
	}
	return &out, ds
}

// queueOperators returns the queue of c without the users Bitrix does not
// keep in an open-channel queue (graph.User.QueueOperator: inactive
// users and users outside the company structure), warning at each such
// entry. QueueManager::update writes neither their b_imopenlines_config_queue
// row nor their b_imopenlines_queue row, so keeping them in the desired
// queue would show the same change in every plan.
func queueOperators(desired *graph.Graph, a graph.Addr, c *graph.OpenChannel, ix *graph.Index, ds *diag.Diagnostics) []string {
	out := make([]string, 0, len(c.Queue))
	for _, s := range c.Queue {
		sub, err := graph.ParseSubject(s)
		if err != nil || sub.Kind != graph.SubjUser {
			out = append(out, s)
			continue
		}
		u, ok := ix.LookupUser(sub.Ref)
		if !ok || u.QueueOperator() {
			out = append(out, s)
			continue
		}
		why := "is inactive on the portal"
		if !u.Inactive {
			why = "belongs to no department of the company structure (an extranet user to open channels)"
		}
		who := fmt.Sprintf("%s (%s, ID %d)", cmp.Or(u.Name, u.Email), u.Email, u.ID)
		r := sourceRange(desired, graph.AssignSourceKey(a, s))
		if r == nil {
			r = sourceRange(desired, a.String())
		}
		*ds = append(*ds, diag.Diagnostic{Severity: diag.Warning, Summary: "Queue entry left out", Subject: r,
			Detail: fmt.Sprintf("open channel %q: user %s %s; Bitrix puts only active employees into an open-channel queue and takes a user out of every queue when they are deactivated (QueueManager::update, isValidUser; imopenlines/lib/queuemanager.php), so the plan leaves the entry out and the user receives none of its chats; remove it from the policy", c.Name, who, why)})
	}
	return out
}

// filterTargets applies -target and -exclude.
func filterTargets(changes []Change, all map[graph.Addr]bool, opts Options) ([]Change, diag.Diagnostics) {
	var ds diag.Diagnostics
	check := func(flag string, pats []string) {
		for _, t := range pats {
			if slices.Contains(graph.Kinds, graph.Kind(t)) {
				continue
			}
			a, err := graph.ParseAddr(t)
			if err != nil {
				ds.Errorf(nil, "Invalid "+flag, "%v", err)
				continue
			}
			if !all[a] {
				ds.Errorf(nil, "Invalid "+flag, "%s is neither declared in the policy nor present on the portal", t)
			}
		}
	}
	check("-target", opts.Targets)
	check("-exclude", opts.Excludes)
	if len(opts.Targets) == 0 && len(opts.Excludes) == 0 {
		return changes, ds
	}
	var out []Change
	for _, c := range changes {
		keep := len(opts.Targets) == 0
		for _, t := range opts.Targets {
			if c.Addr.Matches(t) {
				keep = true
			}
		}
		for _, e := range opts.Excludes {
			if c.Addr.Matches(e) {
				keep = false
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out, ds
}

// Fingerprints recomputes the fingerprints a plan records, for the stale
// check of a saved plan: the same re-keying, the same hashes.
func Fingerprints(desired, live *graph.Graph, ids map[string]int64) map[string]string {
	live = rekey(desired, live, ids)
	out := map[string]string{}
	for a, r := range live.Resources() {
		out[a.String()] = r.Fingerprint()
	}
	if live.Directory != nil {
		b, _ := json.Marshal(live.Directory)
		sum := sha256.Sum256(b)
		out["directory"] = hex.EncodeToString(sum[:12])
	}
	return out
}

// result applies changes to a copy of live: the graph apply would leave.
func result(live *graph.Graph, changes []Change) *graph.Graph {
	// Apply cannot switch telephony security: the portal keeps its own.
	out := &graph.Graph{Directory: live.Directory, Settings: live.Settings, TelephonySecurityOff: live.TelephonySecurityOff}
	res := live.Resources()
	for _, c := range changes {
		switch c.Action {
		case Delete:
			delete(res, c.Addr)
		default:
			if c.After != nil {
				r := *c.After
				res[c.Addr] = r
			}
		}
	}
	for _, a := range slices.SortedFunc(maps.Keys(res), func(a, b graph.Addr) int { return cmp.Compare(a.String(), b.String()) }) {
		appendResource(out, a, res[a])
	}
	return out
}

// DiffPolicies compares two compiled policies over a directory, as if
// base were live: every domain is treated as authoritative, so removed
// declarations show as deletions.
func DiffPolicies(base, head *graph.Graph, dir *graph.Directory) (*Plan, diag.Diagnostics) {
	ix := graph.NewIndex(dir, base.Workgroups)
	b, ds := canonicalize(base, ix)
	b.Directory = dir
	h := *head
	h.Settings = &graph.Settings{Mode: map[string]string{}}
	if head.Settings != nil {
		h.Settings.Protect, h.Settings.SensitiveFields = head.Settings.Protect, head.Settings.SensitiveFields
	}
	for _, d := range graph.Domains {
		h.Settings.Mode[d] = graph.ModeAuthoritative
	}
	p, ds2 := Diff(&h, b, Options{PolicyOnly: true})
	if p.After != nil {
		p.After.Settings = head.Settings
	}
	return p, append(ds, ds2...)
}

// unknownProtected: a settings.protect entry that names nothing (neither
// declared nor on the portal) protects nothing, silently; it is an error
// at the entry, with the nearest address that exists.
//
// Kinds the backend cannot read are not judged: their live objects are
// unknown.
func unknownProtected(desired *graph.Graph, all map[graph.Addr]bool, readable func(graph.Kind) bool) diag.Diagnostics {
	if desired.Settings == nil {
		return nil
	}
	var ds diag.Diagnostics
	var known []string
	for _, a := range desired.Settings.Protect {
		addr, err := graph.ParseAddr(a)
		if err != nil || all[addr] || (readable != nil && !readable(addr.Kind)) {
			continue
		}
		if known == nil {
			for k := range all {
				known = append(known, k.String())
			}
			slices.Sort(known)
		}
		hint := ""
		if s := nearest(a, known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Protected address matches nothing", Subject: sourceRange(desired, graph.ProtectSourceKey(a)),
			Detail: fmt.Sprintf("settings.protect names %s, which is neither declared in the policy nor present on the portal, so it protects nothing%s", a, hint)})
	}
	return ds
}

// nearest returns the candidate closest to s by edit distance, if close
// enough to be a typo (ties: the first in candidates' order).
func nearest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len([]rune(s))/4) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(y)]
}
