// Package sqldb is the self-hosted Bitrix24 backend: it reads and writes
// the permission tables of the portal's MySQL/MariaDB or PostgreSQL
// database directly. Every apply is one transaction that re-reads the
// permission rows FOR UPDATE and refuses if they changed since the plan
// (a concurrent edit in the Bitrix UI), then writes exactly the row forms
// Bitrix writes itself.
package sqldb

import (
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
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/local"
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
	snapshot *local.Portal
	// Anomalies are rows Bitrix would never write, found by the last Read.
	Anomalies []string
	// CacheHint says how to clear the portal's caches after an apply.
	CacheHint string
	// noFieldRules: the last read found no b24perm_field_rule table.
	noFieldRules bool
}

// FieldRulesUnsupported explains, after a Read, why field rules cannot be
// read or written on this database; "" when they can.
func (p *Provider) FieldRulesUnsupported() string {
	if !p.noFieldRules {
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

// Seed writes a portal (users, structure, roles …) into empty tables.
func (p *Provider) Seed(ctx context.Context, portal *local.Portal) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &writer{p: p, tx: tx, ctx: ctx}
	for _, g := range portal.Directory.Groups {
		w.exec("INSERT INTO b_group (ID, NAME) VALUES (?, ?)", g.ID, g.Name)
	}
	for _, d := range portal.Directory.Departments {
		var parent any
		if d.Parent != 0 {
			parent = d.Parent
		}
		w.exec("INSERT INTO b_iblock_section (ID, IBLOCK_ID, IBLOCK_SECTION_ID, NAME) VALUES (?, 1, ?, ?)", d.ID, parent, d.Name)
	}
	for _, u := range portal.Directory.Users {
		first, last, _ := strings.Cut(u.Name, " ")
		w.exec("INSERT INTO b_user (ID, EMAIL, NAME, LAST_NAME, ACTIVE) VALUES (?, ?, ?, ?, ?)", u.ID, u.Email, first, last, yn(!u.Inactive))
		for _, d := range u.Departments {
			w.exec("INSERT INTO b_utm_user (VALUE_ID, FIELD_ID, VALUE_INT) VALUES (?, 1, ?)", u.ID, d)
		}
		groups := u.Groups
		if u.Admin && !containsID(groups, 1) {
			groups = append(groups, 1)
		}
		for _, g := range groups {
			w.exec("INSERT INTO b_user_group (USER_ID, GROUP_ID) VALUES (?, ?)", u.ID, g)
		}
	}
	empty := &local.Portal{}
	if err := w.sync(empty, portal); err != nil {
		return err
	}
	if w.err != nil {
		return w.err
	}
	if err := w.fixSequences(); err != nil {
		return err
	}
	return tx.Commit()
}

func containsID(s []int64, id int64) bool {
	for _, x := range s {
		if x == id {
			return true
		}
	}
	return false
}

// Read loads the permission tables into the portal model and returns the
// live graph.
func (p *Provider) Read(ctx context.Context) (*graph.Graph, error) {
	portal, anomalies, err := p.load(ctx, p.db, false)
	if err != nil {
		return nil, err
	}
	p.snapshot = portal
	g, more := portal.ToGraph()
	p.Anomalies = append(anomalies, more...)
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
	p.noFieldRules = !has
	if msg := p.FieldRulesUnsupported(); msg != "" {
		for _, c := range req.Changes {
			if c.Addr.Kind == graph.KindFieldRule && !c.Manual {
				return nil, fmt.Errorf("%s: %s; nothing was written", c.Address, msg)
			}
		}
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p.dsn, err)
	}
	defer tx.Rollback()
	current, _, err := p.load(ctx, tx, true)
	if err != nil {
		// Locking rows FOR UPDATE needs write privileges on PostgreSQL.
		return nil, p.writeErr(err)
	}
	if p.snapshot != nil {
		if what := differs(p.snapshot, current); what != "" {
			return nil, &StaleError{What: what}
		}
	}
	next, _, err := p.load(ctx, tx, false)
	if err != nil {
		return nil, err
	}
	results, err := local.ApplyChanges(ctx, next, provider.ApplyRequest{Changes: req.Changes, IDs: req.IDs, Report: func(r provider.Result) {
		if r.Err != nil && req.Report != nil {
			req.Report(r)
		}
	}})
	if err != nil {
		return nil, err
	}
	w := &writer{p: p, tx: tx, ctx: ctx}
	if err := w.sync(current, next); err != nil {
		return nil, p.writeErr(err)
	}
	if w.err != nil {
		return nil, p.writeErr(w.err)
	}
	if err := w.fixSequences(); err != nil {
		return nil, p.writeErr(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %v (nothing was written)", err)
	}
	p.snapshot = next
	return results, nil
}

func (p *Provider) writeErr(err error) error {
	s := err.Error()
	if strings.Contains(s, "command denied") || strings.Contains(s, "permission denied") || strings.Contains(s, "1142") {
		return fmt.Errorf("the database user of %s may not write the permission tables (%v); nothing was written. Grant INSERT, UPDATE, DELETE on them (see README, self-hosted backend)", p.dsn, err)
	}
	return fmt.Errorf("writing to %s: %v; the transaction was rolled back, nothing was written", p.dsn, err)
}

// differs compares the permission-relevant parts of two portals.
func differs(a, b *local.Portal) string {
	switch {
	case !reflect.DeepEqual(norm(a.CRMRoles), norm(b.CRMRoles)):
		return "CRM roles"
	case !reflect.DeepEqual(a.TelephonyRoles, b.TelephonyRoles):
		return "telephony roles"
	case !reflect.DeepEqual(a.OpenlineRoles, b.OpenlineRoles):
		return "open-channel roles"
	case !reflect.DeepEqual(a.Workgroups, b.Workgroups):
		return "workgroups"
	case !reflect.DeepEqual(a.Pipelines, b.Pipelines):
		return "pipelines"
	case !reflect.DeepEqual(a.FieldRules, b.FieldRules):
		return "field rules"
	}
	return ""
}

func norm(r []local.CRMRole) []local.CRMRole { return r }
