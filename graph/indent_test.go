package graph

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestIndentJSON: IndentJSON writes what json.Indent writes, on tricky
// strings and on a real graph.
func TestIndentJSON(t *testing.T) {
	g := &Graph{FormatVersion: 1, CRMRoles: []CRMRole{{Key: "r", Name: `a "quoted" {name}, [with]: \ backslash \\"`, Assign: []string{}},
		{Key: "s", Name: "é\u2028<&>", Perms: []CRMPerm{{Entity: "deal", Action: "read", Level: "all"}}}},
		Settings: &Settings{Mode: map[string]string{}, Protect: []string{"x", "y"}}}
	for _, v := range []any{g, map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{1, "x", nil, true, map[string]any{"d": []any{[]any{}}}}}, "plain", 3} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		compact := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "", "  "); err != nil {
			t.Fatal(err)
		}
		if got := IndentJSON(nil, compact, "  ", false); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("indentJSON differs:\n got %s\nwant %s", got, want.Bytes())
		}
	}
}
