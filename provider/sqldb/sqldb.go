// Package sqldb is the self-hosted Bitrix24 backend: it reads and writes
// the permission tables of the portal's MySQL/MariaDB or PostgreSQL
// database directly. Every apply is one transaction that re-reads the
// permission rows FOR UPDATE and refuses if they changed since the plan
// (a concurrent edit in the Bitrix UI), then writes exactly the row forms
// Bitrix writes itself.
package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/b24perm/b24perm/graph"
	dsnpkg "github.com/b24perm/b24perm/internal/dsn"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	mysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
)

//go:embed fixtures/mysql.sql
var mysqlSchema string

//go:embed fixtures/postgres.sql
var postgresSchema string

// Provider is a Bitrix24 database.
type Provider struct {
	dsn     string // redacted, for messages
	dialect string // "mysql" or "postgres"
	db      *sql.DB
	// snapshot is the portal as the last Read saw it; Apply refuses when
	// the rows it locks differ (stale plan).
	snapshot *bitrix.Portal
	warnings []string
	// Anomalies are rows Bitrix would never write, found by the last Read.
	Anomalies []string
	// CacheHint says how to clear the portal's caches after an apply.
	CacheHint string
	// fieldRules: the last read found the b24perm_field_rule table.
	fieldRules bool
	// phases are the durations of the last apply's steps (benchmarks).
	phases []phase
}

// FieldRulesUnsupported explains, after a Read, why field rules cannot be
// read or written on this database; "" when they can.
func (p *Provider) FieldRulesUnsupported() string {
	if p.fieldRules {
		return ""
	}
	return fmt.Sprintf("field rules are unsupported on %s: it has no table %s (b24perm's own table, not part of Bitrix24; `b24perm sim db-init` creates it)", p.dsn, fieldRuleTable)
}

var _ provider.Provider = (*Provider)(nil)

// ParseSpec recognizes mysql:// and postgres:// DSNs.
func ParseSpec(spec string) bool {
	return strings.HasPrefix(spec, "mysql://") || strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// Redact hides the password of a DSN.
func Redact(dsn string) string { return dsnpkg.Redact(dsn) }

// Open connects to the database named by a mysql:// or postgres:// DSN and
// checks that the tables b24perm needs exist.
func Open(ctx context.Context, dsn string) (*Provider, error) {
	p := &Provider{dsn: Redact(dsn)}
	if err := dsnpkg.Check(dsn); err != nil {
		return nil, fmt.Errorf("invalid DSN %s: %w", p.dsn, err)
	}
	var err error
	switch {
	case strings.HasPrefix(dsn, "mysql://"):
		u, perr := url.Parse(dsn)
		if perr != nil {
			// The parse error quotes pieces of the password: say only
			// what to do.
			return nil, fmt.Errorf("invalid DSN %s: not a valid URL (percent-encode special characters such as / # %% @ or spaces in the password)", p.dsn)
		}
		cfg := mysqlConfig(u)
		p.dialect = "mysql"
		p.db, err = sql.Open("mysql", cfg.FormatDSN())
	default:
		p.dialect = "postgres"
		if _, perr := pgconn.ParseConfig(dsn); perr != nil {
			return nil, fmt.Errorf("invalid DSN %s: not a valid connection string (percent-encode special characters such as / # %% @ or spaces in the password)", p.dsn)
		}
		p.db, err = sql.Open("pgx", dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %v", p.dsn, redactErr(err, dsn))
	}
	if err := p.db.PingContext(ctx); err != nil {
		p.db.Close()
		return nil, fmt.Errorf("cannot connect to %s: %v", p.dsn, redactErr(err, dsn))
	}
	p.CacheHint = "clear the Bitrix24 caches: run `php -r 'require \"bitrix/modules/main/include/prolog_before.php\"; CCrmRole::ClearCache(); \\Bitrix\\Main\\Application::getInstance()->getManagedCache()->cleanAll();'` in the site root, or delete bitrix/managed_cache/*"
	return p, nil
}

// mysqlConfig turns a mysql:// URL into the driver's configuration.
func mysqlConfig(u *url.URL) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
	cfg.Timeout = 10 * time.Second
	// sql_mode=… in the DSN's query sets the session's SQL mode (tests run
	// under STRICT_TRANS_TABLES and under '', what Bitrix requires).
	if m := u.Query().Get("sql_mode"); m != "" {
		if !strings.HasPrefix(m, "'") {
			m = "'" + m + "'"
		}
		cfg.Params = map[string]string{"sql_mode": m}
	}
	return cfg
}

// redactErr strips a password that a driver error might echo.
func redactErr(err error, dsn string) error { return dsnpkg.Scrub(err, dsn) }

// Close releases the connection pool.
func (p *Provider) Close() error { return p.db.Close() }

// DB exposes the pool (tests, db-init).
func (p *Provider) DB() *sql.DB { return p.db }

// Dialect is "mysql" or "postgres".
func (p *Provider) Dialect() string { return p.dialect }

// Describe names the backend without secrets.
func (p *Provider) Describe() string { return p.dsn }

// Capabilities: everything, in one transaction.
func (p *Provider) Capabilities() provider.Capabilities { return provider.All(true) }

// q rewrites ? placeholders for PostgreSQL.
func (p *Provider) q(query string) string {
	if p.dialect != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// InitSchema creates the Bitrix permission tables (db-init).
func (p *Provider) InitSchema(ctx context.Context) error {
	ddl := mysqlSchema
	if p.dialect == "postgres" {
		ddl = postgresSchema
	}
	var lines []string
	for _, l := range strings.Split(ddl, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		s := strings.TrimSpace(stmt)
		if s == "" {
			continue
		}
		if _, err := p.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating tables: %v", err)
		}
	}
	return nil
}

// Seed writes a portal into empty tables the way a Bitrix24 installation
// holds it: the directory (users with their UF_DEPARTMENT values in
// b_utm_user, the structure in information block structureIBlock named by
// option intranet/iblock_structure, heads in b_uts_iblock_<N>_section), the
// default deal pipeline's name option, one workgroup subject, then every
// other table through the same row writer an apply uses.
func (p *Provider) Seed(ctx context.Context, portal *bitrix.Portal) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &writer{p: p, tx: tx, ctx: ctx, now: time.Now().UTC().Truncate(time.Second), subjectID: 1}
	now := w.now
	w.st = &structure{ufPerms: true, userFields: map[string]int64{}}
	for _, g := range portal.Groups {
		w.exec("INSERT INTO b_group (ID, NAME) VALUES (?, ?)", g.ID, g.Name)
	}
	// A realistic user-field table: UF_DEPARTMENT is not field 1.
	w.exec("INSERT INTO b_user_field (ID, ENTITY_ID, FIELD_NAME, USER_TYPE_ID, SORT) VALUES (1, 'USER', 'UF_PHONE_INNER', 'string', 100)")
	w.exec("INSERT INTO b_user_field (ID, ENTITY_ID, FIELD_NAME, USER_TYPE_ID, SORT, MULTIPLE) VALUES (?, 'USER', 'UF_DEPARTMENT', 'iblock_section', 100, 'Y')", seedDeptField)
	entity := fmt.Sprintf("IBLOCK_%d_SECTION", SeedStructureIBlock)
	w.exec("INSERT INTO b_user_field (ID, ENTITY_ID, FIELD_NAME, USER_TYPE_ID, SORT) VALUES (?, ?, 'UF_HEAD', 'employee', 100)", seedDeptField+1, entity)
	// The CRM custom fields of the demo policies and of the portal's
	// native visibility rows.
	fieldID := int64(seedDeptField + 1)
	addField := func(ent, name string) {
		if _, ok := w.st.userFields[ent+"/"+name]; ok {
			return
		}
		fieldID++
		w.st.userFields[ent+"/"+name] = fieldID
		w.exec("INSERT INTO b_user_field (ID, ENTITY_ID, FIELD_NAME, USER_TYPE_ID, SORT) VALUES (?, ?, ?, 'string', 100)", fieldID, ent, name)
	}
	addField("CRM_CONTACT", "UF_CRM_PASSPORT")
	for _, u := range portal.UFPerms {
		addField(userFieldEntity(u.EntityTypeID), u.Field)
	}
	uts := "b_uts_" + strings.ToLower(entity)
	w.exec("CREATE TABLE " + uts + " (VALUE_ID INT NOT NULL, UF_HEAD INT NULL, PRIMARY KEY (VALUE_ID))")
	w.exec("INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES (?, ?, ?)", optStructureModule, optStructureName, strconv.Itoa(SeedStructureIBlock))
	for _, o := range portal.Options {
		if (o.ModuleID == optExtranetModule && o.Name == optExtranetGroup) || (o.ModuleID == optSonetModule && o.Name == optClosedGroups) {
			w.exec("INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES (?, ?, ?)", o.ModuleID, o.Name, o.Value)
		}
	}
	for _, c := range portal.Categories {
		if c.EntityTypeID == bitrix.EntityTypeDeal && c.IsDefault == "Y" {
			w.exec("INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES (?, ?, ?)", optDealCategoryModule, optDealName, c.Name)
		}
	}
	w.exec("INSERT INTO b_sonet_group_subject (ID, SITE_ID, NAME) VALUES (1, 's1', 'Workgroups')")
	for _, d := range portal.Departments {
		var parent any
		if d.Parent != 0 {
			parent = d.Parent
		}
		w.exec("INSERT INTO b_iblock_section (ID, IBLOCK_ID, IBLOCK_SECTION_ID, NAME) VALUES (?, ?, ?, ?)", d.ID, SeedStructureIBlock, parent, d.Name)
		if d.Head != 0 {
			w.exec("INSERT INTO "+uts+" (VALUE_ID, UF_HEAD) VALUES (?, ?)", d.ID, d.Head)
		}
	}
	var users, utm, groups [][]any
	for _, u := range portal.Users {
		login := u.Email
		if login == "" {
			login = "user" + strconv.FormatInt(u.ID, 10)
		}
		users = append(users, []any{u.ID, login, "", orDefault(u.Active, "Y"), nullIfEmpty(u.Name), nullIfEmpty(u.LastName), nullIfEmpty(u.Email), now, "s1"})
		for _, d := range u.UFDepartment {
			utm = append(utm, []any{u.ID, seedDeptField, d})
		}
		for _, g := range u.Groups {
			groups = append(groups, []any{u.ID, g})
		}
	}
	w.insertMany("b_user", []string{"ID", "LOGIN", "PASSWORD", "ACTIVE", "NAME", "LAST_NAME", "EMAIL", "DATE_REGISTER", "LID"}, users)
	w.insertMany("b_utm_user", []string{"VALUE_ID", "FIELD_ID", "VALUE_INT"}, utm)
	w.insertMany("b_user_group", []string{"USER_ID", "GROUP_ID"}, groups)
	w.inserted = map[string]bool{"b_user": true, "b_group": true, "b_iblock_section": true, "b_user_field": true, "b_sonet_group_subject": true}
	if w.err != nil {
		return w.err
	}
	// Smart processes as TypeTable stores them (crm/lib/Model/Dynamic/TypeTable.php:
	// NAME a unique identifier, TABLE_NAME b_crm_dynamic_items_<type>,
	// CREATED_BY/UPDATED_BY the creating user; the item tables Bitrix
	// creates with them are not: b24perm never reads them). The writer
	// never creates types, so they are written here; their pipelines,
	// stages and the native field visibility go through the writer.
	w.st.smart = true
	for _, t := range portal.SmartTypes {
		var section any
		if t.CustomSectionID > 0 {
			section = t.CustomSectionID
		}
		w.exec("INSERT INTO b_crm_dynamic_type (ID, ENTITY_TYPE_ID, NAME, TITLE, TABLE_NAME, CREATED_BY, UPDATED_BY, IS_CATEGORIES_ENABLED, IS_STAGES_ENABLED, IS_AUTOMATION_ENABLED, IS_SET_OPEN_PERMISSIONS, CUSTOM_SECTION_ID, CREATED_TIME, UPDATED_TIME) VALUES (?, ?, ?, ?, ?, 1, 1, 'Y', ?, ?, ?, ?, ?, ?)",
			t.ID, t.EntityTypeID, fmt.Sprintf("Type%d", t.EntityTypeID), t.Title, fmt.Sprintf("b_crm_dynamic_items_%d", t.EntityTypeID),
			cmp.Or(t.IsStagesEnabled, "Y"), cmp.Or(t.IsAutomationEnabled, "Y"), cmp.Or(t.IsSetOpenPermissions, "Y"), section, now, now)
		w.inserted["b_crm_dynamic_type"] = true
	}
	empty := &bitrix.Portal{SmartTypes: portal.SmartTypes, Counters: map[string]int64{}}
	for _, c := range portal.Categories {
		if c.EntityTypeID == bitrix.EntityTypeDeal && c.IsDefault == "Y" {
			empty.Categories = append(empty.Categories, c)
		}
	}
	// The portal file's USER_FIELD_IDs are its own: the seeded fields have
	// new IDs, looked up by name.
	portal = clonePortal(portal)
	for i := range portal.UFPerms {
		portal.UFPerms[i].UserFieldID = 0
	}
	p.fieldRules = true
	ds, err := w.diffs(empty, portal)
	if err != nil {
		return err
	}
	w.write(ds, empty, portal)
	if err := w.fixSequences(); err != nil {
		return err
	}
	return tx.Commit()
}

// SeedStructureIBlock is the information block of the company structure
// Seed creates (deliberately not 1: b24perm reads the option).
const SeedStructureIBlock = 3

// seedDeptField is the b_user_field ID of UF_DEPARTMENT in a seeded
// database (deliberately not 1).
const seedDeptField = 2

// Warnings are what the last Read could not find or chose (the structure
// used, missing options …), for the plan output.
func (p *Provider) Warnings() []string { return p.warnings }

var _ provider.PipelineDefaulter = (*Provider)(nil)

// PipelineDefaults returns the cells the portal of the last Read gives an
// existing role on a new pipeline (bitrix.Portal.DefaultCells).
func (p *Provider) PipelineDefaults(roleID int64, entity string, smartTypeID int64) []graph.CRMPerm {
	if p.snapshot == nil {
		return nil
	}
	return p.snapshot.DefaultCells(roleID, entity, smartTypeID)
}

// Read loads the tables into the portal model and returns the live graph.
func (p *Provider) Read(ctx context.Context) (*graph.Graph, error) {
	portal, st, err := p.load(ctx, p.db, false)
	if err != nil {
		return nil, err
	}
	p.fieldRules = st.fieldRules
	p.snapshot = portal
	p.warnings = st.warnings
	g, anomalies := bitrix.Read(portal)
	p.Anomalies = p.Anomalies[:0]
	for _, a := range anomalies {
		p.Anomalies = append(p.Anomalies, a.String())
	}
	return g, nil
}

// Apply applies all changes in one transaction.
func (p *Provider) Apply(ctx context.Context, req provider.ApplyRequest) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		results, err := p.applyOnce(ctx, req)
		if err == nil {
			if req.Report != nil {
				for _, r := range results {
					req.Report(r)
				}
			}
			return nil
		}
		lastErr = err
		if !retryable(err) {
			return err
		}
		time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
	}
	return lastErr
}

// retryable: deadlocks and lock-wait timeouts (MySQL 1213/1205, PostgreSQL
// 40P01/40001) are retried with the whole transaction.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "40P01") || strings.Contains(s, "40001") || strings.Contains(s, "deadlock")
}

type phase struct {
	name string
	d    time.Duration
}

// StaleError is returned when the locked rows differ from the plan's read.
type StaleError struct{ What string }

func (e *StaleError) Error() string {
	return "the portal changed since the plan was read (" + e.What + "); nothing was written. Run plan again."
}

func (p *Provider) applyOnce(ctx context.Context, req provider.ApplyRequest) ([]provider.Result, error) {
	has, err := p.hasTable(ctx, p.db, fieldRuleTable)
	if err != nil {
		return nil, err
	}
	p.fieldRules = has
	if msg := p.FieldRulesUnsupported(); msg != "" {
		for _, c := range req.Changes {
			if c.Addr.Kind == graph.KindFieldRule && !c.Manual && !NativeFieldRule(c) {
				return nil, fmt.Errorf("%s: %s; nothing was written", c.Address, msg)
			}
		}
	}
	p.phases = p.phases[:0]
	mark := time.Now()
	step := func(name string) {
		p.phases = append(p.phases, phase{name, time.Since(mark)})
		mark = time.Now()
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p.dsn, err)
	}
	defer tx.Rollback()
	// Every table of the model is read again with its rows locked; any
	// difference to what the plan was computed from (a concurrent edit in
	// the Bitrix UI of any kind) refuses the apply as stale.
	current, st, err := p.load(ctx, tx, true)
	if err != nil {
		// Locking rows FOR UPDATE needs write privileges on PostgreSQL.
		return nil, p.writeErr(err)
	}
	if p.snapshot != nil {
		if what := differs(p.snapshot, current); what != "" {
			return nil, &StaleError{What: what}
		}
	}
	step("lock+load+stale check")
	if err := p.counters(ctx, tx, current); err != nil {
		return nil, err
	}
	next := clonePortal(current)
	ids, err := bitrix.NewApplier(next, req.IDs).ApplyAll(ctx, req.Changes)
	if ce := (*bitrix.ChangeError)(nil); errors.As(err, &ce) {
		ch := req.Changes[ce.Index]
		if req.Report != nil {
			req.Report(provider.Result{Index: ce.Index, Address: ch.Address, Err: ce.Err})
		}
		return nil, fmt.Errorf("%s: %w (nothing was written: the backend applies all changes or none)", ch.Address, ce.Err)
	}
	if err != nil {
		return nil, err
	}
	results := make([]provider.Result, len(ids))
	for i, id := range ids {
		results[i] = provider.Result{Index: i, Address: req.Changes[i].Address, ID: id}
	}
	step("applier")
	w := &writer{p: p, tx: tx, ctx: ctx, now: time.Now().UTC().Truncate(time.Second), st: st}
	if err := p.each(ctx, tx, "SELECT COALESCE(MIN(ID), 0) FROM b_sonet_group_subject", func(scan func(...any) error) error { return scan(&w.subjectID) }); err != nil {
		return nil, err
	}
	ds, err := w.diffs(current, next)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.table == "b_sonet_group" && len(d.inserts) > 0 && w.subjectID == 0 {
			return nil, fmt.Errorf("%s has no workgroup subject (table b_sonet_group_subject is empty), which a new workgroup needs; nothing was written", p.dsn)
		}
	}
	step("row diff")
	w.write(ds, current, next)
	if w.err != nil {
		return nil, p.writeErr(w.err)
	}
	if err := w.fixSequences(); err != nil {
		return nil, p.writeErr(err)
	}
	step(fmt.Sprintf("%d statements", w.stmts))
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %v (nothing was written)", err)
	}
	step("commit")
	// The rows now hold what the writer filled in (dates, INITIATED_BY_TYPE
	// …) besides the model: the next apply compares against a new Read.
	p.snapshot = nil
	return results, nil
}

func (p *Provider) writeErr(err error) error {
	s := err.Error()
	if strings.Contains(s, "command denied") || strings.Contains(s, "permission denied") || strings.Contains(s, "1142") {
		return fmt.Errorf("the database user of %s may not write the permission tables (%v); nothing was written. Grant INSERT, UPDATE, DELETE on them (see README, self-hosted backend)", p.dsn, err)
	}
	return fmt.Errorf("writing to %s: %v; the transaction was rolled back, nothing was written", p.dsn, err)
}

// differs compares every table of the model (CRM roles, their rows and
// relations, pipelines and stages, telephony and open-channel roles,
// workgroups, memberships, features and their permissions, open channels
// and their queues, field rules and native field visibility, the
// directory, the options the model reads) and names the first table that
// changed. TestDiffersCoversEveryTable fails when bitrix.Portal gains a
// table this list lacks.
func differs(a, b *bitrix.Portal) string {
	type table struct {
		name string
		x, y any
	}
	for _, t := range []table{
		{"b_crm_role", a.Roles, b.Roles}, {"b_crm_role_perms", a.RolePerms, b.RolePerms}, {"b_crm_role_relation", a.RoleRelations, b.RoleRelations},
		{"b_crm_dynamic_type", a.SmartTypes, b.SmartTypes},
		{"b_crm_deal_category", categories(a, true), categories(b, true)}, {"b_crm_item_category", categories(a, false), categories(b, false)},
		{"b_crm_status", a.Statuses, b.Statuses},
		{"b_voximplant_role", a.VoxRoles, b.VoxRoles}, {"b_voximplant_role_permission", a.VoxPerms, b.VoxPerms}, {"b_voximplant_role_access", a.VoxAccess, b.VoxAccess},
		{"b_imopenlines_role", a.OLRoles, b.OLRoles}, {"b_imopenlines_role_permission", a.OLPerms, b.OLPerms}, {"b_imopenlines_role_access", a.OLAccess, b.OLAccess},
		{"b_sonet_group", a.SonetGroups, b.SonetGroups}, {"b_sonet_user2group", a.User2Group, b.User2Group},
		{"b_sonet_features", a.Features, b.Features}, {"b_sonet_features2perms", a.FeaturePerms, b.FeaturePerms},
		{"b_imopenlines_config", a.OLConfigs, b.OLConfigs}, {"b_imopenlines_config_queue", a.OLQueue, b.OLQueue}, {"b_imopenlines_queue", a.OLOperators, b.OLOperators},
		{fieldRuleTable, a.FieldRules, b.FieldRules}, {"b_user_field_permission", a.UFPerms, b.UFPerms},
		{"b_user", a.Users, b.Users}, {"b_iblock_section", a.Departments, b.Departments}, {"b_group", a.Groups, b.Groups},
		{"b_option", a.Options, b.Options},
	} {
		if !reflect.DeepEqual(t.x, t.y) {
			return t.name
		}
	}
	return ""
}

// categories are the deal categories (b_crm_deal_category and the default
// one) or the others (b_crm_item_category) of a portal.
func categories(p *bitrix.Portal, deal bool) []bitrix.Category {
	var r []bitrix.Category
	for _, c := range p.Categories {
		if (c.EntityTypeID == bitrix.EntityTypeDeal) == deal {
			r = append(r, c)
		}
	}
	return r
}

// NativeFieldRule says whether a field-rule change is one of Bitrix's
// native custom-field visibility (b_user_field_permission), which does not
// need b24perm's own b24perm_field_rule table.
func NativeFieldRule(c plan.Change) bool {
	for _, r := range []*graph.Resource{c.After, c.Before} {
		if r != nil && r.FieldRule != nil {
			return r.FieldRule.Native
		}
	}
	return false
}

// MarkManual turns a plan's creations, replacements and deletions of smart
// processes into manual steps: Bitrix creates and drops tables for a
// smart process (TypeTable::onAfterAdd and onAfterDelete,
// crm/lib/Model/Dynamic/TypeTable.php), which a database backend cannot
// do. Renames, pipelines, stages and permissions are written.
func MarkManual(changes []plan.Change, names map[string]string) {
	for i := range changes {
		c := &changes[i]
		if c.Addr.Kind != graph.KindSmartProcess || c.Manual || c.Action == plan.Update {
			continue
		}
		c.Manual = true
		c.ManualSteps = plan.DefaultManualSteps(*c, names)
		if c.Action != plan.Delete {
			c.ManualSteps = append(c.ManualSteps, "then run plan again: b24perm writes the smart process's pipelines, stages and permissions once it exists")
		}
	}
}
