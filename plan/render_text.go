package plan

import (
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

// RenderOptions tune the human renderers.
type RenderOptions struct {
	Color bool
	// MaxBytes caps markdown output (default 65,000).
	MaxBytes int
	// ArtifactHint is shown when markdown is truncated ("see the plan artifact").
	ArtifactHint string
	// Compact renders one line per changed object and a short access
	// section: a 10,000-change plan stays readable.
	Compact bool
	// Limit caps the objects shown in detail (0: all); the rest are
	// counted.
	Limit int
	// SourceURL, when set, links a policy position in markdown (e.g. to the
	// file at the pull request's commit on GitHub).
	SourceURL func(file string, line int) string
}

// Access-section caps: groups of users shown, and changes per group.
const (
	accessGroupsShown        = MaxAccessGroups
	accessChangesShown       = MaxAccessChanges
	compactAccessGroupsShown = 10
	compactChangesShown      = 5
	// largePlan is the number of changes above which the summary suggests
	// --compact.
	largePlan = 50
)

type styler struct{ on bool }

func (s styler) wrap(code, text string) string {
	if !s.on {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}
func (s styler) bold(t string) string   { return s.wrap("1", t) }
func (s styler) green(t string) string  { return s.wrap("32", t) }
func (s styler) yellow(t string) string { return s.wrap("33", t) }
func (s styler) red(t string) string    { return s.wrap("31", t) }
func (s styler) dim(t string) string    { return s.wrap("2", t) }

func (s styler) glyph(a Action) string {
	switch a {
	case Create:
		return s.green("+")
	case Update:
		return s.yellow("~")
	case Delete:
		return s.red("-")
	case Replace:
		return s.red("-/+")
	case Verify:
		return s.yellow("?")
	}
	return " "
}

func shortPos(p *graph.Pos) string {
	if p == nil || !p.IsValid() {
		return ""
	}
	return fmt.Sprintf("(%s:%d)", path.Base(p.File), p.Line)
}

func fullPos(p *graph.Pos) string {
	if p == nil || !p.IsValid() {
		return ""
	}
	return fmt.Sprintf("(%s:%d)", p.File, p.Line)
}

// pad aligns a trailing annotation.
func pad(left, right string, width int) string {
	if right == "" {
		return left
	}
	n := width - len([]rune(left))
	if n < 2 {
		n = 2
	}
	return left + strings.Repeat(" ", n) + right
}

func changeHeadline(c Change) string {
	switch c.Action {
	case Create:
		return "will be created"
	case Update:
		st, rows := c.Destroys()
		var what []string
		if st > 0 {
			what = append(what, plural(st, "stage", "stages"))
		}
		if rows > 0 {
			what = append(what, plural(rows, "stored row", "stored rows"))
		}
		if len(what) > 0 {
			return "will be updated in place, destroying " + strings.Join(what, " and ")
		}
		return "will be updated in place"
	case Delete:
		return "will be destroyed"
	case Replace:
		return "must be replaced"
	}
	return ""
}

// AttrLine renders one attribute change without its glyph.
func AttrLine(c Change, a AttrChange, names map[string]string) string {
	switch a.Kind {
	case AttrCell:
		if a.Cell == nil {
			break
		}
		label := ""
		if c.Addr.Kind == graph.KindCRMRole {
			label = CellLabel(*a.Cell, names)
		} else {
			label = SimpleCellLabel(c.Addr.Kind, a.Cell.Entity, a.Cell.Action)
		}
		before, after := a.Before, a.After
		if a.BeforeInherited {
			before = "(inherit: " + before + ")"
		}
		if a.AfterInherited {
			after = "(inherit: " + after + ")"
		}
		if c.Action == Create || c.Action == Verify {
			return pad(label, after, 44)
		}
		return pad(label, before+" → "+after, 44)
	case AttrAssign:
		verb := "assigned to "
		if c.Addr.Kind == graph.KindFieldRule {
			verb = a.Path + ": "
		}
		if a.Action == Delete {
			return verb + SubjectLabel(a.Before)
		}
		return verb + SubjectLabel(a.After)
	case AttrMember:
		role := strings.TrimSuffix(a.Path, "s")
		if a.Action == Delete {
			return role + " " + SubjectLabel(a.Before)
		}
		return role + " " + SubjectLabel(a.After)
	case AttrOrder:
		return pad(a.Path, queueLabels(a.Before)+" → "+queueLabels(a.After), 44)
	case AttrFeature:
		return pad("feature "+strings.TrimPrefix(a.Path, "features."), a.Before+" → "+a.After, 44)
	case AttrRow:
		return fmt.Sprintf("%s, destroyed: %s", a.Path, a.Before)
	case AttrStage:
		if a.Action == Delete {
			return fmt.Sprintf("stage %q (%s), destroyed", a.Before, strings.TrimPrefix(a.Path, "stages."))
		}
		if a.Action == Update {
			return fmt.Sprintf("stage %s: %q → %q", strings.TrimPrefix(a.Path, "stages."), a.Before, a.After)
		}
		return fmt.Sprintf("stage %q (%s)", a.After, strings.TrimPrefix(a.Path, "stages."))
	}
	if c.Action == Create || c.Action == Verify {
		return pad(a.Path, fmt.Sprintf("%q", a.After), 44)
	}
	if a.Action == Delete {
		return a.Path + " " + a.Before
	}
	if a.Action == Create {
		return a.Path + " " + a.After
	}
	return pad(a.Path, fmt.Sprintf("%q → %q", a.Before, a.After), 44)
}

// RenderText writes the plan for a terminal, like terraform plan.
func RenderText(w io.Writer, p *Plan, o RenderOptions) error {
	s := styler{o.Color}
	bw := &errWriter{w: w}
	if p.AgainstDemo() {
		// A plan piped to a file keeps what stderr said about the demo.
		bw.printf("%s\n", s.dim("Made against the demo portal ("+strings.TrimSuffix(p.Backend, DemoBackendSuffix)+"), not a real Bitrix24 portal."))
	}
	for _, a := range p.Anomalies {
		bw.printf("%s %s\n", s.yellow("Warning:"), a)
	}
	if len(p.Changes) == 0 {
		if p.Drift {
			bw.printf("%s The portal matches the last applied policy: no drift.\n", s.bold("No drift."))
		} else {
			bw.printf("%s The portal matches the policy.\n", s.bold("No changes."))
		}
	} else {
		if p.Drift {
			renderDriftBody(bw, s, p)
		} else {
			renderSummaryText(bw, s, p, o)
			bw.printf("b24perm will perform the following actions:\n\n")
			for i, c := range p.Changes {
				if o.Limit > 0 && i == o.Limit {
					bw.printf("  %s\n\n", s.dim(fmt.Sprintf("… and %s not shown (--limit %d; --format json has them all)", plural(len(p.Changes)-i, "more change", "more changes"), o.Limit)))
					break
				}
				if o.Compact {
					renderChangeCompact(bw, s, c)
					continue
				}
				renderChangeText(bw, s, p, c)
			}
			if o.Compact {
				bw.printf("\n")
			}
		}
		add, change, destroy := p.Summary()
		if p.Drift {
			verb := "differ"
			if len(p.Changes) == 1 {
				verb = "differs"
			}
			bw.printf("%s %s %s from the policy.\n", s.bold("Drift:"), plural(len(p.Changes), "object", "objects"), verb)
			outside, pending, unknown := p.DriftCounts()
			bw.printf("  %d changed outside b24perm, %d not yet applied", outside, pending)
			if unknown > 0 {
				bw.printf(", %d unknown (the backend cannot read them)", unknown)
			}
			bw.printf(".\n")
			goto tail
		}
		bw.printf("%s %d to add, %d to change, %d to destroy.", s.bold("Plan:"), add, change, destroy)
		if n := p.ManualCount() - p.UnknownCount(); n > 0 {
			bw.printf(" %d of them manual.", n)
		}
		if n := p.UnknownCount(); n > 0 {
			bw.printf(" %s unknown: b24perm cannot read %s and will not change %s automatically.", plural(n, "object", "objects"), them(n), them(n))
		}
		bw.printf("\n")
	}
tail:
	if len(p.Observed) > 0 {
		bw.printf("\nDifferences in observe-mode domains (reported, never applied):\n")
		for _, c := range p.Observed {
			bw.printf("  %s %s %q\n", s.glyph(c.Action), c.Addr.Kind, c.Name)
		}
	}
	if len(p.Unmanaged) > 0 {
		bw.printf("\nObjects on the portal not managed by this policy (kept):\n")
		for _, u := range p.Unmanaged {
			bw.printf("  %s %q (ID %d): %s\n", u.Address, u.Name, u.ID, u.Reason)
		}
	}
	if n := p.ManualCount(); n > 0 {
		bw.printf("\nManual steps (the backend cannot change these; apply lists them again):\n")
		i := 1
		for _, c := range p.Changes {
			for _, st := range c.ManualSteps {
				bw.printf("  %d. %s\n", i, st)
				i++
			}
		}
	}
	for _, g := range GroupWarnings(p.Warnings) {
		bw.printf("\n%s %s\n", s.yellow("Warning:"), g.First)
		if len(g.Others) > 0 {
			bw.printf("  %s\n", s.dim(fmt.Sprintf("(and %s like this: %s)", plural(len(g.Others), "more", "more"), firstN(g.Others, 5))))
		}
	}
	if n := UnreadableNote(p); n != "" {
		bw.printf("\n%s %s\n", s.bold("Note:"), n)
	}
	if p.Access != nil && (p.HasChanges() || !p.Access.NoChange()) {
		bw.printf("\n")
		groups, changes := accessGroupsShown, accessChangesShown
		if o.Compact {
			groups, changes = compactAccessGroupsShown, compactChangesShown
		}
		title := "Access changes (computed with Bitrix24's merge rules):"
		if p.Drift {
			title = DriftAccessTitle + ":"
		}
		renderAccessText(bw, p.Access, s.on, groups, changes, title)
	}
	return bw.err
}

// DriftAccessTitle heads the access section of drift: what the changes
// made outside b24perm did, in the direction they happened.
const DriftAccessTitle = "Access changes made outside b24perm (the portal now, compared with what b24perm applied)"

// renderDriftBody lists the changes made outside b24perm first, then what
// the policy declares and was not applied yet.
func renderDriftBody(bw *errWriter, s styler, p *Plan) {
	outside, pending, unknown := p.DriftCounts()
	if outside > 0 {
		bw.printf("Changed outside b24perm (the portal differs from what b24perm applied):\n\n")
		for _, c := range p.Changes {
			if c.Drift != DriftPending && c.Drift != DriftUnknown {
				renderDriftText(bw, s, p, c)
			}
		}
		bw.printf("Apply the policy to revert these changes, or import them into the policy.\n\n")
	}
	if pending > 0 {
		bw.printf("Not yet applied (in the policy, but b24perm has not applied it):\n\n")
		for _, c := range p.Changes {
			if c.Drift == DriftPending {
				renderPendingText(bw, s, p, c)
			}
		}
		bw.printf("Run b24perm plan and apply to make these changes.\n\n")
	}
	if unknown > 0 {
		bw.printf("Cannot be read (whether they drifted is unknown):\n\n")
		for _, c := range p.Changes {
			if c.Drift == DriftUnknown {
				line := fmt.Sprintf("  ? %s %q", c.Address, c.Name)
				if c.Baseline != nil {
					line += "   (" + c.Baseline.Describe() + ")"
				}
				bw.printf("%s\n", line)
			}
		}
		bw.printf("\n")
	}
}

// renderPendingText shows one change the policy declares and b24perm has
// not applied yet, from the policy's point of view.
func renderPendingText(bw *errWriter, s styler, p *Plan, c Change) {
	switch c.Action {
	case Create:
		bw.printf("  %s %s %q is declared in the policy, not created yet   %s\n\n", s.green("+"), c.Address, c.Name, s.dim(fullPos(c.Source)))
		return
	case Delete:
		bw.printf("  %s %s %q%s is not in the policy; apply deletes it\n\n", s.red("-"), c.Address, c.Name, idText(c.ID))
		return
	}
	bw.printf("  %s %s %q%s will change   %s\n", s.yellow("~"), c.Address, c.Name, idText(c.ID), s.dim(fullPos(c.Source)))
	for i, a := range c.Attrs {
		if i == 20 {
			bw.printf("      … and %d more\n", len(c.Attrs)-20)
			break
		}
		bw.printf("      %s %s\n", s.glyph(a.Action), AttrLine(c, a, p.Names))
	}
	bw.printf("\n")
}

// DomainCounts is one row of the per-domain summary.
type DomainCounts struct {
	Domain                                   string
	Add, Change, Destroy, Gain, Lose, Manual int
	Sensitive                                bool
}

// DomainSummary counts changes and access effects per domain (domains
// without either are left out).
func DomainSummary(p *Plan) []DomainCounts {
	gain, lose := domainAccess(p)
	var out []DomainCounts
	for _, d := range graph.Domains {
		r := DomainCounts{Domain: d, Gain: gain[d], Lose: lose[d]}
		for _, ch := range p.Changes {
			if ch.Domain != d {
				continue
			}
			switch ch.Action {
			case Create:
				r.Add++
			case Update:
				r.Change++
				st, rows := ch.Destroys()
				r.Destroy += st + rows
			case Delete:
				r.Destroy++
			case Replace:
				r.Add++
				r.Destroy++
			}
			if ch.Manual {
				r.Manual++
			}
		}
		if r.Add+r.Change+r.Destroy+r.Gain+r.Lose == 0 {
			continue
		}
		r.Sensitive = sensitiveCount(p, d, 1) != "1"
		out = append(out, r)
	}
	return out
}

// SensitiveItem is a sensitive or admin-level cell the plan widens.
type SensitiveItem struct {
	Label, Before, After string
	Users                []access.UserRef
	Admin                bool
}

// SensitiveItems lists the widened sensitive and admin-level cells, with
// the users who gain them, in delta order.
func SensitiveItems(p *Plan) []SensitiveItem {
	if p.Access == nil {
		return nil
	}
	var out []SensitiveItem
	index := map[string]int{}
	for _, g := range p.Access.Groups {
		for _, c := range g.Changes {
			if !c.Widens || !(c.Sensitive || c.Admin) {
				continue
			}
			k := c.Label + "\x00" + c.Before + "\x00" + c.After
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				out = append(out, SensitiveItem{Label: c.Label, Before: c.Before, After: c.After, Admin: c.Admin && !c.Sensitive})
			}
			out[i].Users = append(out[i].Users, g.Users...)
		}
	}
	return out
}

// WidensBanner is the security-review banner of plans that widen
// sensitive or admin-level access.
const WidensBanner = "Widens access to a sensitive field or grants admin-level rights. Needs security review."

// renderSummaryText starts a plan with what matters at any size: the
// counts per domain, the security banner and the sensitive items.
func renderSummaryText(bw *errWriter, s styler, p *Plan, o RenderOptions) {
	add, change, destroy := p.Summary()
	bw.printf("%s %d to add, %d to change, %d to destroy", s.bold("Summary:"), add, change, destroy)
	if n := p.ManualCount(); n > 0 {
		bw.printf(" (%d manual)", n)
	}
	if p.Access != nil {
		bw.printf("; %s gain, %s lose access", plural(p.Access.Gainers, "user", "users"), plural(p.Access.Losers, "user", "users"))
	}
	bw.printf(".\n")
	rows := DomainSummary(p)
	if len(rows) > 1 || len(p.Changes) > 1 {
		bw.printf("  %-17s %5s %7s %8s %7s %7s %7s\n", "", "add", "change", "destroy", "gain", "lose", "manual")
		for _, r := range rows {
			mark := ""
			if r.Sensitive {
				mark = " ⚠ sensitive"
			}
			bw.printf("  %-17s %5d %7d %8d %7d %7d %7d%s\n", domainTitles[r.Domain], r.Add, r.Change, r.Destroy, r.Gain, r.Lose, r.Manual, mark)
		}
	}
	if p.Access != nil && p.Access.Widening {
		bw.printf("%s\n", s.red("⚠ "+WidensBanner))
		items := SensitiveItems(p)
		for i, it := range items {
			if i == 10 {
				bw.printf("    … and %d more\n", len(items)-10)
				break
			}
			bw.printf("    %s %s  %s → %s   %s\n", s.green("▲"), padRight(it.Label, 36), it.Before, it.After, usersLabel(it.Users))
		}
	}
	if len(p.Changes) > largePlan && !o.Compact && o.Limit == 0 {
		bw.printf("  %s\n", s.dim(fmt.Sprintf("(%d changes: --compact shows one line per object, --limit N the first N in detail)", len(p.Changes))))
	}
	bw.printf("\n")
}

// renderChangeCompact is one line per object: glyph, address, name and
// what changes in it.
func renderChangeCompact(bw *errWriter, s styler, c Change) {
	var what []string
	counts := map[AttrKind]int{}
	var order []AttrKind
	for _, a := range c.Attrs {
		if counts[a.Kind] == 0 {
			order = append(order, a.Kind)
		}
		counts[a.Kind]++
	}
	names := map[AttrKind][2]string{AttrCell: {"cell", "cells"}, AttrAssign: {"assignment", "assignments"}, AttrScalar: {"attribute", "attributes"},
		AttrMember: {"member", "members"}, AttrFeature: {"feature", "features"}, AttrStage: {"stage", "stages"}, AttrOrder: {"queue order", "queue orders"}}
	if c.Addr.Kind == graph.KindPipeline {
		names[AttrOrder] = [2]string{"stage order", "stage orders"}
	}
	for _, k := range order {
		n := names[k]
		what = append(what, plural(counts[k], n[0], n[1]))
	}
	line := fmt.Sprintf("  %s %s %q", s.glyph(c.Action), c.Address, c.Name)
	detail := strings.Join(what, ", ")
	if c.Manual {
		detail = strings.TrimPrefix(detail+", manual", ", ")
	}
	bw.printf("%s\n", pad(line, s.dim(detail), 48))
}

// WarningGroup is a warning and the others of the same form.
type WarningGroup struct {
	First  string
	Others []string // the differing subject of each other warning
}

var (
	quotedRe = regexp.MustCompile(`"[^"]*"`)
	numberRe = regexp.MustCompile(`\d+`)
)

// GroupWarnings folds warnings that differ only in their subject (the
// leading address), quoted names and numbers into one with a count.
func GroupWarnings(ws []string) []WarningGroup {
	var out []WarningGroup
	index := map[string]int{}
	for _, w := range ws {
		head, rest, _ := strings.Cut(w, " ")
		key := numberRe.ReplaceAllString(quotedRe.ReplaceAllString(rest, `"…"`), "N")
		if i, ok := index[key]; ok && rest != "" {
			out[i].Others = append(out[i].Others, head)
			continue
		}
		index[key] = len(out)
		out = append(out, WarningGroup{First: w})
	}
	return out
}

func firstN(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(" … (%d more)", len(xs)-n)
}

func renderChangeText(bw *errWriter, s styler, p *Plan, c Change) {
	if c.Action == Verify {
		bw.printf("%s\n", pad(s.bold(fmt.Sprintf("  # %s: %s", c.Address, c.Reason)), s.dim(fullPos(c.Source)), 54))
		bw.printf("  %s %s %q\n", s.glyph(c.Action), c.Addr.Kind, c.Name)
		bw.printf("      %s\n\n", s.dim(fmt.Sprintf("as the policy declares it: %s (see the policy, or --format json)", plural(len(c.Attrs), "attribute", "attributes"))))
		return
	}
	head := fmt.Sprintf("  # %s %s", c.Address, changeHeadline(c))
	switch {
	case c.Manual && c.Baseline != nil:
		head += " (manually; " + c.Baseline.Describe() + ")"
	case c.Manual:
		head += " (manually)"
	case c.Baseline != nil:
		head += " (" + c.Baseline.Describe() + ")"
	}
	bw.printf("%s\n", pad(s.bold(head), s.dim(fullPos(c.Source)), 54))
	if c.Reason != "" {
		bw.printf("  %s\n", s.dim("# ("+c.Reason+")"))
	}
	bw.printf("  %s %s %q", s.glyph(c.Action), c.Addr.Kind, c.Name)
	if c.ID != 0 {
		bw.printf(" %s", s.dim(fmt.Sprintf("(ID %d)", c.ID)))
	}
	bw.printf("\n")
	if c.Action == Delete {
		bw.printf("\n")
		return
	}
	// Long updates are cut, but never what they destroy.
	const maxLines = 60
	shown, hidden := 0, 0
	for _, a := range c.Attrs {
		destroys := a.Action == Delete && (a.Kind == AttrStage || a.Kind == AttrRow)
		if !destroys && shown == maxLines {
			hidden++
			continue
		}
		if !destroys {
			shown++
		}
		bw.printf("      %s %s\n", s.glyph(a.Action), pad(AttrLine(c, a, p.Names), s.dim(shortPos(a.Source)), 66))
	}
	if hidden > 0 {
		bw.printf("      %s\n", s.dim(fmt.Sprintf("… and %d more attribute changes (see --format json)", hidden)))
	}
	bw.printf("\n")
}

// The text access section shows at most MaxAccessGroups groups of users
// and MaxAccessChanges changes per group, then says how many more: a large
// plan stays readable, the JSON plan has everything.
const (
	MaxAccessGroups  = 40
	MaxAccessChanges = 25
)

// RenderAccessText writes the access delta section.
func RenderAccessText(w io.Writer, d *access.Delta, color bool) {
	renderAccessText(w, d, color, accessGroupsShown, accessChangesShown, "Access changes (computed with Bitrix24's merge rules):")
}

// renderAccessText shows at most maxGroups groups of users and maxChanges
// changes per group (0: all), counting the rest.
func renderAccessText(w io.Writer, d *access.Delta, color bool, maxGroups, maxChanges int, title string) {
	s := styler{color}
	bw := &errWriter{w: w}
	bw.printf("%s\n", s.bold(title))
	if d.NoChange() {
		bw.printf("  No access change: no user's effective access differs.\n")
		return
	}
	if u := d.Unknown; u != nil {
		bw.printf("  %s %s\n", s.yellow("Not known:"), UnknownAccessNote(u))
		if len(d.Groups) == 0 {
			bw.printf("  No access change among what is known.\n")
			return
		}
	}
	bw.printf("  %s gain, %s lose access.\n", plural(d.Gainers, "user", "users"), plural(d.Losers, "user", "users"))
	for _, u := range d.Unexpanded {
		line := fmt.Sprintf("  %s %s: %s", s.yellow("▲"), u.Object, u.Message())
		bw.printf("%s\n", pad(line, s.dim(shortPos(u.Source)), 96))
	}
	for gi, g := range d.Groups {
		if maxGroups > 0 && gi == maxGroups {
			users := 0
			for _, h := range d.Groups[gi:] {
				users += len(h.Users)
			}
			bw.printf("  %s\n", s.dim(fmt.Sprintf("… and %d more %s of users (%s) with other changes; every group: --format json",
				len(d.Groups)-gi, map[bool]string{true: "group", false: "groups"}[len(d.Groups)-gi == 1], plural(users, "user", "users"))))
			break
		}
		gained, lost := 0, 0
		for _, c := range g.Changes {
			if c.Widens {
				gained++
			} else {
				lost++
			}
		}
		mark := s.green("▲")
		switch {
		case gained > 0 && lost > 0:
			mark = s.yellow("◆")
		case gained == 0:
			mark = s.red("▼")
		}
		bw.printf("  %s %s\n", mark, s.bold(usersLabel(g.Users)))
		for ci, c := range g.Changes {
			if maxChanges > 0 && ci == maxChanges {
				bw.printf("      %s\n", s.dim(fmt.Sprintf("… and %d more changes for these users (--format json)", len(g.Changes)-ci)))
				break
			}
			m := s.red("▼")
			if c.Widens {
				m = s.green("▲")
			}
			flags := ""
			if c.Sensitive {
				flags += " [sensitive]"
			}
			if c.Admin {
				flags += " [admin]"
			}
			line := fmt.Sprintf("      %s %s  %s → %s%s", m, padRight(c.Label, 44), c.Before, c.After, flags)
			bw.printf("%s\n", pad(line, s.dim(shortPos(c.Source)), 96))
		}
	}
}

// UnknownAccessNote says what an access delta does not know.
func UnknownAccessNote(u *access.Unknown) string {
	const show = 3
	names := u.Objects
	more := ""
	if len(names) > show {
		names, more = names[:show], fmt.Sprintf(" and %d more", len(u.Objects)-show)
	}
	why := u.Why
	if why == "" {
		why = "cannot be read"
	}
	return fmt.Sprintf("the current state of %s (%s%s) is unknown (%s, never applied or confirmed through b24perm). "+
		"The delta takes them as unchanged: %s they reach may gain or lose access that is not shown here.",
		plural(len(u.Objects), "object", "objects"), strings.Join(names, ", "), more, why, plural(u.Users, "user", "users"))
}

func usersLabel(us []access.UserRef) string {
	var names []string
	for i, u := range us {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(us)-3))
			break
		}
		n := u.Name
		if n == "" {
			n = u.Email
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

func padRight(s string, n int) string {
	if l := len([]rune(s)); l < n {
		return s + strings.Repeat(" ", n-l)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// UnreadableNote says which kinds the backend cannot read and what the
// plan took as their baseline; empty when it reads everything.
func UnreadableNote(p *Plan) string {
	u := p.Unreadable
	if u == nil || u.FromState+u.Unknown == 0 {
		return ""
	}
	kinds := make([]string, len(u.Kinds))
	for i, k := range u.Kinds {
		kinds[i] = string(k)
	}
	var parts []string
	if u.FromState > 0 {
		parts = append(parts, fmt.Sprintf("for %s the baseline is the state (what was applied, or confirmed with apply --confirm-manual)", plural(u.FromState, "object", "objects")))
	}
	if u.Unknown > 0 {
		parts = append(parts, fmt.Sprintf("%s unknown", plural(u.Unknown, "object is", "objects are")))
	}
	return fmt.Sprintf("%s objects %s: %s.", strings.Join(kinds, ", "), u.Why, strings.Join(parts, "; "))
}

// renderDriftText shows one difference from the portal's point of view:
// what was changed there, classified.
func renderDriftText(bw *errWriter, s styler, p *Plan, c Change) {
	switch c.Action {
	case Verify:
		bw.printf("  %s %s %q: %s; not checked\n\n", s.yellow("?"), c.Addr.Kind, c.Name, c.Baseline.Describe())
		return
	case Create:
		bw.printf("  %s %s %q was deleted on the portal; b24perm had applied it   %s\n\n", s.red("-"), c.Address, c.Name, s.dim(fullPos(c.Source)))
		return
	case Delete:
		bw.printf("  %s %s %q%s was made on the portal; the policy does not declare it\n\n", s.green("+"), c.Address, c.Name, idText(c.ID))
		return
	}
	bw.printf("  %s %s %q%s   %s\n", s.yellow("~"), c.Address, c.Name, idText(c.ID), s.dim(fullPos(c.Source)))
	for _, a := range c.Attrs {
		switch a.Kind {
		case AttrCell:
			label := ""
			if a.Cell != nil && c.Addr.Kind == graph.KindCRMRole {
				label = CellLabel(*a.Cell, p.Names)
				if a.Cell.Pipeline != "" {
					if _, declared := p.Names[a.Cell.Entity+"/"+a.Cell.Pipeline]; !declared {
						bw.printf("      side effect of a new pipeline: %s = %s on the portal\n", label, a.Before)
						continue
					}
				}
			} else if a.Cell != nil {
				label = SimpleCellLabel(c.Addr.Kind, a.Cell.Entity, a.Cell.Action)
			}
			bw.printf("      changed level: %s   portal %s, policy %s\n", label, a.Before, a.After)
		case AttrAssign, AttrMember:
			if a.Action == Create {
				bw.printf("      removed on the portal: %s\n", SubjectLabel(a.After))
			} else {
				bw.printf("      added on the portal: %s\n", SubjectLabel(a.Before))
			}
		case AttrOrder:
			bw.printf("      changed %s: portal %s, policy %s\n", a.Path, queueLabels(a.Before), queueLabels(a.After))
		default:
			bw.printf("      changed %s: portal %q, policy %q\n", a.Path, a.Before, a.After)
		}
	}
	bw.printf("\n")
}

// queueLabels renders a comma-separated subject list as "1. user a,
// 2. department "B"".
func queueLabels(joined string) string {
	parts := strings.Split(joined, ", ")
	for i, s := range parts {
		parts[i] = fmt.Sprintf("%d. %s", i+1, SubjectLabel(s))
	}
	return strings.Join(parts, ", ")
}

func idText(id int64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf(" (ID %d)", id)
}
