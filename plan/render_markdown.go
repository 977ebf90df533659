package plan

import (
	"bytes"
	"fmt"
	"io"
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
	gain, lose := domainAccess(p)
	head.WriteString("| domain | add | change | destroy | users gaining | users losing | manual |\n|---|---|---|---|---|---|---|\n")
	for _, d := range graph.Domains {
		var a, c, x, m int
		for _, ch := range p.Changes {
			if ch.Domain != d {
				continue
			}
			switch ch.Action {
			case Create:
				a++
			case Update:
				c++
				st, rows := ch.Destroys()
				x += st + rows
			case Delete:
				x++
			case Replace:
				a++
				x++
			}
			if ch.Manual {
				m++
			}
		}
		if a+c+x+gain[d]+lose[d] == 0 {
			continue
		}
		fmt.Fprintf(&head, "| %s | %d | %d | %d | %s | %d | %d |\n", domainTitles[d], a, c, x, sensitiveCount(p, d, gain[d]), lose[d], m)
	}
	head.WriteString("\n")
	if p.Access != nil && p.Access.Widening {
		head.WriteString("⚠ **Widens access to a sensitive field or grants admin-level rights. Needs security review.**\n\n")
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
	var sections []string
	for _, d := range graph.Domains {
		var body bytes.Buffer
		n := 0
		for _, c := range p.Changes {
			if c.Domain != d {
				continue
			}
			n++
			fmt.Fprintf(&body, "%s %s %q", c.Action, c.Address, c.Name)
			switch {
			case c.Action == Verify:
				body.WriteString("   (" + c.Baseline.Describe() + ")\n")
				continue
			case c.Manual && c.Baseline != nil:
				body.WriteString("   (manual; " + c.Baseline.Describe() + ")")
			case c.Manual:
				body.WriteString("   (manual)")
			}
			body.WriteString("\n")
			for _, a := range c.Attrs {
				fmt.Fprintf(&body, "  %s %s\n", a.Action, AttrLine(c, a, p.Names))
			}
		}
		if n == 0 {
			continue
		}
		sections = append(sections, fmt.Sprintf("<details><summary>%s (%s)</summary>\n\n```diff\n%s```\n</details>\n\n", domainTitles[d], plural(n, "change", "changes"), body.String()))
	}
	if p.ManualCount() > 0 {
		var b strings.Builder
		i := 1
		for _, c := range p.Changes {
			for _, s := range c.ManualSteps {
				fmt.Fprintf(&b, "%d. %s\n", i, s)
				i++
			}
		}
		sections = append(sections, "<details><summary>Manual steps</summary>\n\n"+b.String()+"\n</details>\n\n")
	}
	if p.Access != nil {
		var b bytes.Buffer
		RenderAccessText(&b, p.Access, false)
		sections = append(sections, fmt.Sprintf("<details open><summary>Access changes (%d gain, %d lose)</summary>\n\n```\n%s```\n</details>\n\n", p.Access.Gainers, p.Access.Losers, b.String()))
	}
	for _, wmsg := range p.Warnings {
		fmt.Fprintf(&tail, "> ⚠ %s\n", wmsg)
	}
	if n := UnreadableNote(p); n != "" {
		fmt.Fprintf(&tail, "> ℹ %s\n", n)
	}
	out := head.Len() + tail.Len()
	for i, s := range sections {
		if out+len(s) > max-300 {
			fmt.Fprintf(&head, "⚠ **Plan truncated**: %d of %d sections are shown to stay under GitHub's comment limit. %s\n\n", i, len(sections), hint(o))
			break
		}
		head.WriteString(s)
		out += len(s)
	}
	head.Write(tail.Bytes())
	_, err := w.Write(head.Bytes())
	return err
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
