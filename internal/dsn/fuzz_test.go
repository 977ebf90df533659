package dsn

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedact: whatever the password, in every form a driver accepts (URL
// userinfo raw and percent-encoded, ?password= query, keyword/value raw
// and quoted), neither Redact nor Scrub of an error quoting the DSN and
// the password shows the password — no more often than the rest of the
// DSN holds it by chance. Passwords of fewer than 4 bytes can hide in any
// text, so they only must not panic.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"s3cret", "se/cret", "se cret", "se#cret", "p@ss", "se%zzcret", "it's", `back\slash`, "a&b=c", "pässwörd", "''", "x y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if strings.ContainsAny(pw, "\x00") {
			return
		}
		quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
		forms := []struct{ dsn, redacted string }{
			{"postgres://u:" + pw + "@h:5432/db?sslmode=disable", "postgres://u:****@h:5432/db?sslmode=disable"},
			{"mysql://u:" + url.PathEscape(pw) + "@h:3306/db", "mysql://u:****@h:3306/db"},
			{"postgres://u:" + url.QueryEscape(pw) + "@h/db", "postgres://u:****@h/db"},
			{"postgres://u@h/db?sslmode=disable&password=" + url.QueryEscape(pw), "postgres://u@h/db?sslmode=disable&password=****"},
			{"host=h user=u password=" + quoted + " dbname=db", "host=h user=u password=**** dbname=db"},
		}
		if !strings.ContainsAny(pw, " \t\n\r\v\f'\\&") && pw != "" {
			forms = append(forms, struct{ dsn, redacted string }{"host=h user=u password=" + pw + " dbname=db", "host=h user=u password=**** dbname=db"})
		}
		for _, fm := range forms {
			got := Redact(fm.dsn)
			msg := Scrub(errors.New("cannot connect to "+fm.dsn+": password "+pw+" rejected"), fm.dsn).Error()
			if len(pw) < 4 {
				continue
			}
			if strings.Trim(pw, "* \t\n\r\v\f") == "" {
				// Made of the mask's own stars and blanks (" ***"): it
				// "appears" wherever a mask follows a space, and shows
				// nothing.
				continue
			}
			allowed := strings.Count(fm.redacted, pw)
			if n := strings.Count(got, pw); n > allowed {
				t.Fatalf("Redact(%q) = %q shows the password", fm.dsn, got)
			}
			if n := strings.Count(msg, pw); n > allowed+strings.Count("cannot connect to : password  rejected", pw) {
				t.Fatalf("Scrub of %q gives %q, which shows the password", fm.dsn, msg)
			}
		}
	})
}
