package dsn

import (
	"errors"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want, secret string }{
		{"postgres://u:s3cret@h:5432/db", "postgres://u:****@h:5432/db", "s3cret"},
		{"postgres://u:se/cret@h/db", "postgres://u:****@h/db", "se/cret"},
		{"mysql://u:se cret@h/db", "mysql://u:****@h/db", "se cret"},
		{"mysql://u:se#cret@h/db", "mysql://u:****@h/db", "se#cret"},
		{"mysql://u:se%zzcret@h/db", "mysql://u:****@h/db", "se%zzcret"},
		{"mysql://u:p@ss@h/db", "mysql://u:****@h/db", "p@ss"},
		{"postgres://u@h/db?sslmode=disable&password=s3cret", "postgres://u@h/db?sslmode=disable&password=****", "s3cret"},
		{"host=h user=u password=s3cret dbname=db", "host=h user=u password=**** dbname=db", "s3cret"},
		{"host=h password='se cret\\' x' dbname=db", "host=h password=**** dbname=db", "se cret' x"},
		{"postgres://u@h/db", "postgres://u@h/db", ""},
	} {
		got := Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.secret == "" {
			continue
		}
		err := Scrub(errors.New("cannot parse `"+tc.in+"`: bad "+tc.secret), tc.in)
		if strings.Contains(err.Error(), tc.secret) {
			t.Errorf("Scrub leaks %q: %v", tc.secret, err)
		}
	}
}

func TestCheckRefusesUnencodedPasswords(t *testing.T) {
	for _, s := range []string{"mysql://u:a/b@h/db", "postgres://u:a#b@h/db", "postgres://u:a b@h/db", "mysql://u:a%zzb@h/db",
		"postgres://u:a@b@h/db", "postgres://u:a?b@h/db", "postgres://u:a\tb@h/db"} {
		if err := Check(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	for _, s := range []string{"mysql://u:a%2Fb@h:3306/db", "postgres://u@h/db?sslmode=disable&password=x", "postgres://h/db", "host=h password=x", "postgres://u:p@h/db"} {
		if err := Check(s); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
}

// NotAPath: --state refuses URLs and keyword DSNs (they may hold a
// password and would be echoed as a file name), not ordinary paths.
func TestNotAPath(t *testing.T) {
	for _, s := range []string{"mysql://u:p@h/db", "webhook:https://p/rest/1/tok/", "host=h password=x", "dbname=db user=u",
		"password='a b'", "  host = h", "x?password=y", "file://state.json"} {
		if !NotAPath(s) {
			t.Errorf("NotAPath(%q) = false", s)
		}
	}
	for _, s := range []string{"", "state.json", ".b24perm/state.json", "/srv/perms/prod.state.json", "C:\\perms\\state.json", "a=b.json", "hosts/state.json"} {
		if NotAPath(s) {
			t.Errorf("NotAPath(%q) = true", s)
		}
	}
}

// A URL DSN without a password but with "@" in its query and ":" before
// it (a port): Check cannot tell the query's "@" from the end of a user
// info that holds "/" or "?", so it refuses, asking for percent-encoding
// — the safe side: a password is never let through half-hidden. Written
// as %40 (which pgx decodes like any query value) it is accepted.
func TestCheckAtInQuery(t *testing.T) {
	for _, s := range []string{"postgres://h:5432/db?application_name=a@b", "postgres://u@h:5432/db?application_name=a@b"} {
		if Check(s) == nil {
			t.Errorf("Check(%q) accepted", s)
		}
		if got := Redact(s); strings.Contains(got, "5432/db") {
			t.Errorf("Redact(%q) = %q: what Check took for a password is shown", s, got)
		}
	}
	for _, s := range []string{"postgres://h:5432/db?application_name=a%40b", "postgres://u@h/db?application_name=a@b"} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q) = %v", s, err)
		}
	}
}
