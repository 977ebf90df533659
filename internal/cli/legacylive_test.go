package cli

import (
	"slices"
	"testing"
)

func TestLegacyLiveFlag(t *testing.T) {
	for _, c := range []struct {
		in, want []string
		used     bool
	}{
		{[]string{"who-can", "deal", "read", "--live"}, []string{"who-can", "deal", "read", "--roles=live"}, true},
		{[]string{"who-can", "--live", "deal", "read"}, []string{"who-can", "--roles=live", "deal", "read"}, true},
		{[]string{"who-can", "--live=true", "deal", "read"}, []string{"who-can", "--roles=live", "deal", "read"}, true},
		{[]string{"who-can", "--live", "local:p.json", "deal", "read"}, []string{"who-can", "--live", "local:p.json", "deal", "read"}, false},
		{[]string{"who-can", "--live", "demo", "deal", "read"}, []string{"who-can", "--live", "demo", "deal", "read"}, false},
		{[]string{"who-can", "--live", "host=db dbname=b24", "deal", "read"}, []string{"who-can", "--live", "host=db dbname=b24", "deal", "read"}, false},
		{[]string{"plan", "--live", "policies"}, []string{"plan", "--live", "policies"}, false},
		{[]string{"who-can", "--", "--live"}, []string{"who-can", "--", "--live"}, false},
	} {
		got, used := legacyLiveFlag(c.in)
		if !slices.Equal(got, c.want) || used != c.used {
			t.Errorf("%q: got %q %v, want %q %v", c.in, got, used, c.want, c.used)
		}
	}
}
