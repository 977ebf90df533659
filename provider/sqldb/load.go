package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/local"
)

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

var missingTable = regexp.MustCompile(`(?i)(?:table|relation) ["'` + "`" + `]?(?:[a-z0-9_]+\.)?([a-z0-9_]+)["'` + "`" + `]? (?:doesn't|does not) exist`)
var missingColumn = regexp.MustCompile(`(?i)(?:unknown column|column) ['"]?([a-z0-9_."]+)['"]?`)

// query runs a read and maps schema errors to messages that name the
// missing table or column.
func (p *Provider) query(ctx context.Context, db queryer, q string, args ...any) (*sql.Rows, error) {
	rows, err := db.QueryContext(ctx, p.q(q), args...)
	if err != nil {
		if m := missingTable.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s has no table %s: is this a Bitrix24 database of a supported version? (`b24perm sim db-init --dsn …` creates a demo one)", p.dsn, m[1])
		}
		if strings.Contains(strings.ToLower(err.Error()), "column") {
			if m := missingColumn.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("%s: column %s is missing: unsupported Bitrix24 version (%v)", p.dsn, m[1], err)
			}
		}
		return nil, fmt.Errorf("%s: %v", p.dsn, err)
	}
	return rows, nil
}

func (p *Provider) each(ctx context.Context, db queryer, q string, fn func(scan func(...any) error) error) error {
	rows, err := p.query(ctx, db, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// externalUserTypes are the b_user.EXTERNAL_AUTH_ID values of users who
// are not employees (Bitrix's REAL_USER / IS_REAL_USER expression):
// yuliai/bitrix-modules main/lib/UserTable.php getExternalUserTypes() @
// a3a2a579ba9f. Other values (LDAP#…, socservices) are real users.
var externalUserTypes = map[string]bool{
	"bot": true, "email": true, "__controller": true, "replica": true, "imconnector": true,
	"sale": true, "saleanonymous": true, "shop": true, "call": true, "document_editor": true,
	"calendar_sharing": true, "im_guest": true, "rest_system": true,
}

// load reads the portal. forUpdate locks the permission rows (the caller
// is in a transaction).
func (p *Provider) load(ctx context.Context, db queryer, forUpdate bool) (*local.Portal, []string, error) {
	lock := ""
	if forUpdate {
		lock = " FOR UPDATE"
	}
	pt := &local.Portal{FormatVersion: local.FormatVersion, Portal: p.dsn, NextID: map[string]int64{}}
	var anomalies []string
	// Directory.
	users := map[int64]*graph.User{}
	var order []int64
	if err := p.each(ctx, db, "SELECT ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID FROM b_user ORDER BY ID", func(scan func(...any) error) error {
		var id int64
		var email, name, last, active, external sql.NullString
		if err := scan(&id, &email, &name, &last, &active, &external); err != nil {
			return err
		}
		if externalUserTypes[external.String] {
			return nil // a bot, e-mail, open-channel, replica … user: not an employee
		}
		users[id] = &graph.User{ID: id, Email: email.String, Name: strings.TrimSpace(name.String + " " + last.String), Inactive: active.String == "N"}
		order = append(order, id)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT USER_ID, GROUP_ID FROM b_user_group ORDER BY USER_ID, GROUP_ID", func(scan func(...any) error) error {
		var uid, gid int64
		if err := scan(&uid, &gid); err != nil {
			return err
		}
		if u := users[uid]; u != nil {
			u.Groups = append(u.Groups, gid)
			if gid == 1 {
				u.Admin = true
			}
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT VALUE_ID, VALUE_INT FROM b_utm_user WHERE FIELD_ID = 1 ORDER BY ID", func(scan func(...any) error) error {
		var uid int64
		var dept sql.NullInt64
		if err := scan(&uid, &dept); err != nil {
			return err
		}
		if u := users[uid]; u != nil && dept.Valid {
			u.Departments = append(u.Departments, dept.Int64)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, id := range order {
		pt.Directory.Users = append(pt.Directory.Users, *users[id])
	}
	if err := p.each(ctx, db, "SELECT ID, NAME FROM b_group ORDER BY ID", func(scan func(...any) error) error {
		var g graph.Group
		if err := scan(&g.ID, &g.Name); err != nil {
			return err
		}
		pt.Directory.Groups = append(pt.Directory.Groups, g)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, IBLOCK_SECTION_ID, NAME FROM b_iblock_section WHERE IBLOCK_ID = 1 ORDER BY ID", func(scan func(...any) error) error {
		var d graph.Department
		var parent sql.NullInt64
		if err := scan(&d.ID, &parent, &d.Name); err != nil {
			return err
		}
		d.Parent = parent.Int64
		pt.Directory.Departments = append(pt.Directory.Departments, d)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	// Pipelines and stages.
	names := map[string]string{}
	if err := p.each(ctx, db, "SELECT NAME, VALUE FROM b_option WHERE MODULE_ID = 'crm'", func(scan func(...any) error) error {
		var n string
		var v sql.NullString
		if err := scan(&n, &v); err != nil {
			return err
		}
		names[n] = v.String
		return nil
	}); err != nil {
		return nil, nil, err
	}
	defName := func(entity, fallback string) string {
		if n := names["b24perm_default_"+entity+"_pipeline_name"]; n != "" {
			return n
		}
		return fallback
	}
	pipes := map[string]*local.Pipeline{}
	pipeKey := func(entity string, id int64) string { return entity + "/" + strconv.FormatInt(id, 10) }
	pipes[pipeKey("lead", 0)] = &local.Pipeline{ID: 0, Entity: "lead", Name: defName("lead", "Leads")}
	pipes[pipeKey("deal", 0)] = &local.Pipeline{ID: 0, Entity: "deal", Name: defName("deal", "General")}
	if err := p.each(ctx, db, "SELECT ID, NAME FROM b_crm_deal_category ORDER BY ID"+lock, func(scan func(...any) error) error {
		var id int64
		var name sql.NullString
		if err := scan(&id, &name); err != nil {
			return err
		}
		pipes[pipeKey("deal", id)] = &local.Pipeline{ID: id, Entity: "deal", Name: name.String}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ENTITY_ID, STATUS_ID, NAME FROM b_crm_status ORDER BY ENTITY_ID, SORT, ID"+lock, func(scan func(...any) error) error {
		var ent, sid, name string
		if err := scan(&ent, &sid, &name); err != nil {
			return err
		}
		var pl *local.Pipeline
		switch {
		case ent == "STATUS":
			pl = pipes[pipeKey("lead", 0)]
		case ent == "DEAL_STAGE":
			pl = pipes[pipeKey("deal", 0)]
		case strings.HasPrefix(ent, "DEAL_STAGE_"):
			id, _ := strconv.ParseInt(strings.TrimPrefix(ent, "DEAL_STAGE_"), 10, 64)
			pl = pipes[pipeKey("deal", id)]
		}
		if pl == nil {
			return nil // dictionaries and other entities' stages
		}
		key := sid
		if i := strings.IndexByte(sid, ':'); i >= 0 {
			key = sid[i+1:]
		}
		pl.Stages = append(pl.Stages, graph.Stage{Key: strings.ToLower(key), Name: name, StatusID: sid})
		return nil
	}); err != nil {
		return nil, nil, err
	}
	var pkeys []string
	for k := range pipes {
		pkeys = append(pkeys, k)
	}
	sort.Strings(pkeys)
	for _, k := range pkeys {
		pt.Pipelines = append(pt.Pipelines, *pipes[k])
	}
	statusKey := func(entity string, cat int64, statusID string) (string, bool) {
		pl := pipes[pipeKey(entity, max(cat, 0))]
		if pl == nil {
			return "", false
		}
		for _, s := range pl.Stages {
			if s.StatusID == statusID {
				return s.Key, true
			}
		}
		return "", false
	}
	// CRM roles.
	roles := map[int64]*local.CRMRole{}
	var roleOrder []int64
	if err := p.each(ctx, db, "SELECT ID, NAME, IS_SYSTEM FROM b_crm_role ORDER BY ID"+lock, func(scan func(...any) error) error {
		var r local.CRMRole
		var sys string
		if err := scan(&r.ID, &r.Name, &sys); err != nil {
			return err
		}
		r.System = sys == "Y"
		roles[r.ID] = &r
		roleOrder = append(roleOrder, r.ID)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, ROLE_ID, ENTITY, FIELD, FIELD_VALUE, PERM_TYPE, ATTR, SETTINGS FROM b_crm_role_perms ORDER BY ID"+lock, func(scan func(...any) error) error {
		var r permRow
		// FIELD and ATTR are nullable in Bitrix's table: FIELD defaults to
		// '-', and the current access-rights UI stores SETTINGS rows with
		// ATTR NULL (bitrix-schema.md).
		var field, fv, attr, settings sql.NullString
		if err := scan(&r.ID, &r.RoleID, &r.Entity, &field, &fv, &r.PermType, &attr, &settings); err != nil {
			return err
		}
		r.Field = field.String
		if !field.Valid {
			r.Field = "-"
		}
		r.FieldValue, r.Attr = fv.String, attr.String
		if settings.Valid {
			r.Settings = &settings.String
		}
		role := roles[r.RoleID]
		if role == nil {
			anomalies = append(anomalies, fmt.Sprintf("b_crm_role_perms row %d belongs to role %d, which does not exist", r.ID, r.RoleID))
			return nil
		}
		perm, ok, problem := rowToPerm(r, statusKey)
		if problem != "" {
			anomalies = append(anomalies, problem)
		}
		if ok {
			role.Perms = append(role.Perms, perm)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ROLE_ID, RELATION FROM b_crm_role_relation ORDER BY ID"+lock, func(scan func(...any) error) error {
		var id int64
		var rel string
		if err := scan(&id, &rel); err != nil {
			return err
		}
		if role := roles[id]; role != nil {
			role.Relations = append(role.Relations, rel)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, id := range roleOrder {
		r := roles[id]
		sort.Strings(r.Relations)
		pt.CRMRoles = append(pt.CRMRoles, *r)
	}
	// Telephony and open-channel roles.
	for _, t := range []struct {
		prefix string
		dst    *[]local.SimpleRole
	}{{"b_voximplant_role", &pt.TelephonyRoles}, {"b_imopenlines_role", &pt.OpenlineRoles}} {
		srs := map[int64]*local.SimpleRole{}
		var ids []int64
		if err := p.each(ctx, db, "SELECT ID, NAME FROM "+t.prefix+" ORDER BY ID"+lock, func(scan func(...any) error) error {
			var r local.SimpleRole
			if err := scan(&r.ID, &r.Name); err != nil {
				return err
			}
			srs[r.ID] = &r
			ids = append(ids, r.ID)
			return nil
		}); err != nil {
			return nil, nil, err
		}
		if err := p.each(ctx, db, "SELECT ID, ROLE_ID, ENTITY, ACTION, PERMISSION FROM "+t.prefix+"_permission ORDER BY ID"+lock, func(scan func(...any) error) error {
			var id, rid int64
			var ent, act string
			var perm sql.NullString
			if err := scan(&id, &rid, &ent, &act, &perm); err != nil {
				return err
			}
			level, ok := letterLevel(perm.String)
			if !ok {
				anomalies = append(anomalies, fmt.Sprintf("%s_permission row %d: unknown PERMISSION %q", t.prefix, id, perm.String))
				return nil
			}
			if r := srs[rid]; r != nil {
				r.Perms = append(r.Perms, graph.SimplePerm{Entity: strings.ToLower(ent), Action: strings.ToLower(act), Level: level})
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
		if err := p.each(ctx, db, "SELECT ROLE_ID, ACCESS_CODE FROM "+t.prefix+"_access ORDER BY ID"+lock, func(scan func(...any) error) error {
			var rid int64
			var code string
			if err := scan(&rid, &code); err != nil {
				return err
			}
			if r := srs[rid]; r != nil {
				r.Access = append(r.Access, code)
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
		for _, id := range ids {
			sort.Strings(srs[id].Access)
			*t.dst = append(*t.dst, *srs[id])
		}
	}
	// Workgroups.
	wgs := map[int64]*local.Workgroup{}
	var wids []int64
	if err := p.each(ctx, db, "SELECT ID, NAME, VISIBLE, OPENED, OWNER_ID FROM b_sonet_group ORDER BY ID"+lock, func(scan func(...any) error) error {
		var w local.Workgroup
		var vis, opened string
		if err := scan(&w.ID, &w.Name, &vis, &opened, &w.Owner); err != nil {
			return err
		}
		w.Visible, w.Opened = vis == "Y", opened == "Y"
		wgs[w.ID] = &w
		wids = append(wids, w.ID)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT GROUP_ID, USER_ID, ROLE FROM b_sonet_user2group ORDER BY ID"+lock, func(scan func(...any) error) error {
		var gid, uid int64
		var role string
		if err := scan(&gid, &uid, &role); err != nil {
			return err
		}
		w := wgs[gid]
		if w == nil {
			return nil
		}
		switch role {
		case "E":
			w.Moderators = append(w.Moderators, uid)
		case "K":
			w.Members = append(w.Members, uid)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	features := map[int64][2]any{}
	if err := p.each(ctx, db, "SELECT ID, ENTITY_ID, FEATURE FROM b_sonet_features WHERE ENTITY_TYPE = 'G' ORDER BY ID"+lock, func(scan func(...any) error) error {
		var id, gid int64
		var f string
		if err := scan(&id, &gid, &f); err != nil {
			return err
		}
		features[id] = [2]any{gid, f}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, FEATURE_ID, OPERATION_ID, ROLE FROM b_sonet_features2perms ORDER BY ID"+lock, func(scan func(...any) error) error {
		var id, fid int64
		var op, role string
		if err := scan(&id, &fid, &op, &role); err != nil {
			return err
		}
		f, ok := features[fid]
		if !ok {
			return nil
		}
		name, ok := graph.GroupRoleName(role)
		if !ok {
			anomalies = append(anomalies, fmt.Sprintf("b_sonet_features2perms row %d: unknown ROLE %q", id, role))
			return nil
		}
		if w := wgs[f[0].(int64)]; w != nil {
			w.Features = append(w.Features, graph.FeaturePerm{Feature: f[1].(string), Operation: op, Role: name})
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, id := range wids {
		pt.Workgroups = append(pt.Workgroups, *wgs[id])
	}
	// Open channels and their configured queues.
	chans := map[int64]*local.OpenChannel{}
	var cids []int64
	if err := p.each(ctx, db, "SELECT ID, ACTIVE, LINE_NAME, QUEUE_TYPE FROM b_imopenlines_config ORDER BY ID"+lock, func(scan func(...any) error) error {
		var c local.OpenChannel
		var active string
		var name sql.NullString
		if err := scan(&c.ID, &active, &name, &c.QueueType); err != nil {
			return err
		}
		c.Active, c.Name = active == "Y", name.String
		chans[c.ID] = &c
		cids = append(cids, c.ID)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, CONFIG_ID, ENTITY_TYPE, ENTITY_ID FROM b_imopenlines_config_queue ORDER BY CONFIG_ID, SORT, ID"+lock, func(scan func(...any) error) error {
		var id, cid int64
		var q local.QueueEntry
		if err := scan(&id, &cid, &q.Type, &q.ID); err != nil {
			return err
		}
		if c := chans[cid]; c != nil {
			c.Queue = append(c.Queue, q)
		} else {
			anomalies = append(anomalies, fmt.Sprintf("b_imopenlines_config_queue row %d: open channel %d does not exist", id, cid))
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, id := range cids {
		pt.OpenChannels = append(pt.OpenChannels, *chans[id])
	}
	// Field rules live in b24perm's own table, which a real portal need
	// not have: without it field rules are unsupported, the rest works.
	// The probe does not fail a query, so it is safe inside the apply
	// transaction on PostgreSQL.
	has, err := p.hasTable(ctx, db, fieldRuleTable)
	if err != nil {
		return nil, nil, err
	}
	p.noFieldRules = !has
	if !has {
		return pt, anomalies, nil
	}
	if err := p.each(ctx, db, "SELECT ID, NATIVE, ENTITY, CATEGORY_ID, FIELD, STAGES, VIEW_CODES, EDIT_CODES FROM b24perm_field_rule ORDER BY ID"+lock, func(scan func(...any) error) error {
		var f local.FieldRule
		var native string
		var stages, view, edit sql.NullString
		if err := scan(&f.ID, &native, &f.Entity, &f.Category, &f.Field, &stages, &view, &edit); err != nil {
			return err
		}
		f.Native = native == "Y"
		f.Stages, f.View, f.Edit = split(stages.String), split(view.String), split(edit.String)
		pt.FieldRules = append(pt.FieldRules, f)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return pt, anomalies, nil
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

const fieldRuleTable = "b24perm_field_rule"

// hasTable reports whether the connected database's current schema has
// the table.
func (p *Provider) hasTable(ctx context.Context, db queryer, table string) (bool, error) {
	schema := "DATABASE()"
	if p.dialect == "postgres" {
		schema = "current_schema()"
	}
	rows, err := p.query(ctx, db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "+schema+" AND LOWER(table_name) = ?", table)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, err
		}
	}
	return n > 0, rows.Err()
}
