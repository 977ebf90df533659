package plan

import (
	"bytes"
	"fmt"
	"github.com/b24perm/b24perm/access"
	"io"
	"path"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// Marker is the hidden line that identifies b24perm's PR comment, so CI
// updates one comment instead of adding a new one per push.
const Marker = "<!-- b24perm-plan -->"

// DefaultMaxBytes keeps a PR comment under GitHub's 65,536-character limit.
const DefaultMaxBytes = 65000

var domainTitles = map[string]string{
	graph.DomainCRM:        "CRM",
	graph.DomainTelephony:  "Telephony roles",
	graph.DomainOpenlines:  "Open channels",
	graph.DomainWorkgroups: "Workgroups",
	graph.DomainFields:     "Field rules",
}

// RenderMarkdown writes the plan as a pull-request comment: a summary
// table per domain, a <details> block per domain, the access changes, and
// a truncation notice when the comment would exceed o.MaxBytes.
func RenderMarkdown(w io.Writer, p *Plan, o RenderOptions) error {
	if p.Drift {
		return renderDriftMarkdown(w, p, o)
	}
	max := o.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	var head, tail bytes.Buffer
	fmt.Fprintf(&head, "%s\n### b24perm plan — %s\n\n", Marker, p.Backend)
	add, change, destroy := p.Summary()
	if !p.HasChanges() {
		head.WriteString("**No changes.** The portal matches the policy.\n\n")
	} else {
		fmt.Fprintf(&head, "**Plan: %d to add, %d to change, %d to destroy.**", add, change, destroy)
		if n := p.ManualCount() - p.UnknownCount(); n > 0 {
			fmt.Fprintf(&head, " %d manual.", n)
		}
		if n := p.UnknownCount(); n > 0 {
			fmt.Fprintf(&head, " %d unknown (cannot be read; b24perm will not change them automatically).", n)
		}
		head.WriteString("\n\n")
	}
	head.WriteString("| domain | add | change | destroy | users gaining | users losing | manual |\n|---|---|---|---|---|---|---|\n")
	for _, r := range DomainSummary(p) {
		gain := fmt.Sprint(r.Gain)
		if r.Sensitive {
			gain += " ⚠ sensitive"
		}
		fmt.Fprintf(&head, "| %s | %d | %d | %d | %s | %d | %d |\n", domainTitles[r.Domain], r.Add, r.Change, r.Destroy, gain, r.Lose, r.Manual)
	}
	head.WriteString("\n")
	if p.Access != nil && p.Access.Widening {
		head.WriteString("⚠ **" + WidensBanner + "**\n\n")
		items := SensitiveItems(p)
		for i, it := range items {
			if i == 10 {
				fmt.Fprintf(&head, "- … and %d more\n", len(items)-10)
				break
			}
			fmt.Fprintf(&head, "- ▲ %s: %s → %s — %s\n", it.Label, it.Before, it.After, usersLabel(it.Users))
		}
		if len(items) > 0 {
			head.WriteString("\n")
		}
		for _, u := range p.Access.Unexpanded {
			fmt.Fprintf(&head, "⚠ `%s`: %s.\n\n", u.Object, u.Message())
		}
	}
	if p.Access != nil && p.Access.NoChange() && p.HasChanges() {
		head.WriteString("ℹ No access change: no user's effective access differs (a refactor).\n\n")
	}
	if p.Access != nil && p.Access.Unknown != nil {
		fmt.Fprintf(&head, "⚠ **Access not fully known:** %s\n\n", UnknownAccessNote(p.Access.Unknown))
	}
	var sections []mdSection
	for _, d := range graph.Domains {
		sec := mdSection{open: "<details><summary>%s</summary>\n\n```diff\n", close: "```\n</details>\n\n", unit: [2]string{"change", "changes"}}
		var srcs []graph.Pos
		for _, c := range p.Changes {
			if c.Domain != d {
				continue
			}
			var body strings.Builder
			fmt.Fprintf(&body, "%s %s %q", diffGlyph(c.Action), c.Address, c.Name)
			switch {
			case c.Action == Verify:
				body.WriteString("   (" + c.Baseline.Describe() + ")\n")
				sec.items = append(sec.items, body.String())
				continue
			case c.Manual && c.Baseline != nil:
				body.WriteString("   (manual; " + c.Baseline.Describe() + ")")
			case c.Manual:
				body.WriteString("   (manual)")
			}
			body.WriteString("\n")
			// A few lines per object, so that more objects fit under
			// the limit; the artifact has the rest.
			for i, a := range c.Attrs {
				if i == mdAttrsShown {
					fmt.Fprintf(&body, "  … and %d more\n", len(c.Attrs)-i)
					break
				}
				fmt.Fprintf(&body, "%s   %s\n", diffGlyph(a.Action), AttrLine(c, a, p.Names))
			}
			sec.items = append(sec.items, body.String())
			for _, a := range c.Attrs {
				if a.Source != nil && a.Source.IsValid() {
					srcs = append(srcs, *a.Source)
				}
			}
			if c.Source != nil && c.Source.IsValid() {
				srcs = append(srcs, *c.Source)
			}
		}
		if len(sec.items) == 0 {
			continue
		}
		if links := sourceLinks(srcs, o.SourceURL); links != "" {
			sec.close = "```\n" + links + "\n</details>\n\n"
		}
		sec.title = fmt.Sprintf("%s (%s)", domainTitles[d], plural(len(sec.items), "change", "changes"))
		sections = append(sections, sec)
	}
	if p.ManualCount() > 0 {
		sec := mdSection{title: "Manual steps", open: "<details><summary>%s</summary>\n\n", close: "\n</details>\n\n", unit: [2]string{"step", "steps"}}
		i := 1
		for _, c := range p.Changes {
			for _, s := range c.ManualSteps {
				sec.items = append(sec.items, fmt.Sprintf("%d. %s\n", i, s))
				i++
			}
		}
		sections = append(sections, sec)
	}
	if p.Access != nil {
		sections = append(sections, accessSection(p.Access, "Access changes (computed with Bitrix24's merge rules):",
			fmt.Sprintf("Access changes (%d gain, %d lose)", p.Access.Gainers, p.Access.Losers), "<details open>"))
	}
	for _, g := range GroupWarnings(p.Warnings) {
		fmt.Fprintf(&tail, "> ⚠ %s\n", g.First)
		if len(g.Others) > 0 {
			fmt.Fprintf(&tail, "> (and %d more like this: %s)\n", len(g.Others), firstN(g.Others, 5))
		}
	}
	if n := UnreadableNote(p); n != "" {
		fmt.Fprintf(&tail, "> ℹ %s\n", n)
	}
	fillSections(&head, sections, max-400-head.Len()-tail.Len(), hint(o))
	head.Write(tail.Bytes())
	_, err := w.Write(head.Bytes())
	return err
}

// fillSections writes sections into budget bytes. Every section gets a
// fair share of what is left; what a section does not use goes to the
// ones after it. A section too long for its share shows its first items
// and counts the rest.
func fillSections(head *bytes.Buffer, sections []mdSection, budget int, hint string) {
	truncated, omitted := false, 0
	for i, sec := range sections {
		share := budget / (len(sections) - i)
		text, cut := sec.render(share, hint)
		truncated = truncated || cut
		if text == "" {
			omitted++
			continue
		}
		head.WriteString(text)
		budget -= len(text)
	}
	if truncated {
		fmt.Fprintf(head, "⚠ **Shortened** to stay under GitHub's comment limit: sections end with what they leave out")
		if omitted > 0 {
			fmt.Fprintf(head, ", and %d of %d sections had no room", omitted, len(sections))
		}
		fmt.Fprintf(head, ". %s\n\n", hint)
	}
}

// DriftMarker identifies b24perm's drift report (the drift issue).
const DriftMarker = "<!-- b24perm-drift -->"

// renderDriftMarkdown writes a drift report: what changed outside
// b24perm, what the policy declares and was not applied yet, and the
// access changes made outside b24perm in the direction they happened.
func renderDriftMarkdown(w io.Writer, p *Plan, o RenderOptions) error {
	max := o.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s\n### b24perm drift — %s\n\n", DriftMarker, p.Backend)
	if !p.HasChanges() {
		head.WriteString("**No drift.** The portal matches the last applied policy.\n")
		_, err := w.Write(head.Bytes())
		return err
	}
	outside, pending, unknown := p.DriftCounts()
	fmt.Fprintf(&head, "**Drift: %s from the policy**: %d changed outside b24perm, %d not yet applied",
		plural(len(p.Changes), "object differs", "objects differ"), outside, pending)
	if unknown > 0 {
		fmt.Fprintf(&head, ", %d unknown (cannot be read)", unknown)
	}
	head.WriteString(".\n\n")
	head.WriteString("| domain | changed outside b24perm | not yet applied |\n|---|---|---|\n")
	for _, d := range graph.Domains {
		var out, pend int
		for _, c := range p.Changes {
			switch {
			case c.Domain != d || c.Drift == DriftUnknown:
			case c.Drift == DriftPending:
				pend++
			default:
				out++
			}
		}
		if out+pend > 0 {
			fmt.Fprintf(&head, "| %s | %d | %d |\n", domainTitles[d], out, pend)
		}
	}
	head.WriteString("\n")
	if p.Access != nil && p.Access.Widening {
		head.WriteString("⚠ **Access to a sensitive field or an admin-level right was widened outside b24perm. Needs security review.**\n\n")
	}
	var sections []mdSection
	for _, class := range []string{DriftOutside, DriftPending} {
		sec := mdSection{open: "<details open><summary>%s</summary>\n\n```\n", close: "```\n</details>\n\n", unit: [2]string{"object", "objects"}}
		for _, c := range p.Changes {
			if c.Drift == DriftUnknown || (c.Drift == DriftPending) != (class == DriftPending) {
				continue
			}
			var b bytes.Buffer
			bw := &errWriter{w: &b}
			if class == DriftPending {
				renderPendingText(bw, styler{}, p, c)
			} else {
				renderDriftText(bw, styler{}, p, c)
			}
			sec.items = append(sec.items, b.String())
		}
		if len(sec.items) == 0 {
			continue
		}
		sec.title = fmt.Sprintf("Changed outside b24perm (%d)", len(sec.items))
		if class == DriftPending {
			sec.title = fmt.Sprintf("Not yet applied (%d)", len(sec.items))
		}
		sections = append(sections, sec)
	}
	if p.Access != nil {
		sections = append(sections, accessSection(p.Access, DriftAccessTitle+":",
			fmt.Sprintf("Access changes made outside b24perm (%d gained, %d lost)", p.Access.Gainers, p.Access.Losers), "<details>"))
	}
	fillSections(&head, sections, max-400-head.Len(), hint(o))
	_, err := w.Write(head.Bytes())
	return err
}

// mdAttrsShown caps the attribute lines of one object in the PR comment.
const mdAttrsShown = 12

// mdSection is a collapsible block of items (changes, steps, groups).
type mdSection struct {
	title       string
	open, close string // open has one %s for the title
	items       []string
	unit        [2]string
}

// render fits the section into budget bytes: all items when they fit,
// else the first ones and a line counting the rest.
func (m mdSection) render(budget int, hint string) (string, bool) {
	head := fmt.Sprintf(m.open, m.title)
	total := len(head) + len(m.close)
	for _, it := range m.items {
		total += len(it)
	}
	if total <= budget {
		return head + strings.Join(m.items, "") + m.close, false
	}
	if budget < len(head)+len(m.close)+300 {
		return "", true // no room for even a first item
	}
	var b strings.Builder
	b.WriteString(head)
	used := len(head) + len(m.close) + 80 + len(hint)
	n := 0
	for _, it := range m.items {
		if used+len(it) > budget {
			break
		}
		b.WriteString(it)
		used += len(it)
		n++
	}
	fmt.Fprintf(&b, "… %d of %s not shown here (%s)\n", len(m.items)-n, plural(len(m.items), m.unit[0], m.unit[1]), strings.TrimSuffix(hint, "."))
	b.WriteString(m.close)
	return b.String(), true
}

func hint(o RenderOptions) string {
	if o.ArtifactHint != "" {
		return o.ArtifactHint
	}
	return "See the full plan in the workflow artifact."
}

func domainAccess(p *Plan) (gain, lose map[string]int) {
	gain, lose = map[string]int{}, map[string]int{}
	if p.Access == nil {
		return
	}
	for _, g := range p.Access.Groups {
		seenG, seenL := map[string]bool{}, map[string]bool{}
		for _, c := range g.Changes {
			if c.Widens && !seenG[c.Domain] {
				gain[c.Domain] += len(g.Users)
				seenG[c.Domain] = true
			}
			if !c.Widens && !seenL[c.Domain] {
				lose[c.Domain] += len(g.Users)
				seenL[c.Domain] = true
			}
		}
	}
	return
}

func sensitiveCount(p *Plan, domain string, n int) string {
	if p.Access == nil {
		return fmt.Sprint(n)
	}
	for _, g := range p.Access.Groups {
		for _, c := range g.Changes {
			if c.Domain == domain && c.Widens && (c.Sensitive || c.Admin) {
				return fmt.Sprintf("%d ⚠ sensitive", n)
			}
		}
	}
	return fmt.Sprint(n)
}

// diffGlyph puts the action in column 0 in GitHub's diff colouring: + and
// - as they are, ! (changed) for an update or a replacement.
func diffGlyph(a Action) string {
	switch a {
	case Create, Delete:
		return string(a)
	case Update, Replace:
		return "!"
	}
	return "#"
}

// maxSourceLinks bounds the links listed under one domain's changes.
const maxSourceLinks = 20

// sourceLinks lists the policy lines of a domain's changes as links.
func sourceLinks(srcs []graph.Pos, url func(string, int) string) string {
	if url == nil || len(srcs) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var links []string
	more := 0
	for _, pos := range srcs {
		label := fmt.Sprintf("%s:%d", path.Base(pos.File), pos.Line)
		if seen[label] {
			continue
		}
		seen[label] = true
		if len(links) == maxSourceLinks {
			more++
			continue
		}
		links = append(links, fmt.Sprintf("[%s](%s)", label, url(pos.File, pos.Line)))
	}
	out := "Policy lines: " + strings.Join(links, " · ")
	if more > 0 {
		out += fmt.Sprintf(" · and %d more", more)
	}
	return out + "\n"
}

// accessSection is the access delta as a markdown section: one item per
// group of users (its header and its changes), so that shortening never
// splits a group.
func accessSection(d *access.Delta, heading, title, details string) mdSection {
	var b bytes.Buffer
	renderAccessText(&b, d, false, 0, 0, heading)
	sec := mdSection{title: title, open: details + "<summary>%s</summary>\n\n```\n", close: "```\n</details>\n\n", unit: [2]string{"line", "lines"}}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "      ") && len(sec.items) > 0 {
			sec.items[len(sec.items)-1] += line
			continue
		}
		sec.items = append(sec.items, line)
	}
	return sec
}
