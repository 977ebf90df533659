package compiler

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/graph"
)

// builder runs the Go cross-reference checks and constructs the graph.
type builder struct {
	doc *Document
	ix  *srcIndex
	g   *graph.Graph
	ds  diag.Diagnostics
	// stages[entity][pipeline] = declared stage keys (in declaration order).
	pipelines map[string]map[string][]string
	// lastPath and lastPos memoize pos(path, false) for the last path: an
	// entity-level level is the source of one cell per pipeline, in a row.
	lastPath string
	lastPos  graph.Pos
}

func build(doc *Document, ix *srcIndex) (*graph.Graph, diag.Diagnostics) {
	// About one source per indexed path (cells expand per pipeline, but
	// not every path is a node).
	b := &builder{doc: doc, ix: ix, g: &graph.Graph{Sources: make(map[string]graph.Pos, ix.size())}, pipelines: map[string]map[string][]string{}}
	b.smartProcesses()
	b.declaredPipelines()
	b.crmRoles()
	b.simpleRoles(graph.KindTelephony, "telephony.roles", doc.Telephony.Roles, graph.TelephonyActions)
	b.telephonySecurity()
	b.simpleRoles(graph.KindOpenline, "openlines.roles", doc.Openlines.Roles, graph.OpenlineActions)
	b.workgroups()
	b.openChannels()
	b.fieldRules()
	b.settings()
	b.tests()
	b.g.Normalize()
	b.redundantStageRows()
	return b.g, b.ds
}

// redundantStageRows warns about stage rows that equal their role's
// pipeline-level value and whose removal changes no user's answer. Any
// other role may reach the same users (the compiler has no directory),
// so the row must be redundant against every one of them: an explicit
// stage row beats inherited values in every role (§3.2 step 4), so a row
// equal to the inherited value is not redundant in general. Lint repeats
// the check per user over the portal's directory.
func (b *builder) redundantStageRows() {
	roles := b.g.CRMRoles
	for i := range roles {
		var others []*graph.CRMRole
		for j := range roles {
			if j != i {
				others = append(others, &roles[j])
			}
		}
		for _, c := range roles[i].Perms {
			if c.Stage == "" || !graph.StageRowRemovable(&roles[i], c.Key(), others) {
				continue
			}
			p, _ := b.g.Source(graph.CellSourceKey(roles[i].Key, c))
			r := &diag.Range{Filename: p.File, Start: diag.Pos{Line: p.Line, Column: p.Col}, End: diag.Pos{Line: p.Line, Column: p.Col}}
			if !p.IsValid() {
				r = nil
			}
			b.ds = append(b.ds, diag.Diagnostic{Severity: diag.Warning, Summary: "Redundant stage permission", Subject: r,
				Detail: RedundantStageDetail(c)})
		}
	}
}

// RedundantStageDetail is the text of the redundant-stage-row hint.
func RedundantStageDetail(c graph.CRMPerm) string {
	return fmt.Sprintf("%s · %s · stage %s · %s = %q equals the inherited level, and no other role makes the row matter; remove it to inherit (many rules slow the CRM down)", c.Entity, c.Pipeline, c.Stage, c.Action, c.Level)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (b *builder) errAt(r *diag.Range, path, summary, format string, args ...any) {
	b.ds = append(b.ds, diag.Diagnostic{Severity: diag.Error, Summary: summary, Path: path, Subject: r, Detail: fmt.Sprintf(format, args...)})
}

func (b *builder) errVal(path, summary, format string, args ...any) {
	b.errAt(b.ix.value(path), path, summary, format, args...)
}

func (b *builder) errKey(path, summary, format string, args ...any) {
	b.errAt(b.ix.label(path), path, summary, format, args...)
}

func (b *builder) pos(path string, label bool) graph.Pos {
	if label {
		return rangePos(b.ix.label(path))
	}
	if path != b.lastPath || path == "" {
		b.lastPath, b.lastPos = path, rangePos(b.ix.value(path))
	}
	return b.lastPos
}

func rangePos(r *diag.Range) graph.Pos {
	if r == nil {
		return graph.Pos{}
	}
	return graph.Pos{File: r.Filename, Line: r.Start.Line, Col: r.Start.Column}
}

func (b *builder) source(key, path string, label bool) {
	b.g.SetSource(key, b.pos(path, label))
}

func (b *builder) smartProcesses() {
	for _, k := range sortedKeys(b.doc.CRM.SmartProcesses) {
		sp := b.doc.CRM.SmartProcesses[k]
		b.g.SmartProcesses = append(b.g.SmartProcesses, graph.SmartProcess{Key: k, Name: sp.Name})
		b.source(graph.Addr{Kind: graph.KindSmartProcess, Key: k}.String(), joinPath("crm.smart_processes", k), true)
	}
}

// entity resolves an entity name, reporting unknown ones at path.
func (b *builder) entity(name, path string, label bool) (graph.CRMEntity, bool) {
	report := b.errVal
	if label {
		report = b.errKey
	}
	if name == "activity" || name == "activities" {
		report(path, "Activities have no permissions of their own",
			"CRM activities (calls, e-mails, meetings, tasks) follow the item they belong to: read on the item at level L lets a user view its activities at level L, write lets them create, edit and delete them, add alone gives no access. Grant read/write on the entity (e.g. deal) instead")
		return graph.CRMEntity{}, false
	}
	if key, ok := strings.CutPrefix(name, graph.SmartProcessPrefix); ok {
		if _, declared := b.doc.CRM.SmartProcesses[key]; !declared {
			report(path, "Unknown smart process", "%q is not declared in crm.smart_processes (declared: %s)", key, list(sortedKeys(b.doc.CRM.SmartProcesses)))
			return graph.CRMEntity{}, false
		}
	}
	e, ok := graph.LookupCRMEntity(name)
	if !ok {
		report(path, "Unknown CRM entity", "%q is not a CRM entity; use one of %s, or smart:<key> for a smart process", name, strings.Join(graph.CRMEntityNames(), ", "))
	}
	return e, ok
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// hasPipelines reports whether cells of e carry a pipeline key.
func hasPipelines(e graph.CRMEntity) bool { return e.Pipelines || e.Stages }

func (b *builder) declaredPipelines() {
	for _, ent := range sortedKeys(b.doc.CRM.Pipelines) {
		path := joinPath("crm.pipelines", ent)
		e, ok := b.entity(ent, path, true)
		if !ok {
			continue
		}
		if !hasPipelines(e) {
			b.errKey(path, "Entity has no pipelines", "%s has no pipelines or stages; pipelines exist for deal, smart_invoice and smart processes, stages also for lead", ent)
			continue
		}
		b.pipelines[ent] = map[string][]string{}
		for _, pk := range sortedKeys(b.doc.CRM.Pipelines[ent]) {
			pd := b.doc.CRM.Pipelines[ent][pk]
			pp := joinPath(path, pk)
			if !e.Pipelines && pk != graph.DefaultPipeline {
				b.errKey(pp, "Entity has no pipelines", "%s has stages but no pipelines; declare its stages as crm.pipelines.%s.default", ent, ent)
				continue
			}
			// Stage order is the declaration order in the source.
			stages := sortedKeys(pd.Stages)
			slices.SortStableFunc(stages, func(x, y string) int {
				return comparePos(b.ix.label(joinPath(pp, "stages", x)), b.ix.label(joinPath(pp, "stages", y)))
			})
			b.pipelines[ent][pk] = stages
			p := graph.Pipeline{Entity: ent, Key: pk, Name: pd.Name}
			addr := graph.Addr{Kind: graph.KindPipeline, Key: graph.PipelineKey(ent, pk)}
			for _, sk := range stages {
				sp := joinPath(pp, "stages", sk)
				b.source(graph.StageSourceKey(addr, sk), sp, true)
				if n := utf8.RuneCountInString(sk); n > MaxStageKey {
					b.errKey(sp, "Stage key too long", "stage key %q of %s pipeline %q has %d characters; at most %d fit b_crm_status.STATUS_ID (VARCHAR(50)) with the pipeline's prefix (\"C12:\", \"DT1032_7:\")", sk, ent, pk, n, MaxStageKey)
				}
				if n := utf8.RuneCountInString(pd.Stages[sk].Name); n > MaxStageName {
					b.errVal(joinPath(sp, "name"), "Name too long", "the name of stage %q of %s pipeline %q has %d characters; b_crm_status.NAME holds at most %d", sk, ent, pk, n, MaxStageName)
				}
				p.Stages = append(p.Stages, graph.Stage{Key: sk, Name: pd.Stages[sk].Name})
			}
			b.g.Pipelines = append(b.g.Pipelines, p)
			b.source(addr.String(), pp, true)
		}
	}
}

func comparePos(a, b *diag.Range) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if a.Filename != b.Filename {
		return strings.Compare(a.Filename, b.Filename)
	}
	return a.Start.Byte - b.Start.Byte
}

// pipelinesOf lists the pipeline keys cells of e expand to: "" for
// entities without stages, else "default" plus the declared pipelines.
func (b *builder) pipelinesOf(e graph.CRMEntity) []string {
	if !hasPipelines(e) {
		return []string{""}
	}
	keys := []string{graph.DefaultPipeline}
	for k := range b.pipelines[e.Name] {
		if k != graph.DefaultPipeline {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// checkStage reports a stage key not declared in (entity, pipeline).
func (b *builder) checkStage(e graph.CRMEntity, pipeline, stage, path string) bool {
	stages, declared := b.pipelines[e.Name][pipeline]
	if !declared {
		b.errKey(path, "Undeclared stage", "stage %q of %s pipeline %q: the pipeline's stages are not declared; declare them in crm.pipelines.%s.%s.stages", stage, e.Name, pipeline, e.Name, pipeline)
		return false
	}
	if !slices.Contains(stages, stage) {
		b.errKey(path, "Undeclared stage", "%s pipeline %q has no stage %q (declared: %s)", e.Name, pipeline, stage, list(stages))
		return false
	}
	return true
}

// action validates one action/level at path (of the level value).
func (b *builder) action(e graph.CRMEntity, pipeline, stage, name, level, path string) (graph.CRMAction, bool) {
	a, ok := e.Action(name)
	if !ok {
		b.errKey(path, "Unknown action", "%s has no action %q; use one of %s", e.Name, name, strings.Join(e.ActionNames(), ", "))
		return a, false
	}
	if stage != "" && !a.Stages {
		b.errKey(path, "Action has no stage rows", "%s.%s cannot be set per stage; set it on the entity or pipeline", e.Name, name)
		return a, false
	}
	if a.Levels == nil { // transition
		if level == graph.TransitionAny || level == graph.TransitionBlocked {
			return a, true
		}
		if level == "" {
			b.errVal(path, "Level not allowed", "%s.%s needs at least one target stage; use \"none\" to block every move", e.Name, name)
			return a, false
		}
		for _, target := range strings.Split(level, ",") {
			if pipeline == "" {
				continue
			}
			if !slices.Contains(b.pipelines[e.Name][pipeline], target) {
				b.errVal(path, "Unknown transition target", "%s pipeline %q has no stage %q to move items to (declared: %s)", e.Name, pipeline, target, list(b.pipelines[e.Name][pipeline]))
				return a, false
			}
		}
		return a, true
	}
	if graph.IsSetLevel(level) && slices.Equal(a.Levels, graph.CRMLevels) {
		return a, true // a non-chain set of the level members (SETTINGS, §2.4)
	}
	if !a.Allows(level) {
		b.errVal(path, "Level not allowed", "%s.%s does not allow %q; use one of %s", e.Name, name, level, strings.Join(a.Levels, ", "))
		return a, false
	}
	return a, true
}

// levelOf turns a level as written into the graph's level: a list is a
// set of level members for the level actions (["own", "open"] is
// SELF+OPEN; a set that is a chain is written as its name) and the target
// stages of transition.
func (b *builder) levelOf(e graph.CRMEntity, name, level, path string) (string, bool) {
	items, isList := parseListLevel(level)
	if !isList {
		return level, true
	}
	a, ok := e.Action(name)
	if !ok {
		return level, true // reported by action()
	}
	if a.Levels == nil {
		return strings.Join(items, ","), true
	}
	if !slices.Equal(a.Levels, graph.CRMLevels) {
		b.errVal(path, "Level not allowed", "%s.%s takes one level (%s), not a list", e.Name, name, strings.Join(a.Levels, ", "))
		return "", false
	}
	set, ok := graph.SetOfMembers(items)
	if !ok || len(items) == 0 {
		if len(items) > 0 {
			return "", false // the schema names the unknown member
		}
		b.errVal(path, "Level not allowed", "a level set lists some of %s; use \"none\" for no access", strings.Join(graph.SetMembers, ", "))
		return "", false
	}
	return set.Level(), true
}

func (b *builder) crmRoles() {
	names := map[string]string{}
	for _, key := range sortedKeys(b.doc.CRM.Roles) {
		rd := b.doc.CRM.Roles[key]
		rp := joinPath("crm.roles", key)
		addr := graph.Addr{Kind: graph.KindCRMRole, Key: key}
		b.uniqueName(names, "CRM role", rd.Name, key, rp)
		role := graph.CRMRole{Key: key, Name: rd.Name}
		b.source(addr.String(), rp, true)
		role.Assign = b.subjects(addr, rd.Assign, joinPath(rp, "assign"))
		for _, ent := range sortedKeys(rd.Permissions) {
			ep := joinPath(rp, "permissions", ent)
			e, ok := b.entity(ent, ep, true)
			if !ok {
				continue
			}
			role.Perms = append(role.Perms, b.entityCells(key, e, rd.Permissions[ent], ep)...)
		}
		b.g.CRMRoles = append(b.g.CRMRoles, role)
	}
}

// entityCells expands one entity's permissions into cells: entity-level
// values into every pipeline, then pipeline overrides, then stage
// overrides.
func (b *builder) entityCells(role string, e graph.CRMEntity, pd EntityPermsDoc, path string) []graph.CRMPerm {
	// Later (more specific) declarations override earlier ones: entity
	// defaults, then pipeline overrides, then stage overrides.
	pipelines := b.pipelinesOf(e)
	// Every entity-level action becomes one cell per pipeline.
	n := len(pd.Actions) * max(1, len(pipelines))
	cells := make([]graph.CRMPerm, 0, n)
	index := make(map[graph.CellKey]int, n)
	stageSrc := map[graph.CellKey]string{}
	// expand: an entity-wide level being expanded into every pipeline;
	// its position is recorded once (EntityCellSourceKey), not per cell.
	expand := false
	add := func(pipeline, stage, action, level, src string) {
		c := graph.CRMPerm{Entity: e.Name, Pipeline: pipeline, Stage: stage, Action: action, Level: level}
		if stage != "" {
			// `stages:` on the entity and `pipelines: default: stages:`
			// name the same stage cells: one value may not silently win.
			if first, dup := stageSrc[c.Key()]; dup {
				if cells[index[c.Key()]].Level != level {
					b.errVal(src, "Conflicting stage permission", "%s · %s · stage %s · %s is %s at %s and %s at %s; set it in one place",
						e.Name, pipeline, stage, action, levelText(cells[index[c.Key()]].Level), b.pos(first, false), levelText(level), b.pos(src, false))
				}
				return
			}
			stageSrc[c.Key()] = src
		}
		if i, ok := index[c.Key()]; ok {
			cells[i] = c
		} else {
			index[c.Key()] = len(cells)
			cells = append(cells, c)
		}
		if !expand {
			b.g.SetSource(graph.CellSourceKey(role, c), b.pos(src, false))
		}
	}
	for _, act := range sortedKeys(pd.Actions) {
		ap := joinPath(path, act)
		level, ok := b.levelOf(e, act, pd.Actions[act], ap)
		if !ok {
			continue
		}
		if _, ok := b.action(e, "", "", act, level, ap); !ok {
			continue
		}
		expand = hasPipelines(e)
		added := false
		for _, p := range pipelines {
			if _, ok := b.checkTransition(e, p, act, level, ap); ok {
				add(p, "", act, level, ap)
				added = true
			}
		}
		if expand && added {
			b.g.SetSource(graph.EntityCellSourceKey(role, e.Name, act), b.pos(ap, false))
		}
		expand = false
	}
	if len(pd.Pipelines) > 0 && !e.Pipelines {
		b.errKey(joinPath(path, "pipelines"), "Entity has no pipelines", "%s has no pipelines; pipelines exist for deal, smart_invoice and smart processes", e.Name)
	} else {
		for _, pk := range sortedKeys(pd.Pipelines) {
			pp := joinPath(path, "pipelines", pk)
			if _, ok := b.pipelines[e.Name][pk]; !ok && pk != graph.DefaultPipeline {
				b.errKey(pp, "Undeclared pipeline", "%s has no pipeline %q (declared: %s); declare it in crm.pipelines.%s", e.Name, pk, list(b.pipelineNames(e.Name)), e.Name)
				continue
			}
			for _, act := range sortedKeys(pd.Pipelines[pk].Actions) {
				ap := joinPath(pp, act)
				level, ok := b.levelOf(e, act, pd.Pipelines[pk].Actions[act], ap)
				if !ok {
					continue
				}
				if _, ok := b.action(e, pk, "", act, level, ap); ok {
					add(pk, "", act, level, ap)
				}
			}
			b.stageCells(role, e, pk, pd.Pipelines[pk].Stages, joinPath(pp, "stages"), add)
		}
	}
	if len(pd.Stages) > 0 {
		if !e.Stages {
			b.errKey(joinPath(path, "stages"), "Entity has no stages", "%s has no stages; stage permissions exist for lead, deal, smart_invoice and smart processes", e.Name)
		} else {
			b.stageCells(role, e, graph.DefaultPipeline, pd.Stages, joinPath(path, "stages"), add)
		}
	}
	return cells
}

func (b *builder) checkTransition(e graph.CRMEntity, pipeline, act, level, path string) (graph.CRMAction, bool) {
	a, _ := e.Action(act)
	if a.Levels != nil || level == graph.TransitionAny || level == graph.TransitionBlocked {
		return a, true
	}
	for _, target := range strings.Split(level, ",") {
		if !slices.Contains(b.pipelines[e.Name][pipeline], target) {
			b.errVal(path, "Unknown transition target", "%s pipeline %q has no stage %q to move items to (declared: %s)", e.Name, pipeline, target, list(b.pipelines[e.Name][pipeline]))
			return a, false
		}
	}
	return a, true
}

func (b *builder) pipelineNames(entity string) []string {
	names := []string{graph.DefaultPipeline}
	for k := range b.pipelines[entity] {
		if k != graph.DefaultPipeline {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

func (b *builder) stageCells(role string, e graph.CRMEntity, pipeline string, stages map[string]Actions, path string, add func(p, s, a, l, src string)) {
	for _, sk := range sortedKeys(stages) {
		sp := joinPath(path, sk)
		if !b.checkStage(e, pipeline, sk, sp) {
			continue
		}
		for _, act := range sortedKeys(stages[sk]) {
			ap := joinPath(sp, act)
			level, ok := b.levelOf(e, act, stages[sk][act], ap)
			if !ok {
				continue
			}
			if _, ok := b.action(e, pipeline, sk, act, level, ap); ok {
				add(pipeline, sk, act, level, ap)
			}
		}
	}
}

func (b *builder) uniqueName(seen map[string]string, what, name, key, path string) {
	if !b.validName(what, key, name, joinPath(path, "name")) {
		return
	}
	n := strings.ToLower(strings.TrimSpace(name))
	if other, dup := seen[n]; dup {
		b.errVal(joinPath(path, "name"), "Duplicate name", "%s %q is also the name of %s; names must be unique because the portal tells its %ss apart by name", what, name, other, what)
		return
	}
	seen[n] = key
}

// Column widths of the Bitrix tables the names and keys are written to, so
// that validate refuses what a write would fail on ("Data too long") —
// avshatalov48/bitrix24-core-corp modules/crm/install/db/mysql/install.sql
// (commit 00b2f78d): b_crm_status STATUS_ID VARCHAR(50), NAME VARCHAR(100);
// b_crm_role NAME VARCHAR(255). A stage's STATUS_ID is its key in upper
// case behind the pipeline's prefix ("C12:" for deal pipelines,
// "DT1032_7:" for smart processes), so 14 characters are kept for it.
const (
	MaxStageKey  = 50 - 14
	MaxStageName = 100
	MaxRoleName  = 255
)

// validName refuses a name the portal cannot show: empty or blank (the
// object would have no name in the UI and could not be matched by name)
// or holding a control character (import would fail on it later).
func (b *builder) validName(what, key, name, path string) bool {
	if n := utf8.RuneCountInString(name); what == "CRM role" && n > MaxRoleName {
		b.errVal(path, "Name too long", "the name of %s %q has %d characters; b_crm_role.NAME holds at most %d", what, key, n, MaxRoleName)
		return false
	}
	if strings.TrimSpace(name) == "" {
		b.errVal(path, "Empty name", "%s %q has an empty name; give it the name the portal shows", what, key)
		return false
	}
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		b.errVal(path, "Invalid name", "the name of %s %q holds a control character (U+%04X at byte %d); names are plain text", what, key, r, i)
		return false
	}
	return true
}

// subjects converts subject structs to canonical subject strings.
func (b *builder) subjects(addr graph.Addr, in []SubjectDoc, path string) []string {
	var out []string
	for i, s := range in {
		sp := joinPath(path, fmt.Sprint(i))
		sub, ok := b.subject(s, sp)
		if !ok {
			continue
		}
		out = append(out, sub)
		switch addr.Kind {
		case graph.KindCRMRole, graph.KindTelephony, graph.KindOpenline:
			if why := graph.CodeMatchesNobody(strings.TrimPrefix(sub, graph.SubjCode+":")); why != "" && strings.HasPrefix(sub, graph.SubjCode+":") {
				b.ds = append(b.ds, diag.Diagnostic{Severity: diag.Warning, Summary: "Subject matches nobody", Path: sp, Subject: b.ix.value(joinPath(sp, "code")), Detail: why})
			}
		}
		if addr.Key != "" {
			b.g.SetSource(graph.AssignSourceKey(addr, sub), b.pos(sp, false))
		}
	}
	return out
}

func (b *builder) subject(s SubjectDoc, path string) (string, bool) {
	var kinds []string
	if s.User != nil {
		kinds = append(kinds, "user")
	}
	if s.Department != nil {
		kinds = append(kinds, "department")
	}
	if s.Group != nil {
		kinds = append(kinds, "group")
	}
	if s.Workgroup != nil {
		kinds = append(kinds, "workgroup")
	}
	if s.Code != nil {
		kinds = append(kinds, "code")
	}
	if len(kinds) != 1 {
		detail := "a subject needs exactly one of user, department, group, workgroup or code"
		if len(kinds) > 1 {
			detail += fmt.Sprintf(" (this one has %s)", strings.Join(kinds, " and "))
		}
		b.errVal(path, "Invalid subject", "%s", detail)
		return "", false
	}
	if s.Subdepartments && s.Department == nil {
		b.errVal(path, "Invalid subject", "subdepartments applies only to a department subject")
		return "", false
	}
	if s.Members != "" && s.Workgroup == nil {
		b.errVal(path, "Invalid subject", "members applies only to a workgroup subject")
		return "", false
	}
	empty := func(v string) bool { return strings.TrimSpace(v) == "" }
	switch kinds[0] {
	case "user":
		if empty(*s.User) {
			b.errVal(path, "Invalid subject", "user must be an e-mail address or a numeric user ID")
			return "", false
		}
		// Case is kept: the portal may hold e-mails that differ only in case
		// (graph.Index.ResolveUser matches the exact one first).
		return graph.SubjUser + ":" + strings.TrimSpace(*s.User), true
	case "department":
		p := strings.Trim(strings.TrimSpace(*s.Department), "/")
		if p == "" {
			b.errVal(path, "Invalid subject", `department must be a path such as "Company/Sales" or "#<id>"`)
			return "", false
		}
		if s.Subdepartments {
			return graph.SubjDepartmentAll + ":" + p, true
		}
		return graph.SubjDepartment + ":" + p, true
	case "group":
		if empty(*s.Group) {
			b.errVal(path, "Invalid subject", "group must name a user group, e.g. employees")
			return "", false
		}
		return graph.SubjGroup + ":" + strings.ToLower(strings.TrimSpace(*s.Group)), true
	case "workgroup":
		key := strings.TrimSpace(*s.Workgroup)
		if _, ok := b.doc.Workgroups[key]; !ok {
			b.errVal(path, "Unknown workgroup", "workgroup %q is not declared in workgroups (declared: %s)", key, list(sortedKeys(b.doc.Workgroups)))
			return "", false
		}
		switch s.Members {
		case "owner":
			return graph.SubjWGOwner + ":" + key, true
		case "moderators":
			return graph.SubjWGModerators + ":" + key, true
		}
		return graph.SubjWGMembers + ":" + key, true
	}
	code := strings.TrimSpace(*s.Code)
	if code == "" {
		b.errVal(path, "Invalid subject", "code must be a Bitrix access code such as AE0")
		return "", false
	}
	if !graph.ValidAccessCode(code) {
		b.errVal(joinPath(path, "code"), "Invalid access code", "%q is not a Bitrix access code; codes look like U<id>, D<id>, DR<id>, G<id>, IU<id>, SG<id>_K, AD<id>, AE0, SNDR<id>", code)
		return "", false
	}
	return graph.SubjCode + ":" + code, true
}

func (b *builder) simpleRoles(kind graph.Kind, base string, roles map[string]SimpleRoleDoc, table []graph.SimpleAction) {
	names := map[string]string{}
	var out []graph.SimpleRole
	for _, key := range sortedKeys(roles) {
		rd := roles[key]
		rp := joinPath(base, key)
		addr := graph.Addr{Kind: kind, Key: key}
		b.uniqueName(names, strings.ReplaceAll(string(kind), "_", " "), rd.Name, key, rp)
		b.source(addr.String(), rp, true)
		r := graph.SimpleRole{Key: key, Name: rd.Name, Assign: b.subjects(addr, rd.Assign, joinPath(rp, "assign"))}
		for _, ent := range sortedKeys(rd.Permissions) {
			for _, act := range sortedKeys(rd.Permissions[ent]) {
				ap := joinPath(rp, "permissions", ent, act)
				level := rd.Permissions[ent][act]
				sa, ok := graph.LookupSimple(table, ent, act)
				if !ok {
					b.errKey(ap, "Unknown permission", "%s.%s is not a %s permission; use one of %s", ent, act, strings.ReplaceAll(string(kind), "_", " "), simpleNames(table))
					continue
				}
				if sa.Rank(level) < 0 {
					b.errVal(ap, "Level not allowed", "%s.%s does not allow %q; use one of %s", ent, act, level, strings.Join(sa.Levels, ", "))
					continue
				}
				c := graph.SimplePerm{Entity: ent, Action: act, Level: level}
				r.Perms = append(r.Perms, c)
				b.g.SetSource(graph.SimpleCellSourceKey(kind, key, c), b.pos(ap, false))
			}
		}
		out = append(out, r)
	}
	if kind == graph.KindTelephony {
		b.g.TelephonyRoles = out
	} else {
		b.g.OpenlineRoles = out
	}
}

// telephonySecurity reads telephony.security. With security off the
// portal ignores telephony roles (voximplant Helper::canUse()): declaring
// roles then is legal (they are stored and take effect when the plan gets
// the feature) but is worth a warning.
func (b *builder) telephonySecurity() {
	switch b.doc.Telephony.Security {
	case "", "on":
	case "off":
		b.g.TelephonySecurityOff = true
		if len(b.doc.Telephony.Roles) > 0 {
			b.ds = append(b.ds, diag.Diagnostic{Severity: diag.Warning, Summary: "Telephony roles not in force", Subject: b.ix.value(joinPath("telephony", "security")),
				Detail: "telephony security is off: the portal ignores its telephony roles and applies Bitrix's defaults (administrators: everything; the whole company: own call statistics and recordings, any calls) until the plan includes voximplant_security"})
		}
	default:
		b.errVal(joinPath("telephony", "security"), "Invalid value", "telephony.security is \"on\" or \"off\"")
	}
}

func simpleNames(table []graph.SimpleAction) string {
	var s []string
	for _, a := range table {
		s = append(s, a.Entity+"."+a.Action)
	}
	return strings.Join(s, ", ")
}

func (b *builder) userRef(v, path string) (string, bool) {
	v = strings.TrimSpace(v) // case kept: see subject()
	if v == "" {
		b.errVal(path, "Invalid user", "give an e-mail address or a numeric user ID")
		return "", false
	}
	return graph.SubjUser + ":" + v, true
}

func (b *builder) workgroups() {
	names := map[string]string{}
	for _, key := range sortedKeys(b.doc.Workgroups) {
		wd := b.doc.Workgroups[key]
		wp := joinPath("workgroups", key)
		b.uniqueName(names, "workgroup", wd.Name, key, wp)
		b.source(graph.Addr{Kind: graph.KindWorkgroup, Key: key}.String(), wp, true)
		w := graph.Workgroup{Key: key, Name: wd.Name, Visibility: wd.Visibility, Archived: wd.Archived}
		if _, ok := graph.Visibilities[wd.Visibility]; !ok && wd.Visibility != "" {
			b.errVal(joinPath(wp, "visibility"), "Invalid visibility", "use public, private, secret or secret_open")
		}
		switchable := graph.SwitchableFeatures()
		for i, f := range wd.DisabledFeatures {
			if !slices.Contains(switchable, f) {
				b.errVal(joinPath(wp, "disabled_features", fmt.Sprint(i)), "Unknown feature", "%q is not a workgroup feature; use one of %s", f, strings.Join(switchable, ", "))
				continue
			}
			w.DisabledFeatures = append(w.DisabledFeatures, f)
		}
		if o, ok := b.userRef(wd.Owner, joinPath(wp, "owner")); ok {
			w.Owner = o
		}
		for i, m := range wd.Moderators {
			if u, ok := b.userRef(m, joinPath(wp, "moderators", fmt.Sprint(i))); ok {
				w.Moderators = append(w.Moderators, u)
			}
		}
		for i, m := range wd.Members {
			if u, ok := b.userRef(m, joinPath(wp, "members", fmt.Sprint(i))); ok {
				w.Members = append(w.Members, u)
			}
		}
		for _, f := range sortedKeys(wd.Features) {
			ops, ok := graph.GroupFeatures[f]
			if !ok {
				b.errKey(joinPath(wp, "features", f), "Unknown feature", "%q is not a workgroup feature; use one of %s", f, list(sortedKeys(graph.GroupFeatures)))
				continue
			}
			for _, op := range sortedKeys(wd.Features[f]) {
				if _, ok := ops[op]; !ok {
					b.errKey(joinPath(wp, "features", f, op), "Unknown operation", "feature %s has no operation %q; use one of %s", f, op, list(sortedKeys(ops)))
					continue
				}
				if slices.Contains(graph.GroupRestricted[f][op], wd.Features[f][op]) {
					b.errVal(joinPath(wp, "features", f, op), "Role not allowed", "%s.%s cannot be given to %s: Bitrix24 refuses it for this operation (§7); use authorized, employee_members or members", f, op, wd.Features[f][op])
					continue
				}
				w.Features = append(w.Features, graph.FeaturePerm{Feature: f, Operation: op, Role: wd.Features[f][op]})
			}
		}
		b.g.Workgroups = append(b.g.Workgroups, w)
	}
}

// openChannels builds open-channel configurations. A queue holds users and
// departments only: Bitrix has no other queue entry types.
func (b *builder) openChannels() {
	names := map[string]string{}
	for _, key := range sortedKeys(b.doc.Openlines.Channels) {
		cd := b.doc.Openlines.Channels[key]
		cp := joinPath("openlines.channels", key)
		addr := graph.Addr{Kind: graph.KindOpenChannel, Key: key}
		b.uniqueName(names, "open channel", cd.Name, key, cp)
		b.source(addr.String(), cp, true)
		c := graph.OpenChannel{Key: key, Name: cd.Name, QueueType: cd.QueueType, Inactive: cd.Active != nil && !*cd.Active}
		for i, s := range cd.Queue {
			sp := joinPath(cp, "queue", fmt.Sprint(i))
			if s.User == nil && s.Department == nil || s.Subdepartments {
				b.errVal(sp, "Invalid queue entry", "an open-channel queue holds users and departments (without subdepartments) only")
				continue
			}
			if sub, ok := b.subject(s, sp); ok {
				c.Queue = append(c.Queue, sub)
				b.g.SetSource(graph.AssignSourceKey(addr, sub), b.pos(sp, false))
			}
		}
		b.g.OpenChannels = append(b.g.OpenChannels, c)
	}
}

func (b *builder) fieldRules() {
	for _, key := range sortedKeys(b.doc.Fields.Rules) {
		fd := b.doc.Fields.Rules[key]
		fp := joinPath("fields.rules", key)
		addr := graph.Addr{Kind: graph.KindFieldRule, Key: key}
		b.source(addr.String(), fp, true)
		e, ok := b.entity(fd.Entity, joinPath(fp, "entity"), false)
		if !ok {
			continue
		}
		r := graph.FieldRule{Key: key, Entity: fd.Entity, Pipeline: fd.Pipeline, Field: strings.TrimSpace(fd.Field)}
		if r.Field == "" {
			b.errVal(joinPath(fp, "field"), "Missing field name", "name the CRM field, e.g. OPPORTUNITY or UF_CRM_MARGIN")
		}
		if fd.Pipeline != "" {
			if !e.Pipelines {
				b.errVal(joinPath(fp, "pipeline"), "Entity has no pipelines", "%s has no pipelines", e.Name)
			} else if _, ok := b.pipelines[e.Name][fd.Pipeline]; !ok && fd.Pipeline != graph.DefaultPipeline {
				b.errVal(joinPath(fp, "pipeline"), "Undeclared pipeline", "%s has no pipeline %q (declared: %s)", e.Name, fd.Pipeline, list(b.pipelineNames(e.Name)))
			}
		}
		if len(fd.Stages) > 0 {
			p := fd.Pipeline
			if p == "" {
				p = graph.DefaultPipeline
			}
			if !e.Stages {
				b.errVal(joinPath(fp, "stages"), "Entity has no stages", "%s has no stages", e.Name)
			} else {
				for i, s := range fd.Stages {
					if b.checkStage(e, p, s, joinPath(fp, "stages", fmt.Sprint(i))) {
						r.Stages = append(r.Stages, s)
					}
				}
			}
		}
		r.View = b.subjects(graph.Addr{}, fd.View, joinPath(fp, "view"))
		r.Edit = b.subjects(graph.Addr{}, fd.Edit, joinPath(fp, "edit"))
		b.g.FieldRules = append(b.g.FieldRules, r)
	}
	for _, key := range sortedKeys(b.doc.Fields.Visibility) {
		fd := b.doc.Fields.Visibility[key]
		fp := joinPath("fields.visibility", key)
		if _, dup := b.doc.Fields.Rules[key]; dup {
			b.errKey(fp, "Duplicate key", "field_rule.%s is declared both in fields.rules and fields.visibility", key)
			continue
		}
		b.source(graph.Addr{Kind: graph.KindFieldRule, Key: key}.String(), fp, true)
		if _, ok := b.entity(fd.Entity, joinPath(fp, "entity"), false); !ok {
			continue
		}
		if !strings.HasPrefix(fd.Field, "UF_") {
			b.errVal(joinPath(fp, "field"), "Not a custom field", "Bitrix24's native field visibility exists only for custom fields (UF_*); use fields.rules for %s", fd.Field)
			continue
		}
		b.g.FieldRules = append(b.g.FieldRules, graph.FieldRule{Key: key, Native: true, Entity: fd.Entity, Field: fd.Field,
			View: b.subjects(graph.Addr{}, fd.View, joinPath(fp, "view"))})
	}
}

func (b *builder) settings() {
	s := b.doc.Settings
	if s != nil {
		gs := &graph.Settings{Mode: s.Mode}
		for i, a := range s.Protect {
			if _, err := graph.ParseAddr(a); err != nil {
				b.errVal(joinPath("settings.protect", fmt.Sprint(i)), "Invalid address", "%v", err)
				continue
			}
			b.source(graph.ProtectSourceKey(a), joinPath("settings.protect", fmt.Sprint(i)), false)
			gs.Protect = append(gs.Protect, a)
		}
		for i, f := range s.SensitiveFields {
			ent, field, ok := strings.Cut(f, ".")
			if !ok || field == "" {
				b.errVal(joinPath("settings.sensitive_fields", fmt.Sprint(i)), "Invalid field", "write sensitive fields as ENTITY.FIELD, e.g. deal.OPPORTUNITY")
				continue
			}
			if _, ok := b.entity(ent, joinPath("settings.sensitive_fields", fmt.Sprint(i)), false); !ok {
				continue
			}
			gs.SensitiveFields = append(gs.SensitiveFields, f)
		}
		b.g.Settings = gs
	}
	for i, r := range b.doc.Removed {
		p := joinPath("removed", fmt.Sprint(i))
		if _, err := graph.ParseAddr(r.Address); err != nil {
			b.errVal(joinPath(p, "address"), "Invalid address", "%v", err)
			continue
		}
		if strings.TrimSpace(r.Reason) == "" {
			b.errVal(joinPath(p, "reason"), "Missing reason", "say why %s may be removed", r.Address)
			continue
		}
		b.g.Removed = append(b.g.Removed, graph.Removed{Address: r.Address, Reason: r.Reason})
	}
}

// testTarget checks what a non-activity test asks about, in the
// vocabulary of who-can and explain: a CRM entity (an action, or move
// with stage and to), telephony:ENTITY and openlines:ENTITY (an action of
// the table, levels in its order), channel:KEY (receive_chats) and
// workgroup:KEY (feature.operation, or join).
func (b *builder) testTarget(t TestDoc, p string) bool {
	action := t.Can + t.Cannot
	ep, ap, lp := joinPath(p, "entity"), joinPath(p, "can"), joinPath(p, "level")
	if t.Cannot != "" {
		ap = joinPath(p, "cannot")
	}
	kind, key, _ := strings.Cut(t.Entity, ":")
	switch kind {
	case "telephony", "openlines":
		table, what := graph.TelephonyActions, "telephony"
		if kind == "openlines" {
			table, what = graph.OpenlineActions, "open-channel"
		}
		sa, ok := graph.LookupSimple(table, key, action)
		if !ok {
			b.errVal(ap, "Unknown permission", "%s.%s is not a %s permission; use one of %s", key, action, what, simpleNames(table))
			return false
		}
		if t.Level != "" && sa.Rank(t.Level) < 0 {
			b.errVal(lp, "Level not allowed", "%s.%s has the levels %s", key, action, strings.Join(sa.Levels, ", "))
			return false
		}
		return true
	case "channel":
		if _, ok := b.doc.Openlines.Channels[key]; !ok {
			b.errVal(ep, "Unknown open channel", "%q is not declared in openlines.channels (declared: %s)", key, list(sortedKeys(b.doc.Openlines.Channels)))
			return false
		}
		if action != "receive_chats" || (t.Level != "" && t.Level != "receives_chats") {
			b.errVal(ap, "Invalid test", "an open channel's only question is receive_chats")
			return false
		}
		return true
	case "workgroup":
		if _, ok := b.doc.Workgroups[key]; !ok {
			b.errVal(ep, "Unknown workgroup", "workgroup %q is not declared in workgroups (declared: %s)", key, list(sortedKeys(b.doc.Workgroups)))
			return false
		}
		if action == "join" {
			if t.Level != "" && !slices.Contains([]string{"joins", "asks", "accepts_invitation"}, t.Level) {
				b.errVal(lp, "Level not allowed", "joining has the levels joins (at once), asks (a request) and accepts_invitation")
				return false
			}
			return true
		}
		feature, op, _ := strings.Cut(action, ".")
		if _, ok := graph.GroupFeatures[feature][op]; !ok {
			b.errVal(ap, "Unknown operation", "%q is not a workgroup feature operation (feature.operation, e.g. tasks.edit_tasks) nor join", action)
			return false
		}
		if t.Level != "" && t.Level != "allowed" {
			b.errVal(lp, "Level not allowed", "a workgroup operation is allowed or not; leave level out")
			return false
		}
		return true
	}
	e, ok := b.entity(t.Entity, ep, false)
	if !ok {
		return false
	}
	if action == "move" {
		if !e.Stages {
			b.errVal(ep, "Invalid test", "%s items have no stages to move between", e.Name)
			return false
		}
		if t.Stage == "" || t.To == "" {
			b.errVal(p, "Invalid test", "a move needs stage (where the item stands) and to (the target stage)")
			return false
		}
		pipeline := t.Pipeline
		if pipeline == "" {
			pipeline = graph.DefaultPipeline
		}
		if stages, declared := b.pipelines[e.Name][pipeline]; declared {
			for _, f := range []struct{ field, stage string }{{"stage", t.Stage}, {"to", t.To}} {
				if !slices.Contains(stages, f.stage) {
					b.errVal(joinPath(p, f.field), "Unknown stage", "pipeline %s of %s has no stage %q (stages: %s)", pipeline, e.Name, f.stage, list(stages))
					return false
				}
			}
		}
	}
	return true
}

func (b *builder) tests() {
	for i, t := range b.doc.Tests {
		p := joinPath("tests", fmt.Sprint(i))
		pos := b.pos(p, false)
		if (t.Can == "") == (t.Cannot == "") {
			b.errVal(p, "Invalid test", "a test needs exactly one of can or cannot")
			continue
		}
		if (t.User == "") == (t.NobodyOutside == "") {
			b.errVal(p, "Invalid test", "a test needs exactly one of user or nobody_outside")
			continue
		}
		if t.Entity == "activity" {
			// Activities follow their item's read and write (§3.5).
			item := t.Item
			if item == "" {
				item = "deal"
			}
			e, ok := b.entity(item, joinPath(p, "item"), false)
			if !ok {
				continue
			}
			if !graph.IsItemEntity(e) {
				b.errVal(joinPath(p, "item"), "Invalid item", "activities belong to CRM items (lead, deal, contact, company, quote, smart_invoice, smart:<key>); %q is not one", item)
				continue
			}
			if op := t.Can + t.Cannot; !slices.Contains([]string{"view", "read", "create", "edit", "delete", "write"}, op) {
				b.errVal(p, "Invalid test", "activities have no %q operation; use view, create, edit or delete", op)
				continue
			}
		} else {
			if t.Item != "" {
				b.errVal(joinPath(p, "item"), "Invalid test", "item applies only to entity \"activity\"")
				continue
			}
			if !b.testTarget(t, p) {
				continue
			}
		}
		if t.To != "" && t.Can+t.Cannot != "move" {
			b.errVal(joinPath(p, "to"), "Invalid test", "to applies only to a move (can or cannot: \"move\")")
			continue
		}
		b.g.Tests = append(b.g.Tests, graph.Test{Name: t.Name, User: strings.TrimSpace(t.User), NobodyOutside: t.NobodyOutside, Can: t.Can, Cannot: t.Cannot,
			Entity: t.Entity, Item: t.Item, Pipeline: t.Pipeline, Stage: t.Stage, To: t.To, Field: t.Field, Level: t.Level, Exactly: t.Exactly, Pos: pos})
	}
}

// levelText quotes a level for a message.
func levelText(l string) string { return fmt.Sprintf("%q", l) }
