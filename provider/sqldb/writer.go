package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/b24perm/b24perm/provider/bitrix"
)

// writer writes the row difference between two states of the portal
// model: rows whose ID disappeared are deleted, rows whose modeled columns
// changed are updated (only those columns; columns b24perm does not model
// are never touched), new rows are inserted with every NOT NULL column
// filled the way Bitrix fills it.
//
// The applier (provider/bitrix) decides which rows change and how, exactly
// as Bitrix's own code does: a role's changed permission rows are deleted
// and re-inserted (CCrmRole::setRolePermissions, crm/classes/general/crm_role.php,
// compares the stored rows with the new ones and hands the rows to delete
// and to add to PermissionRepository::applyRolePermissionData,
// crm/lib/security/role/repositories/permissionrepository.php), and
// telephony / open-channel roles get all their permission rows rewritten
// (setRolePermissions of voximplant/lib/security/permissions.php and
// imopenlines/lib/security/permissions.php); stages, categories, roles,
// workgroups, memberships and open channels are updated in place.
type writer struct {
	p   *Provider
	tx  *sql.Tx
	ctx context.Context
	err error
	now time.Time
	// inserted: tables that got rows with explicit IDs (PostgreSQL
	// identity sequences must be moved past them).
	inserted map[string]bool
	// subjectID is the workgroup subject new groups get.
	subjectID int64
	// st is what the load found (user fields, optional tables).
	st    *structure
	stmts int
}

func (w *writer) exec(q string, args ...any) {
	if w.err != nil {
		return
	}
	w.stmts++
	if _, err := w.tx.ExecContext(w.ctx, w.p.q(q), args...); err != nil {
		w.err = fmt.Errorf("%v (statement: %.200s)", err, q)
	}
}

// col quotes a column name that is a reserved word (b_crm_status.SYSTEM is
// written `SYSTEM` in crm's mysql install.sql).
func (w *writer) col(c string) string {
	if c == "SYSTEM" && w.p.dialect == "mysql" {
		return "`SYSTEM`"
	}
	return c
}

func (w *writer) cols(cs []string) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = w.col(c)
	}
	return strings.Join(out, ", ")
}

// tableDiff is the row difference of one table.
type tableDiff struct {
	table   string
	deletes []int64
	updates []rowUpdate
	cols    []string // insert columns (ID first)
	inserts [][]any
}

type rowUpdate struct {
	id   int64
	cols []string
	vals []any
}

// spec describes one table of the model: its modeled columns, the
// columns an insert fills beyond them, and the columns an update sets
// besides the changed ones (DATE_UPDATE …).
type spec[T any] struct {
	table    string
	id       func(T) int64
	cols     []string
	vals     func(T) []any
	fillCols []string
	fill     func(T) []any
	touch    func(T) ([]string, []any)
	// same, when set, says cheaply that two versions of a row are equal
	// (most rows of a big table are), before vals are compared.
	same func(a, b T) bool
}

func eqc[T comparable](a, b T) bool { return a == b }

func diffRows[T any](s spec[T], before, after []T) tableDiff {
	d := tableDiff{table: s.table, cols: append(append([]string{"ID"}, s.cols...), s.fillCols...)}
	old := make(map[int64]T, len(before))
	for _, r := range before {
		old[s.id(r)] = r
	}
	seen := make(map[int64]bool, len(after))
	for _, r := range after {
		id := s.id(r)
		seen[id] = true
		o, ok := old[id]
		if ok && s.same != nil && s.same(o, r) {
			continue
		}
		if !ok {
			row := append([]any{id}, s.vals(r)...)
			if s.fill != nil {
				row = append(row, s.fill(r)...)
			}
			d.inserts = append(d.inserts, row)
			continue
		}
		ov, nv := s.vals(o), s.vals(r)
		var u rowUpdate
		for i := range nv {
			if ov[i] != nv[i] {
				u.cols = append(u.cols, s.cols[i])
				u.vals = append(u.vals, nv[i])
			}
		}
		if len(u.cols) == 0 {
			continue
		}
		if s.touch != nil {
			c, v := s.touch(r)
			u.cols, u.vals = append(u.cols, c...), append(u.vals, v...)
		}
		u.id = id
		d.updates = append(d.updates, u)
	}
	for _, r := range before {
		if id := s.id(r); !seen[id] {
			d.deletes = append(d.deletes, id)
		}
	}
	slices.Sort(d.deletes)
	return d
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// rawOrNil is a SETTINGS value: NULL for no JSON (a portal file's
// "SETTINGS": null decodes to the bytes "null").
func rawOrNil(b []byte) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return string(b)
}

// diffs computes the row difference of every table b24perm writes, in
// the order the statements run: deletes of all tables first (unique keys
// such as (USER_ID, GROUP_ID) may be reused by an insert), then updates,
// then inserts.
func (w *writer) diffs(before, after *bitrix.Portal) ([]tableDiff, error) {
	now := w.now
	today := now.Format("2006-01-02")
	var out []tableDiff
	// Smart processes are renamed in place: TITLE, and UPDATED_TIME as
	// TypeTable::onBeforeUpdate sets it (crm/lib/Model/Dynamic/TypeTable.php;
	// UPDATED_BY, the acting Bitrix user, is left as it is: b24perm is
	// none). They are never created or deleted here: TypeTable::onAfterAdd
	// and onAfterDelete create and drop the type's item, index,
	// fields-context and access-attribute tables and register its
	// user-field entity, which no row change reproduces (and DDL would end
	// the apply's transaction on MySQL); plans make those manual steps
	// (MarkManual).
	smart := diffRows(spec[bitrix.SmartType]{
		same:  eqc[bitrix.SmartType],
		table: "b_crm_dynamic_type", id: func(t bitrix.SmartType) int64 { return t.ID },
		cols: []string{"TITLE"}, vals: func(t bitrix.SmartType) []any { return []any{t.Title} },
		touch: func(bitrix.SmartType) ([]string, []any) { return []string{"UPDATED_TIME"}, []any{now} },
	}, before.SmartTypes, after.SmartTypes)
	if len(smart.inserts) > 0 || len(smart.deletes) > 0 {
		return nil, fmt.Errorf("smart processes are created and deleted in Bitrix24 (CRM → Settings → Smart processes), not by the self-hosted database backend: Bitrix creates and drops tables for them; nothing was written")
	}
	out = append(out, smart)
	// Deal categories (the default one, ID 0, is only an option).
	deal := func(cs []bitrix.Category) []bitrix.Category {
		var r []bitrix.Category
		for _, c := range cs {
			if c.EntityTypeID == bitrix.EntityTypeDeal && c.IsDefault != "Y" {
				r = append(r, c)
			}
		}
		return r
	}
	out = append(out, diffRows(spec[bitrix.Category]{
		table: "b_crm_deal_category", id: func(c bitrix.Category) int64 { return c.ID },
		cols: []string{"NAME", "SORT"}, vals: func(c bitrix.Category) []any { return []any{c.Name, int64(c.Sort)} },
		// CREATED_DATE NOT NULL: DealCategoryTable's default_value is now.
		fillCols: []string{"CREATED_DATE"}, fill: func(bitrix.Category) []any { return []any{today} },
	}, deal(before.Categories), deal(after.Categories)))
	// Smart-process and smart-invoice pipelines: ItemCategoryTable
	// (crm/lib/Model/ItemCategoryTable.php) fills CREATED_DATE with now and
	// refuses IS_SYSTEM 'Y' on add; CODE and SETTINGS stay NULL.
	items := func(cs []bitrix.Category) []bitrix.Category {
		var r []bitrix.Category
		for _, c := range cs {
			if c.EntityTypeID != bitrix.EntityTypeDeal {
				r = append(r, c)
			}
		}
		return r
	}
	itemDiff := diffRows(spec[bitrix.Category]{
		same:  eqc[bitrix.Category],
		table: "b_crm_item_category", id: func(c bitrix.Category) int64 { return c.ID },
		cols: []string{"ENTITY_TYPE_ID", "NAME", "SORT", "IS_DEFAULT"},
		vals: func(c bitrix.Category) []any {
			return []any{c.EntityTypeID, c.Name, int64(c.Sort), orDefault(c.IsDefault, "N")}
		},
		fillCols: []string{"IS_SYSTEM", "CREATED_DATE"}, fill: func(bitrix.Category) []any { return []any{"N", now} },
	}, items(before.Categories), items(after.Categories))
	if !w.st.smart && len(itemDiff.inserts)+len(itemDiff.updates)+len(itemDiff.deletes) > 0 {
		return nil, fmt.Errorf("%s has no table b_crm_item_category (smart-process and smart-invoice pipelines, crm module); nothing was written", w.p.dsn)
	}
	if err := w.refuseNonEmpty(before.Categories, itemDiff.deletes); err != nil {
		return nil, err
	}
	out = append(out, itemDiff)
	out = append(out, diffRows(spec[bitrix.Status]{
		same:  eqc[bitrix.Status],
		table: "b_crm_status", id: func(s bitrix.Status) int64 { return s.ID },
		cols: []string{"ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SEMANTICS"},
		vals: func(s bitrix.Status) []any {
			return []any{s.EntityID, s.StatusID, s.Name, int64(s.Sort), nullIfEmpty(s.Semantics)}
		},
		// A stage added in the UI is not a system one (SYSTEM 'N',
		// crm/lib/status.php), and its CATEGORY_ID is the pipeline's:
		// CCrmStatus::Add (crm/classes/general/crm_status.php, behind
		// crm.status.add, the stage editor and BulkCreate) writes the
		// CATEGORY_ID given, else the category of a DEAL_STAGE_<n> entity,
		// else 0, so 0 for the default deal pipeline (DEAL_STAGE) and for
		// lead statuses (STATUS), never NULL.
		fillCols: []string{"SYSTEM", "CATEGORY_ID"},
		fill: func(s bitrix.Status) []any {
			_, cat, _ := bitrix.ParseStatusEntityID(s.EntityID)
			return []any{"N", cat}
		},
	}, before.Statuses, after.Statuses))
	out = append(out, diffRows(spec[bitrix.Role]{
		same:  eqc[bitrix.Role],
		table: "b_crm_role", id: func(r bitrix.Role) int64 { return r.ID },
		cols: []string{"NAME", "IS_SYSTEM", "CODE", "GROUP_CODE"},
		vals: func(r bitrix.Role) []any {
			sys := r.IsSystem
			if sys == "" {
				sys = "N"
			}
			return []any{r.Name, sys, nullIfEmpty(r.Code), nullIfEmpty(r.GroupCode)}
		},
	}, before.Roles, after.Roles))
	out = append(out, diffRows(spec[bitrix.RolePerm]{
		table: "b_crm_role_perms", id: func(r bitrix.RolePerm) int64 { return r.ID },
		cols: []string{"ROLE_ID", "ENTITY", "FIELD", "FIELD_VALUE", "PERM_TYPE", "ATTR", "SETTINGS"},
		vals: func(r bitrix.RolePerm) []any {
			// The current UI stores a SETTINGS row with ATTR NULL.
			var attr any = r.Attr
			if rawOrNil(r.Settings) != nil && r.Attr == "" {
				attr = nil
			}
			field := r.Field
			if field == "" {
				field = "-"
			}
			return []any{r.RoleID, r.Entity, field, nullIfEmpty(r.FieldValue), r.PermType, attr, rawOrNil(r.Settings)}
		},
		same: func(a, b bitrix.RolePerm) bool {
			return a.RoleID == b.RoleID && a.Entity == b.Entity && a.Field == b.Field && a.FieldValue == b.FieldValue &&
				a.PermType == b.PermType && a.Attr == b.Attr && string(a.Settings) == string(b.Settings)
		},
	}, before.RolePerms, after.RolePerms))
	out = append(out, diffRows(spec[bitrix.RoleRelation]{
		same:  eqc[bitrix.RoleRelation],
		table: "b_crm_role_relation", id: func(r bitrix.RoleRelation) int64 { return r.ID },
		cols: []string{"ROLE_ID", "RELATION"}, vals: func(r bitrix.RoleRelation) []any { return []any{r.RoleID, r.Relation} },
	}, before.RoleRelations, after.RoleRelations))
	for _, t := range []struct {
		prefix           string
		xml              bool
		broles, aroles   []bitrix.SimpleRole
		bperms, aperms   []bitrix.SimplePermission
		baccess, aaccess []bitrix.RoleAccess
	}{
		{"b_voximplant_role", false, before.VoxRoles, after.VoxRoles, before.VoxPerms, after.VoxPerms, before.VoxAccess, after.VoxAccess},
		{"b_imopenlines_role", true, before.OLRoles, after.OLRoles, before.OLPerms, after.OLPerms, before.OLAccess, after.OLAccess},
	} {
		cols := []string{"NAME"}
		if t.xml {
			cols = append(cols, "XML_ID")
		}
		xml := t.xml
		out = append(out, diffRows(spec[bitrix.SimpleRole]{
			table: t.prefix, id: func(r bitrix.SimpleRole) int64 { return r.ID }, cols: cols,
			vals: func(r bitrix.SimpleRole) []any {
				if xml {
					return []any{r.Name, nullIfEmpty(r.XMLID)}
				}
				return []any{r.Name}
			},
		}, t.broles, t.aroles))
		out = append(out, diffRows(spec[bitrix.SimplePermission]{
			same:  eqc[bitrix.SimplePermission],
			table: t.prefix + "_permission", id: func(r bitrix.SimplePermission) int64 { return r.ID },
			cols: []string{"ROLE_ID", "ENTITY", "ACTION", "PERMISSION"},
			vals: func(r bitrix.SimplePermission) []any { return []any{r.RoleID, r.Entity, r.Action, r.Permission} },
		}, t.bperms, t.aperms))
		out = append(out, diffRows(spec[bitrix.RoleAccess]{
			same:  eqc[bitrix.RoleAccess],
			table: t.prefix + "_access", id: func(r bitrix.RoleAccess) int64 { return r.ID },
			cols: []string{"ROLE_ID", "ACCESS_CODE"}, vals: func(r bitrix.RoleAccess) []any { return []any{r.RoleID, r.AccessCode} },
		}, t.baccess, t.aaccess))
	}
	// Workgroups: CSocNetGroup::Add fills the dates, the site, the subject;
	// every update sets DATE_UPDATE (socialnetwork/classes/general/group.php).
	owner := map[int64]int64{}
	for _, g := range after.SonetGroups {
		owner[g.ID] = g.OwnerID
	}
	out = append(out, diffRows(spec[bitrix.SonetGroup]{
		same:  eqc[bitrix.SonetGroup],
		table: "b_sonet_group", id: func(g bitrix.SonetGroup) int64 { return g.ID },
		cols: []string{"NAME", "VISIBLE", "OPENED", "CLOSED", "OWNER_ID", "INITIATE_PERMS", "NUMBER_OF_MEMBERS", "NUMBER_OF_MODERATORS"},
		vals: func(g bitrix.SonetGroup) []any {
			return []any{g.Name, g.Visible, g.Opened, orDefault(g.Closed, "N"), g.OwnerID, orDefault(g.InitiatePerms, "K"), g.NumberOfMembers, g.NumberOfModerators}
		},
		fillCols: []string{"SITE_ID", "DATE_CREATE", "DATE_UPDATE", "DATE_ACTIVITY", "SUBJECT_ID", "ACTIVE", "SPAM_PERMS"},
		fill: func(g bitrix.SonetGroup) []any {
			return []any{orDefault(g.SiteID, "s1"), now, now, now, w.subjectID, "Y", "K"}
		},
		touch: func(bitrix.SonetGroup) ([]string, []any) { return []string{"DATE_UPDATE"}, []any{now} },
	}, before.SonetGroups, after.SonetGroups))
	// One b_sonet_group_site row per group, for its SITE_ID.
	siteRows := func(gs []bitrix.SonetGroup) []bitrix.SonetGroup { return gs }
	out = append(out, w.groupSites(siteRows(before.SonetGroups), siteRows(after.SonetGroups)))
	// Memberships: CSocNetUserToGroup::Add fills the dates and who
	// initiated it; a membership added by the group's owner is initiated
	// by the group (INITIATED_BY_TYPE 'G', INITIATED_BY_USER_ID the owner).
	out = append(out, diffRows(spec[bitrix.User2Group]{
		same:  eqc[bitrix.User2Group],
		table: "b_sonet_user2group", id: func(u bitrix.User2Group) int64 { return u.ID },
		cols: []string{"GROUP_ID", "USER_ID", "ROLE"}, vals: func(u bitrix.User2Group) []any { return []any{u.GroupID, u.UserID, u.Role} },
		fillCols: []string{"DATE_CREATE", "DATE_UPDATE", "INITIATED_BY_TYPE", "INITIATED_BY_USER_ID", "AUTO_MEMBER"},
		fill: func(u bitrix.User2Group) []any {
			return []any{now, now, orDefault(u.InitiatedByType, "G"), owner[u.GroupID], "N"}
		},
		touch: func(bitrix.User2Group) ([]string, []any) { return []string{"DATE_UPDATE"}, []any{now} },
	}, before.User2Group, after.User2Group))
	out = append(out, diffRows(spec[bitrix.Feature]{
		same:  eqc[bitrix.Feature],
		table: "b_sonet_features", id: func(f bitrix.Feature) int64 { return f.ID },
		cols: []string{"ENTITY_TYPE", "ENTITY_ID", "FEATURE", "ACTIVE"},
		vals: func(f bitrix.Feature) []any {
			return []any{orDefault(f.EntityType, "G"), f.EntityID, f.Feature, orDefault(f.Active, "Y")}
		},
		fillCols: []string{"DATE_CREATE", "DATE_UPDATE"}, fill: func(bitrix.Feature) []any { return []any{now, now} },
		touch: func(bitrix.Feature) ([]string, []any) { return []string{"DATE_UPDATE"}, []any{now} },
	}, before.Features, after.Features))
	out = append(out, diffRows(spec[bitrix.FeaturePerm]{
		same:  eqc[bitrix.FeaturePerm],
		table: "b_sonet_features2perms", id: func(f bitrix.FeaturePerm) int64 { return f.ID },
		cols: []string{"FEATURE_ID", "OPERATION_ID", "ROLE"}, vals: func(f bitrix.FeaturePerm) []any { return []any{f.FeatureID, f.OperationID, f.Role} },
	}, before.FeaturePerms, after.FeaturePerms))
	// Open channels: a line saved in the UI is no longer TEMPORARY;
	// Config::update sets DATE_MODIFY (imopenlines/lib/config.php).
	out = append(out, diffRows(spec[bitrix.OLConfig]{
		table: "b_imopenlines_config", id: func(c bitrix.OLConfig) int64 { return c.ID },
		cols: []string{"ACTIVE", "LINE_NAME", "QUEUE_TYPE"},
		vals: func(c bitrix.OLConfig) []any {
			return []any{c.Active, nullIfEmpty(c.LineName), nullIfEmpty(c.QueueType)}
		},
		fillCols: []string{"DATE_CREATE", "DATE_MODIFY", "TEMPORARY"},
		fill:     func(bitrix.OLConfig) []any { return []any{now, now, "N"} },
		touch:    func(bitrix.OLConfig) ([]string, []any) { return []string{"DATE_MODIFY"}, []any{now} },
	}, before.OLConfigs, after.OLConfigs))
	out = append(out, diffRows(spec[bitrix.OLQueue]{
		same:  eqc[bitrix.OLQueue],
		table: "b_imopenlines_config_queue", id: func(q bitrix.OLQueue) int64 { return q.ID },
		cols: []string{"SORT", "CONFIG_ID", "ENTITY_ID", "ENTITY_TYPE"},
		vals: func(q bitrix.OLQueue) []any { return []any{q.Sort, q.ConfigID, q.EntityID, q.EntityType} },
	}, before.OLQueue, after.OLQueue))
	// The operators the channel distributes chats to; Bitrix fills the
	// user's name with the row (QueueManager::getDataAddUser).
	names := map[int64]string{}
	for _, u := range after.Users {
		names[u.ID] = strings.TrimSpace(u.Name + " " + u.LastName)
	}
	out = append(out, diffRows(spec[bitrix.OLOperator]{
		table: "b_imopenlines_queue", id: func(q bitrix.OLOperator) int64 { return q.ID }, same: eqc[bitrix.OLOperator],
		cols:     []string{"SORT", "CONFIG_ID", "USER_ID", "DEPARTMENT_ID"},
		vals:     func(q bitrix.OLOperator) []any { return []any{q.Sort, q.ConfigID, q.UserID, q.DepartmentID} },
		fillCols: []string{"USER_NAME"}, fill: func(q bitrix.OLOperator) []any { return []any{nullIfEmpty(names[q.UserID])} },
	}, before.OLOperators, after.OLOperators))
	// written: the (entity type, field) pairs whose native visibility this
	// apply writes; their old NATIVE 'Y' rows in b24perm_field_rule go.
	written := map[legacyNative]bool{}
	if !slices.Equal(before.UFPerms, after.UFPerms) {
		key := func(u bitrix.UFPermission) legacyNative {
			return legacyNative{entityTypeID: u.EntityTypeID, field: u.Field}
		}
		group := func(us []bitrix.UFPermission) map[legacyNative][]bitrix.UFPermission {
			m := map[legacyNative][]bitrix.UFPermission{}
			for _, u := range us {
				m[key(u)] = append(m[key(u)], u)
			}
			return m
		}
		bg, ag := group(before.UFPerms), group(after.UFPerms)
		for k, v := range ag {
			if !slices.Equal(v, bg[k]) {
				written[k] = true
			}
		}
		for k := range bg {
			if _, ok := ag[k]; !ok {
				written[k] = true
			}
		}
		if !w.st.ufPerms {
			return nil, fmt.Errorf("%s has no table b_user_field_permission (native custom-field visibility, Bitrix24 main module); nothing was written", w.p.dsn)
		}
		for i := range after.UFPerms {
			u := &after.UFPerms[i]
			if u.UserFieldID != 0 {
				continue
			}
			ent := userFieldEntity(u.EntityTypeID)
			id, ok := w.st.userFields[ent+"/"+u.Field]
			if !ok {
				return nil, fmt.Errorf("custom field %s does not exist: b_user_field has no row with ENTITY_ID '%s' and FIELD_NAME '%s'; nothing was written", u.Field, ent, u.Field)
			}
			u.UserFieldID = id
		}
		out = append(out, diffRows(spec[bitrix.UFPermission]{
			table: "b_user_field_permission", id: func(u bitrix.UFPermission) int64 { return u.ID },
			cols: []string{"ENTITY_TYPE_ID", "USER_FIELD_ID", "ACCESS_CODE", "PERMISSION_ID", "VALUE"},
			vals: func(u bitrix.UFPermission) []any {
				return []any{u.EntityTypeID, u.UserFieldID, u.AccessCode, strconv.FormatInt(u.PermissionID, 10), u.Value}
			},
		}, before.UFPerms, after.UFPerms))
	}
	if w.p.fieldRules || len(after.FieldRules) > 0 || len(before.FieldRules) > 0 {
		d := diffRows(spec[bitrix.FieldRule]{
			table: fieldRuleTable, id: func(f bitrix.FieldRule) int64 { return f.ID },
			cols: []string{"NATIVE", "ENTITY", "CATEGORY_ID", "FIELD", "STAGES", "VIEW_CODES", "EDIT_CODES"},
			vals: func(f bitrix.FieldRule) []any {
				cat := int64(-1)
				if f.Category != nil {
					cat = *f.Category
				}
				return []any{"N", f.Entity, cat, f.Field, strings.Join(f.Stages, ","), strings.Join(f.View, ","), strings.Join(f.Edit, ",")}
			},
		}, before.FieldRules, after.FieldRules)
		for _, l := range w.st.legacyNative {
			if written[legacyNative{entityTypeID: l.entityTypeID, field: l.field}] {
				d.deletes = append(d.deletes, l.id)
			}
		}
		slices.Sort(d.deletes)
		out = append(out, d)
	}
	for _, d := range out {
		if d.table == "b_crm_status" {
			if err := w.refuseStagesWithItems(before.Statuses, d.deletes); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// refuseStagesWithItems refuses to delete a smart-process or smart-invoice
// stage that items are in, as Bitrix does (StatusTable::onBeforeDelete,
// crm/lib/statustable.php: CRM_STATUS_STAGE_WITH_ITEMS_ERROR); the items
// are in the type's TABLE_NAME, column STAGE_ID.
func (w *writer) refuseStagesWithItems(statuses []bitrix.Status, deleted []int64) error {
	for _, id := range deleted {
		i := slices.IndexFunc(statuses, func(s bitrix.Status) bool { return s.ID == id })
		if i < 0 {
			continue
		}
		s := statuses[i]
		etid, _, ok := bitrix.ParseStatusEntityID(s.EntityID)
		if !ok || etid == bitrix.EntityTypeLead || etid == bitrix.EntityTypeDeal {
			continue
		}
		table, err := w.itemTable(etid)
		if err != nil {
			return err
		}
		if table == "" {
			continue
		}
		var n int64
		if err := w.p.each(w.ctx, w.tx, "SELECT COUNT(*) FROM "+table+" WHERE STAGE_ID = ?", func(scan func(...any) error) error {
			return scan(&n)
		}, s.StatusID); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("stage %q (%s) still has %d items in %s: Bitrix deletes a stage only when no item is in it; move its items in Bitrix24 first; nothing was written", s.Name, s.StatusID, n, table)
		}
	}
	return nil
}

// itemTable is the items table of a smart process or smart invoices (the
// type's TABLE_NAME, b_crm_dynamic_items_<type>), "" when there is none.
func (w *writer) itemTable(etid int64) (string, error) {
	var table string
	if err := w.p.each(w.ctx, w.tx, "SELECT TABLE_NAME FROM b_crm_dynamic_type WHERE ENTITY_TYPE_ID = ?", func(scan func(...any) error) error {
		return scan(&table)
	}, etid); err != nil {
		return "", err
	}
	table = strings.ToLower(table)
	if table == "" || !itemTableName.MatchString(table) {
		return "", nil
	}
	if has, err := w.p.hasTable(w.ctx, w.tx, table); err != nil || !has {
		return "", err
	}
	return table, nil
}

var itemTableName = regexp.MustCompile(`^[a-z0-9_]+$`)

// refuseNonEmpty refuses to delete a smart-process or smart-invoice
// pipeline that still has items, as Bitrix does
// (ItemCategoryTable::onBeforeDelete, crm/lib/Model/ItemCategoryTable.php:
// CRM_CATEGORY_TABLE_DELETE_ERROR_ITEMS); deleting its rows would leave
// the items in a category that no longer exists. The items are in the
// type's TABLE_NAME (b_crm_dynamic_items_<type>), column CATEGORY_ID.
func (w *writer) refuseNonEmpty(cats []bitrix.Category, deleted []int64) error {
	for _, id := range deleted {
		i := slices.IndexFunc(cats, func(c bitrix.Category) bool { return c.ID == id && c.EntityTypeID != bitrix.EntityTypeDeal })
		if i < 0 {
			continue
		}
		c := cats[i]
		table, err := w.itemTable(c.EntityTypeID)
		if err != nil {
			return err
		}
		if table == "" {
			continue
		}
		var n int64
		if err := w.p.each(w.ctx, w.tx, "SELECT COUNT(*) FROM "+table+" WHERE CATEGORY_ID = ?", func(scan func(...any) error) error {
			return scan(&n)
		}, id); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("pipeline %q (b_crm_item_category %d) still has %d items in %s: Bitrix deletes a pipeline only when it is empty; move or delete its items in Bitrix24 first; nothing was written", c.Name, id, n, table)
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// groupSites is the b_sonet_group_site difference: a new group gets the
// row of its site, a deleted group loses its rows. The table has no ID
// column, so it is written here and not through diffRows.
func (w *writer) groupSites(before, after []bitrix.SonetGroup) tableDiff {
	d := tableDiff{table: "b_sonet_group_site", cols: []string{"GROUP_ID", "SITE_ID"}}
	old := map[int64]bool{}
	for _, g := range before {
		old[g.ID] = true
	}
	now := map[int64]bool{}
	for _, g := range after {
		now[g.ID] = true
		if !old[g.ID] {
			d.inserts = append(d.inserts, []any{g.ID, orDefault(g.SiteID, "s1")})
		}
	}
	for _, g := range before {
		if !now[g.ID] {
			d.deletes = append(d.deletes, g.ID)
		}
	}
	return d
}

// write runs the statements of the diffs and the default deal pipeline's
// name option.
func (w *writer) write(ds []tableDiff, before, after *bitrix.Portal) {
	if w.inserted == nil {
		w.inserted = map[string]bool{}
	}
	for _, d := range ds {
		if len(d.deletes) == 0 {
			continue
		}
		key := "ID"
		if d.table == "b_sonet_group_site" {
			key = "GROUP_ID"
		}
		for start := 0; start < len(d.deletes) && w.err == nil; start += 5000 {
			ids := d.deletes[start:min(start+5000, len(d.deletes))]
			args := make([]any, len(ids))
			for i, id := range ids {
				args[i] = id
			}
			w.exec("DELETE FROM "+d.table+" WHERE "+key+" IN ("+placeholders(len(ids))+")", args...)
		}
	}
	for _, d := range ds {
		for _, u := range d.updates {
			set := make([]string, len(u.cols))
			for i, c := range u.cols {
				set[i] = w.col(c) + " = ?"
			}
			w.exec("UPDATE "+d.table+" SET "+strings.Join(set, ", ")+" WHERE ID = ?", append(u.vals, u.id)...)
		}
	}
	for _, d := range ds {
		if len(d.inserts) > 0 && d.cols[0] == "ID" {
			w.inserted[d.table] = true
		}
		w.insertMany(d.table, d.cols, d.inserts)
	}
	// The default deal pipeline's name is option crm/default_deal_category_name
	// (DealCategory::setDefaultCategoryName, crm/lib/category/dealcategory.php).
	name := func(p *bitrix.Portal) string {
		for _, c := range p.Categories {
			if c.EntityTypeID == bitrix.EntityTypeDeal && c.IsDefault == "Y" {
				return c.Name
			}
		}
		return ""
	}
	if n := name(after); n != name(before) && n != "" {
		w.exec("DELETE FROM b_option WHERE MODULE_ID = ? AND NAME = ?", optDealCategoryModule, optDealName)
		w.exec("INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES (?, ?, ?)", optDealCategoryModule, optDealName, n)
	}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// insertMany inserts rows in batches of multi-row VALUES (at most 2,000
// rows and well below the 65,535 bind parameters both servers allow).
func (w *writer) insertMany(table string, cols []string, rows [][]any) {
	batch := min(2000, 60000/max(len(cols), 1))
	for start := 0; start < len(rows) && w.err == nil; start += batch {
		end := min(start+batch, len(rows))
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + w.cols(cols) + ") VALUES ")
		var args []any
		ph := "(" + placeholders(len(cols)) + ")"
		for i, r := range rows[start:end] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ph)
			args = append(args, r...)
		}
		w.exec(b.String(), args...)
	}
}

// fixSequences keeps PostgreSQL identity sequences ahead of explicitly
// inserted IDs, so Bitrix's own inserts do not collide.
func (w *writer) fixSequences() error {
	if w.p.dialect != "postgres" || w.err != nil {
		return w.err
	}
	tables := make([]string, 0, len(w.inserted))
	for t := range w.inserted {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		w.exec(fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM %s), 1))", t, t))
	}
	return w.err
}

// counters sets the portal's ID counters from the database's
// auto-increment values, so new rows get the IDs the database would give
// them (never an ID of a deleted row).
func (p *Provider) counters(ctx context.Context, db queryer, pt *bitrix.Portal) error {
	tables := map[string]string{
		bitrix.TCategory: "b_crm_deal_category", bitrix.TStatus: "b_crm_status", bitrix.TRole: "b_crm_role",
		bitrix.TRolePerm: "b_crm_role_perms", bitrix.TRoleRelation: "b_crm_role_relation",
		bitrix.TVoxRole: "b_voximplant_role", bitrix.TVoxPerm: "b_voximplant_role_permission", bitrix.TVoxAccess: "b_voximplant_role_access",
		bitrix.TOLRole: "b_imopenlines_role", bitrix.TOLPerm: "b_imopenlines_role_permission", bitrix.TOLAccess: "b_imopenlines_role_access",
		bitrix.TSonetGroup: "b_sonet_group", bitrix.TUser2Group: "b_sonet_user2group", bitrix.TFeature: "b_sonet_features",
		bitrix.TFeaturePerm: "b_sonet_features2perms", bitrix.TOLConfig: "b_imopenlines_config", bitrix.TOLQueue: "b_imopenlines_config_queue", bitrix.TOLOperator: "b_imopenlines_queue",
		bitrix.TFieldRule: fieldRuleTable, bitrix.TUFPerm: "b_user_field_permission",
	}
	tables[bitrix.TSmartType] = "b_crm_dynamic_type"
	byTable := map[string]string{}
	for k, t := range tables {
		byTable[t] = k
	}
	// Deal and item categories share the model's category IDs (a category
	// is known by entity type and ID): a new one gets an ID above both
	// tables' counters, so it collides with neither.
	byTable["b_crm_item_category"] = bitrix.TCategory
	if p.dialect == "mysql" {
		return p.each(ctx, db, "SELECT LOWER(TABLE_NAME), AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND AUTO_INCREMENT IS NOT NULL", func(scan func(...any) error) error {
			var t string
			var next int64
			if err := scan(&t, &next); err != nil {
				return err
			}
			if k, ok := byTable[t]; ok && next-1 > pt.Counters[k] {
				pt.Counters[k] = next - 1
			}
			return nil
		})
	}
	names := make([]string, 0, len(byTable))
	for t := range byTable {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		k := byTable[t]
		if has, err := p.hasTable(ctx, db, t); err != nil {
			return err
		} else if !has {
			continue
		}
		if err := p.each(ctx, db, "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('"+t+"', 'id')), 0)", func(scan func(...any) error) error {
			var last int64
			if err := scan(&last); err != nil {
				return err
			}
			if last > pt.Counters[k] {
				pt.Counters[k] = last
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// clonePortal copies the tables of p (rows are values; the applier
// replaces a row's slices rather than changing them in place).
func clonePortal(p *bitrix.Portal) *bitrix.Portal {
	c := *p
	c.Counters = make(map[string]int64, len(p.Counters))
	for k, v := range p.Counters {
		c.Counters[k] = v
	}
	c.Users = slices.Clone(p.Users)
	c.Departments = slices.Clone(p.Departments)
	c.Groups = slices.Clone(p.Groups)
	c.SmartTypes = slices.Clone(p.SmartTypes)
	c.Categories = slices.Clone(p.Categories)
	c.Statuses = slices.Clone(p.Statuses)
	c.Roles = slices.Clone(p.Roles)
	c.RolePerms = slices.Clone(p.RolePerms)
	c.RoleRelations = slices.Clone(p.RoleRelations)
	c.VoxRoles, c.VoxPerms, c.VoxAccess = slices.Clone(p.VoxRoles), slices.Clone(p.VoxPerms), slices.Clone(p.VoxAccess)
	c.OLRoles, c.OLPerms, c.OLAccess = slices.Clone(p.OLRoles), slices.Clone(p.OLPerms), slices.Clone(p.OLAccess)
	c.SonetGroups = slices.Clone(p.SonetGroups)
	c.User2Group = slices.Clone(p.User2Group)
	c.Features = slices.Clone(p.Features)
	c.FeaturePerms = slices.Clone(p.FeaturePerms)
	c.FieldRules = slices.Clone(p.FieldRules)
	c.OLConfigs = slices.Clone(p.OLConfigs)
	c.OLQueue = slices.Clone(p.OLQueue)
	c.OLOperators = slices.Clone(p.OLOperators)
	c.UFPerms = slices.Clone(p.UFPerms)
	return &c
}
