package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	dsnpkg "github.com/b24perm/b24perm/internal/dsn"
	"net/url"
	"regexp"
	"strings"
)

// safeDBName is what EnsureDatabase will put into CREATE DATABASE: the
// statement cannot take a bind parameter, so anything else is refused.
var safeDBName = regexp.MustCompile(`^[A-Za-z0-9_]{1,63}$`)

// EnsureDatabase creates the database a DSN names when the server does not
// have it yet, so that `sim db-init` works on a fresh server. It reports
// whether it created it.
func EnsureDatabase(ctx context.Context, dsn string) (created bool, err error) {
	if !ParseSpec(dsn) {
		return false, fmt.Errorf("not a mysql:// or postgres:// DSN")
	}
	if err := dsnpkg.Check(dsn); err != nil {
		return false, fmt.Errorf("invalid DSN %s: %w", Redact(dsn), err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// The parse error quotes pieces of the password: say only what
		// to do.
		return false, fmt.Errorf("invalid DSN %s: not a valid URL (percent-encode special characters such as / # %% @ or spaces in the password)", Redact(dsn))
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return false, fmt.Errorf("the DSN %s names no database (…/DBNAME)", Redact(dsn))
	}
	var admin *sql.DB
	var exists string
	if strings.HasPrefix(dsn, "mysql://") {
		cfg := mysqlConfig(u)
		cfg.DBName = ""
		admin, err = sql.Open("mysql", cfg.FormatDSN())
		exists = "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
	} else {
		au := *u
		au.Path = "/postgres"
		admin, err = sql.Open("pgx", au.String())
		exists = "SELECT COUNT(*) FROM pg_database WHERE datname = $1"
	}
	if err != nil {
		return false, fmt.Errorf("opening %s: %v", Redact(dsn), redactErr(err, dsn))
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(ctx, exists, name).Scan(&n); err != nil {
		return false, fmt.Errorf("cannot connect to %s: %v", Redact(dsn), redactErr(err, dsn))
	}
	if n > 0 {
		return false, nil
	}
	if !safeDBName.MatchString(name) {
		return false, fmt.Errorf("cannot create database %q: b24perm creates only names of letters, digits and _; create it yourself", name)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return false, fmt.Errorf("creating database %s: %v", name, redactErr(err, dsn))
	}
	return true, nil
}

// HasSchema reports whether the tables b24perm manages already exist, so
// that a second `sim db-init` leaves the database as it is.
func (p *Provider) HasSchema(ctx context.Context) bool {
	rows, err := p.db.QueryContext(ctx, "SELECT ID FROM b_crm_role WHERE 1 = 0")
	if err != nil {
		return false
	}
	rows.Close()
	return true
}
