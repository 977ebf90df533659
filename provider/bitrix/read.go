package bitrix

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// Anomaly is a stored row Bitrix would never write (unknown ENTITY or
// PERM_TYPE, bad SETTINGS JSON, the letter '-', a stage that does not
// exist, a row of a missing role …). Read skips such rows and reports them
// so that the plan can show them as drift; applies never delete them.
//
// With Unmanaged set it is instead a note on rows Bitrix does write that
// b24perm does not manage — permission entities the policy language has
// no words for (ORDER, CCA, AS_CONFIG_<n> …) and roles of other role
// groups (web forms, widgets, contractors, automated solutions): they are
// read, left out of the graph, kept by every apply, and listed in the
// plan as unmanaged (Address, Name and ID name the object).
type Anomaly struct {
	Table     string `json:"table"`
	ID        int64  `json:"id"`
	Problem   string `json:"problem"`
	Unmanaged bool   `json:"unmanaged,omitempty"`
	Address   string `json:"address,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (a Anomaly) String() string {
	return fmt.Sprintf("%s row %d: %s", a.Table, a.ID, a.Problem)
}

// Notes splits a Read's anomalies for the plan output: the rows Bitrix
// would never write (shown as warnings) and the unmanaged objects and
// rows (listed under "not managed by this policy (kept)").
func Notes(as []Anomaly) (anomalies []string, unmanaged []plan.Unmanaged) {
	for _, a := range as {
		if !a.Unmanaged {
			anomalies = append(anomalies, a.String())
			continue
		}
		unmanaged = append(unmanaged, plan.Unmanaged{Address: cmp.Or(a.Address, a.Table), Name: a.Name, ID: a.ID, Reason: a.Problem})
	}
	return anomalies, unmanaged
}

// catRef names one category: entity type ID and category ID (lead: 1, 0).
type catRef struct{ etid, cat int64 }

// keys holds the keys derived from names and the lookups between Bitrix
// IDs and graph keys. Apply rebuilds it after structural changes.
type keys struct {
	smartKey   map[int64]string // entity type ID → key
	smartByKey map[string]int64
	pipeKey    map[catRef]string // category → pipeline key
	pipeByKey  map[string]catRef // "entity.key" → category
	// stages: category → STATUS_ID → key, and key → STATUS_ID.
	stageKey    map[catRef]map[string]string
	stageStatus map[catRef]map[string]string
	wgKey       map[int64]string
	bases       map[string]graph.CRMEntity // "DEAL" → entity (not DYNAMIC)
}

var builtinBases = func() map[string]graph.CRMEntity {
	m := map[string]graph.CRMEntity{}
	for _, n := range graph.CRMEntityNames() {
		e, _ := graph.LookupCRMEntity(n)
		m[e.Bitrix] = e
	}
	return m
}()

// graphEntity is the graph's entity name for an entity type ID with
// categories (lead, deal, smart_invoice, smart:<key>).
func (k *keys) graphEntity(etid int64) (string, bool) {
	switch etid {
	case EntityTypeLead:
		return "lead", true
	case EntityTypeDeal:
		return "deal", true
	case EntityTypeSmartInvoice:
		return "smart_invoice", true
	}
	key, ok := k.smartKey[etid]
	if !ok {
		return "", false
	}
	return graph.SmartProcessPrefix + key, true
}

// entityTypeID is the inverse of graphEntity.
func (k *keys) entityTypeID(entity string) (int64, bool) {
	switch entity {
	case "lead":
		return EntityTypeLead, true
	case "deal":
		return EntityTypeDeal, true
	case "smart_invoice":
		return EntityTypeSmartInvoice, true
	}
	if key, ok := strings.CutPrefix(entity, graph.SmartProcessPrefix); ok {
		id, ok := k.smartByKey[key]
		return id, ok
	}
	return 0, false
}

func sortedByID[T any](in []T, id func(T) int64) []T {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	return out
}

func (p *Portal) keys() *keys {
	k := &keys{smartKey: map[int64]string{}, smartByKey: map[string]int64{}, pipeKey: map[catRef]string{}, pipeByKey: map[string]catRef{},
		stageKey: map[catRef]map[string]string{}, stageStatus: map[catRef]map[string]string{}, wgKey: map[int64]string{}, bases: builtinBases}
	used := map[string]bool{}
	for _, s := range sortedByID(p.SmartTypes, func(s SmartType) int64 { return s.EntityTypeID }) {
		key := UniqueKey(used, s.Title, s.EntityTypeID)
		k.smartKey[s.EntityTypeID], k.smartByKey[key] = key, s.EntityTypeID
	}
	perEntity := map[int64]map[string]bool{}
	for _, c := range sortedByID(p.Categories, func(c Category) int64 { return c.ID }) {
		ent, ok := k.graphEntity(c.EntityTypeID)
		if !ok || c.EntityTypeID == EntityTypeLead {
			continue
		}
		if perEntity[c.EntityTypeID] == nil {
			perEntity[c.EntityTypeID] = map[string]bool{graph.DefaultPipeline: true}
		}
		key := graph.DefaultPipeline
		if c.IsDefault != "Y" {
			key = UniqueKey(perEntity[c.EntityTypeID], c.Name, c.ID)
		}
		ref := catRef{c.EntityTypeID, c.ID}
		k.pipeKey[ref] = key
		k.pipeByKey[graph.PipelineKey(ent, key)] = ref
	}
	for _, s := range p.Statuses {
		etid, cat, ok := ParseStatusEntityID(s.EntityID)
		if !ok {
			continue
		}
		ref := catRef{etid, cat}
		if etid == EntityTypeLead {
			k.pipeKey[ref] = graph.DefaultPipeline
			k.pipeByKey[graph.PipelineKey("lead", graph.DefaultPipeline)] = ref
		}
		if k.stageKey[ref] == nil {
			k.stageKey[ref], k.stageStatus[ref] = map[string]string{}, map[string]string{}
		}
		sk := stageKey(s.StatusID)
		k.stageKey[ref][s.StatusID] = sk
		k.stageStatus[ref][sk] = s.StatusID
	}
	used = map[string]bool{}
	for _, w := range sortedByID(p.SonetGroups, func(w SonetGroup) int64 { return w.ID }) {
		k.wgKey[w.ID] = UniqueKey(used, w.Name, w.ID)
	}
	return k
}

func (p *Portal) directory() *graph.Directory {
	d := &graph.Directory{Users: make([]graph.User, 0, len(p.Users)), Departments: make([]graph.Department, 0, len(p.Departments))}
	// Extranet users are the members of the user group the extranet
	// module names in its option extranet_group
	// (yuliai/bitrix-modules a3a2a579 extranet/classes/general/extranet.php
	// GetExtranetUserGroupID; intranet/lib/User.php isExtranet).
	extranetGroup, _ := strconv.ParseInt(p.Option("extranet", "extranet_group", ""), 10, 64)
	for _, u := range p.Users {
		d.Users = append(d.Users, graph.User{ID: u.ID, Email: u.Email, Name: strings.TrimSpace(u.Name + " " + u.LastName),
			Departments: slices.Clone(u.UFDepartment), Groups: slices.Clone(u.Groups), Admin: slices.Contains(u.Groups, 1), Inactive: u.Active == "N",
			Extranet: extranetGroup > 0 && slices.Contains(u.Groups, extranetGroup)})
	}
	// socialnetwork option work_with_closed_groups, default N
	// (socialnetwork/classes/general/group_features_perms.php, options.php).
	d.WorkWithClosedGroups = p.Option("socialnetwork", "work_with_closed_groups", "N") == "Y"
	for _, dp := range p.Departments {
		d.Departments = append(d.Departments, graph.Department{ID: dp.ID, Name: dp.Name, Parent: dp.Parent, Head: dp.Head})
	}
	for _, g := range p.Groups {
		d.Groups = append(d.Groups, graph.Group{ID: g.ID, Name: g.Name})
	}
	return d
}

// index is the subject index over the portal's directory and workgroups;
// extra maps further workgroup keys (from a plan's IDs) to IDs.
func (p *Portal) index(dir *graph.Directory, k *keys, extra map[string]int64) *graph.Index {
	wgs := make([]graph.Workgroup, 0, len(k.wgKey))
	for id, key := range k.wgKey {
		wgs = append(wgs, graph.Workgroup{Key: key, ID: id})
	}
	slices.SortFunc(wgs, func(a, b graph.Workgroup) int { return cmp.Compare(a.ID, b.ID) })
	ix := graph.NewIndex(dir, wgs)
	for key, id := range extra {
		if _, taken := ix.WorkgroupIDs[key]; !taken {
			ix.WorkgroupIDs[key] = id
		}
	}
	return ix
}

// ToGraph returns the live graph of p in normal form. Rows that do not fit
// the model are skipped; use Read to get them as anomalies.
func ToGraph(p *Portal) (*graph.Graph, error) {
	if p == nil {
		return nil, fmt.Errorf("no portal")
	}
	g, _ := Read(p)
	return g, nil
}

type permKey struct {
	role                           int64
	entity, field, value, permType string
}

// Read returns the live graph of p in normal form and the rows that do not
// fit the model.
func Read(p *Portal) (*graph.Graph, []Anomaly) {
	k := p.keys()
	dir := p.directory()
	ix := p.index(dir, k, nil)
	r := &reader{p: p, k: k, ix: ix}
	g := &graph.Graph{Directory: dir}
	r.structure(g)
	r.crmRoles(g)
	g.TelephonyRoles = r.simpleRoles(graph.KindTelephony, TVoxPerm, TVoxAccess, p.VoxRoles, p.VoxPerms, p.VoxAccess, graph.TelephonyActions)
	g.TelephonySecurityOff = p.TelephonySecurityOff()
	g.OpenlineRoles = r.simpleRoles(graph.KindOpenline, TOLPerm, TOLAccess, p.OLRoles, p.OLPerms, p.OLAccess, graph.OpenlineActions)
	r.workgroups(g)
	r.openChannels(g)
	r.fieldRules(g)
	slices.SortStableFunc(r.anomalies, func(a, b Anomaly) int { return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.ID, b.ID)) })
	g.Dropped = r.dropped
	return g.Normalize(), r.anomalies
}

type reader struct {
	p         *Portal
	k         *keys
	ix        *graph.Index
	anomalies []Anomaly
	dropped   []graph.DroppedRow
	subjCache map[string]string
	codeForm  map[string]bool // access code → has a form Bitrix stores
	targets   map[string]cellTarget
	lowerPerm map[string]string // PERM_TYPE → lower case
	setBuf    []string
}

// dropped records an anomalous row that an update of its role deletes
// (the applier rewrites the role's rows: see Applier.crmRole and
// simpleRole).
func (r *reader) drop(kind graph.Kind, object int64, table string, id int64, format string, args ...any) {
	r.bad(table, id, format, args...)
	r.dropped = append(r.dropped, graph.DroppedRow{Kind: kind, ObjectID: object, Table: table, Row: id, Problem: fmt.Sprintf(format, args...)})
}

func (r *reader) bad(table string, id int64, format string, args ...any) {
	r.anomalies = append(r.anomalies, Anomaly{Table: table, ID: id, Problem: fmt.Sprintf(format, args...)})
}

func (r *reader) subject(code string) string {
	if r.subjCache == nil {
		r.subjCache = map[string]string{}
	}
	s, ok := r.subjCache[code]
	if !ok {
		sub := r.ix.SubjectForCode(code)
		if sub.Kind == graph.SubjUser && "U"+sub.Ref == code {
			// A user who is not in the directory (deleted, or not an
			// employee: bots, e-mail and open-channel users): kept as the
			// raw code, which writes back unchanged.
			sub = graph.Subject{Kind: graph.SubjCode, Ref: code}
		}
		s = sub.String()
		r.subjCache[code] = s
	}
	return s
}

// assignee is the subject of an access code in an assignment row (role
// relation, telephony or open-channel role access); a code in no form
// Bitrix writes is reported, and kept as the raw code.
func (r *reader) assignee(table string, id int64, role, code string) string {
	known, seen := r.codeForm[code]
	if !seen {
		if r.codeForm == nil {
			r.codeForm = map[string]bool{}
		}
		known = knownAccessCode(code)
		r.codeForm[code] = known
	}
	if !known {
		r.bad(table, id, "role %q: %q is not a Bitrix access code; kept as written (code:%s)", role, code, code)
	}
	return r.subject(code)
}

func (r *reader) structure(g *graph.Graph) {
	p, k := r.p, r.k
	for _, s := range p.SmartTypes {
		g.SmartProcesses = append(g.SmartProcesses, graph.SmartProcess{Key: k.smartKey[s.EntityTypeID], Name: s.Title, EntityTypeID: s.EntityTypeID})
	}
	type sortedStage struct {
		sort, id int64
		st       graph.Stage
	}
	stages := map[catRef][]sortedStage{}
	for _, s := range p.Statuses {
		etid, cat, ok := ParseStatusEntityID(s.EntityID)
		if !ok {
			r.bad(TStatus, s.ID, "unknown ENTITY_ID %q", s.EntityID)
			continue
		}
		ref := catRef{etid, cat}
		if _, ok := k.pipeKey[ref]; !ok {
			r.bad(TStatus, s.ID, "stage %q belongs to category %d of entity type %d, which does not exist", s.StatusID, cat, etid)
			continue
		}
		stages[ref] = append(stages[ref], sortedStage{int64(s.Sort), s.ID, graph.Stage{Key: stageKey(s.StatusID), Name: s.Name, StatusID: s.StatusID, Semantics: rowSemantics(s.Semantics)}})
	}
	addPipeline := func(ref catRef, name string, id int64) {
		ent, _ := k.graphEntity(ref.etid)
		ss := stages[ref]
		slices.SortFunc(ss, func(a, b sortedStage) int { return cmp.Or(cmp.Compare(a.sort, b.sort), cmp.Compare(a.id, b.id)) })
		gp := graph.Pipeline{Entity: ent, Key: k.pipeKey[ref], Name: name, ID: id}
		for _, s := range ss {
			gp.Stages = append(gp.Stages, s.st)
		}
		g.Pipelines = append(g.Pipelines, gp)
	}
	for _, c := range p.Categories {
		ref := catRef{c.EntityTypeID, c.ID}
		if _, ok := k.pipeKey[ref]; !ok {
			r.bad(TCategory, c.ID, "category of unknown entity type %d", c.EntityTypeID)
			continue
		}
		addPipeline(ref, c.Name, c.ID)
	}
	if _, ok := k.pipeKey[catRef{EntityTypeLead, 0}]; ok {
		addPipeline(catRef{EntityTypeLead, 0}, "Leads", 0)
	}
}

// cellTarget resolves a row's ENTITY to the graph entity, pipeline key and
// category.
func (r *reader) cellTarget(entity string) (desc graph.CRMEntity, pipeline string, ref catRef, problem string) {
	// Memoized: an XL portal has ~70,000 rows over a few hundred ENTITY
	// values, and the answer depends only on the value and r.k.
	if t, ok := r.targets[entity]; ok {
		return t.desc, t.pipeline, t.ref, t.problem
	}
	desc, pipeline, ref, problem = r.cellTargetOf(entity)
	if r.targets == nil {
		r.targets = map[string]cellTarget{}
	}
	r.targets[entity] = cellTarget{desc, pipeline, ref, problem}
	return desc, pipeline, ref, problem
}

// cellTarget is a memoized answer of reader.cellTarget.
type cellTarget struct {
	desc     graph.CRMEntity
	pipeline string
	ref      catRef
	problem  string
}

func (r *reader) cellTargetOf(entity string) (desc graph.CRMEntity, pipeline string, ref catRef, problem string) {
	base, cat := splitPermEntity(entity)
	if t, ok := strings.CutPrefix(base, "DYNAMIC_"); ok {
		etid, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return desc, "", ref, fmt.Sprintf("unknown ENTITY %q", entity)
		}
		key, ok := r.k.smartKey[etid]
		if !ok {
			return desc, "", ref, fmt.Sprintf("ENTITY %q: smart-process type %d does not exist", entity, etid)
		}
		desc, _ = graph.LookupCRMEntity(graph.SmartProcessPrefix + key)
		ref = catRef{etid, cat}
	} else {
		var ok bool
		desc, ok = r.k.bases[base]
		if !ok {
			return desc, "", ref, fmt.Sprintf("unknown ENTITY %q", entity)
		}
		etid, _ := baseEntityOfDesc(desc)
		ref = catRef{etid, cat}
	}
	switch {
	case desc.Pipelines:
		pk, ok := r.k.pipeKey[ref]
		if !ok {
			return desc, "", ref, fmt.Sprintf("ENTITY %q: category %d does not exist", entity, cat)
		}
		return desc, pk, ref, ""
	case cat > 0:
		return desc, "", ref, fmt.Sprintf("ENTITY %q: %s has no categories b24perm manages", entity, desc.Name)
	case desc.Stages:
		return desc, graph.DefaultPipeline, ref, ""
	}
	return desc, "", ref, ""
}

func baseEntityOfDesc(e graph.CRMEntity) (int64, string) {
	base, etid := baseEntityOf(e, 0)
	return etid, base
}

func (r *reader) crmRoles(g *graph.Graph) {
	p := r.p
	roles := map[int64]*graph.CRMRole{}
	// Roles of the other role groups: read, never in the graph.
	other := map[int64]bool{}
	used := map[string]bool{}
	g.CRMRoles = make([]graph.CRMRole, 0, len(p.Roles))
	for _, ro := range sortedByID(p.Roles, func(r Role) int64 { return r.ID }) {
		if what, ok := roleGroup(ro.GroupCode); ok {
			other[ro.ID] = true
			r.anomalies = append(r.anomalies, Anomaly{Table: TRole, ID: ro.ID, Unmanaged: true, Address: TRole, Name: ro.Name,
				Problem: fmt.Sprintf("%s (GROUP_CODE %s), not a CRM user role: never managed or deleted", what, ro.GroupCode)})
			continue
		}
		g.CRMRoles = append(g.CRMRoles, graph.CRMRole{Key: UniqueKey(used, ro.Name, ro.ID), Name: ro.Name, ID: ro.ID, System: ro.IsSystem == "Y"})
	}
	for i := range g.CRMRoles {
		roles[g.CRMRoles[i].ID] = &g.CRMRoles[i]
	}
	for _, rel := range p.RoleRelations {
		role, ok := roles[rel.RoleID]
		if !ok {
			if !other[rel.RoleID] {
				r.bad(TRoleRelation, rel.ID, "role %d does not exist", rel.RoleID)
			}
			continue
		}
		role.Assign = append(role.Assign, r.assignee(TRoleRelation, rel.ID, role.Name, rel.Relation))
	}
	// Each role's cells in one allocation.
	perRole := make(map[int64]int, len(roles))
	for i := range p.RolePerms {
		perRole[p.RolePerms[i].RoleID]++
	}
	for id, role := range roles {
		if n := perRole[id]; n > 0 {
			role.Perms = make([]graph.CRMPerm, 0, n)
		}
	}
	// Rows of entities b24perm does not manage, per role: entity → rows.
	unmanaged := map[int64]map[string]int{}
	// The first row of each cell, per role: one map per role stays in the
	// cache while that role's rows (usually together) are read, where one
	// map over all ~70,000 rows of an XL portal missed it on every row.
	// A role's map is cleared and reused once its last row is read (left
	// counts its rows still to come), so that with rows grouped by role
	// one map serves them all (9 MB less at XL).
	seenByRole := make(map[int64]map[permKey]int64, len(roles))
	var seen map[permKey]int64
	seenRole := int64(-1)
	left := perRole
	var free []map[permKey]int64
	finished := int64(-1) // the role whose last row was the previous row
	for i := range p.RolePerms {
		if m := seenByRole[finished]; finished >= 0 && m != nil {
			clear(m)
			free = append(free, m)
			delete(seenByRole, finished)
			if seenRole == finished {
				seen, seenRole = nil, -1
			}
		}
		finished = -1
		row := &p.RolePerms[i]
		if left[row.RoleID]--; left[row.RoleID] == 0 {
			finished = row.RoleID
		}
		role, ok := roles[row.RoleID]
		if !ok {
			if !other[row.RoleID] {
				r.bad(TRolePerm, row.ID, "role %d does not exist", row.RoleID)
			}
			continue
		}
		if _, ok := unmanagedEntity(row.Entity); ok {
			if unmanaged[role.ID] == nil {
				unmanaged[role.ID] = map[string]int{}
			}
			unmanaged[role.ID][row.Entity]++
			continue
		}
		if row.RoleID != seenRole || seen == nil {
			seenRole = row.RoleID
			if seen = seenByRole[seenRole]; seen == nil {
				if n := len(free); n > 0 {
					seen, free = free[n-1], free[:n-1]
				} else {
					seen = make(map[permKey]int64, len(p.RolePerms)/max(len(roles), 1))
				}
				seenByRole[seenRole] = seen
			}
		}
		pk := permKey{row.RoleID, row.Entity, row.Field, row.FieldValue, row.PermType}
		if first, dup := seen[pk]; dup {
			if _, _, _, tp := r.cellTarget(row.Entity); tp == "" {
				r.drop(graph.KindCRMRole, row.RoleID, TRolePerm, row.ID, "duplicates row %d (%s %s %s); the first row is used", first, row.Entity, row.PermType, row.FieldValue)
			} else {
				r.bad(TRolePerm, row.ID, "duplicates row %d (%s %s %s); the first row is used", first, row.Entity, row.PermType, row.FieldValue)
			}
			continue
		}
		seen[pk] = row.ID
		cell, problem := r.cell(row)
		if problem != "" {
			// Rows of entities b24perm cannot read are left alone by an
			// update; any other row it cannot read is rewritten away.
			if _, _, _, tp := r.cellTarget(row.Entity); tp == "" {
				r.drop(graph.KindCRMRole, row.RoleID, TRolePerm, row.ID, "role %q: %s", role.Name, problem)
			} else {
				r.bad(TRolePerm, row.ID, "role %q: %s", role.Name, problem)
			}
			continue
		}
		if cell.Action == "" {
			continue // INHERIT
		}
		role.Perms = append(role.Perms, cell)
	}
	for i := range g.CRMRoles {
		if len(g.CRMRoles[i].Perms) == 0 {
			g.CRMRoles[i].Perms = nil // as without the preallocation
		}
	}
	for _, role := range g.CRMRoles {
		ents := unmanaged[role.ID]
		if len(ents) == 0 {
			continue
		}
		names := slices.Sorted(maps.Keys(ents))
		parts := make([]string, 0, len(names))
		for _, e := range names {
			what, _ := unmanagedEntity(e)
			parts = append(parts, fmt.Sprintf("%s (%s, %d %s)", e, what, ents[e], plural(ents[e], "row", "rows")))
		}
		r.anomalies = append(r.anomalies, Anomaly{Table: TRole, ID: role.ID, Unmanaged: true, Address: graph.Addr{Kind: graph.KindCRMRole, Key: role.Key}.String(), Name: role.Name,
			Problem: "permissions b24perm does not manage, kept as they are: " + strings.Join(parts, ", ")})
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// cell decodes one b_crm_role_perms row; an empty Action means inherit.
func (r *reader) cell(row *RolePerm) (graph.CRMPerm, string) {
	desc, pipeline, ref, problem := r.cellTarget(row.Entity)
	if problem != "" {
		return graph.CRMPerm{}, problem
	}
	lower, ok := r.lowerPerm[row.PermType]
	if !ok {
		if r.lowerPerm == nil {
			r.lowerPerm = map[string]string{}
		}
		lower = strings.ToLower(row.PermType)
		r.lowerPerm[row.PermType] = lower
	}
	action, ok := desc.Action(lower)
	if !ok {
		return graph.CRMPerm{}, fmt.Sprintf("unknown PERM_TYPE %q for ENTITY %q", row.PermType, row.Entity)
	}
	c := graph.CRMPerm{Entity: desc.Name, Pipeline: pipeline, Action: action.Name}
	if row.Field != "" && row.Field != "-" {
		if !desc.Stages || !action.Stages {
			return c, fmt.Sprintf("%s %s has no stage rows, but FIELD is %q", row.Entity, row.PermType, row.Field)
		}
		if row.Field != stageField(ref.etid) {
			return c, fmt.Sprintf("unknown FIELD %q for ENTITY %q (want %s)", row.Field, row.Entity, stageField(ref.etid))
		}
		sk, ok := r.k.stageKey[ref][row.FieldValue]
		if !ok {
			return c, fmt.Sprintf("stage %q of %s does not exist", row.FieldValue, row.Entity)
		}
		c.Stage = sk
	}
	// set is used only here: the plain form is decoded into a buffer
	// reused across rows.
	set, present, err := r.setBuf, true, error(nil)
	if set, present = plainSettings(set, row.Settings); present {
		r.setBuf = set
	} else if set, present, err = decodeSettings(row.Settings); err != nil {
		return c, fmt.Sprintf("SETTINGS is not a JSON list of strings: %s", string(row.Settings))
	}
	attr := strings.TrimSpace(row.Attr)
	switch formOf(action) {
	case formTransition:
		if !present {
			if attr != "" {
				return c, fmt.Sprintf("TRANSITION with ATTR %q and no SETTINGS", row.Attr)
			}
			c.Level = graph.TransitionBlocked
			return c, ""
		}
		switch {
		case slices.Contains(set, "INHERIT"):
			return graph.CRMPerm{}, ""
		case slices.Contains(set, "ANY"):
			c.Level = graph.TransitionAny
		case slices.Contains(set, "BLOCKED") || len(set) == 0:
			c.Level = graph.TransitionBlocked
		default:
			ks := make([]string, 0, len(set))
			for _, s := range set {
				sk, ok := r.k.stageKey[ref][s]
				if !ok {
					return c, fmt.Sprintf("TRANSITION target stage %q of %s does not exist", s, row.Entity)
				}
				ks = append(ks, sk)
			}
			slices.Sort(ks)
			c.Level = strings.Join(slices.Compact(ks), ",")
		}
		return c, ""
	case formToggle:
		if present {
			l, inherit, ok := settingsLevel(set)
			if inherit {
				return graph.CRMPerm{}, ""
			}
			if !ok || (l != "none" && l != "all") {
				return c, fmt.Sprintf("%s is a yes/no permission, but SETTINGS is %s", row.PermType, string(row.Settings))
			}
			c.Level = l
			return c, ""
		}
		switch attr {
		case "":
			c.Level = "none"
		case "X":
			c.Level = "all"
		default:
			return c, fmt.Sprintf("%s is a yes/no permission, but ATTR is %q", row.PermType, row.Attr)
		}
		return c, ""
	}
	if present {
		l, inherit, ok := settingsLevel(set)
		if inherit {
			return graph.CRMPerm{}, ""
		}
		if !ok {
			return c, fmt.Sprintf("SETTINGS %s has an unknown member", string(row.Settings))
		}
		c.Level = l
	} else {
		l, ok := attrLevel[attr]
		if !ok {
			if attr == "-" {
				return c, "ATTR '-' (inherit) is never written by Bitrix and breaks the role editor"
			}
			return c, fmt.Sprintf("unknown ATTR %q", row.Attr)
		}
		c.Level = l
	}
	if !strings.Contains(c.Level, "+") && !action.Allows(c.Level) {
		return c, fmt.Sprintf("level %q is not allowed for %s %s", c.Level, row.Entity, row.PermType)
	}
	return c, ""
}

func (r *reader) simpleRoles(kind graph.Kind, permTable, accessTable string, roles []SimpleRole, perms []SimplePermission, access []RoleAccess, table []graph.SimpleAction) []graph.SimpleRole {
	out := make([]graph.SimpleRole, 0, len(roles))
	used := map[string]bool{}
	for _, ro := range sortedByID(roles, func(r SimpleRole) int64 { return r.ID }) {
		out = append(out, graph.SimpleRole{Key: UniqueKey(used, ro.Name, ro.ID), Name: ro.Name, ID: ro.ID})
	}
	byID := map[int64]*graph.SimpleRole{}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	for _, a := range access {
		ro, ok := byID[a.RoleID]
		if !ok {
			r.bad(accessTable, a.ID, "role %d does not exist", a.RoleID)
			continue
		}
		ro.Assign = append(ro.Assign, r.assignee(accessTable, a.ID, ro.Name, a.AccessCode))
	}
	for _, pm := range perms {
		ro, ok := byID[pm.RoleID]
		if !ok {
			r.bad(permTable, pm.ID, "role %d does not exist", pm.RoleID)
			continue
		}
		act, ok := graph.LookupSimple(table, strings.ToLower(pm.Entity), strings.ToLower(pm.Action))
		if !ok {
			r.drop(kind, pm.RoleID, permTable, pm.ID, "role %q: unknown permission %s/%s", ro.Name, pm.Entity, pm.Action)
			continue
		}
		level, ok := letterSimple[strings.TrimSpace(pm.Permission)]
		if !ok || act.Rank(level) < 0 {
			r.drop(kind, pm.RoleID, permTable, pm.ID, "role %q: %s/%s cannot be %q", ro.Name, pm.Entity, pm.Action, pm.Permission)
			continue
		}
		ro.Perms = append(ro.Perms, graph.SimplePerm{Entity: act.Entity, Action: act.Action, Level: level})
	}
	return out
}

func (r *reader) workgroups(g *graph.Graph) {
	p := r.p
	user := func(id int64) string { return r.subject("U" + strconv.FormatInt(id, 10)) }
	byID := map[int64]int{}
	for _, w := range sortedByID(p.SonetGroups, func(w SonetGroup) int64 { return w.ID }) {
		byID[w.ID] = len(g.Workgroups)
		g.Workgroups = append(g.Workgroups, graph.Workgroup{Key: r.k.wgKey[w.ID], Name: w.Name, ID: w.ID,
			Visibility: graph.VisibilityOf(w.Visible == "Y", w.Opened == "Y"), Archived: w.Closed == "Y", Owner: user(w.OwnerID)})
	}
	for _, m := range sortedByID(p.User2Group, func(m User2Group) int64 { return m.ID }) {
		i, ok := byID[m.GroupID]
		if !ok {
			r.bad(TUser2Group, m.ID, "workgroup %d does not exist", m.GroupID)
			continue
		}
		w := &g.Workgroups[i]
		switch m.Role {
		case "A":
			if s := user(m.UserID); s != w.Owner {
				r.bad(TUser2Group, m.ID, "workgroup %q: owner row for user %d, but OWNER_ID is another user", w.Name, m.UserID)
			}
		case "E":
			w.Moderators = append(w.Moderators, user(m.UserID))
		case "K":
			w.Members = append(w.Members, user(m.UserID))
		case "T":
			w.Banned = append(w.Banned, user(m.UserID))
		case "Z":
			// Only an invitation by the group (INITIATED_BY_TYPE G) can be
			// accepted by joining (AccessManager::canJoin); U (the column
			// default, [AB] socialnetwork install.sql) is the user's own
			// request, and like S (structure sync) it lets the user neither
			// join nor ask again.
			if m.InitiatedByType == "G" {
				w.Invited = append(w.Invited, user(m.UserID))
			} else {
				w.Requests = append(w.Requests, user(m.UserID))
			}
		default:
			r.bad(TUser2Group, m.ID, "unknown ROLE %q", m.Role)
		}
	}
	type feat struct {
		wg   int
		name string
	}
	features := map[int64]feat{}
	for _, f := range p.Features {
		if f.EntityType != "G" {
			continue
		}
		i, ok := byID[f.EntityID]
		if !ok {
			r.bad(TFeature, f.ID, "workgroup %d does not exist", f.EntityID)
			continue
		}
		features[f.ID] = feat{i, f.Feature}
		if f.Active == "N" {
			// CSocNetFeatures::IsActiveFeature: a row with ACTIVE = N
			// switches the feature off; no row means on.
			if !slices.Contains(graph.SwitchableFeatures(), f.Feature) {
				r.bad(TFeature, f.ID, "unknown feature %q switched off", f.Feature)
				continue
			}
			w := &g.Workgroups[i]
			w.DisabledFeatures = append(w.DisabledFeatures, f.Feature)
		}
	}
	for _, fp := range p.FeaturePerms {
		f, ok := features[fp.FeatureID]
		if !ok {
			continue // user features and orphans: not workgroup permissions
		}
		if _, ok := graph.GroupFeatures[f.name][fp.OperationID]; !ok {
			r.bad(TFeaturePerm, fp.ID, "unknown operation %s/%s", f.name, fp.OperationID)
			continue
		}
		role, ok := graph.GroupRoleName(fp.Role)
		if !ok {
			r.bad(TFeaturePerm, fp.ID, "unknown ROLE %q for %s/%s", fp.Role, f.name, fp.OperationID)
			continue
		}
		w := &g.Workgroups[f.wg]
		w.Features = append(w.Features, graph.FeaturePerm{Feature: f.name, Operation: fp.OperationID, Role: role})
	}
}

// fieldRuleEntity maps a field-rule ENTITY ("DEAL", "DYNAMIC_128") to the
// graph entity and entity type ID.
// openChannels reads configurations with their queues in SORT order.
func (r *reader) openChannels(g *graph.Graph) {
	p := r.p
	queue := slices.Clone(p.OLQueue)
	slices.SortStableFunc(queue, func(a, b OLQueue) int { return cmp.Or(cmp.Compare(a.Sort, b.Sort), cmp.Compare(a.ID, b.ID)) })
	byConfig := map[int64][]OLQueue{}
	for _, q := range queue {
		byConfig[q.ConfigID] = append(byConfig[q.ConfigID], q)
	}
	used := map[string]bool{}
	for _, c := range sortedByID(p.OLConfigs, func(c OLConfig) int64 { return c.ID }) {
		gc := graph.OpenChannel{Key: UniqueKey(used, c.LineName, c.ID), Name: c.LineName, ID: c.ID, Inactive: c.Active == "N", QueueType: c.QueueType}
		for _, q := range byConfig[c.ID] {
			switch q.EntityType {
			case "user":
				gc.Queue = append(gc.Queue, r.subject("U"+strconv.FormatInt(q.EntityID, 10)))
			case "department":
				gc.Queue = append(gc.Queue, r.subject("D"+strconv.FormatInt(q.EntityID, 10)))
			default:
				r.bad(TOLQueue, q.ID, "unknown ENTITY_TYPE %q", q.EntityType)
			}
		}
		delete(byConfig, c.ID)
		g.OpenChannels = append(g.OpenChannels, gc)
	}
	for _, rows := range byConfig {
		for _, q := range rows {
			r.bad(TOLQueue, q.ID, "open channel %d does not exist", q.ConfigID)
		}
	}
}

func (r *reader) fieldRuleEntity(base string) (string, int64, bool) {
	if t, ok := strings.CutPrefix(base, "DYNAMIC_"); ok {
		etid, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return "", 0, false
		}
		ent, ok := r.k.graphEntity(etid)
		return ent, etid, ok
	}
	desc, ok := r.k.bases[base]
	if !ok {
		return "", 0, false
	}
	etid, _ := baseEntityOfDesc(desc)
	return desc.Name, etid, true
}

var entityTypeNames = map[int64]string{1: "lead", 2: "deal", 3: "contact", 4: "company", 7: "quote", 31: "smart_invoice"}

func (r *reader) fieldRules(g *graph.Graph) {
	p := r.p
	used := map[string]bool{}
	for _, f := range sortedByID(p.FieldRules, func(f FieldRule) int64 { return f.ID }) {
		ent, etid, ok := r.fieldRuleEntity(f.Entity)
		if !ok {
			r.bad(TFieldRule, f.ID, "unknown ENTITY %q", f.Entity)
			continue
		}
		gr := graph.FieldRule{Entity: ent, Field: f.Field}
		ref := catRef{etid, 0}
		if f.Category != nil {
			ref.cat = *f.Category
			pk, ok := r.k.pipeKey[ref]
			if !ok {
				r.bad(TFieldRule, f.ID, "category %d of %s does not exist", *f.Category, f.Entity)
				continue
			}
			gr.Pipeline = pk
		}
		okStages := true
		for _, s := range f.Stages {
			sk, ok := r.k.stageKey[ref][s]
			if !ok {
				r.bad(TFieldRule, f.ID, "stage %q does not exist in %s category %d", s, f.Entity, ref.cat)
				okStages = false
				break
			}
			gr.Stages = append(gr.Stages, sk)
		}
		if !okStages {
			continue
		}
		for _, c := range f.View {
			gr.View = append(gr.View, r.subject(c))
		}
		for _, c := range f.Edit {
			gr.Edit = append(gr.Edit, r.subject(c))
		}
		name := ent + "_" + f.Field
		if gr.Pipeline != "" && gr.Pipeline != graph.DefaultPipeline {
			name = ent + "_" + gr.Pipeline + "_" + f.Field
		}
		gr.Key = UniqueKey(used, name, f.ID)
		g.FieldRules = append(g.FieldRules, gr)
	}
	// Native custom-field visibility: one rule per (entity type, field).
	type nk struct {
		etid  int64
		field string
	}
	natives := map[nk]*graph.FieldRule{}
	var order []nk
	firstID := map[nk]int64{}
	for _, u := range sortedByID(p.UFPerms, func(u UFPermission) int64 { return u.ID }) {
		if u.PermissionID != 1 {
			r.bad(TUFPerm, u.ID, "PERMISSION_ID %d is not view (1)", u.PermissionID)
			continue
		}
		ent, ok := entityTypeNames[u.EntityTypeID]
		if !ok {
			ent, ok = r.k.graphEntity(u.EntityTypeID)
		}
		if !ok {
			r.bad(TUFPerm, u.ID, "unknown ENTITY_TYPE_ID %d", u.EntityTypeID)
			continue
		}
		key := nk{u.EntityTypeID, u.Field}
		fr, ok := natives[key]
		if !ok {
			fr = &graph.FieldRule{Native: true, Entity: ent, Field: u.Field}
			natives[key], firstID[key] = fr, u.ID
			order = append(order, key)
		}
		if u.Value != 0 {
			fr.View = append(fr.View, r.subject(u.AccessCode))
		}
	}
	for _, key := range order {
		fr := natives[key]
		fr.Key = UniqueKey(used, fr.Entity+"_"+fr.Field, firstID[key])
		g.FieldRules = append(g.FieldRules, *fr)
	}
}
