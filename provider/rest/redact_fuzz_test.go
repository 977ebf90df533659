package rest

import (
	"strings"
	"testing"
)

// FuzzWebhookRedact: whatever the token and the user part, neither the
// error for an invalid webhook URL nor the description of a valid one
// shows the token (tokens of fewer than 4 bytes can hide in any text).
func FuzzWebhookRedact(f *testing.F) {
	for _, s := range [][2]string{{"1", "abcdef123"}, {"", "abcdef123"}, {"admin", "tok en"}, {"12", "a/b"}, {"1", "t@k#x?y"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, user, tok string) {
		urls := []string{
			"https://p.example/rest/" + user + "/" + tok + "/",
			"https://p.example/rest/" + user + "/" + tok,
			"https://p.example/rest/" + tok + "/",
			"https://p.example/" + tok,
		}
		if !strings.ContainsAny(tok, "/?#@") {
			// The token in the user info, where a password would be.
			urls = append(urls, "http://"+tok+"@p.example/rest/1/x/")
		}
		for _, u := range urls {
			c, err := New(u, Options{})
			shown := ""
			if err != nil {
				shown = err.Error()
			} else {
				shown = c.Describe() + " " + c.redactErr(errUnexpected(u)).Error()
			}
			if len(tok) < 4 {
				continue
			}
			// A token of the mask's stars and blanks ("*** ") matches
			// wherever a mask is shown, and shows nothing.
			if strings.Trim(tok, "* \t\n\r\v\f") == "" {
				continue
			}
			// Text that is not the token may hold it by chance: the user
			// part, the fixed parts of the URL and of the messages.
			fixed := user + " https://p.example/rest/1/x/ http://@p.example invalid webhook URL : want https://PORTAL/rest/USER_ID/TOKEN/ (not shown: it may hold a token) /rest/1/****/ Post  unexpected"
			if strings.Count(shown, tok) > strings.Count(fixed, tok) {
				t.Fatalf("%q shows the token %q: %s", u, tok, shown)
			}
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// errUnexpected is an error a transport would give, quoting the URL.
func errUnexpected(u string) error { return errString("Post " + u + ": unexpected") }
