package importer_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/importer"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func updating() bool { return *update || os.Getenv("B24PERM_UPDATE") == "1" }

// compileFiles writes files to a temporary directory and compiles it.
func compileFiles(t testing.TB, files map[string][]byte) *graph.Graph {
	t.Helper()
	dir := t.TempDir()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := compiler.CompileDir(dir, compiler.Options{})
	if res.Diags.HasErrors() {
		var all []string
		for _, n := range sortedNames(files) {
			all = append(all, "--- "+n+"\n"+string(files[n]))
		}
		t.Fatalf("written policy does not compile: %v\n%s", res.Diags.Err(), strings.Join(all, "\n"))
	}
	return res.Graph
}

func compileDir(t testing.TB, dir string) *graph.Graph {
	t.Helper()
	res := compiler.CompileDir(dir, compiler.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Err())
	}
	return res.Graph
}

func sortedNames(m map[string][]byte) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// comparable renders the parts of g that Write promises to keep: CRM,
// telephony, open lines, workgroups and fields, without live IDs, status
// IDs, system roles, the directory, settings, removals and tests.
func comparable(t testing.TB, in *graph.Graph) string {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var g graph.Graph
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	g.Directory, g.Settings, g.Removed, g.Tests = nil, nil, nil, nil
	for i := range g.SmartProcesses {
		g.SmartProcesses[i].EntityTypeID = 0
	}
	for i := range g.Pipelines {
		g.Pipelines[i].ID = 0
		for j := range g.Pipelines[i].Stages {
			g.Pipelines[i].Stages[j].StatusID = ""
		}
	}
	g.CRMRoles = slices.DeleteFunc(g.CRMRoles, func(r graph.CRMRole) bool { return r.System })
	for i := range g.CRMRoles {
		g.CRMRoles[i].ID = 0
	}
	for i := range g.TelephonyRoles {
		g.TelephonyRoles[i].ID = 0
	}
	for i := range g.OpenlineRoles {
		g.OpenlineRoles[i].ID = 0
	}
	for i := range g.Workgroups {
		g.Workgroups[i].ID = 0
	}
	out, err := g.Normalize().JSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// roundTrip writes g, compiles the result and compares.
func roundTrip(t *testing.T, g *graph.Graph) map[string][]byte {
	t.Helper()
	files, err := importer.Write(g)
	if err != nil {
		t.Fatal(err)
	}
	got := compileFiles(t, files)
	if diff := cmp.Diff(comparable(t, g), comparable(t, got)); diff != "" {
		t.Fatalf("compiled import differs from the graph (-graph +compiled):\n%s", diff)
	}
	return files
}

// golden compares files with testdata/<name>/, or rewrites it.
func golden(t *testing.T, name string, files map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", name)
	if updating() {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.cue"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Base(p)] = b
	}
	if diff := cmp.Diff(sortedNames(want), sortedNames(files)); diff != "" {
		t.Fatalf("file names (-golden +got):\n%s\n(rerun with -update after checking)", diff)
	}
	for n, b := range files {
		if diff := cmp.Diff(string(want[n]), string(b)); diff != "" {
			t.Errorf("%s (-golden +got):\n%s\n(rerun with -update after checking)", n, diff)
		}
	}
}

// The example policies, in CUE and in HCL, survive compile → import →
// compile; the CUE written for them is a golden file.
func TestRoundTripExamples(t *testing.T) {
	for _, dir := range []string{"../policies", "../examples/hcl"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g := compileDir(t, dir)
			files := roundTrip(t, g)
			if dir == "../policies" {
				golden(t, "policies", files)
			}
		})
	}
}

// Generated organizations (with live IDs, system roles and status IDs)
// round-trip at several sizes and seeds.
func TestRoundTripGenerated(t *testing.T) {
	for _, c := range []struct {
		size string
		seed uint64
	}{{"s", 1}, {"s", 2}, {"s", 3}, {"m", 1}} {
		t.Run(c.size+"/"+string(rune('0'+c.seed)), func(t *testing.T) {
			roundTrip(t, gen.Generate(gen.Sizes[c.size], c.seed))
		})
	}
}

// compactGraph exercises the compaction rules: unanimous pipelines,
// majority with overrides, ties, transition lists, stage overrides on the
// default and other pipelines, a pipeline only cells name, every subject
// form, keyword keys and live IDs.
const compactGraph = `{
  "smart_processes": [{"key": "invoices", "name": "Invoices", "entity_type_id": 1032}],
  "pipelines": [
    {"entity": "deal", "key": "default", "name": "General", "id": 0, "stages": [
      {"key": "new", "name": "New", "status_id": "NEW"}, {"key": "won", "name": "Won", "status_id": "WON"}, {"key": "lose", "name": "Lost", "status_id": "LOSE"}]},
    {"entity": "deal", "key": "wholesale", "name": "Wholesale", "id": 3, "stages": [
      {"key": "new", "name": "New", "status_id": "C3:NEW"}, {"key": "won", "name": "Deal won", "status_id": "C3:WON"}]},
    {"entity": "deal", "key": "retail", "name": "Retail", "id": 4, "stages": [{"key": "new", "name": "New"}]},
    {"entity": "deal", "key": "export", "name": "Export", "id": 5, "stages": [{"key": "new", "name": "New"}]},
    {"entity": "lead", "key": "default", "name": "Leads", "stages": [{"key": "new", "name": "New"}, {"key": "junk", "name": "Junk"}]},
    {"entity": "smart:invoices", "key": "default", "name": "Invoices", "id": 12, "stages": [{"key": "draft", "name": "Draft"}]}
  ],
  "crm_roles": [
    {"key": "admin", "name": "Administrator", "id": 1, "system": true, "assign": ["group:administrators"], "permissions": [
      {"entity": "config", "action": "write", "level": "all"}]},
    {"key": "manager", "name": "Sales manager", "id": 7, "assign": [
      "user:anna@example.com", "user:42", "department:Company/Sales", "department_tree:Company/Support",
      "group:employees", "workgroup_owner:board", "workgroup_moderators:board", "workgroup_members:board", "code:CR"],
     "permissions": [
      {"entity": "deal", "pipeline": "default", "action": "read", "level": "all"},
      {"entity": "deal", "pipeline": "wholesale", "action": "read", "level": "all"},
      {"entity": "deal", "pipeline": "retail", "action": "read", "level": "all"},
      {"entity": "deal", "pipeline": "export", "action": "read", "level": "all"},
      {"entity": "deal", "pipeline": "default", "action": "write", "level": "own"},
      {"entity": "deal", "pipeline": "wholesale", "action": "write", "level": "own"},
      {"entity": "deal", "pipeline": "retail", "action": "write", "level": "own"},
      {"entity": "deal", "pipeline": "export", "action": "write", "level": "department"},
      {"entity": "deal", "pipeline": "wholesale", "action": "delete", "level": "all"},
      {"entity": "deal", "pipeline": "default", "action": "export", "level": "all"},
      {"entity": "deal", "pipeline": "wholesale", "action": "export", "level": "all"},
      {"entity": "deal", "pipeline": "retail", "action": "export", "level": "own"},
      {"entity": "deal", "pipeline": "export", "action": "export", "level": "own"},
      {"entity": "deal", "pipeline": "wholesale", "action": "transition", "level": "new,won"},
      {"entity": "deal", "pipeline": "retail", "action": "transition", "level": "any"},
      {"entity": "deal", "pipeline": "wholesale", "stage": "won", "action": "write", "level": "none"},
      {"entity": "deal", "pipeline": "default", "stage": "lose", "action": "delete", "level": "all"},
      {"entity": "deal", "pipeline": "default", "stage": "won", "action": "read", "level": "own"},
      {"entity": "lead", "pipeline": "default", "action": "read", "level": "own"},
      {"entity": "lead", "pipeline": "default", "stage": "junk", "action": "read", "level": "none"},
      {"entity": "contact", "action": "read", "level": "all"},
      {"entity": "contact", "action": "mycardview", "level": "all"},
      {"entity": "smart:invoices", "pipeline": "default", "action": "read", "level": "department"},
      {"entity": "smart:invoices", "pipeline": "default", "stage": "draft", "action": "add", "level": "own"}
    ]},
    {"key": "true", "name": "Keyword key", "assign": [], "permissions": [
      {"entity": "deal", "pipeline": "default", "action": "transition", "level": "won"},
      {"entity": "deal", "pipeline": "wholesale", "action": "transition", "level": "won"},
      {"entity": "deal", "pipeline": "retail", "action": "read", "level": "own"},
      {"entity": "deal", "pipeline": "export", "action": "read", "level": "department"}
    ]}
  ],
  "telephony_roles": [{"key": "verifiers", "name": "Call verifiers", "id": 2, "assign": ["user:anna@example.com"], "permissions": [
      {"entity": "call_detail", "action": "view", "level": "any"}, {"entity": "call_record", "action": "listen", "level": "any"}]}],
  "workgroups": [{"key": "board", "name": "Board room", "id": 9, "visibility": "secret", "owner": "user:ivan@example.com",
      "moderators": ["user:anna@example.com"], "members": ["user:elena@example.com", "user:7"],
      "features": [{"feature": "blog", "operation": "write_post", "role": "moderators"}]}],
  "field_rules": [
    {"key": "amount", "entity": "deal", "pipeline": "wholesale", "field": "OPPORTUNITY", "stages": ["new"],
     "view": ["department:Company/Finance"], "edit": ["user:anna@example.com"]},
    {"key": "passport", "native": true, "entity": "contact", "field": "UF_CRM_PASSPORT", "view": ["department_tree:Company/Finance"]}
  ]
}`

func loadCompact(t testing.TB) *graph.Graph {
	t.Helper()
	var g graph.Graph
	if err := json.Unmarshal([]byte(compactGraph), &g); err != nil {
		t.Fatal(err)
	}
	return g.Normalize()
}

func TestCompaction(t *testing.T) {
	g := loadCompact(t)
	files := roundTrip(t, g)
	golden(t, "compact", files)

	if got := sortedNames(files); !slices.Equal(got, []string{"crm.cue", "fields.cue", "telephony.cue", "workgroups.cue"}) {
		t.Errorf("files %v: empty domains (open lines) must be left out", got)
	}
	crm := string(files["crm.cue"])
	for _, want := range []string{
		"// live ID 7\ncrm: roles: manager:", // role IDs
		"// live ID 3\ncrm: pipelines: deal: wholesale:",
		"// live ID 1032\ncrm: smart_processes: invoices:",
		"crm: roles: true: {", // a keyword is a plain label in CUE
		`{user: "anna@example.com"}`,
		`{user: "42"}`,
		`{department: "Company/Sales"}`,
		`{department: "Company/Support", subdepartments: true}`,
		`{group: "employees"}`,
		`{workgroup: "board", members: "owner"}`,
		`{workgroup: "board", members: "moderators"}`,
		`{workgroup: "board"}`,
		`{code: "CR"}`,
		`transition: ["new", "won"]`, // a list only on its pipeline
	} {
		if !strings.Contains(crm, want) {
			t.Errorf("crm.cue lacks %q", want)
		}
	}
	for _, absent := range []string{"status_id", "administrator", "C3:"} {
		if strings.Contains(crm, absent) {
			t.Errorf("crm.cue contains %q", absent)
		}
	}
	// The unanimous read is written once, at entity level, for the deal.
	manager := crm[strings.Index(crm, "crm: roles: manager:"):]
	manager = manager[:strings.Index(manager, "\n}\n")]
	if n := len(regexp.MustCompile(`\bread: +"all"`).FindAllString(manager, -1)); n != 2 { // deal and contact
		t.Errorf("manager has %d read: \"all\" lines, want 2 (deal and contact entity level):\n%s", n, manager)
	}
}

// Only the domains a graph has become files; an empty graph writes none.
func TestEmptyDomainsAreLeftOut(t *testing.T) {
	files, err := importer.Write(&graph.Graph{})
	if err != nil || len(files) != 0 {
		t.Fatalf("empty graph: %v files, err %v", sortedNames(files), err)
	}
	g := loadCompact(t)
	g.CRMRoles, g.Pipelines, g.SmartProcesses, g.TelephonyRoles, g.FieldRules = nil, nil, nil, nil, nil
	files = roundTrip(t, g)
	if got := sortedNames(files); !slices.Equal(got, []string{"workgroups.cue"}) {
		t.Fatalf("files %v, want workgroups.cue only", got)
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	g := gen.Generate(gen.Sizes["m"], 7)
	a, err := importer.Write(g)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, _ := importer.Write(g)
		for n := range a {
			if !bytes.Equal(a[n], b[n]) {
				t.Fatalf("%s differs between runs", n)
			}
		}
	}
}

// BenchmarkWriteXL writes the XL organization (200 CRM roles, 50
// pipelines × 12 stages, 500 workgroups, 1,000 field rules).
func BenchmarkWriteXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	size := 0
	files, err := importer.Write(g)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		size += len(f)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := importer.Write(g); err != nil {
			b.Fatal(err)
		}
	}
}
