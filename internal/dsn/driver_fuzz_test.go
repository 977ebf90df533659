package dsn

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// driverPassword is the password a driver takes from s, as b24perm opens
// it: pgx's own parser for postgres:// URLs and keyword/value DSNs, the
// URL's user info for mysql:// (sqldb.mysqlConfig).
func driverPassword(s string) (string, bool) {
	if strings.HasPrefix(s, "mysql://") {
		u, err := url.Parse(s)
		if err != nil || u.User == nil {
			return "", false
		}
		return u.User.Password()
	}
	cfg, err := pgconn.ParseConfig(s)
	if err != nil {
		return "", false
	}
	return cfg.Password, true
}

// FuzzRedactDriver: whatever the DSN, when the drivers' own parsers find
// a password in it, neither Redact nor Scrub shows that password. The
// password is known to be the one in the text (not the same letters by
// chance elsewhere: a host or database of the same name) by writing Zs
// in its place and parsing again. It catches any form a driver accepts
// that the redaction does not know, independently of the hand-written
// forms of FuzzRedact.
func FuzzRedactDriver(f *testing.F) {
	for _, s := range []string{
		"postgres://u:secret1@h/db", "postgresql://u:secret1@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=secret1", "postgres://h/db?sslmode=disable&password=secret1&user=u",
		"postgres://u:secret1@h1,h2:5433/db", "postgres:///db?host=/tmp&password=secret1",
		"host=h password=secret1 dbname=db", "host=h\tpassword=secret1", "host=h\vpassword=secret1",
		"user=u password = 'sec ret1'", "password='it\\'s secret1' host=h", "PASSWORD=secret1 host=h",
		"mysql://u:secret1@h:3306/db", "mysql://u:sec%20ret1@h/db", "mysql://u@h/db?password=secret1",
		"postgres://u:secret1@h/db#frag", "host=h sslpassword=secret1 password=other22",
		"host=h password=sec\\ ret1 dbname=db", "host=h password=sec&ret1", "host=h password=secretpart&secondpart", "host=h password=secretpart\\ secondpart", "postgres://h/db?password=sec ret1&x=1",
		"host=h password=secret1\\", "host=h password=sec\\'ret1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pw, ok := driverPassword(s)
		if !ok || len(pw) < 6 || strings.Contains(pw, "*") || strings.Count(s, pw) != 1 {
			return
		}
		i := strings.Index(s, pw)
		zs := strings.Repeat("Z", len(pw))
		if again, ok := driverPassword(s[:i] + zs + s[i+len(pw):]); !ok || again != zs {
			return // not the password's own text
		}
		got := Redact(s)
		if strings.Contains(got, pw) {
			t.Fatalf("Redact(%q) = %q shows the password %q", s, got, pw)
		}
		// Nor a part of it: each half of a long password that is in the
		// text once (as the password's own part).
		if len(pw) >= 12 {
			for _, half := range []string{pw[:len(pw)/2], pw[len(pw)/2:]} {
				if strings.Count(s, half) == 1 && !strings.Contains(half, "*") && strings.Contains(got, half) {
					t.Fatalf("Redact(%q) = %q shows %q of the password %q", s, got, half, pw)
				}
			}
		}
		// Scrub cleans driver errors, and only a DSN Check lets through
		// reaches a driver (sqldb.Open, pgstate.Open check first).
		const fixed = "cannot connect to : password  rejected"
		if strings.Contains(fixed, pw) || Check(s) != nil {
			return
		}
		msg := Scrub(errors.New("cannot connect to "+s+": password "+pw+" rejected"), s).Error()
		if strings.Contains(msg, pw) {
			t.Fatalf("Scrub for %q gives %q, which shows the password %q", s, msg, pw)
		}
	})
}
