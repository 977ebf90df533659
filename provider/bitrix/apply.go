package bitrix

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// Apply applies one resource change to p exactly as Bitrix would write it
// and returns the live ID of the resource (the new ID on create). ids maps
// addresses to live IDs known so far ("crm_pipeline.deal.wholesale" → 3,
// "workgroup.sales" → 7); pipeline, smart-process and workgroup references
// resolve through it first and through keys derived from names second.
// To apply many changes, use NewApplier and ApplyAll: it keeps its
// lookups between changes and compacts the permission table once.
func (p *Portal) Apply(ch plan.Change, ids map[string]int64) (int64, error) {
	return NewApplier(p, ids).Apply(ch)
}

// Applier applies changes to one portal in order. After a successful
// change it records the resource's ID in its ids map under ch.Address, so
// later changes (a role on a new pipeline) can refer to it.
type Applier struct {
	p   *Portal
	ids map[string]int64
	k   *keys
	ix  *graph.Index
	dir *graph.Directory
	r   *reader

	// perms indexes b_crm_role_perms by role: the positions of a role's
	// rows, ascending; nil until a CRM role change needs it. Position i
	// is p.RolePerms[i] below n0 (the table's length when the index was
	// built) and added[i-n0] from there: the rows CRM role changes insert
	// wait in added, and the rows they delete are only marked in dead
	// (ndead of them). compact removes the one and appends the other in
	// one pass: deleting rows one role at a time is a pass over the whole
	// table per changed role, quadratic in the size of the portal, and
	// appending them one by one grows (copies) the whole table. Between
	// changes in a batch only crmRole and deleteRole touch the table
	// (apply compacts before any other change: AddDefaultCategoryPermissions,
	// syncStages and deleteCategory scan it), and every public entry point
	// compacts before it returns.
	perms map[int64][]int
	n0    int
	added []RolePerm
	dead  []bool
	ndead int
}

// NewApplier returns an applier for p; ids (may be nil) is copied.
func NewApplier(p *Portal, ids map[string]int64) *Applier {
	a := &Applier{p: p, ids: map[string]int64{}}
	for k, v := range ids {
		a.ids[k] = v
	}
	p.fixCounters()
	a.dir = p.directory()
	a.refresh()
	return a
}

// IDs returns the applier's address → ID map.
func (a *Applier) IDs() map[string]int64 { return a.ids }

func (a *Applier) refresh() {
	a.k = a.p.keys()
	extra := map[string]int64{}
	for addr, id := range a.ids {
		if key, ok := strings.CutPrefix(addr, string(graph.KindWorkgroup)+"."); ok {
			extra[key] = id
		}
	}
	if a.ix == nil {
		a.ix = a.p.index(a.dir, a.k, extra)
	} else {
		// The directory does not change during an apply: only the
		// workgroup lookups are rebuilt.
		clear(a.ix.WorkgroupIDs)
		clear(a.ix.WorkgroupKeys)
		for id, key := range a.k.wgKey {
			a.ix.WorkgroupIDs[key], a.ix.WorkgroupKeys[id] = id, key
		}
		for key, id := range extra {
			if _, taken := a.ix.WorkgroupIDs[key]; !taken {
				a.ix.WorkgroupIDs[key] = id
			}
		}
	}
	a.r = &reader{p: a.p, k: a.k, ix: a.ix}
}

// Apply applies one change; p's tables are complete when it returns.
func (a *Applier) Apply(ch plan.Change) (int64, error) {
	defer a.compact()
	return a.apply(ch)
}

// A ChangeError is the failure of change Index of ApplyAll.
type ChangeError struct {
	Index int
	Err   error
}

func (e *ChangeError) Error() string { return e.Err.Error() }
func (e *ChangeError) Unwrap() error { return e.Err }

// ApplyAll applies changes in order, as Apply would one after the other,
// and returns their IDs. The rows the CRM role changes delete and insert
// reach the permission table in one pass at the end, so applying a plan
// is linear in the portal's size. It stops at the first change that fails, with a
// *ChangeError, or when ctx is done; p's tables are complete when it
// returns (on an error, with the changes before the failed one applied).
func (a *Applier) ApplyAll(ctx context.Context, changes []plan.Change) ([]int64, error) {
	defer a.compact()
	ids := make([]int64, 0, len(changes))
	for i, ch := range changes {
		if err := ctx.Err(); err != nil {
			return ids, err
		}
		id, err := a.apply(ch)
		if err != nil {
			return ids, &ChangeError{Index: i, Err: err}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// rolePerms returns the positions of role id's live rows (see perms),
// building the index on first use.
func (a *Applier) rolePerms(id int64) []int {
	if a.perms == nil {
		a.perms = map[int64][]int{}
		for i := range a.p.RolePerms {
			rid := a.p.RolePerms[i].RoleID
			a.perms[rid] = append(a.perms[rid], i)
		}
		a.n0 = len(a.p.RolePerms)
		a.dead = make([]bool, a.n0)
	}
	return a.perms[id]
}

// permRow is the row at position i (see perms).
func (a *Applier) permRow(i int) *RolePerm {
	if i < a.n0 {
		return &a.p.RolePerms[i]
	}
	return &a.added[i-a.n0]
}

// addRolePerm inserts a row of its role (rolePerms was called for it).
func (a *Applier) addRolePerm(row RolePerm) {
	a.perms[row.RoleID] = append(a.perms[row.RoleID], a.n0+len(a.added))
	a.added = append(a.added, row)
	a.dead = append(a.dead, false)
}

// kill marks the row at position i deleted.
func (a *Applier) kill(i int) {
	a.dead[i] = true
	a.ndead++
}

// compact writes the pending deletions and insertions to p.RolePerms:
// the rows kept in their order, then the rows added in theirs, as
// deleting and appending them one change after the other would leave
// the table. It drops the index.
func (a *Applier) compact() {
	if a.ndead > 0 || len(a.added) > 0 {
		p := a.p
		j := 0
		for i := range p.RolePerms {
			if !a.dead[i] {
				p.RolePerms[j] = p.RolePerms[i]
				j++
			}
		}
		n := j
		for i := range a.added {
			if !a.dead[a.n0+i] {
				n++
			}
		}
		if n > cap(p.RolePerms) {
			p.RolePerms = slices.Grow(p.RolePerms[:j], n-j)
		} else if n < len(p.RolePerms) {
			clear(p.RolePerms[n:])
		}
		p.RolePerms = p.RolePerms[:j]
		for i, row := range a.added {
			if !a.dead[a.n0+i] {
				p.RolePerms = append(p.RolePerms, row)
			}
		}
	}
	a.perms, a.added, a.dead, a.n0, a.ndead = nil, nil, nil, 0, 0
}

// apply applies one change; the rows CRM role changes delete and insert
// may be pending, not yet in p.RolePerms (see perms and compact).
func (a *Applier) apply(ch plan.Change) (id int64, err error) {
	res := ch.After
	if ch.Action == plan.Delete {
		res = ch.Before
	}
	if res == nil {
		return 0, fmt.Errorf("%s: the change has no resource", ch.Address)
	}
	structural := res.Pipeline != nil || res.SmartProcess != nil || res.Workgroup != nil
	if res.CRMRole == nil {
		a.compact()
	}
	switch {
	case res.CRMRole != nil:
		id, err = a.crmRole(ch, res.CRMRole)
	case res.Telephony != nil:
		id, err = a.simpleRole(ch, res.Telephony, &a.p.VoxRoles, &a.p.VoxPerms, &a.p.VoxAccess, TVoxRole, TVoxPerm, TVoxAccess, graph.TelephonyActions)
	case res.Openline != nil:
		id, err = a.simpleRole(ch, res.Openline, &a.p.OLRoles, &a.p.OLPerms, &a.p.OLAccess, TOLRole, TOLPerm, TOLAccess, graph.OpenlineActions)
	case res.Pipeline != nil:
		id, err = a.pipeline(ch, res.Pipeline)
	case res.SmartProcess != nil:
		id, err = a.smartProcess(ch, res.SmartProcess)
	case res.Workgroup != nil:
		id, err = a.workgroup(ch, res.Workgroup)
	case res.FieldRule != nil:
		id, err = a.fieldRule(ch, res.FieldRule)
	case res.OpenChannel != nil:
		id, err = a.openChannel(ch, res.OpenChannel)
	default:
		return 0, fmt.Errorf("%s: unsupported resource", ch.Address)
	}
	if err != nil {
		return 0, err
	}
	if ch.Action != plan.Delete {
		a.ids[ch.Address] = id
	} else {
		delete(a.ids, ch.Address)
	}
	if structural {
		a.refresh()
	}
	return id, nil
}

func notFound(ch plan.Change, id int64) error {
	return fmt.Errorf("%s (ID %d) no longer exists on the portal", ch.Address, id)
}

func isCreate(ch plan.Change) bool { return ch.Action == plan.Create || ch.Action == plan.Replace }

func (a *Applier) codes(subjects []string) ([]string, error) { return a.ix.Codes(subjects) }

func (a *Applier) userID(subject string) (int64, error) { return a.ix.UserID(subject) }

func (a *Applier) smartTypeID(key string) (int64, bool) {
	if id, ok := a.ids[string(graph.KindSmartProcess)+"."+key]; ok {
		if slices.ContainsFunc(a.p.SmartTypes, func(s SmartType) bool { return s.EntityTypeID == id }) {
			return id, true
		}
	}
	id, ok := a.k.smartByKey[key]
	return id, ok
}

// entityType resolves a graph entity with categories or stages to its
// entity type ID and base ENTITY name.
func (a *Applier) entityType(entity string) (int64, string, graph.CRMEntity, error) {
	desc, ok := graph.LookupCRMEntity(entity)
	if !ok {
		return 0, "", desc, fmt.Errorf("unknown CRM entity %q", entity)
	}
	if key, ok := strings.CutPrefix(entity, graph.SmartProcessPrefix); ok {
		id, ok := a.smartTypeID(key)
		if !ok {
			return 0, "", desc, fmt.Errorf("smart process %q does not exist on the portal", key)
		}
		base, etid := baseEntityOf(desc, id)
		return etid, base, desc, nil
	}
	base, etid := baseEntityOf(desc, 0)
	return etid, base, desc, nil
}

// category resolves a pipeline key of an entity to its category.
func (a *Applier) category(entity string, etid int64, key string) (catRef, error) {
	if etid == EntityTypeLead {
		if key != graph.DefaultPipeline {
			return catRef{}, fmt.Errorf("lead has only the default pipeline, not %q", key)
		}
		return catRef{EntityTypeLead, 0}, nil
	}
	if id, ok := a.ids[string(graph.KindPipeline)+"."+graph.PipelineKey(entity, key)]; ok {
		ref := catRef{etid, id}
		if _, ok := a.k.pipeKey[ref]; ok {
			return ref, nil
		}
	}
	if ref, ok := a.k.pipeByKey[graph.PipelineKey(entity, key)]; ok {
		return ref, nil
	}
	return catRef{}, fmt.Errorf("%s pipeline %q does not exist on the portal", entity, key)
}

// statusID resolves a stage key of a category to its STATUS_ID.
func (a *Applier) statusID(entity string, ref catRef, key string) (string, error) {
	if s, ok := a.k.stageStatus[ref][key]; ok {
		return s, nil
	}
	return "", fmt.Errorf("%s pipeline %q has no stage %q on the portal", entity, a.k.pipeKey[ref], key)
}

// ---- CRM roles ----

// cellRow encodes one cell in the current UI's form. ok is false when no
// row is stored (entity-level minimum).
func (a *Applier) cellRow(roleID int64, c graph.CRMPerm) (RolePerm, bool, error) {
	desc, ok := graph.LookupCRMEntity(c.Entity)
	if !ok {
		return RolePerm{}, false, fmt.Errorf("unknown CRM entity %q", c.Entity)
	}
	action, ok := desc.Action(c.Action)
	if !ok {
		return RolePerm{}, false, fmt.Errorf("%s has no action %q", c.Entity, c.Action)
	}
	row := RolePerm{RoleID: roleID, Field: "-", PermType: strings.ToUpper(c.Action)}
	var ref catRef
	if desc.Pipelines || desc.Stages {
		etid, base, _, err := a.entityType(c.Entity)
		if err != nil {
			return row, false, err
		}
		pk := c.Pipeline
		if pk == "" {
			pk = graph.DefaultPipeline
		}
		if ref, err = a.category(c.Entity, etid, pk); err != nil {
			return row, false, err
		}
		row.Entity = permEntity(base, ref.cat)
	} else {
		row.Entity = desc.Bitrix
	}
	if c.Stage != "" {
		if !desc.Stages || !action.Stages {
			return row, false, fmt.Errorf("%s %s has no stage values", c.Entity, c.Action)
		}
		sid, err := a.statusID(c.Entity, ref, c.Stage)
		if err != nil {
			return row, false, err
		}
		row.Field, row.FieldValue = stageField(ref.etid), sid
	}
	stage := c.Stage != ""
	switch formOf(action) {
	case formTransition:
		switch c.Level {
		case graph.TransitionAny:
			row.Settings = settingsJSON([]string{"ANY"})
		case graph.TransitionBlocked, "":
			if !stage {
				return row, false, nil
			}
			row.Settings = settingsJSON([]string{"BLOCKED"})
		default:
			var sids []string
			for _, k := range strings.Split(c.Level, ",") {
				sid, err := a.statusID(c.Entity, ref, strings.TrimSpace(k))
				if err != nil {
					return row, false, fmt.Errorf("transition target: %w", err)
				}
				sids = append(sids, sid)
			}
			slices.Sort(sids)
			row.Settings = settingsJSON(slices.Compact(sids))
		}
	case formToggle:
		switch c.Level {
		case "all":
			row.Attr = "X"
		case "none":
			if !stage {
				return row, false, nil
			}
		default:
			return row, false, fmt.Errorf("%s %s is yes/no, not %q", c.Entity, c.Action, c.Level)
		}
	default:
		if c.Level == "none" && !stage {
			return row, false, nil
		}
		set, err := chainLevelSettings(c.Level)
		if err != nil {
			return row, false, err
		}
		row.Settings = settingsJSON(set)
	}
	return row, true, nil
}

func (a *Applier) crmRole(ch plan.Change, gr *graph.CRMRole) (int64, error) {
	p := a.p
	id := ch.ID
	idx := slices.IndexFunc(p.Roles, func(r Role) bool { return r.ID == id })
	if ch.Action == plan.Delete {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		a.deleteRole(id)
		return id, nil
	}
	// Resolve everything before touching the portal.
	rel, err := a.codes(gr.Assign)
	if err != nil {
		return 0, fmt.Errorf("role %q: %w", gr.Name, err)
	}
	type keyed struct {
		row  RolePerm
		cell graph.CRMPerm
	}
	want := make(map[permKey]keyed, len(gr.Perms))
	order := make([]permKey, 0, len(gr.Perms))
	for _, c := range gr.Perms {
		row, ok, err := a.cellRow(0, c)
		if err != nil {
			return 0, fmt.Errorf("role %q: %w", gr.Name, err)
		}
		if !ok {
			continue
		}
		k := permKey{0, row.Entity, row.Field, row.FieldValue, row.PermType}
		if _, dup := want[k]; !dup {
			order = append(order, k)
		}
		want[k] = keyed{row, c}
	}
	if ch.Action == plan.Replace && idx >= 0 {
		a.deleteRole(id)
	}
	if isCreate(ch) {
		id = p.NextID(TRole)
		p.Roles = append(p.Roles, Role{ID: id, Name: gr.Name, IsSystem: "N"})
	} else {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		p.Roles[idx].Name = gr.Name
	}
	// Delete-then-insert per (ROLE_ID, ENTITY, FIELD, FIELD_VALUE,
	// PERM_TYPE); rows that already say the same thing are kept, and rows
	// of entities b24perm cannot read are left alone. A row no wanted cell
	// replaces is deleted only if it grants something the graph shows
	// (the plan removed that cell): rows b24perm cannot read (anomalies,
	// unknown PERM_TYPEs) and explicit INHERIT rows are never touched.
	kept := make(map[permKey]bool, len(want))
	drop := func(row *RolePerm) bool {
		if _, _, _, problem := a.r.cellTarget(row.Entity); problem != "" {
			return false
		}
		k := permKey{0, row.Entity, normField(row.Field), row.FieldValue, row.PermType}
		w, ok := want[k]
		cell, problem := a.r.cell(row)
		if !ok {
			if problem != "" || cell.Action == "" {
				return false
			}
			// The policy wants the level that needs no row (none, blocked);
			// an existing entity-level row that already says so (an
			// explicit ATTR '' row, SETTINGS ["0"]) is left as it is: the
			// cell does not change.
			if normField(row.Field) == "-" && row.FieldValue == "" && (cell.Level == "none" || cell.Level == graph.TransitionBlocked) {
				return false
			}
			return true
		}
		if kept[k] {
			return true
		}
		if problem != "" || cell.Action == "" || cell.Level != w.cell.Level {
			return true
		}
		kept[k] = true
		return false
	}
	at := a.rolePerms(id)
	live := at[:0]
	for _, i := range at {
		if drop(a.permRow(i)) {
			a.kill(i)
		} else {
			live = append(live, i)
		}
	}
	a.perms[id] = live
	for _, k := range order {
		if kept[k] {
			continue
		}
		row := want[k].row
		row.ID, row.RoleID = p.NextID(TRolePerm), id
		a.addRolePerm(row)
	}
	a.setRelations(id, rel)
	return id, nil
}

func normField(f string) string {
	if f == "" {
		return "-"
	}
	return f
}

// setRelations replaces a role's relations (RoleRelationTable::updateForRole).
func (a *Applier) setRelations(roleID int64, codes []string) {
	p := a.p
	have := map[string]bool{}
	p.RoleRelations = slices.DeleteFunc(p.RoleRelations, func(r RoleRelation) bool {
		if r.RoleID != roleID {
			return false
		}
		if have[r.Relation] || !slices.Contains(codes, r.Relation) {
			return true
		}
		have[r.Relation] = true
		return false
	})
	for _, c := range codes {
		if !have[c] {
			p.RoleRelations = append(p.RoleRelations, RoleRelation{ID: p.NextID(TRoleRelation), RoleID: roleID, Relation: c})
		}
	}
}

func (a *Applier) deleteRole(id int64) {
	p := a.p
	p.Roles = slices.DeleteFunc(p.Roles, func(r Role) bool { return r.ID == id })
	for _, i := range a.rolePerms(id) {
		a.kill(i)
	}
	delete(a.perms, id)
	p.RoleRelations = slices.DeleteFunc(p.RoleRelations, func(r RoleRelation) bool { return r.RoleID == id })
}

// ---- telephony and open channels ----

func (a *Applier) simpleRole(ch plan.Change, gr *graph.SimpleRole, roles *[]SimpleRole, perms *[]SimplePermission, access *[]RoleAccess,
	tRole, tPerm, tAccess string, table []graph.SimpleAction) (int64, error) {
	p := a.p
	id := ch.ID
	idx := slices.IndexFunc(*roles, func(r SimpleRole) bool { return r.ID == id })
	drop := func(id int64) {
		*roles = slices.DeleteFunc(*roles, func(r SimpleRole) bool { return r.ID == id })
		*perms = slices.DeleteFunc(*perms, func(r SimplePermission) bool { return r.RoleID == id })
		*access = slices.DeleteFunc(*access, func(r RoleAccess) bool { return r.RoleID == id })
	}
	if ch.Action == plan.Delete {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		drop(id)
		return id, nil
	}
	codes, err := a.codes(gr.Assign)
	if err != nil {
		return 0, fmt.Errorf("role %q: %w", gr.Name, err)
	}
	levels := map[[2]string]string{}
	for _, c := range gr.Perms {
		act, ok := graph.LookupSimple(table, c.Entity, c.Action)
		if !ok || act.Rank(c.Level) < 0 {
			return 0, fmt.Errorf("role %q: %s.%s cannot be %q", gr.Name, c.Entity, c.Action, c.Level)
		}
		levels[[2]string{c.Entity, c.Action}] = c.Level
	}
	if ch.Action == plan.Replace && idx >= 0 {
		drop(id)
	}
	if isCreate(ch) {
		id = p.NextID(tRole)
		*roles = append(*roles, SimpleRole{ID: id, Name: gr.Name})
	} else {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		(*roles)[idx].Name = gr.Name
	}
	// setRolePermissions deletes and rewrites all rows of the role, ''
	// included.
	*perms = slices.DeleteFunc(*perms, func(r SimplePermission) bool { return r.RoleID == id })
	for _, act := range table {
		l := levels[[2]string{act.Entity, act.Action}]
		if l == "" {
			l = "none"
		}
		*perms = append(*perms, SimplePermission{ID: p.NextID(tPerm), RoleID: id, Entity: strings.ToUpper(act.Entity), Action: strings.ToUpper(act.Action), Permission: simpleLetter[l]})
	}
	have := map[string]bool{}
	*access = slices.DeleteFunc(*access, func(r RoleAccess) bool {
		if r.RoleID != id {
			return false
		}
		if have[r.AccessCode] || !slices.Contains(codes, r.AccessCode) {
			return true
		}
		have[r.AccessCode] = true
		return false
	})
	for _, c := range codes {
		if !have[c] {
			*access = append(*access, RoleAccess{ID: p.NextID(tAccess), RoleID: id, AccessCode: c})
		}
	}
	return id, nil
}

// ---- pipelines and smart processes ----

func (a *Applier) pipeline(ch plan.Change, gp *graph.Pipeline) (int64, error) {
	p := a.p
	etid, base, desc, err := a.entityType(gp.Entity)
	if err != nil {
		return 0, err
	}
	if !desc.Pipelines && !desc.Stages {
		return 0, fmt.Errorf("%s has no pipelines", gp.Entity)
	}
	if etid == EntityTypeLead {
		if gp.Key != graph.DefaultPipeline {
			return 0, fmt.Errorf("lead has only the default pipeline, not %q", gp.Key)
		}
		if ch.Action == plan.Delete {
			return 0, fmt.Errorf("the lead statuses cannot be deleted")
		}
		if err := a.syncStages(catRef{EntityTypeLead, 0}, base, gp.Stages); err != nil {
			return 0, fmt.Errorf("lead statuses: %w", err)
		}
		return 0, nil
	}
	findCat := func(ref catRef) int {
		return slices.IndexFunc(p.Categories, func(c Category) bool { return c.EntityTypeID == ref.etid && c.ID == ref.cat })
	}
	var ref catRef
	switch {
	case gp.Key == graph.DefaultPipeline:
		i := slices.IndexFunc(p.Categories, func(c Category) bool { return c.EntityTypeID == etid && c.IsDefault == "Y" })
		if i < 0 {
			if etid != EntityTypeDeal && ch.Action != plan.Delete {
				// Smart invoices and smart processes get their default
				// category with the type; create one if it is missing.
				id := p.NextID(TCategory)
				p.Categories = append(p.Categories, Category{ID: id, EntityTypeID: etid, Name: gp.Name, IsDefault: "Y"})
				p.AddDefaultCategoryPermissions(etid, id)
				i = len(p.Categories) - 1
			} else {
				return 0, fmt.Errorf("%s has no default pipeline on the portal", gp.Entity)
			}
		}
		ref = catRef{etid, p.Categories[i].ID}
		if ch.Action == plan.Delete {
			return 0, fmt.Errorf("the default %s pipeline cannot be deleted", gp.Entity)
		}
	case isCreate(ch):
		if ch.Action == plan.Replace && ch.ID != 0 {
			a.deleteCategory(catRef{etid, ch.ID}, base)
		}
		id := p.NextID(TCategory)
		ref = catRef{etid, id}
		if err := a.syncStages(ref, base, gp.Stages); err != nil {
			return 0, fmt.Errorf("%s pipeline %q: %w", gp.Entity, gp.Name, err)
		}
		p.Categories = append(p.Categories, Category{ID: id, EntityTypeID: etid, Name: gp.Name, Sort: int(id) * 10, IsDefault: "N"})
		// Bitrix's defaults for the roles (defaults.go); the plan updates
		// the declared roles after this change.
		p.AddDefaultCategoryPermissions(etid, id)
		return id, nil
	default:
		ref = catRef{etid, ch.ID}
		if ch.ID == 0 {
			if ref, err = a.category(gp.Entity, etid, gp.Key); err != nil {
				return 0, err
			}
		}
		if findCat(ref) < 0 {
			return 0, notFound(ch, ref.cat)
		}
		if ch.Action == plan.Delete {
			a.deleteCategory(ref, base)
			return ref.cat, nil
		}
	}
	if err := a.syncStages(ref, base, gp.Stages); err != nil {
		return 0, fmt.Errorf("%s pipeline %q: %w", gp.Entity, gp.Name, err)
	}
	p.Categories[findCat(ref)].Name = gp.Name
	return ref.cat, nil
}

// syncStages makes the category's statuses the given stages: existing
// STATUS_IDs are kept, new stages get prefix+KEY, removed stages are
// deleted together with their permission rows. SORT and SEMANTICS follow
// PlanStages: only the rows a change moves or adds get new values. It
// fails without changing anything when the order contradicts the stages'
// semantics.
func (a *Applier) syncStages(ref catRef, base string, stages []graph.Stage) error {
	p := a.p
	eid := StatusEntityID(ref.etid, ref.cat)
	prefix := StatusPrefix(ref.etid, ref.cat)
	want := map[string]bool{}
	for _, s := range stages {
		want[s.Key] = true
	}
	var cur []Status
	idx := map[string]int{} // stage key → index in p.Statuses
	for i, s := range p.Statuses {
		if k := stageKey(s.StatusID); s.EntityID == eid && want[k] {
			if _, dup := idx[k]; !dup {
				idx[k] = i
				cur = append(cur, s)
			}
		}
	}
	rows, err := PlanStages(cur, stages)
	if err != nil {
		return err
	}
	for j, r := range rows {
		if r.Row >= 0 {
			st := &p.Statuses[idx[r.Key]]
			st.Name, st.Sort = stages[j].Name, r.Sort
		}
	}
	var removed []string
	keep := map[int64]bool{}
	for _, i := range idx {
		keep[p.Statuses[i].ID] = true
	}
	p.Statuses = slices.DeleteFunc(p.Statuses, func(s Status) bool {
		if s.EntityID != eid || keep[s.ID] {
			return false
		}
		removed = append(removed, s.StatusID)
		return true
	})
	for j, r := range rows {
		if r.Row < 0 {
			p.Statuses = append(p.Statuses, Status{ID: p.NextID(TStatus), EntityID: eid, StatusID: prefix + strings.ToUpper(r.Key), Name: stages[j].Name, Sort: r.Sort, Semantics: r.Semantics})
		}
	}
	if len(removed) > 0 {
		ent := permEntity(base, ref.cat)
		p.RolePerms = slices.DeleteFunc(p.RolePerms, func(r RolePerm) bool {
			return r.Entity == ent && r.Field == stageField(ref.etid) && slices.Contains(removed, r.FieldValue)
		})
		// Transitions to a removed stage are dropped from the target lists.
		for i := range p.RolePerms {
			r := &p.RolePerms[i]
			if r.Entity != ent || r.PermType != "TRANSITION" {
				continue
			}
			set, present, err := decodeSettings(r.Settings)
			if !present || err != nil {
				continue
			}
			kept := slices.DeleteFunc(slices.Clone(set), func(s string) bool { return slices.Contains(removed, s) })
			if len(kept) == len(set) {
				continue
			}
			if len(kept) == 0 {
				kept = []string{"BLOCKED"}
			}
			r.Settings = settingsJSON(kept)
		}
	}
	return nil
}

// deleteCategory erases a category, its stages and every permission row
// and field rule of it (CCrmRole::EraseEntityPermissons).
func (a *Applier) deleteCategory(ref catRef, base string) {
	p := a.p
	eid := StatusEntityID(ref.etid, ref.cat)
	ent := permEntity(base, ref.cat)
	p.Categories = slices.DeleteFunc(p.Categories, func(c Category) bool { return c.EntityTypeID == ref.etid && c.ID == ref.cat })
	p.Statuses = slices.DeleteFunc(p.Statuses, func(s Status) bool { return s.EntityID == eid })
	p.RolePerms = slices.DeleteFunc(p.RolePerms, func(r RolePerm) bool { return r.Entity == ent })
	p.FieldRules = slices.DeleteFunc(p.FieldRules, func(f FieldRule) bool {
		return f.Entity == base && f.Category != nil && *f.Category == ref.cat
	})
}

func (a *Applier) smartProcess(ch plan.Change, sp *graph.SmartProcess) (int64, error) {
	p := a.p
	etid := ch.ID
	idx := slices.IndexFunc(p.SmartTypes, func(s SmartType) bool { return s.EntityTypeID == etid })
	if ch.Action == plan.Delete {
		if idx < 0 {
			return 0, notFound(ch, etid)
		}
		base := "DYNAMIC_" + strconv.FormatInt(etid, 10)
		for _, c := range slices.Clone(p.Categories) {
			if c.EntityTypeID == etid {
				a.deleteCategory(catRef{etid, c.ID}, base)
			}
		}
		p.SmartTypes = slices.Delete(p.SmartTypes, idx, idx+1)
		p.FieldRules = slices.DeleteFunc(p.FieldRules, func(f FieldRule) bool { return f.Entity == base })
		p.UFPerms = slices.DeleteFunc(p.UFPerms, func(u UFPermission) bool { return u.EntityTypeID == etid })
		return etid, nil
	}
	if isCreate(ch) {
		// Smart-process entity type IDs start at 128.
		if p.Counters["entity_type_id"] < 127 {
			p.Counters["entity_type_id"] = 127
		}
		for _, s := range p.SmartTypes {
			p.Counters["entity_type_id"] = max(p.Counters["entity_type_id"], s.EntityTypeID)
		}
		etid = p.NextID("entity_type_id")
		p.SmartTypes = append(p.SmartTypes, SmartType{ID: p.NextID(TSmartType), EntityTypeID: etid, Title: sp.Name, IsSetOpenPermissions: "Y"})
		cat := p.NextID(TCategory)
		p.Categories = append(p.Categories, Category{ID: cat, EntityTypeID: etid, Name: "General", IsDefault: "Y"})
		// The default category is an ItemCategoryTable row too: its
		// onAfterAdd gives the roles their defaults (defaults.go).
		p.AddDefaultCategoryPermissions(etid, cat)
		return etid, nil
	}
	if idx < 0 {
		return 0, notFound(ch, etid)
	}
	p.SmartTypes[idx].Title = sp.Name
	return etid, nil
}

// ---- workgroups ----

// openChannel writes a b_imopenlines_config row, its queue rows (SORT the
// 0-based position, as QueueManager::update stores them) and the operator
// rows derived from the queue (syncOperators).
func (a *Applier) openChannel(ch plan.Change, c *graph.OpenChannel) (int64, error) {
	p := a.p
	id := ch.ID
	idx := slices.IndexFunc(p.OLConfigs, func(x OLConfig) bool { return x.ID == id })
	if ch.Action == plan.Delete || ch.Action == plan.Replace {
		if idx < 0 && ch.Action == plan.Delete {
			return 0, notFound(ch, id)
		}
		p.OLConfigs = slices.DeleteFunc(p.OLConfigs, func(x OLConfig) bool { return x.ID == id })
		p.OLQueue = slices.DeleteFunc(p.OLQueue, func(q OLQueue) bool { return q.ConfigID == id })
		// Config::delete removes the operator rows too (imopenlines/lib/config.php).
		p.OLOperators = slices.DeleteFunc(p.OLOperators, func(q OLOperator) bool { return q.ConfigID == id })
		if ch.Action == plan.Delete {
			return id, nil
		}
	}
	var entries []OLQueue
	for _, s := range c.Queue {
		typ, eid, err := a.ix.QueueEntry(s)
		if err != nil {
			return 0, fmt.Errorf("open channel %q: %w", c.Name, err)
		}
		entries = append(entries, OLQueue{EntityID: eid, EntityType: typ})
	}
	row := OLConfig{ID: id, Active: "Y", LineName: c.Name, QueueType: c.QueueType}
	if c.Inactive {
		row.Active = "N"
	}
	if isCreate(ch) {
		row.ID = p.NextID(TOLConfig)
		p.OLConfigs = append(p.OLConfigs, row)
	} else {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		p.OLConfigs[idx] = row
	}
	p.SetQueue(row.ID, entries)
	return row.ID, nil
}

// SetQueue does what QueueManager::update (imopenlines/lib/queuemanager.php)
// does with an open channel's queue, given its entries (ENTITY_TYPE "user"
// or "department" and ENTITY_ID) in order. It first drops the user entries
// isValidUser refuses — inactive users and users without a department
// (graph.User.QueueOperator) — then writes b_imopenlines_config_queue
// with SORT the 0-based position among the entries kept
// (getDataAddConfigQueue): an entry that stays keeps its row (only SORT
// follows the new order), entries that go are deleted, new ones inserted;
// and the operator rows of b_imopenlines_queue (syncOperators).
func (p *Portal) SetQueue(configID int64, entries []OLQueue) {
	valid := map[int64]bool{}
	for _, u := range p.Users {
		valid[u.ID] = (&graph.User{Inactive: u.Active == "N", Departments: u.UFDepartment}).QueueOperator()
	}
	var rows []OLQueue
	for _, q := range entries {
		if q.EntityType == "user" && !valid[q.EntityID] {
			continue
		}
		rows = append(rows, OLQueue{Sort: int64(len(rows)), EntityID: q.EntityID, EntityType: q.EntityType})
	}
	type qkey struct {
		typ string
		id  int64
	}
	wantSort := map[qkey]int64{}
	for _, q := range rows {
		if _, dup := wantSort[qkey{q.EntityType, q.EntityID}]; !dup {
			wantSort[qkey{q.EntityType, q.EntityID}] = q.Sort
		}
	}
	kept := map[qkey]bool{}
	p.OLQueue = slices.DeleteFunc(p.OLQueue, func(q OLQueue) bool {
		if q.ConfigID != configID {
			return false
		}
		k := qkey{q.EntityType, q.EntityID}
		if _, ok := wantSort[k]; !ok || kept[k] {
			return true
		}
		kept[k] = true
		return false
	})
	for i := range p.OLQueue {
		q := &p.OLQueue[i]
		if q.ConfigID == configID {
			q.Sort = wantSort[qkey{q.EntityType, q.EntityID}]
		}
	}
	for _, q := range rows {
		k := qkey{q.EntityType, q.EntityID}
		if kept[k] {
			continue
		}
		kept[k] = true
		q.ID, q.ConfigID = p.NextID(TOLQueue), configID
		p.OLQueue = append(p.OLQueue, q)
	}
	p.syncOperators(configID, rows, valid)
}

// syncOperators makes the channel's b_imopenlines_queue rows what
// QueueManager::update (imopenlines/lib/queuemanager.php) derives from the
// configured queue (whose user entries are valid operators already): users
// in queue order, each department expanded to the active users of it and
// its sub-departments ordered by ID, without the heads of those
// departments (StructureService::getDepartmentUserIds,
// imopenlines/lib/integrations/humanresources/structureservice.php), and
// of those only the ones isValidUser accepts (graph.User.QueueOperator); a
// user keeps their row (SORT and DEPARTMENT_ID updated in place), users
// who left the queue lose theirs.
func (p *Portal) syncOperators(configID int64, queue []OLQueue, active map[int64]bool) {
	children := map[int64][]int64{}
	heads := map[int64]int64{}
	for _, d := range p.Departments {
		children[d.Parent] = append(children[d.Parent], d.ID)
		heads[d.ID] = d.Head
	}
	type op struct{ user, dept, sort int64 }
	var want []op
	seen := map[int64]bool{}
	num := int64(0)
	for _, q := range queue {
		switch q.EntityType {
		case "user":
			if !seen[q.EntityID] {
				want = append(want, op{q.EntityID, 0, num})
			}
			seen[q.EntityID] = true
			num++
		case "department":
			depts := map[int64]bool{}
			exclude := map[int64]bool{}
			stack := []int64{q.EntityID}
			for len(stack) > 0 {
				d := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if depts[d] {
					continue
				}
				depts[d] = true
				if h := heads[d]; h > 0 {
					exclude[h] = true
				}
				stack = append(stack, children[d]...)
			}
			var users []int64
			for _, u := range p.Users {
				if !active[u.ID] || exclude[u.ID] {
					continue
				}
				if slices.ContainsFunc(u.UFDepartment, func(d int64) bool { return depts[d] }) {
					users = append(users, u.ID)
				}
			}
			slices.Sort(users)
			for _, uid := range users {
				if !seen[uid] {
					want = append(want, op{uid, q.EntityID, num})
				}
				seen[uid] = true
				num++
			}
		}
	}
	wantBy := map[int64]op{}
	for _, o := range want {
		wantBy[o.user] = o
	}
	kept := map[int64]bool{}
	p.OLOperators = slices.DeleteFunc(p.OLOperators, func(r OLOperator) bool {
		if r.ConfigID != configID {
			return false
		}
		if _, ok := wantBy[r.UserID]; !ok || kept[r.UserID] {
			return true
		}
		kept[r.UserID] = true
		return false
	})
	for i := range p.OLOperators {
		r := &p.OLOperators[i]
		if r.ConfigID == configID {
			o := wantBy[r.UserID]
			r.Sort, r.DepartmentID = o.sort, o.dept
		}
	}
	for _, o := range want {
		if !kept[o.user] {
			p.OLOperators = append(p.OLOperators, OLOperator{ID: p.NextID(TOLOperator), Sort: o.sort, ConfigID: configID, UserID: o.user, DepartmentID: o.dept})
		}
	}
}

func (a *Applier) workgroup(ch plan.Change, w *graph.Workgroup) (int64, error) {
	p := a.p
	id := ch.ID
	idx := slices.IndexFunc(p.SonetGroups, func(g SonetGroup) bool { return g.ID == id })
	drop := func(id int64) {
		var feats []int64
		for _, f := range p.Features {
			if f.EntityType == "G" && f.EntityID == id {
				feats = append(feats, f.ID)
			}
		}
		p.SonetGroups = slices.DeleteFunc(p.SonetGroups, func(g SonetGroup) bool { return g.ID == id })
		p.User2Group = slices.DeleteFunc(p.User2Group, func(u User2Group) bool { return u.GroupID == id })
		p.Features = slices.DeleteFunc(p.Features, func(f Feature) bool { return f.EntityType == "G" && f.EntityID == id })
		p.FeaturePerms = slices.DeleteFunc(p.FeaturePerms, func(fp FeaturePerm) bool { return slices.Contains(feats, fp.FeatureID) })
	}
	if ch.Action == plan.Delete {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		drop(id)
		return id, nil
	}
	flags, ok := graph.Visibilities[w.Visibility]
	if !ok {
		return 0, fmt.Errorf("workgroup %q: unknown visibility %q", w.Name, w.Visibility)
	}
	owner, err := a.userID(w.Owner)
	if err != nil {
		return 0, fmt.Errorf("workgroup %q owner: %w", w.Name, err)
	}
	type member struct {
		user int64
		role string
	}
	members := []member{{owner, "A"}}
	seen := map[int64]bool{owner: true}
	for _, set := range []struct {
		subjects []string
		role     string
	}{{w.Moderators, "E"}, {w.Members, "K"}} {
		for _, s := range set.subjects {
			uid, err := a.userID(s)
			if err != nil {
				return 0, fmt.Errorf("workgroup %q member: %w", w.Name, err)
			}
			if !seen[uid] {
				seen[uid] = true
				members = append(members, member{uid, set.role})
			}
		}
	}
	type fop struct{ feature, op string }
	feats := map[fop]string{}
	for _, f := range w.Features {
		if _, ok := graph.GroupFeatures[f.Feature][f.Operation]; !ok {
			return 0, fmt.Errorf("workgroup %q: unknown feature operation %s/%s", w.Name, f.Feature, f.Operation)
		}
		l, ok := graph.GroupRoleLetter(f.Role)
		if !ok {
			return 0, fmt.Errorf("workgroup %q: unknown role %q for %s/%s", w.Name, f.Role, f.Feature, f.Operation)
		}
		feats[fop{f.Feature, f.Operation}] = l
	}
	if ch.Action == plan.Replace && idx >= 0 {
		drop(id)
	}
	row := SonetGroup{Name: w.Name, Visible: yn(flags[0]), Opened: yn(flags[1]), Closed: yn(w.Archived), OwnerID: owner, InitiatePerms: "K"}
	if isCreate(ch) {
		id = p.NextID(TSonetGroup)
		row.ID, row.SiteID = id, p.defaultSiteID()
		p.SonetGroups = append(p.SonetGroups, row)
		idx = len(p.SonetGroups) - 1
	} else {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		old := p.SonetGroups[idx]
		row.ID, row.InitiatePerms, row.SiteID = id, old.InitiatePerms, old.SiteID
		row.NumberOfMembers, row.NumberOfModerators = old.NumberOfMembers, old.NumberOfModerators
		p.SonetGroups[idx] = row
	}
	// Memberships. (USER_ID, GROUP_ID) is unique in b_sonet_user2group:
	// a user's row is updated in place when their role changes
	// (CSocNetUserToGroup::Update), rows of users who are no longer owner,
	// moderator or member are deleted, and banned (T) and requested (Z)
	// rows of users the policy does not make members are kept as they are:
	// a plan never changes them.
	want := map[int64]string{}
	for _, m := range members {
		want[m.user] = m.role
	}
	have := map[int64]bool{}
	p.User2Group = slices.DeleteFunc(p.User2Group, func(u User2Group) bool {
		if u.GroupID != id {
			return false
		}
		if have[u.UserID] {
			return true // a duplicate row Bitrix's unique key would not allow
		}
		if _, ok := want[u.UserID]; !ok {
			if isMemberRole(u.Role) {
				return true
			}
			have[u.UserID] = true
			return false
		}
		have[u.UserID] = true
		return false
	})
	for i := range p.User2Group {
		u := &p.User2Group[i]
		if r, ok := want[u.UserID]; ok && u.GroupID == id {
			u.Role = r
		}
	}
	for _, m := range members {
		if !have[m.user] {
			p.User2Group = append(p.User2Group, User2Group{ID: p.NextID(TUser2Group), GroupID: id, UserID: m.user, Role: m.role})
		}
	}
	p.SonetGroups[idx].NumberOfMembers, p.SonetGroups[idx].NumberOfModerators = p.memberCounts(id)
	// Feature permissions: one row per declared operation; operations at
	// their default have no row.
	featID := map[string]int64{}
	for i, f := range p.Features {
		if f.EntityType == "G" && f.EntityID == id {
			featID[f.Feature] = f.ID
			// Switched-off features (ACTIVE = N) as declared.
			p.Features[i].Active = yn(!slices.Contains(w.DisabledFeatures, f.Feature))
		}
	}
	for _, name := range w.DisabledFeatures {
		if _, ok := featID[name]; !ok {
			fid := p.NextID(TFeature)
			p.Features = append(p.Features, Feature{ID: fid, EntityType: "G", EntityID: id, Feature: name, Active: "N"})
			featID[name] = fid
		}
	}
	ownFeature := map[int64]string{}
	for name, fid := range featID {
		ownFeature[fid] = name
	}
	done := map[fop]bool{}
	p.FeaturePerms = slices.DeleteFunc(p.FeaturePerms, func(fp FeaturePerm) bool {
		name, ok := ownFeature[fp.FeatureID]
		if !ok {
			return false
		}
		k := fop{name, fp.OperationID}
		if l, ok := feats[k]; ok && l == fp.Role && !done[k] {
			done[k] = true
			return false
		}
		return true
	})
	keys := make([]fop, 0, len(feats))
	for k := range feats {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y fop) int { return strings.Compare(x.feature+"/"+x.op, y.feature+"/"+y.op) })
	for _, k := range keys {
		if done[k] {
			continue
		}
		fid, ok := featID[k.feature]
		if !ok {
			fid = p.NextID(TFeature)
			p.Features = append(p.Features, Feature{ID: fid, EntityType: "G", EntityID: id, Feature: k.feature, Active: yn(!slices.Contains(w.DisabledFeatures, k.feature))})
			featID[k.feature] = fid
		}
		p.FeaturePerms = append(p.FeaturePerms, FeaturePerm{ID: p.NextID(TFeaturePerm), FeatureID: fid, OperationID: k.op, Role: feats[k]})
	}
	return id, nil
}

// isMemberRole: owner, moderator, member (SONET_ROLES_OWNER, _MODERATOR,
// _USER); T (banned) and Z (request) are not.
func isMemberRole(r string) bool { return r == "A" || r == "E" || r == "K" }

// memberCounts is what CSocNetGroup::SetStat stores after a membership
// change (socialnetwork/classes/general/group.php): active users with ROLE
// <= K (A, E, K) and <= E (A, E).
func (p *Portal) memberCounts(groupID int64) (members, moderators int64) {
	inactive := map[int64]bool{}
	for _, u := range p.Users {
		if u.Active == "N" {
			inactive[u.ID] = true
		}
	}
	for _, u := range p.User2Group {
		if u.GroupID != groupID || inactive[u.UserID] {
			continue
		}
		switch u.Role {
		case "A", "E":
			members++
			moderators++
		case "K":
			members++
		}
	}
	return members, moderators
}

// defaultSiteID is the site a new workgroup belongs to: the site of the
// existing groups, "s1" (the default site of a Bitrix24 installation)
// otherwise.
func (p *Portal) defaultSiteID() string {
	for _, g := range p.SonetGroups {
		if g.SiteID != "" {
			return g.SiteID
		}
	}
	return "s1"
}

// ---- field rules ----

var entityTypeIDs = map[string]int64{"lead": 1, "deal": 2, "contact": 3, "company": 4, "quote": 7, "smart_invoice": 31}

func (a *Applier) fieldRule(ch plan.Change, f *graph.FieldRule) (int64, error) {
	if f.Native {
		return a.nativeFieldRule(ch, f)
	}
	p := a.p
	id := ch.ID
	idx := slices.IndexFunc(p.FieldRules, func(r FieldRule) bool { return r.ID == id })
	if ch.Action == plan.Delete {
		if idx < 0 {
			return 0, notFound(ch, id)
		}
		p.FieldRules = slices.Delete(p.FieldRules, idx, idx+1)
		return id, nil
	}
	desc, ok := graph.LookupCRMEntity(f.Entity)
	if !ok {
		return 0, fmt.Errorf("field rule %s.%s: unknown entity", f.Entity, f.Field)
	}
	row := FieldRule{Field: f.Field}
	ref := catRef{}
	if desc.Pipelines || desc.Stages {
		etid, base, _, err := a.entityType(f.Entity)
		if err != nil {
			return 0, err
		}
		row.Entity = base
		ref = catRef{etid, 0}
		if f.Pipeline != "" {
			if ref, err = a.category(f.Entity, etid, f.Pipeline); err != nil {
				return 0, err
			}
			cat := ref.cat
			row.Category = &cat
		}
	} else {
		row.Entity = desc.Bitrix
		if f.Pipeline != "" || len(f.Stages) > 0 {
			return 0, fmt.Errorf("field rule %s.%s: %s has no pipelines or stages", f.Entity, f.Field, f.Entity)
		}
	}
	for _, s := range f.Stages {
		sid, err := a.statusID(f.Entity, ref, s)
		if err != nil {
			return 0, fmt.Errorf("field rule %s.%s: %w", f.Entity, f.Field, err)
		}
		row.Stages = append(row.Stages, sid)
	}
	var err error
	if row.View, err = a.codes(f.View); err != nil {
		return 0, fmt.Errorf("field rule %s.%s: %w", f.Entity, f.Field, err)
	}
	if row.Edit, err = a.codes(f.Edit); err != nil {
		return 0, fmt.Errorf("field rule %s.%s: %w", f.Entity, f.Field, err)
	}
	if ch.Action == plan.Replace && idx >= 0 {
		p.FieldRules = slices.Delete(p.FieldRules, idx, idx+1)
	}
	if isCreate(ch) {
		row.ID = p.NextID(TFieldRule)
		p.FieldRules = append(p.FieldRules, row)
		return row.ID, nil
	}
	if idx < 0 {
		return 0, notFound(ch, id)
	}
	row.ID = id
	p.FieldRules[idx] = row
	return id, nil
}

// nativeFieldRule writes b_user_field_permission rows: one view row per
// access code of (ENTITY_TYPE_ID, FIELD). The rule's ID is its first row's.
func (a *Applier) nativeFieldRule(ch plan.Change, f *graph.FieldRule) (int64, error) {
	p := a.p
	etid, ok := entityTypeIDs[f.Entity]
	if !ok {
		var err error
		if etid, _, _, err = a.entityType(f.Entity); err != nil || etid == 0 {
			return 0, fmt.Errorf("field rule %s.%s: entity has no custom-field visibility", f.Entity, f.Field)
		}
	}
	old := func(u UFPermission) bool { return u.EntityTypeID == etid && u.Field == f.Field }
	if ch.Before != nil && ch.Before.FieldRule != nil && ch.Before.FieldRule.Field != f.Field {
		bf := ch.Before.FieldRule.Field
		old = func(u UFPermission) bool { return u.EntityTypeID == etid && (u.Field == f.Field || u.Field == bf) }
	}
	if ch.Action == plan.Delete {
		n := len(p.UFPerms)
		p.UFPerms = slices.DeleteFunc(p.UFPerms, old)
		if len(p.UFPerms) == n {
			return 0, notFound(ch, ch.ID)
		}
		return ch.ID, nil
	}
	if f.Pipeline != "" || len(f.Stages) > 0 || len(f.Edit) > 0 {
		return 0, fmt.Errorf("field rule %s.%s: native custom-field visibility is per field and view only", f.Entity, f.Field)
	}
	codes, err := a.codes(f.View)
	if err != nil {
		return 0, fmt.Errorf("field rule %s.%s: %w", f.Entity, f.Field, err)
	}
	p.UFPerms = slices.DeleteFunc(p.UFPerms, old)
	var first int64
	for _, c := range codes {
		id := p.NextID(TUFPerm)
		if first == 0 {
			first = id
		}
		p.UFPerms = append(p.UFPerms, UFPermission{ID: id, EntityTypeID: etid, Field: f.Field, AccessCode: c, PermissionID: 1, Value: 1})
	}
	return first, nil
}
