package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/importer"
)

func compileText(t *testing.T, files map[string]string) Result {
	t.Helper()
	dir := t.TempDir()
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return CompileDir(dir, Options{})
}

func redundantHints(res Result) []string {
	var out []string
	for _, d := range res.Diags {
		if d.Summary == "Redundant stage permission" {
			out = append(out, d.Detail)
		}
	}
	return out
}

// Issue 13 cause 3: the compiler keeps a stage row equal to the pipeline
// level (it is explicit and beats other roles' inherited values), and
// calls it removable only when no other role could make it matter.
func TestStageRowEqualToPipelineIsKeptAndHintedOnlyWhenRemovable(t *testing.T) {
	const pipes = "crm: pipelines: deal: default: {name: \"General\", stages: {new: name: \"New\", won: name: \"Won\"}}\n"
	const a = "crm: roles: a: {name: \"A\", assign: [{user: \"anna@example.com\"}], permissions: deal: {read: \"own\", stages: won: read: \"own\"}}\n"
	res := compileText(t, map[string]string{"a.cue": pipes + a})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Err())
	}
	role := res.Graph.CRMRoles[0]
	if l, explicit := role.Level(graph.CellKey{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read"}); l != "own" || !explicit {
		t.Errorf("won read = %s explicit=%v, want own, explicit", l, explicit)
	}
	if h := redundantHints(res); len(h) != 1 {
		t.Errorf("alone: hints %q, want 1", h)
	}
	const b = "crm: roles: b: {name: \"B\", assign: [{user: \"boris@example.com\"}], permissions: deal: read: \"all\"}\n"
	res = compileText(t, map[string]string{"a.cue": pipes + a + b})
	if h := redundantHints(res); len(h) != 0 {
		t.Errorf("with B (read all, may share users): hints %q, want none", h)
	}
	// An explicit none under a pipeline-level none is kept too.
	const c = "crm: roles: c: {name: \"C\", permissions: deal: stages: won: read: \"none\"}\n"
	res = compileText(t, map[string]string{"a.cue": pipes + b + c})
	var found bool
	for _, r := range res.Graph.CRMRoles {
		if r.Key == "c" {
			_, found = r.Level(graph.CellKey{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read"})
		}
	}
	if !found {
		t.Error("explicit stage none under pipeline none was dropped")
	}
	if h := redundantHints(res); len(h) != 0 || strings.Contains(strings.Join(h, ""), "won") {
		t.Errorf("explicit none with B: hints %q, want none", h)
	}
}

// Issue 13 cause 4: non-chain level sets are stated as lists, and import
// writes them so that compiling the import gives the same graph (an
// empty plan).
func TestLevelSetsRoundTripThroughImport(t *testing.T) {
	g := &graph.Graph{
		Pipelines: []graph.Pipeline{{Entity: "deal", Key: "default", Name: "General", Stages: []graph.Stage{{Key: "new", Name: "New"}, {Key: "won", Name: "Won"}}}},
		CRMRoles: []graph.CRMRole{{Key: "r", Name: "R", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{
			{Entity: "deal", Pipeline: "default", Action: "read", Level: "own+open"},
			{Entity: "deal", Pipeline: "default", Action: "write", Level: "+department"},
			{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read", Level: "own+subdepartments"},
			{Entity: "deal", Pipeline: "default", Stage: "won", Action: "write", Level: "+department"},
			{Entity: "deal", Pipeline: "default", Action: "transition", Level: "won"},
			{Entity: "contact", Action: "export", Level: "department+open"},
		}}},
	}
	files, err := importer.Write(g)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	srcs := map[string]string{}
	for n, b := range files {
		srcs[n] = string(b)
		text.Write(b)
	}
	if !strings.Contains(text.String(), `read: ["own", "open"]`) {
		t.Errorf("import does not write the list form:\n%s", text.String())
	}
	res := compileText(t, srcs)
	if res.Diags.HasErrors() {
		t.Fatalf("%v\n%s", res.Diags.Err(), text.String())
	}
	want, _ := g.Normalize().JSON()
	got, _ := res.Graph.JSON()
	if string(want) != string(got) {
		t.Errorf("round trip differs:\nwant %s\ngot  %s", want, got)
	}
}

func TestLevelListsAreChecked(t *testing.T) {
	const pipes = "crm: pipelines: deal: default: {name: \"General\", stages: {new: name: \"New\", won: name: \"Won\"}}\n"
	for _, tc := range []struct{ src, want string }{
		{`crm: roles: r: {name: "R", permissions: deal: read: ["own", "department"]}`, ""},
		{`crm: roles: r: {name: "R", permissions: deal: read: ["own", "open"]}`, ""},
		{`crm: roles: r: {name: "R", permissions: deal: read: ["own", "everything"]}`, "everything"},
		{`crm: roles: r: {name: "R", permissions: deal: automation: ["all"]}`, "automation"},
		{`crm: roles: r: {name: "R", permissions: deal: read: []}`, "read"},
	} {
		res := compileText(t, map[string]string{"a.cue": pipes + tc.src + "\n"})
		if tc.want == "" {
			if res.Diags.HasErrors() {
				t.Errorf("%s: %v", tc.src, res.Diags.Err())
			}
			continue
		}
		if !res.Diags.HasErrors() || !strings.Contains(res.Diags.Err().Error(), tc.want) {
			t.Errorf("%s: want an error naming %q, got %v", tc.src, tc.want, res.Diags.Err())
		}
	}
	res := compileText(t, map[string]string{"a.cue": pipes + `crm: roles: r: {name: "R", permissions: deal: read: ["own", "department"]}` + "\n"})
	if l, _ := res.Graph.CRMRoles[0].Level(graph.CellKey{Entity: "deal", Pipeline: "default", Action: "read"}); l != "department" {
		t.Errorf("a chain list is its level name: got %s", l)
	}
}
