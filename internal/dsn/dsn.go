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
)

// pwKV matches password=VALUE in a query string or a keyword/value DSN; a
// value is single-quoted (with \' escapes) or runs to the next space or &.
var pwKV = regexp.MustCompile(`(?i)((?:^|[\s?&;])(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)`)

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
	return pwKV.ReplaceAllString(s, "${1}****")
}

// Secrets lists the passwords in dsn, raw and percent-decoded, longest
// first, so that errors echoing them can be scrubbed.
func Secrets(s string) []string {
	var raw []string
	if a, b, ok := userinfo(s); ok {
		raw = append(raw, s[a:b])
	}
	for _, m := range pwKV.FindAllStringSubmatch(s, -1) {
		v := m[2]
		raw = append(raw, v)
		if strings.HasPrefix(v, "'") {
			inner, value := unquote(v)
			raw = append(raw, inner, value)
		}
	}
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
