// Package dbtest gives tests a fresh database on the real MariaDB/MySQL
// and PostgreSQL servers. Without a server the test is skipped with a
// message saying how to enable it, unless B24PERM_REQUIRE_DB=1 (as in CI),
// where it fails.
package dbtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// Defaults for the servers on the project machine.
const (
	DefaultMySQL    = "root@tcp(127.0.0.1:3306)/"
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("%v (with B24PERM_REQUIRE_DB=1, as in CI, this fails instead of skipping)", err)
	if os.Getenv("B24PERM_REQUIRE_DB") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func name() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "b24perm_t_" + hex.EncodeToString(b)
}

// MySQL creates a fresh database and returns its mysql:// DSN for b24perm.
func MySQL(t testing.TB) string { return fresh(t, "mysql") }

// Postgres creates a fresh database and returns its postgres:// DSN.
func Postgres(t testing.TB) string { return fresh(t, "postgres") }

func fresh(t testing.TB, kind string) string {
	t.Helper()
	dsn, cleanup, err := Create(kind)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(cleanup)
	return dsn
}

// SQLModes are the session sql_mode values the MariaDB/MySQL tests run
// under: strict (the server default of MariaDB ≥ 10.2.4 and MySQL ≥ 5.7)
// and empty (what Bitrix's own installer requires, bitrix/php_interface
// dbconn.php sets it per connection).
var SQLModes = []struct{ Name, Mode string }{{"strict", "STRICT_TRANS_TABLES"}, {"nomode", ""}}

// WithSQLMode returns a mysql:// DSN whose connections set sql_mode.
func WithSQLMode(dsn, mode string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("sql_mode", "'"+mode+"'")
	u.RawQuery = q.Encode()
	return u.String()
}

// Each runs f for MariaDB/MySQL under each of SQLModes and for
// PostgreSQL, each with a fresh database.
func Each(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, m := range SQLModes {
		t.Run("mysql_"+m.Name, func(t *testing.T) { f(t, WithSQLMode(MySQL(t), m.Mode)) })
	}
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

// Create makes a fresh database outside a Go test (for testscript) and
// returns its b24perm DSN and a cleanup function.
func Create(kind string) (string, func(), error) {
	n := name()
	switch kind {
	case "mysql":
		admin := os.Getenv("B24PERM_TEST_MYSQL_DSN")
		if admin == "" {
			admin = DefaultMySQL
		}
		db, err := sql.Open("mysql", admin)
		if err == nil {
			err = db.Ping()
		}
		if err == nil {
			_, err = db.Exec("CREATE DATABASE " + n)
		}
		if err != nil {
			return "", nil, fmt.Errorf("MariaDB/MySQL is not reachable (%v): start it or set B24PERM_TEST_MYSQL_DSN", err)
		}
		user, rest, _ := strings.Cut(admin, "@tcp(")
		host, _, _ := strings.Cut(rest, ")")
		u := url.URL{Scheme: "mysql", Host: host, Path: "/" + n, User: url.User(user)}
		if nm, pw, ok := strings.Cut(user, ":"); ok {
			u.User = url.UserPassword(nm, pw)
		}
		return u.String(), func() { db.Exec("DROP DATABASE " + n); db.Close() }, nil
	case "postgres":
		admin := os.Getenv("B24PERM_TEST_POSTGRES_DSN")
		if admin == "" {
			admin = DefaultPostgres
		}
		db, err := sql.Open("pgx", admin)
		if err == nil {
			err = db.Ping()
		}
		if err == nil {
			_, err = db.Exec("CREATE DATABASE " + n)
		}
		if err != nil {
			return "", nil, fmt.Errorf("PostgreSQL is not reachable (%v): start it or set B24PERM_TEST_POSTGRES_DSN", err)
		}
		u, _ := url.Parse(admin)
		u.Path = "/" + n
		return u.String(), func() { db.Exec("DROP DATABASE " + n + " WITH (FORCE)"); db.Close() }, nil
	}
	return "", nil, fmt.Errorf("unknown database kind %q", kind)
}

// Exec runs one statement against a b24perm DSN.
func Exec(dsn, stmt string) error {
	driver, conn := "pgx", dsn
	if strings.HasPrefix(dsn, "mysql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return err
		}
		pw, _ := u.User.Password()
		conn = fmt.Sprintf("%s:%s@tcp(%s)%s", u.User.Username(), pw, u.Host, u.Path)
		if m := u.Query().Get("sql_mode"); m != "" {
			conn += "?sql_mode=" + url.QueryEscape(m)
		}
		driver = "mysql"
	}
	db, err := sql.Open(driver, conn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}

// Drop removes the database a b24perm DSN names (made by Create), so that a
// test can check what happens on a server that does not have it.
func Drop(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	u.RawQuery = ""
	n := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(n, "b24perm_t_") {
		return fmt.Errorf("refusing to drop %q: not a test database", n)
	}
	if u.Scheme == "mysql" {
		u.Path = "/mysql"
		return Exec(u.String(), "DROP DATABASE "+n)
	}
	u.Path = "/postgres"
	return Exec(u.String(), "DROP DATABASE "+n+" WITH (FORCE)")
}
