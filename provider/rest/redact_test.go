package rest

import (
	"strings"
	"testing"
)

// An unparsable webhook URL is refused without printing its token, whatever
// position the token is in (issue 16 #12).
func TestInvalidWebhookHidesToken(t *testing.T) {
	for _, u := range []string{
		"https://p.bitrix24.ru/rest/T0KENabc/",
		"https://p.bitrix24.ru/rest/admin/T0KENabc/",
		"https://p.bitrix24.ru/rest/1/T0KENabc/extra/",
		"https://p.bitrix24.ru/T0KENabc/",
		"p.bitrix24.ru/rest/1/T0KENabc",
		"T0KENabc",
	} {
		_, err := New(u, Options{})
		if err == nil {
			t.Errorf("New(%q) accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "T0KENabc") {
			t.Errorf("New(%q) error leaks the token: %v", u, err)
		}
		if !strings.Contains(err.Error(), "invalid webhook URL") {
			t.Errorf("New(%q) error: %v", u, err)
		}
	}
}
