package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/local"
)

// writer turns the difference between two portals into row changes, in
// the forms Bitrix writes: per-role delete-then-insert of permission and
// relation rows, letters and SETTINGS as the current UI stores them.
type writer struct {
	p        *Provider
	tx       *sql.Tx
	ctx      context.Context
	err      error
	inserted map[string]bool
}

func (w *writer) exec(q string, args ...any) {
	if w.err != nil {
		return
	}
	if _, err := w.tx.ExecContext(w.ctx, w.p.q(q), args...); err != nil {
		w.err = err
	}
}

// insertMany inserts rows in batches of multi-row VALUES.
func (w *writer) insertMany(table string, cols []string, rows [][]any) {
	if w.inserted == nil {
		w.inserted = map[string]bool{}
	}
	if len(rows) > 0 {
		w.inserted[table] = true
	}
	const batch = 400
	for start := 0; start < len(rows) && w.err == nil; start += batch {
		end := min(start+batch, len(rows))
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		var args []any
		ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
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

// fixSequences keeps PostgreSQL sequences ahead of explicitly inserted
// IDs, so Bitrix's own inserts do not collide.
func (w *writer) fixSequences() error {
	if w.p.dialect != "postgres" || w.err != nil {
		return w.err
	}
	for t := range w.inserted {
		w.exec(fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM %s), 1))", t, t))
	}
	return w.err
}

func byID[T any](in []T, id func(T) int64) map[int64]T {
	m := map[int64]T{}
	for _, x := range in {
		m[id(x)] = x
	}
	return m
}

// sync writes the rows that differ between old and new.
func (w *writer) sync(old, new *local.Portal) error {
	statusIDs := map[string]string{}
	for _, pl := range new.Pipelines {
		for _, s := range pl.Stages {
			statusIDs[pl.Entity+"/"+strconv.FormatInt(pl.ID, 10)+"/"+s.Key] = s.StatusID
		}
	}
	statusID := func(entity string, cat int64, key string) string {
		if id, ok := statusIDs[entity+"/"+strconv.FormatInt(max(cat, 0), 10)+"/"+key]; ok {
			return id
		}
		if cat > 0 {
			return fmt.Sprintf("C%d:%s", cat, strings.ToUpper(key))
		}
		return strings.ToUpper(key)
	}
	w.syncPipelines(old, new)
	// CRM roles.
	oldRoles := byID(old.CRMRoles, func(r local.CRMRole) int64 { return r.ID })
	newRoles := byID(new.CRMRoles, func(r local.CRMRole) int64 { return r.ID })
	for _, r := range old.CRMRoles {
		if _, ok := newRoles[r.ID]; !ok {
			w.exec("DELETE FROM b_crm_role_perms WHERE ROLE_ID = ?", r.ID)
			w.exec("DELETE FROM b_crm_role_relation WHERE ROLE_ID = ?", r.ID)
			w.exec("DELETE FROM b_crm_role WHERE ID = ?", r.ID)
		}
	}
	var permRows, relRows [][]any
	for _, r := range new.CRMRoles {
		o, existed := oldRoles[r.ID]
		switch {
		case !existed:
			w.insertMany("b_crm_role", []string{"ID", "NAME", "IS_SYSTEM"}, [][]any{{r.ID, r.Name, yn(r.System)}})
		case o.Name != r.Name:
			w.exec("UPDATE b_crm_role SET NAME = ? WHERE ID = ?", r.Name, r.ID)
		}
		if !existed || !samePerms(o.Perms, r.Perms) {
			if existed {
				w.exec("DELETE FROM b_crm_role_perms WHERE ROLE_ID = ?", r.ID)
			}
			for _, p := range r.Perms {
				if p.Stage == "" && p.Level == "none" {
					continue // no row means none at entity level
				}
				row := permToRow(r.ID, p, statusID)
				var settings any
				if row.Settings != nil {
					settings = *row.Settings
				}
				var fv any
				if row.FieldValue != "" {
					fv = row.FieldValue
				}
				permRows = append(permRows, []any{row.RoleID, row.Entity, row.Field, fv, row.PermType, row.Attr, settings})
			}
		}
		if !existed || !slices.Equal(o.Relations, r.Relations) {
			if existed {
				w.exec("DELETE FROM b_crm_role_relation WHERE ROLE_ID = ?", r.ID)
			}
			for _, rel := range r.Relations {
				relRows = append(relRows, []any{r.ID, rel})
			}
		}
	}
	w.insertMany("b_crm_role_perms", []string{"ROLE_ID", "ENTITY", "FIELD", "FIELD_VALUE", "PERM_TYPE", "ATTR", "SETTINGS"}, permRows)
	w.insertMany("b_crm_role_relation", []string{"ROLE_ID", "RELATION"}, relRows)
	w.syncSimple("b_voximplant_role", old.TelephonyRoles, new.TelephonyRoles)
	w.syncSimple("b_imopenlines_role", old.OpenlineRoles, new.OpenlineRoles)
	w.syncWorkgroups(old, new)
	w.syncOpenChannels(old, new)
	w.syncFieldRules(old, new)
	return w.err
}

func samePerms(a, b []local.Perm) bool {
	key := func(p local.Perm) string {
		return p.Entity + "/" + strconv.FormatInt(p.Category, 10) + "/" + p.Stage + "/" + p.Action + "=" + p.Level
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, p := range a {
		ka[i] = key(p)
	}
	for i, p := range b {
		kb[i] = key(p)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// syncSimple: telephony's setRolePermissions deletes and rewrites all rows
// of a role, which is what happens here for a changed role.
func (w *writer) syncSimple(prefix string, old, new []local.SimpleRole) {
	oldM := byID(old, func(r local.SimpleRole) int64 { return r.ID })
	newM := byID(new, func(r local.SimpleRole) int64 { return r.ID })
	for _, r := range old {
		if _, ok := newM[r.ID]; !ok {
			w.exec("DELETE FROM "+prefix+"_permission WHERE ROLE_ID = ?", r.ID)
			w.exec("DELETE FROM "+prefix+"_access WHERE ROLE_ID = ?", r.ID)
			w.exec("DELETE FROM "+prefix+" WHERE ID = ?", r.ID)
		}
	}
	for _, r := range new {
		o, existed := oldM[r.ID]
		if !existed {
			w.insertMany(prefix, []string{"ID", "NAME"}, [][]any{{r.ID, r.Name}})
		} else if o.Name != r.Name {
			w.exec("UPDATE "+prefix+" SET NAME = ? WHERE ID = ?", r.Name, r.ID)
		}
		if !existed || !reflect.DeepEqual(o.Perms, r.Perms) {
			w.exec("DELETE FROM "+prefix+"_permission WHERE ROLE_ID = ?", r.ID)
			var rows [][]any
			for _, p := range r.Perms {
				rows = append(rows, []any{r.ID, strings.ToUpper(p.Entity), strings.ToUpper(p.Action), simpleLetter[p.Level]})
			}
			w.insertMany(prefix+"_permission", []string{"ROLE_ID", "ENTITY", "ACTION", "PERMISSION"}, rows)
		}
		if !existed || !slices.Equal(o.Access, r.Access) {
			w.exec("DELETE FROM "+prefix+"_access WHERE ROLE_ID = ?", r.ID)
			var rows [][]any
			for _, a := range r.Access {
				rows = append(rows, []any{r.ID, a})
			}
			w.insertMany(prefix+"_access", []string{"ROLE_ID", "ACCESS_CODE"}, rows)
		}
	}
}

func (w *writer) syncWorkgroups(old, new *local.Portal) {
	oldM := byID(old.Workgroups, func(x local.Workgroup) int64 { return x.ID })
	newM := byID(new.Workgroups, func(x local.Workgroup) int64 { return x.ID })
	clearFeatures := func(id int64) {
		w.exec("DELETE FROM b_sonet_features2perms WHERE FEATURE_ID IN (SELECT ID FROM b_sonet_features WHERE ENTITY_TYPE = 'G' AND ENTITY_ID = ?)", id)
		w.exec("DELETE FROM b_sonet_features WHERE ENTITY_TYPE = 'G' AND ENTITY_ID = ?", id)
	}
	for _, g := range old.Workgroups {
		if _, ok := newM[g.ID]; !ok {
			clearFeatures(g.ID)
			w.exec("DELETE FROM b_sonet_user2group WHERE GROUP_ID = ?", g.ID)
			w.exec("DELETE FROM b_sonet_group WHERE ID = ?", g.ID)
		}
	}
	for _, g := range new.Workgroups {
		o, existed := oldM[g.ID]
		if !existed {
			w.insertMany("b_sonet_group", []string{"ID", "NAME", "VISIBLE", "OPENED", "OWNER_ID"}, [][]any{{g.ID, g.Name, yn(g.Visible), yn(g.Opened), g.Owner}})
		} else if o.Name != g.Name || o.Visible != g.Visible || o.Opened != g.Opened || o.Owner != g.Owner {
			w.exec("UPDATE b_sonet_group SET NAME = ?, VISIBLE = ?, OPENED = ?, OWNER_ID = ? WHERE ID = ?", g.Name, yn(g.Visible), yn(g.Opened), g.Owner, g.ID)
		}
		if !existed || o.Owner != g.Owner || !slices.Equal(o.Moderators, g.Moderators) || !slices.Equal(o.Members, g.Members) {
			w.exec("DELETE FROM b_sonet_user2group WHERE GROUP_ID = ?", g.ID)
			rows := [][]any{{g.ID, g.Owner, "A"}}
			for _, m := range g.Moderators {
				rows = append(rows, []any{g.ID, m, "E"})
			}
			for _, m := range g.Members {
				rows = append(rows, []any{g.ID, m, "K"})
			}
			w.insertMany("b_sonet_user2group", []string{"GROUP_ID", "USER_ID", "ROLE"}, rows)
		}
		if !existed || !reflect.DeepEqual(o.Features, g.Features) {
			clearFeatures(g.ID)
			seen := map[string]bool{}
			for _, f := range g.Features {
				if !seen[f.Feature] {
					seen[f.Feature] = true
					w.exec("INSERT INTO b_sonet_features (ENTITY_TYPE, ENTITY_ID, FEATURE, ACTIVE) VALUES ('G', ?, ?, 'Y')", g.ID, f.Feature)
				}
				w.exec("INSERT INTO b_sonet_features2perms (FEATURE_ID, OPERATION_ID, ROLE) SELECT ID, ?, ? FROM b_sonet_features WHERE ENTITY_TYPE = 'G' AND ENTITY_ID = ? AND FEATURE = ?",
					f.Operation, groupRoleLetter(f.Role), g.ID, f.Feature)
			}
		}
	}
}

// syncOpenChannels writes configurations and their queues (SORT in steps
// of 10, as the Bitrix UI stores them).
func (w *writer) syncOpenChannels(old, new *local.Portal) {
	oldM := byID(old.OpenChannels, func(x local.OpenChannel) int64 { return x.ID })
	newM := byID(new.OpenChannels, func(x local.OpenChannel) int64 { return x.ID })
	for _, c := range old.OpenChannels {
		if _, ok := newM[c.ID]; !ok {
			w.exec("DELETE FROM b_imopenlines_config_queue WHERE CONFIG_ID = ?", c.ID)
			w.exec("DELETE FROM b_imopenlines_config WHERE ID = ?", c.ID)
		}
	}
	for _, c := range new.OpenChannels {
		o, existed := oldM[c.ID]
		if !existed {
			w.insertMany("b_imopenlines_config", []string{"ID", "ACTIVE", "LINE_NAME", "QUEUE_TYPE"}, [][]any{{c.ID, yn(c.Active), c.Name, c.QueueType}})
		} else if o.Name != c.Name || o.Active != c.Active || o.QueueType != c.QueueType {
			w.exec("UPDATE b_imopenlines_config SET ACTIVE = ?, LINE_NAME = ?, QUEUE_TYPE = ? WHERE ID = ?", yn(c.Active), c.Name, c.QueueType, c.ID)
		}
		if !existed || !slices.Equal(o.Queue, c.Queue) {
			if existed {
				w.exec("DELETE FROM b_imopenlines_config_queue WHERE CONFIG_ID = ?", c.ID)
			}
			var rows [][]any
			for i, q := range c.Queue {
				rows = append(rows, []any{(i + 1) * 10, c.ID, q.ID, q.Type})
			}
			w.insertMany("b_imopenlines_config_queue", []string{"SORT", "CONFIG_ID", "ENTITY_ID", "ENTITY_TYPE"}, rows)
		}
	}
}

func (w *writer) syncFieldRules(old, new *local.Portal) {
	oldM := byID(old.FieldRules, func(x local.FieldRule) int64 { return x.ID })
	newM := byID(new.FieldRules, func(x local.FieldRule) int64 { return x.ID })
	for _, f := range old.FieldRules {
		if _, ok := newM[f.ID]; !ok {
			w.exec("DELETE FROM b24perm_field_rule WHERE ID = ?", f.ID)
		}
	}
	for _, f := range new.FieldRules {
		o, existed := oldM[f.ID]
		if existed && reflect.DeepEqual(o, f) {
			continue
		}
		if existed {
			w.exec("DELETE FROM b24perm_field_rule WHERE ID = ?", f.ID)
		}
		w.insertMany("b24perm_field_rule", []string{"ID", "NATIVE", "ENTITY", "CATEGORY_ID", "FIELD", "STAGES", "VIEW_CODES", "EDIT_CODES"},
			[][]any{{f.ID, yn(f.Native), f.Entity, f.Category, f.Field, strings.Join(f.Stages, ","), strings.Join(f.View, ","), strings.Join(f.Edit, ",")}})
	}
}

func (w *writer) syncPipelines(old, new *local.Portal) {
	key := func(p local.Pipeline) string { return p.Entity + "/" + strconv.FormatInt(p.ID, 10) }
	oldM, newM := map[string]local.Pipeline{}, map[string]local.Pipeline{}
	for _, p := range old.Pipelines {
		oldM[key(p)] = p
	}
	for _, p := range new.Pipelines {
		newM[key(p)] = p
	}
	statusEntity := func(p local.Pipeline) string {
		switch {
		case p.Entity == "lead":
			return "STATUS"
		case p.ID == 0:
			return "DEAL_STAGE"
		}
		return "DEAL_STAGE_" + strconv.FormatInt(p.ID, 10)
	}
	for _, p := range old.Pipelines {
		if _, ok := newM[key(p)]; !ok && p.Entity == "deal" && p.ID > 0 {
			w.exec("DELETE FROM b_crm_status WHERE ENTITY_ID = ?", statusEntity(p))
			w.exec("DELETE FROM b_crm_deal_category WHERE ID = ?", p.ID)
		}
	}
	for _, p := range new.Pipelines {
		if p.Entity != "deal" && p.Entity != "lead" {
			continue // smart processes live in other tables (not mapped yet)
		}
		o, existed := oldM[key(p)]
		if p.ID == 0 {
			if !existed || o.Name != p.Name {
				w.exec("DELETE FROM b_option WHERE MODULE_ID = 'crm' AND NAME = ?", "b24perm_default_"+p.Entity+"_pipeline_name")
				w.exec("INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('crm', ?, ?)", "b24perm_default_"+p.Entity+"_pipeline_name", p.Name)
			}
		} else if !existed {
			w.insertMany("b_crm_deal_category", []string{"ID", "NAME"}, [][]any{{p.ID, p.Name}})
		} else if o.Name != p.Name {
			w.exec("UPDATE b_crm_deal_category SET NAME = ? WHERE ID = ?", p.Name, p.ID)
		}
		if !existed || !reflect.DeepEqual(o.Stages, p.Stages) {
			w.exec("DELETE FROM b_crm_status WHERE ENTITY_ID = ?", statusEntity(p))
			var rows [][]any
			for i, s := range p.Stages {
				sid := s.StatusID
				if sid == "" {
					sid = strings.ToUpper(s.Key)
					if p.ID > 0 {
						sid = "C" + strconv.FormatInt(p.ID, 10) + ":" + sid
					}
				}
				var cat any
				if p.Entity == "deal" {
					cat = p.ID
				}
				rows = append(rows, []any{statusEntity(p), sid, s.Name, (i + 1) * 10, cat})
			}
			w.insertMany("b_crm_status", []string{"ENTITY_ID", "STATUS_ID", "NAME", "SORT", "CATEGORY_ID"}, rows)
		}
	}
}

var _ = graph.DomainCRM
