// Package dsn hides the credentials of database DSNs in every form a driver
// accepts (URL userinfo, ?password= query parameters, keyword/value
// "host=… password=…"), without relying on the DSN being well formed: a
// password with "/", "#", a space or a bad "%" escape must not leak through
// a parse error.
package dsn

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// pwKeyword matches password=VALUE in a keyword/value DSN as pgx reads
// one (pgconn parseKeywordValueSettings): pairs are separated by ASCII
// white space including \v; a value is single-quoted (\' and \\ escape)
// or runs to the next white space, where a backslash escapes any
// character, a space too ("pass\ word").
var pwKeyword = regexp.MustCompile(`(?is)((?:^|[ \t\n\r\v\f])(?:ssl)?password[ \t\n\r\v\f]*=[ \t\n\r\v\f]*)('(?:[^'\\]|\\.)*'?|(?:[^ \t\n\r\v\f\\]|\\.?)*)`)

// pwQuery matches password=VALUE in a URL's query string: the value runs
// to the next &, white space and "#" included (pgx takes no fragment:
// ?password=a#b is the password "a#b").
var pwQuery = regexp.MustCompile(`(?i)([?&;](?:ssl)?password\s*=\s*)([^&]*)`)

// pwKV matches either form (NotAPath's test for a DSN given as a path).
var pwKV = regexp.MustCompile(pwKeyword.String() + "|" + pwQuery.String())

// userinfo returns the start and end of the password in a URL DSN: from the
// first ":" after "scheme://" to the last "@" (a password may hold "/",
// "#", "?" or "@"; hiding too much is safe, hiding too little is not).
func userinfo(s string) (int, int, bool) {
	i := strings.Index(s, "://")
	if i < 0 {
		return 0, 0, false
	}
	rest := s[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return 0, 0, false
	}
	c := strings.Index(rest[:at], ":")
	if c < 0 {
		return 0, 0, false
	}
	return i + 3 + c + 1, i + 3 + at, true
}

// keywordPair matches a keyword/value DSN's pair (libpq: "host=h",
// "password = 'x'").
var keywordPair = regexp.MustCompile(`(?i)(?:^|\s)(?:host|hostaddr|port|dbname|user|password|sslpassword|passfile|sslmode|service)\s*=`)

// NotAPath says whether s, given where a file path is expected (--state),
// is a URL, a DSN or a keyword/value DSN instead: such a value may hold a
// password or a token, and as a file name it would be echoed in errors
// ("the state … is not locked") and written to disk as a name.
func NotAPath(s string) bool {
	return strings.Contains(s, "://") || pwKV.MatchString(s) || keywordPair.MatchString(s)
}

// ErrUnencoded is wrapped by Check's error.
var ErrUnencoded = errors.New("percent-encode special characters such as / # ? % @ or spaces in the password")

// Check refuses a URL DSN whose password holds a character that must be
// percent-encoded (/ # ? @, a space or control character, or a "%" that
// starts no escape). Drivers split such a DSN in surprising places and
// quote the pieces — parts of the password — in their errors ("lookup
// REST-OF-PASSWORD@host: no such host"), where no redaction can find them.
// It runs before a DSN reaches any parser.
func Check(s string) error {
	a, b, ok := userinfo(s)
	if !ok {
		return nil
	}
	pw := s[a:b]
	bad := strings.ContainsAny(pw, "/#?@") || strings.IndexFunc(pw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
	if !bad {
		_, err := url.PathUnescape(pw)
		bad = err != nil
	}
	if bad {
		return ErrUnencoded
	}
	return nil
}

// Redact replaces every password in dsn by ****.
func Redact(s string) string {
	if a, b, ok := userinfo(s); ok {
		s = s[:a] + "****" + s[b:]
	}
	s = pwKeyword.ReplaceAllString(s, "${1}****")
	return pwQuery.ReplaceAllString(s, "${1}****")
}

// Secrets lists the passwords in dsn, raw and percent-decoded, longest
// first, so that errors echoing them can be scrubbed.
func Secrets(s string) []string {
	var raw []string
	if a, b, ok := userinfo(s); ok {
		raw = append(raw, s[a:b])
	}
	for _, m := range pwKeyword.FindAllStringSubmatch(s, -1) {
		v := m[2]
		raw = append(raw, v)
		if strings.HasPrefix(v, "'") {
			inner, value := unquote(v)
			raw = append(raw, inner, value)
		} else if strings.Contains(v, `\`) {
			raw = append(raw, unescape(v))
		}
	}
	for _, m := range pwQuery.FindAllStringSubmatch(s, -1) {
		raw = append(raw, m[2])
	}
	// And the password as the drivers themselves read it: the patterns
	// above need not split an odd DSN where the driver does.
	raw = append(raw, driverPasswords(s)...)
	var out []string
	for _, r := range raw {
		if r == "" {
			continue
		}
		out = append(out, r)
		if u, err := url.PathUnescape(r); err == nil && u != r {
			out = append(out, u)
		}
		if u, err := url.QueryUnescape(r); err == nil && u != r {
			out = append(out, u)
		}
	}
	// Longest first: a shorter secret inside a longer one must not leave
	// the rest of the longer one behind.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// unquote takes a single-quoted keyword/value (libpq: \' and \\ escape)
// and returns the text between the quotes and the value it stands for.
func unquote(v string) (inner, value string) {
	var b strings.Builder
	i := 1
	for ; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			b.WriteByte(v[i])
			continue
		}
		if c == '\'' {
			break
		}
		b.WriteByte(c)
	}
	return v[1:min(i, len(v))], b.String()
}

// driverPasswords are the passwords the drivers take from s: pgx's own
// parser (URL or keyword/value), or a mysql://
// URL's user info as sqldb hands it to the MySQL driver.
func driverPasswords(s string) []string {
	if strings.HasPrefix(s, "mysql://") {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				return []string{pw}
			}
		}
		return nil
	}
	cfg, err := pgconn.ParseConfig(s)
	if err != nil {
		return nil
	}
	return []string{cfg.Password}
}

// unescape is an unquoted keyword/value as pgx reads it: a backslash
// stands for the character after it.
func unescape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Scrub returns err with every password of dsn (and the DSN itself)
// replaced by its redacted form.
func Scrub(err error, s string) error {
	if err == nil {
		return nil
	}
	msg := strings.ReplaceAll(err.Error(), s, Redact(s))
	for _, sec := range Secrets(s) {
		msg = strings.ReplaceAll(msg, sec, "****")
	}
	return errors.New(msg)
}
