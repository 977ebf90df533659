package compiler

import (
	"encoding/json"
	"testing"
)

// TestChainLevelsValid: the Go check that lets the compiler unify with the
// loose schema accepts exactly what #ChainLevel accepts.
func TestChainLevelsValid(t *testing.T) {
	for _, tc := range []struct {
		perms string
		ok    bool
	}{
		{`{"deal": {"read": "all", "write": ["own", "open"], "automation": "all"}}`, true},
		{`{"deal": {"pipelines": {"p": {"add": "none", "stages": {"won": {"delete": "department"}}}}, "stages": {"lose": {"read": ["all"]}}}}`, true},
		{`{"deal": {"read": "everyone"}}`, false},
		{`{"deal": {"read": "[own]"}}`, false},
		{`{"deal": {"write": []}}`, false},
		{`{"deal": {"write": ["own", "none"]}}`, false},
		{`{"deal": {"read": ""}}`, false},
		{`{"deal": {"pipelines": {"p": {"stages": {"won": {"export": "any"}}}}}}`, false},
		{`{"deal": {"stages": {"won": {"import": "x"}}}}`, false},
		{`{"lead": {"pipelines": {"p": {"read": "nobody"}}}}`, false},
	} {
		var doc Document
		if err := json.Unmarshal([]byte(`{"crm": {"roles": {"r": {"name": "R", "permissions": `+tc.perms+`}}}}`), &doc); err != nil {
			t.Fatalf("%s: %v", tc.perms, err)
		}
		if got := chainLevelsValid(&doc); got != tc.ok {
			t.Errorf("%s: chainLevelsValid = %v, want %v", tc.perms, got, tc.ok)
		}
	}
}
