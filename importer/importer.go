// Package importer writes a live graph as readable CUE policy files: the
// inverse of the compiler. Permissions are compacted back into entity
// defaults with pipeline and stage overrides, and comments carry live IDs.
// Compiling the output gives back the same permissions.
package importer

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue/format"
	"github.com/b24perm/b24perm/graph"
)

// Write renders g as CUE files by name (crm.cue, telephony.cue, …; empty
// domains are left out).
func Write(g *graph.Graph) (map[string][]byte, error) {
	type job struct {
		name  string
		write func(b *bytes.Buffer)
	}
	var jobs []job
	userRoles := 0
	for _, r := range g.CRMRoles {
		if !r.System {
			userRoles++
		}
	}
	if len(g.SmartProcesses)+len(g.Pipelines)+userRoles > 0 {
		jobs = append(jobs, job{"crm.cue", func(b *bytes.Buffer) { writeCRM(b, g) }})
	}
	if len(g.TelephonyRoles) > 0 || g.TelephonySecurityOff {
		jobs = append(jobs, job{"telephony.cue", func(b *bytes.Buffer) {
			if g.TelephonySecurityOff {
				b.WriteString("// The plan lacks voximplant_security: the portal ignores these roles and\n// applies Bitrix's default telephony roles.\ntelephony: security: \"off\"\n\n")
			}
			writeSimple(b, "telephony", g.TelephonyRoles)
		}})
	}
	if len(g.OpenlineRoles)+len(g.OpenChannels) > 0 {
		jobs = append(jobs, job{"openlines.cue", func(b *bytes.Buffer) {
			writeSimple(b, "openlines", g.OpenlineRoles)
			writeChannels(b, g.OpenChannels)
		}})
	}
	if len(g.Workgroups) > 0 {
		jobs = append(jobs, job{"workgroups.cue", func(b *bytes.Buffer) { writeWorkgroups(b, g.Workgroups) }})
	}
	if len(g.FieldRules) > 0 {
		jobs = append(jobs, job{"fields.cue", func(b *bytes.Buffer) { writeFields(b, g.FieldRules) }})
	}
	// Files are independent: render and format them concurrently (the
	// formatter is most of the time on large portals).
	results := make([][]byte, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			var b bytes.Buffer
			b.WriteString("// Imported from the live portal by b24perm import.\n\n")
			j.write(&b)
			f, err := format.Source(b.Bytes(), format.Simplify())
			if err != nil {
				errs[i] = fmt.Errorf("formatting %s: %w", j.name, err)
				return
			}
			results[i] = f
		})
	}
	wg.Wait()
	out := make(map[string][]byte, len(jobs))
	for i, j := range jobs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[j.name] = results[i]
	}
	return out, nil
}

// isIdent reports a plain CUE identifier ([a-zA-Z][a-zA-Z0-9_]*).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// keywords are quoted as labels; the formatter unquotes the ones CUE
// reads as plain labels.
var keywords = map[string]bool{"if": true, "for": true, "in": true, "let": true, "true": true, "false": true, "null": true,
	"import": true, "package": true, "div": true, "mod": true, "quo": true, "rem": true}

func label(s string) string {
	if isIdent(s) && !keywords[s] {
		return s
	}
	return q(s)
}

// q quotes s as a CUE string literal: Go's quoting, with the \xNN escapes
// CUE does not accept (control characters such as ESC, DEL, bytes of
// invalid UTF-8) written as \u00NN. A name with a control character then
// imports, and validate names the object holding it.
func q(s string) string {
	g := strconv.Quote(s)
	if !strings.Contains(g, `\x`) {
		return g
	}
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		if g[i] == '\\' && i+1 < len(g) {
			if g[i+1] == 'x' && i+3 < len(g) {
				b.WriteString(`\u00` + g[i+2:i+4])
				i += 3
				continue
			}
			b.WriteString(g[i : i+2])
			i++
			continue
		}
		b.WriteByte(g[i])
	}
	return b.String()
}

func idComment(id int64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf("// live ID %d\n", id)
}

func subject(s string) string {
	sub, err := graph.ParseSubject(s)
	if err != nil {
		return fmt.Sprintf("{code: %s}", q(s))
	}
	switch sub.Kind {
	case graph.SubjUser:
		return fmt.Sprintf("{user: %s}", q(sub.Ref))
	case graph.SubjDepartment:
		return fmt.Sprintf("{department: %s}", q(sub.Ref))
	case graph.SubjDepartmentAll:
		return fmt.Sprintf("{department: %s, subdepartments: true}", q(sub.Ref))
	case graph.SubjGroup:
		return fmt.Sprintf("{group: %s}", q(sub.Ref))
	case graph.SubjWGOwner:
		return fmt.Sprintf("{workgroup: %s, members: \"owner\"}", q(sub.Ref))
	case graph.SubjWGModerators:
		return fmt.Sprintf("{workgroup: %s, members: \"moderators\"}", q(sub.Ref))
	case graph.SubjWGMembers:
		return fmt.Sprintf("{workgroup: %s}", q(sub.Ref))
	}
	return fmt.Sprintf("{code: %s}", q(sub.Ref))
}

// subjects writes a subject list. A live code that is no Bitrix access
// code (garbage in b_crm_role_relation …) cannot be stated in a policy:
// it is left out and named in a comment at the end of the line.
func subjects(in []string) string {
	parts := make([]string, 0, len(in))
	var bad []string
	for _, s := range in {
		if sub, err := graph.ParseSubject(s); err == nil && sub.Kind == graph.SubjCode && !graph.ValidAccessCode(sub.Ref) {
			bad = append(bad, strconv.Quote(sub.Ref))
			continue
		}
		parts = append(parts, subject(s))
	}
	out := "[" + strings.Join(parts, ", ") + "]"
	if len(bad) > 0 {
		out += " // left out, not Bitrix access codes: " + strings.Join(bad, ", ")
	}
	return out
}

// isList reports a transition level that lists target stages.
func isList(l string) bool {
	return l != graph.TransitionAny && l != graph.TransitionBlocked && graph.CRMLevelRank(l) < 0 && !graph.IsSetLevel(l)
}

func level(l string) string {
	if set, ok := graph.ParseLevel(l); ok && graph.IsSetLevel(l) {
		// a non-chain level set, as its members: ["own", "open"]
		var items []string
		for _, m := range set.Members() {
			items = append(items, q(m))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	if isList(l) {
		// a transition list
		var items []string
		for _, s := range strings.Split(l, ",") {
			items = append(items, q(s))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return q(l)
}

func userRef(s string) string { return strings.TrimPrefix(s, graph.SubjUser+":") }

func writeCRM(b *bytes.Buffer, g *graph.Graph) {
	for _, s := range g.SmartProcesses {
		fmt.Fprintf(b, "%scrm: smart_processes: %s: name: %s\n", idComment(s.EntityTypeID), label(s.Key), q(s.Name))
	}
	if len(g.SmartProcesses) > 0 {
		b.WriteString("\n")
	}
	pipelinesOf := map[string][]string{}
	for _, p := range g.Pipelines {
		fmt.Fprintf(b, "%scrm: pipelines: %s: %s: {\n\tname: %s\n", idComment(p.ID), label(p.Entity), label(p.Key), q(p.Name))
		if len(p.Stages) > 0 {
			b.WriteString("\tstages: {\n")
			for _, s := range p.Stages {
				fmt.Fprintf(b, "\t\t%s: name: %s\n", label(s.Key), q(s.Name))
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n\n")
		pipelinesOf[p.Entity] = append(pipelinesOf[p.Entity], p.Key)
	}
	for _, r := range g.CRMRoles {
		if r.System {
			continue
		}
		fmt.Fprintf(b, "%scrm: roles: %s: {\n\tname: %s\n", idComment(r.ID), label(r.Key), q(r.Name))
		if len(r.Assign) > 0 {
			fmt.Fprintf(b, "\tassign: %s\n", subjects(r.Assign))
		}
		writeCRMPerms(b, r, pipelinesOf)
		b.WriteString("}\n\n")
	}
}

// writeCRMPerms compacts cells: per entity and action, the most common
// pipeline-level value becomes the entity default, and pipelines that
// differ get overrides.
func writeCRMPerms(b *bytes.Buffer, r graph.CRMRole, pipelinesOf map[string][]string) {
	byEntity := map[string][]graph.CRMPerm{}
	for _, c := range r.Perms {
		byEntity[c.Entity] = append(byEntity[c.Entity], c)
	}
	if len(byEntity) == 0 {
		return
	}
	b.WriteString("\tpermissions: {\n")
	for _, e := range sortedKeys(byEntity) {
		cells := byEntity[e]
		ent, _ := graph.LookupCRMEntity(e)
		pipelines := []string{""}
		if ent.Pipelines || ent.Stages {
			// the declared pipelines, plus any that only cells name
			known := map[string]bool{graph.DefaultPipeline: true}
			pipelines = []string{graph.DefaultPipeline}
			for _, p := range pipelinesOf[e] {
				if !known[p] {
					known[p] = true
					pipelines = append(pipelines, p)
				}
			}
			for _, c := range cells {
				if !known[c.Pipeline] {
					known[c.Pipeline] = true
					pipelines = append(pipelines, c.Pipeline)
				}
			}
		}
		level := map[[2]string]string{} // (pipeline, action) → level
		stages := map[string]map[string]map[string]string{}
		actions := map[string]bool{}
		for _, c := range cells {
			if c.Stage == "" {
				level[[2]string{c.Pipeline, c.Action}] = c.Level
				actions[c.Action] = true
				continue
			}
			if stages[c.Pipeline] == nil {
				stages[c.Pipeline] = map[string]map[string]string{}
			}
			if stages[c.Pipeline][c.Stage] == nil {
				stages[c.Pipeline][c.Stage] = map[string]string{}
			}
			stages[c.Pipeline][c.Stage][c.Action] = c.Level
		}
		entityLevel := map[string]string{}
		overrides := map[string]map[string]string{}
		for _, a := range sortedKeys(actions) {
			counts := map[string]int{}
			for _, p := range pipelines {
				counts[levelOr(level, p, a)]++
			}
			// The most common level becomes the entity default. A transition
			// list names stages, so it is one only when every pipeline has it.
			best := "none"
			for _, l := range sortedKeys(counts) {
				if isList(l) && counts[l] < len(pipelines) {
					continue
				}
				// ties go to none (not written), then to the first level by name
				if counts[l] > counts[best] || (counts[l] == counts[best] && best != "none" && l < best) {
					best = l
				}
			}
			entityLevel[a] = best
			for _, p := range pipelines {
				if l := levelOr(level, p, a); l != best {
					if overrides[p] == nil {
						overrides[p] = map[string]string{}
					}
					overrides[p][a] = l
				}
			}
		}
		fmt.Fprintf(b, "\t\t%s: {\n", label(e))
		for _, a := range sortedKeys(entityLevel) {
			if entityLevel[a] != "none" {
				fmt.Fprintf(b, "\t\t\t%s: %s\n", label(a), levelText(entityLevel[a]))
			}
		}
		for _, p := range pipelines {
			if p == "" || (len(overrides[p]) == 0 && len(stages[p]) == 0) {
				continue
			}
			inline := p == graph.DefaultPipeline && len(overrides[p]) == 0
			if !inline {
				fmt.Fprintf(b, "\t\t\tpipelines: %s: {\n", label(p))
			}
			for _, a := range sortedKeys(overrides[p]) {
				fmt.Fprintf(b, "\t\t\t\t%s: %s\n", label(a), levelText(overrides[p][a]))
			}
			if len(stages[p]) > 0 {
				b.WriteString("\t\t\t\tstages: {\n")
				for _, s := range sortedKeys(stages[p]) {
					var parts []string
					for _, a := range sortedKeys(stages[p][s]) {
						parts = append(parts, label(a)+": "+levelText(stages[p][s][a]))
					}
					fmt.Fprintf(b, "\t\t\t\t\t%s: {%s}\n", label(s), strings.Join(parts, ", "))
				}
				b.WriteString("\t\t\t\t}\n")
			}
			if !inline {
				b.WriteString("\t\t\t}\n")
			}
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n")
}

func levelText(l string) string { return level(l) }

func levelOr(m map[[2]string]string, p, a string) string {
	if l, ok := m[[2]string{p, a}]; ok {
		return l
	}
	return "none"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeSimple(b *bytes.Buffer, domain string, roles []graph.SimpleRole) {
	for _, r := range roles {
		fmt.Fprintf(b, "%s%s: roles: %s: {\n\tname: %s\n", idComment(r.ID), domain, label(r.Key), q(r.Name))
		if len(r.Assign) > 0 {
			fmt.Fprintf(b, "\tassign: %s\n", subjects(r.Assign))
		}
		if len(r.Perms) > 0 {
			b.WriteString("\tpermissions: {\n")
			for _, c := range r.Perms {
				fmt.Fprintf(b, "\t\t%s: %s: %s\n", label(c.Entity), label(c.Action), q(c.Level))
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n\n")
	}
}

func writeChannels(b *bytes.Buffer, cs []graph.OpenChannel) {
	for _, c := range cs {
		fmt.Fprintf(b, "%sopenlines: channels: %s: {\n\tname: %s\n", idComment(c.ID), label(c.Key), q(c.Name))
		if c.Inactive {
			b.WriteString("\tactive: false\n")
		}
		if c.QueueType != "" && c.QueueType != graph.QueueTypes[0] {
			fmt.Fprintf(b, "\tqueue_type: %s\n", q(c.QueueType))
		}
		if len(c.Queue) > 0 {
			fmt.Fprintf(b, "\tqueue: %s\n", subjects(c.Queue))
		}
		b.WriteString("}\n\n")
	}
}

func writeWorkgroups(b *bytes.Buffer, ws []graph.Workgroup) {
	list := func(in []string) string {
		parts := make([]string, len(in))
		for i, s := range in {
			parts[i] = q(userRef(s))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	for _, w := range ws {
		fmt.Fprintf(b, "%sworkgroups: %s: {\n\tname: %s\n\tvisibility: %s\n\towner: %s\n", idComment(w.ID), label(w.Key), q(w.Name), q(w.Visibility), q(userRef(w.Owner)))
		if w.Archived {
			b.WriteString("\tarchived: true\n")
		}
		if len(w.DisabledFeatures) > 0 {
			parts := make([]string, len(w.DisabledFeatures))
			for i, f := range w.DisabledFeatures {
				parts[i] = q(f)
			}
			fmt.Fprintf(b, "\tdisabled_features: [%s]\n", strings.Join(parts, ", "))
		}
		if len(w.Moderators) > 0 {
			fmt.Fprintf(b, "\tmoderators: %s\n", list(w.Moderators))
		}
		if len(w.Members) > 0 {
			fmt.Fprintf(b, "\tmembers: %s\n", list(w.Members))
		}
		for _, f := range w.Features {
			fmt.Fprintf(b, "\tfeatures: %s: %s: %s\n", label(f.Feature), label(f.Operation), q(f.Role))
		}
		if n := len(w.Banned) + len(w.Requests) + len(w.Invited); n > 0 {
			// Live only: shown, not declared (a policy does not state them).
			for _, x := range []struct {
				what string
				set  []string
			}{{"banned", w.Banned}, {"asking to join", w.Requests}, {"invited", w.Invited}} {
				if len(x.set) > 0 {
					fmt.Fprintf(b, "\t// %s on the portal (not members, kept by apply): %s\n", x.what, list(x.set))
				}
			}
		}
		b.WriteString("}\n\n")
	}
}

func writeFields(b *bytes.Buffer, rules []graph.FieldRule) {
	for _, f := range rules {
		if f.Native {
			fmt.Fprintf(b, "fields: visibility: %s: {\n\tentity: %s\n\tfield: %s\n", label(f.Key), q(f.Entity), q(f.Field))
			if len(f.View) > 0 {
				fmt.Fprintf(b, "\tview: %s\n", subjects(f.View))
			}
			b.WriteString("}\n\n")
			continue
		}
		fmt.Fprintf(b, "fields: rules: %s: {\n\tentity: %s\n", label(f.Key), q(f.Entity))
		if f.Pipeline != "" {
			fmt.Fprintf(b, "\tpipeline: %s\n", q(f.Pipeline))
		}
		fmt.Fprintf(b, "\tfield: %s\n", q(f.Field))
		if len(f.Stages) > 0 {
			var parts []string
			for _, s := range f.Stages {
				parts = append(parts, q(s))
			}
			fmt.Fprintf(b, "\tstages: [%s]\n", strings.Join(parts, ", "))
		}
		if len(f.View) > 0 {
			fmt.Fprintf(b, "\tview: %s\n", subjects(f.View))
		}
		if len(f.Edit) > 0 {
			fmt.Fprintf(b, "\tedit: %s\n", subjects(f.Edit))
		}
		b.WriteString("}\n\n")
	}
}
