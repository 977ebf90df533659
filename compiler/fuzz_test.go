package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// compileOutcome renders what a compilation decided, for comparisons.
func compileOutcome(res Result) string {
	out := fmt.Sprint(res.Graph != nil)
	if res.Graph != nil {
		b, _ := res.Graph.JSON()
		out += "\n" + string(b)
	}
	for _, d := range res.Diags {
		out += fmt.Sprintf("\n%v %s: %s", d.Severity, d.Summary, d.Detail)
		if d.Subject != nil {
			out += fmt.Sprintf(" %+v", *d.Subject)
		}
	}
	return out
}

// FuzzCompileCUE: any file gives a graph or diagnostics, never a panic.
func FuzzCompileCUE(f *testing.F) {
	for _, s := range []string{
		`crm: roles: x: {name: "X", permissions: deal: read: "all"}`,
		`crm: pipelines: deal: w: {name: "W", stages: won: name: "Won"}` + "\n" + `crm: roles: x: {name: "X", permissions: deal: pipelines: w: stages: won: write: "none"}`,
		`workgroups: g: {name: "G", visibility: "secret", owner: "a@b"}`,
		`crm: roles: x: {name: "X", assign: [{user: "a", department: "b"}]}`,
		`tests: [{user: "a", can: "read", entity: "activity"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.cue"), b, 0o644)
		res := CompileDir(dir, Options{})
		if res.Graph == nil && !res.Diags.HasErrors() {
			t.Fatal("no graph and no error")
		}
		// The schema checker's path and unification agree.
		fastSchemaCheck = false
		slow := CompileDir(dir, Options{})
		fastSchemaCheck = true
		if a, b := compileOutcome(res), compileOutcome(slow); a != b {
			t.Fatalf("the schema checker changes the result:\nchecker:     %s\nunification: %s", a, b)
		}
		for _, d := range res.Diags {
			if d.Summary == "Internal error" {
				t.Fatalf("internal error: %s", d.Detail)
			}
		}
	})
}
