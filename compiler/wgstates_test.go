package compiler

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The policy language states archived groups, switched-off features and
// the fourth visibility (VISIBLE=N, OPENED=Y).
func TestWorkgroupStatesInPolicy(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "wg.cue"), []byte(`workgroups: old: {
	name: "Old"
	visibility: "secret_open"
	archived: true
	disabled_features: ["tasks", "chat"]
	owner: "a@example.com"
}
`), 0o644)
	res := CompileDir(dir, Options{})
	if res.Diags.HasErrors() {
		t.Fatalf("diags: %v", res.Diags)
	}
	w := res.Graph.Workgroups[0]
	if w.Visibility != "secret_open" || !w.Archived || !slices.Equal(w.DisabledFeatures, []string{"chat", "tasks"}) {
		t.Errorf("workgroup %+v", w)
	}

	os.WriteFile(filepath.Join(dir, "wg.cue"), []byte(`workgroups: old: {
	name: "Old"
	visibility: "private"
	disabled_features: ["taks"]
	owner: "a@example.com"
}
`), 0o644)
	res = CompileDir(dir, Options{})
	if !res.Diags.HasErrors() || res.Diags[0].Summary != "Unknown feature" || !strings.Contains(res.Diags[0].Detail, `"taks"`) ||
		res.Diags[0].Subject == nil || res.Diags[0].Subject.Start.Line != 4 {
		t.Errorf("a misspelt feature: %v", res.Diags)
	}
}
