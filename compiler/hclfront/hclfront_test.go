package hclfront

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/diag"
	"github.com/google/go-cmp/cmp"
)

// canon renders v as indented JSON with sorted keys, for comparisons.
func canon(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reparse turns a JSON text into the generic shape Decode returns, with
// integers as int64 so the two compare exactly.
func reparse(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	return ints(m).(map[string]any)
}

func ints(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = ints(e)
		}
	case []any:
		for i, e := range x {
			x[i] = ints(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func at(r diag.Range) string {
	return fmt.Sprintf("%s:%d:%d-%d:%d", r.Filename, r.Start.Line, r.Start.Column, r.End.Line, r.End.Column)
}

// checkBytes verifies that a range's byte offsets agree with its lines and
// columns in src (ASCII sources: one byte per column).
func checkBytes(t *testing.T, p string, r diag.Range, src []byte) {
	t.Helper()
	off := func(line, col int) int {
		o := 0
		for range line - 1 {
			i := strings.IndexByte(string(src[o:]), '\n')
			if i < 0 {
				return -1
			}
			o += i + 1
		}
		return o + col - 1
	}
	if got, want := r.Start.Byte, off(r.Start.Line, r.Start.Column); got != want {
		t.Errorf("range %s: start byte %d, want %d", p, got, want)
	}
	if got, want := r.End.Byte, off(r.End.Line, r.End.Column); got != want {
		t.Errorf("range %s: end byte %d, want %d", p, got, want)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		want   string            // the document as JSON
		ranges map[string]string // path → "file:line:col-line:col text", "" for none
	}{
		{
			name:  "empty",
			files: map[string]string{"a.hcl": "# nothing\n"},
			want:  `{}`,
		},
		{
			name: "pipeline with stages and smart process",
			files: map[string]string{"crm.hcl": `crm_smart_process "invoices" { name = "Invoices" }
crm_pipeline "deal" "wholesale" {
  name = "Wholesale"
  stage "new" { name = "New" }
  stage "won" { name = "Deal won" }
}
`},
			want: `{"crm": {
  "smart_processes": {"invoices": {"name": "Invoices"}},
  "pipelines": {"deal": {"wholesale": {"name": "Wholesale", "stages": {"new": {"name": "New"}, "won": {"name": "Deal won"}}}}}}}`,
			ranges: map[string]string{
				"crm.smart_processes.invoices":                   "crm.hcl:1:19-1:29 \"invoices\"",
				"crm.pipelines.deal.wholesale":                   "crm.hcl:2:21-2:32 \"wholesale\"",
				"crm.pipelines.deal.wholesale.name":              "crm.hcl:3:10-3:21 \"Wholesale\"",
				"crm.pipelines.deal.wholesale.stages.won.name":   "crm.hcl:5:24-5:34 \"Deal won\"",
				"crm.pipelines.deal.wholesale.stages.won":        "crm.hcl:5:9-5:14 \"won\"",
				"crm.smart_processes.invoices.name":              "crm.hcl:1:39-1:49 \"Invoices\"",
				"crm.pipelines.deal.wholesale.stages.new.name":   "crm.hcl:4:24-4:29 \"New\"",
				"crm.pipelines.deal.wholesale.stages.new":        "crm.hcl:4:9-4:14 \"new\"",
				"crm.pipelines.deal.wholesale.stages":            "",
				"crm.pipelines.deal.wholesale.stages.lose":       "",
				"crm.pipelines.deal.wholesale.stages.won.status": "",
			},
		},
		{
			name: "crm role with entity, pipeline and stage overrides",
			files: map[string]string{"r.hcl": `crm_role "manager" {
  name   = "Manager"
  assign = [{ department = "Company/Sales", subdepartments = true }, { user = "anna@example.com" }]
  permissions "deal" {
    read  = "department"
    write = "own"
    transition = ["new", "won"]
    pipeline "wholesale" {
      read = "all"
      stage "won" { write = "none" }
    }
    stage "lose" { delete = "none" }
  }
  permissions "contact" { read = "all" }
}
`},
			want: `{"crm": {"roles": {"manager": {
  "name": "Manager",
  "assign": [{"department": "Company/Sales", "subdepartments": true}, {"user": "anna@example.com"}],
  "permissions": {
    "deal": {
      "read": "department", "write": "own", "transition": ["new", "won"],
      "pipelines": {"wholesale": {"read": "all", "stages": {"won": {"write": "none"}}}},
      "stages": {"lose": {"delete": "none"}}
    },
    "contact": {"read": "all"}
  }}}}}`,
			ranges: map[string]string{
				"crm.roles.manager.permissions.deal.pipelines.wholesale.stages.won.write": "r.hcl:10:29-10:35 \"none\"",
				"crm.roles.manager.permissions.deal.pipelines.wholesale.stages.won":       "r.hcl:10:13-10:18 \"won\"",
				"crm.roles.manager.permissions.deal.pipelines.wholesale":                  "r.hcl:8:14-8:25 \"wholesale\"",
				"crm.roles.manager.permissions.deal.stages.lose.delete":                   "r.hcl:12:29-12:35 \"none\"",
				"crm.roles.manager.assign.0.subdepartments":                               "r.hcl:3:62-3:66 true",
				"crm.roles.manager.assign.1":                                              "r.hcl:3:70-3:99 { user = \"anna@example.com\" }",
				"crm.roles.manager.assign.1.user":                                         "r.hcl:3:79-3:97 \"anna@example.com\"",
				"crm.roles.manager.permissions.deal.transition.1":                         "r.hcl:7:26-7:31 \"won\"",
				"crm.roles.manager.permissions.contact.read":                              "r.hcl:14:34-14:39 \"all\"",
				"crm.roles.manager": "r.hcl:1:10-1:19 \"manager\"",
			},
		},
		{
			name: "telephony, open lines, workgroups and field rules",
			files: map[string]string{"x.hcl": `telephony_role "verifiers" {
  name        = "Call Verifiers"
  assign      = [{ user = "anna@example.com" }]
  permissions = { call_detail = { view = "any" }, call_record = { listen = "any" } }
}
openline_role "ops" {
  name        = "Operators"
  permissions = { "lines" = { view = "own" } }
}
workgroup "sales" {
  name       = "Sales"
  visibility = "private"
  owner      = "anna@example.com"
  moderators = []
  members    = ["boris@example.com"]
  features   = { tasks = { edit_tasks = "members" } }
}
field_rule "amount" {
  entity   = "deal"
  pipeline = "wholesale"
  field    = "OPPORTUNITY"
  stages   = ["new"]
  view     = [{ department = "Company/Finance" }]
  edit     = [{ group = "finance" }]
}
field_visibility "passport" {
  entity = "contact"
  field  = "UF_CRM_PASSPORT"
  view   = [{ code = "D7" }]
}
`},
			want: `{
  "telephony": {"roles": {"verifiers": {"name": "Call Verifiers", "assign": [{"user": "anna@example.com"}],
     "permissions": {"call_detail": {"view": "any"}, "call_record": {"listen": "any"}}}}},
  "openlines": {"roles": {"ops": {"name": "Operators", "permissions": {"lines": {"view": "own"}}}}},
  "workgroups": {"sales": {"name": "Sales", "visibility": "private", "owner": "anna@example.com",
     "moderators": [], "members": ["boris@example.com"], "features": {"tasks": {"edit_tasks": "members"}}}},
  "fields": {
    "rules": {"amount": {"entity": "deal", "pipeline": "wholesale", "field": "OPPORTUNITY", "stages": ["new"],
       "view": [{"department": "Company/Finance"}], "edit": [{"group": "finance"}]}},
    "visibility": {"passport": {"entity": "contact", "field": "UF_CRM_PASSPORT", "view": [{"code": "D7"}]}}
  }}`,
			ranges: map[string]string{
				"telephony.roles.verifiers.permissions.call_record.listen": "x.hcl:4:76-4:81 \"any\"",
				"openlines.roles.ops.permissions.lines.view":               "x.hcl:8:38-8:43 \"own\"",
				"workgroups.sales.features.tasks.edit_tasks":               "x.hcl:16:41-16:50 \"members\"",
				"workgroups.sales.members.0":                               "x.hcl:15:17-15:36 \"boris@example.com\"",
				"fields.rules.amount.edit.0.group":                         "x.hcl:24:25-24:34 \"finance\"",
			},
		},
		{
			name: "telephony security and workgroup states",
			files: map[string]string{"t.hcl": `telephony {
  security = "off"
}
workgroup "old" {
  name              = "Old"
  visibility        = "secret_open"
  owner             = "a@example.com"
  archived          = true
  disabled_features = ["tasks"]
}
`},
			want: `{"telephony": {"security": "off"},
  "workgroups": {"old": {"name": "Old", "visibility": "secret_open", "owner": "a@example.com", "archived": true, "disabled_features": ["tasks"]}}}`,
			ranges: map[string]string{
				"telephony.security":                 "t.hcl:2:14-2:19 \"off\"",
				"workgroups.old.disabled_features.0": "t.hcl:9:24-9:31 \"tasks\"",
			},
		},
		{
			name: "settings, removed and tests keep source order; numbers and heredocs",
			files: map[string]string{
				"a.hcl": `settings {
  mode             = { crm = "authoritative" }
  protect          = ["crm_role.administrator"]
  sensitive_fields = ["deal.OPPORTUNITY"]
}
removed {
  address = "crm_role.old"
  reason  = <<-EOT
    Replaced by manager.
    EOT
}
test {
  name = "first"
  user = "anna@example.com"
  can  = "read"
  entity = "deal"
}
test {
  name    = "second"
  user    = "boris@example.com"
  cannot  = "write"
  entity  = "deal"
  exactly = false
}
`,
				"b.hcl": `test {
  name = "third"
  nobody_outside = "Company/Finance"
  can = "view"
  entity = "deal"
  field = "OPPORTUNITY"
}
removed {
  address = "workgroup.x"
  reason  = "gone"
}
workgroup "n" {
  name = "N"
  visibility = "open"
  owner = "a@example.com"
  features = { files = { write = "members" } }
  size = -3
  ratio = 1.5
}
`,
			},
			want: `{
  "settings": {"mode": {"crm": "authoritative"}, "protect": ["crm_role.administrator"], "sensitive_fields": ["deal.OPPORTUNITY"]},
  "removed": [{"address": "crm_role.old", "reason": "Replaced by manager.\n"}, {"address": "workgroup.x", "reason": "gone"}],
  "tests": [
    {"name": "first", "user": "anna@example.com", "can": "read", "entity": "deal"},
    {"name": "second", "user": "boris@example.com", "cannot": "write", "entity": "deal", "exactly": false},
    {"name": "third", "nobody_outside": "Company/Finance", "can": "view", "entity": "deal", "field": "OPPORTUNITY"}
  ],
  "workgroups": {"n": {"name": "N", "visibility": "open", "owner": "a@example.com",
    "features": {"files": {"write": "members"}}, "size": -3, "ratio": 1.5}}
}`,
			ranges: map[string]string{
				"tests.0":            "a.hcl:12:1-12:5 test",
				"tests.1.cannot":     "a.hcl:21:13-21:20 \"write\"",
				"tests.2":            "b.hcl:1:1-1:5 test",
				"tests.2.field":      "b.hcl:6:11-6:24 \"OPPORTUNITY\"",
				"removed.1":          "b.hcl:8:1-8:8 removed",
				"removed.0.reason":   "a.hcl:8:13-10:8 <<-EOT\n    Replaced by manager.\n    EOT",
				"settings.protect.0": "a.hcl:3:23-3:47 \"crm_role.administrator\"",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for n, s := range tc.files {
				files[n] = []byte(s)
			}
			doc, ranges, ds := Decode(files)
			if len(ds) > 0 {
				t.Fatalf("unexpected diagnostics: %v", ds.Err())
			}
			if diff := cmp.Diff(reparse(t, tc.want), doc); diff != "" {
				t.Errorf("document (-want +got):\n%s\ngot:\n%s", diff, canon(t, doc))
			}
			for p, want := range tc.ranges {
				r, ok := ranges[p]
				switch {
				case want == "" && ok:
					t.Errorf("range %s: got %s, want none", p, at(r))
				case want != "" && !ok:
					t.Errorf("range %s: missing", p)
				case want != "":
					got := at(r) + " " + string(files[r.Filename][r.Start.Byte:r.End.Byte])
					if got != want {
						t.Errorf("range %s:\n got %s\nwant %s", p, got, want)
					}
				}
			}
			for p, r := range ranges {
				checkBytes(t, p, r, files[r.Filename])
			}
			// Every value of the document has a range in one of the files.
			var walk func(p string, v any)
			walk = func(p string, v any) {
				switch x := v.(type) {
				case map[string]any:
					for k, e := range x {
						walk(strings.TrimPrefix(p+"."+k, "."), e)
					}
					return
				case []any:
					for i, e := range x {
						walk(fmt.Sprintf("%s.%d", p, i), e)
					}
				}
				if _, ok := ranges[p]; !ok {
					t.Errorf("no range for %s", p)
				}
			}
			walk("", doc)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // Short() of each diagnostic, in order (prefix match)
	}{
		{
			name:  "syntax error with position",
			files: map[string]string{"a.hcl": "crm_role \"x\" {\n  name = = \"X\"\n}\n"},
			want:  []string{"a.hcl:2:10: Invalid expression"},
		},
		{
			name:  "unclosed block",
			files: map[string]string{"a.hcl": "crm_role \"x\" {\n  name = \"X\"\n"},
			want:  []string{"a.hcl:1:14: Unclosed configuration block"},
		},
		{
			name:  "unknown block type",
			files: map[string]string{"a.hcl": "crm_rol \"x\" {\n  name = \"X\"\n}\n"},
			want:  []string{"a.hcl:1:1: Unsupported block type: blocks of type \"crm_rol\" are not expected here; use one of crm_pipeline, crm_role"},
		},
		{
			name:  "top-level attribute",
			files: map[string]string{"a.hcl": "name = \"x\"\n"},
			want:  []string{"a.hcl:1:1: Unexpected attribute"},
		},
		{
			name:  "wrong label count",
			files: map[string]string{"a.hcl": "crm_pipeline \"wholesale\" { name = \"W\" }\n"},
			want:  []string{"a.hcl:1:1: Wrong number of labels: a crm_pipeline block needs 2 label(s) (entity, key), not 1"},
		},
		{
			name: "duplicate role label in two files",
			files: map[string]string{
				"a.hcl": "crm_role \"x\" { name = \"X\" }\n",
				"b.hcl": "\n\ncrm_role \"x\" { name = \"Y\" }\n",
			},
			want: []string{`b.hcl:3:10: Duplicate block: crm_role "x" is also declared at a.hcl:1`},
		},
		{
			name: "duplicate settings in two files",
			files: map[string]string{
				"a.hcl": "settings {\n  protect = []\n}\n",
				"b.hcl": "settings {\n  protect = []\n}\n",
			},
			want: []string{"b.hcl:1:1: Duplicate block: settings is also declared at a.hcl:1"},
		},
		{
			name:  "duplicate nested blocks",
			files: map[string]string{"a.hcl": "crm_pipeline \"deal\" \"w\" {\n  name = \"W\"\n  stage \"new\" { name = \"N\" }\n  stage \"new\" { name = \"M\" }\n}\ncrm_role \"r\" {\n  permissions \"deal\" { read = \"all\" }\n  permissions \"deal\" {\n    pipeline \"w\" { read = \"own\" }\n    pipeline \"w\" { write = \"own\" }\n  }\n}\n"},
			want: []string{
				`a.hcl:4:9: Duplicate block: stage "new" is also declared at a.hcl:3`,
				`a.hcl:8:15: Duplicate block: permissions "deal" is also declared at a.hcl:7`,
			},
		},
		{
			name:  "duplicate pipeline override",
			files: map[string]string{"a.hcl": "crm_role \"r\" {\n  permissions \"deal\" {\n    pipeline \"w\" { read = \"own\" }\n    pipeline \"w\" { write = \"own\" }\n  }\n}\n"},
			want:  []string{`a.hcl:4:14: Duplicate block: pipeline "w" is also declared at a.hcl:3`},
		},
		{
			name:  "attribute and blocks for the same key",
			files: map[string]string{"a.hcl": "crm_role \"r\" {\n  permissions = { deal = { read = \"all\" } }\n  permissions \"lead\" { read = \"all\" }\n}\n"},
			want:  []string{"a.hcl:2:3: Conflicting definitions: permissions is set both by this attribute and by permissions blocks (line 3)"},
		},
		{
			name:  "stage inside a stage",
			files: map[string]string{"a.hcl": "crm_role \"r\" {\n  permissions \"deal\" {\n    stage \"won\" {\n      stage \"x\" { read = \"all\" }\n    }\n  }\n}\n"},
			want:  []string{"a.hcl:4:7: Unsupported block type: a stage block holds only actions"},
		},
		{
			name:  "pipeline inside a pipeline",
			files: map[string]string{"a.hcl": "crm_role \"r\" {\n  permissions \"deal\" {\n    pipeline \"w\" {\n      pipeline \"x\" { read = \"all\" }\n    }\n  }\n}\n"},
			want:  []string{"a.hcl:4:7: Unsupported block type: a pipeline block holds actions plus stage"},
		},
		{
			name:  "blocks inside attribute-only blocks",
			files: map[string]string{"a.hcl": "telephony_role \"t\" {\n  permissions \"call\" { view = \"any\" }\n}\ntest {\n  x { }\n}\n"},
			want: []string{
				"a.hcl:2:3: Unsupported block type: a telephony_role block holds only attributes",
				"a.hcl:5:3: Unsupported block type: a test block holds only attributes",
			},
		},
		{
			name:  "function call",
			files: map[string]string{"a.hcl": "crm_role \"x\" {\n  name   = upper(\"x\")\n}\n"},
			want:  []string{"a.hcl:2:12: Only literal values are allowed: policies take plain values: no function calls"},
		},
		{
			name:  "variable reference",
			files: map[string]string{"a.hcl": "crm_role \"x\" {\n  assign = [{ user = var.boss }]\n}\n"},
			want:  []string{"a.hcl:2:22: Only literal values are allowed: policies take plain values: no variables or references (var)"},
		},
		{
			name:  "interpolation of a reference",
			files: map[string]string{"a.hcl": "crm_role \"x\" {\n  name = \"Role ${local.n}\"\n}\n"},
			want:  []string{"a.hcl:2:10: Only literal values are allowed: policies take plain values: no variables or references (local)"},
		},
		{
			name:  "operators and conditionals",
			files: map[string]string{"a.hcl": "workgroup \"w\" {\n  name = true ? \"a\" : \"b\"\n}\nworkgroup \"v\" {\n  size = 1 + 2\n}\nworkgroup \"u\" {\n  members = [for m in [\"a\"] : m]\n}\n"},
			want: []string{
				"a.hcl:2:10: Only literal values are allowed: policies take plain values: no function calls, operators",
				"a.hcl:5:10: Only literal values are allowed",
				"a.hcl:8:13: Only literal values are allowed",
			},
		},
		{
			name:  "duplicate object key",
			files: map[string]string{"a.hcl": "telephony_role \"t\" {\n  permissions = { call = { view = \"any\", view = \"own\" } }\n}\n"},
			want:  []string{`a.hcl:2:42: Duplicate key: "view" is set twice in this object`},
		},
		{
			name:  "computed object key",
			files: map[string]string{"a.hcl": "telephony_role \"t\" {\n  permissions = { (var.k) = { view = \"any\" } }\n}\n"},
			want:  []string{"a.hcl:2:19: Invalid key"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for n, s := range tc.files {
				files[n] = []byte(s)
			}
			doc, _, ds := Decode(files)
			if doc == nil {
				t.Fatal("nil document")
			}
			ds = ds.Sort()
			var got []string
			for _, d := range ds {
				if d.Severity != diag.Error {
					t.Errorf("severity %s, want error: %s", d.Severity, d.Short())
				}
				got = append(got, d.Short())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("diagnostic %d:\n got %s\nwant %s…", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// The decoder reads files in name order, so the document, ranges and
// diagnostics do not depend on map iteration.
func TestDecodeIsDeterministic(t *testing.T) {
	files := readExamples(t)
	files["zz.hcl"] = []byte("crm_role \"manager\" { name = \"dup\" }\ntest { name = \"z\" }\n")
	d0, r0, ds0 := Decode(files)
	for range 20 {
		d, r, ds := Decode(files)
		if canon(t, d) != canon(t, d0) || canon(t, r) != canon(t, r0) || canon(t, ds) != canon(t, ds0) {
			t.Fatal("Decode output varies between runs")
		}
	}
	if len(ds0) != 1 || !strings.Contains(ds0[0].Short(), "zz.hcl") {
		t.Fatalf("want one duplicate in zz.hcl, got %v", ds0.Err())
	}
}

func readExamples(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("../../examples/hcl/*.hcl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

// BenchmarkDecodeExamples decodes examples/hcl.
func BenchmarkDecodeExamples(b *testing.B) {
	files := readExamples(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ds := Decode(files); ds.HasErrors() {
			b.Fatal(ds.Err())
		}
	}
}

// BenchmarkDecodeLarge decodes a synthetic policy of 200 CRM roles with
// 50 pipeline overrides each and 500 workgroups (about 1 MB of HCL).
func BenchmarkDecodeLarge(b *testing.B) {
	var sb strings.Builder
	for r := range 200 {
		fmt.Fprintf(&sb, "crm_role \"role_%d\" {\n  name = \"Role %d\"\n  assign = [{ department = \"Company/D%d\", subdepartments = true }]\n", r, r, r)
		sb.WriteString("  permissions \"deal\" {\n    read = \"department\"\n    write = \"own\"\n")
		for p := range 50 {
			fmt.Fprintf(&sb, "    pipeline \"p%d\" {\n      read = \"all\"\n      stage \"won\" { write = \"none\" }\n    }\n", p)
		}
		sb.WriteString("  }\n  permissions \"contact\" { read = \"all\" }\n}\n")
	}
	for w := range 500 {
		fmt.Fprintf(&sb, "workgroup \"wg_%d\" {\n  name = \"WG %d\"\n  visibility = \"private\"\n  owner = \"u%d@example.com\"\n  members = [\"a@example.com\", \"b@example.com\"]\n  features = { tasks = { edit_tasks = \"members\" } }\n}\n", w, w, w)
	}
	files := map[string][]byte{"big.hcl": []byte(sb.String())}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ds := Decode(files); ds.HasErrors() {
			b.Fatal(ds.Err())
		}
	}
}

// Deep nesting is refused before parsing with a located diagnostic: the
// parser would overflow the stack (a fatal error) at 100,000 levels and
// take seconds and gigabytes at 50,000 (issue 16 #13).
func TestDeepNestingIsADiagnostic(t *testing.T) {
	for name, src := range map[string]string{
		"brackets": "crm_role \"x\" {\n  name = " + strings.Repeat("[", 100000) + "\n}\n",
		"braces":   "crm_role \"x\" {\n  name = " + strings.Repeat("{a = ", 50000) + "1" + strings.Repeat("}", 50000) + "\n}\n",
		"parens":   "crm_role \"x\" {\n  name = " + strings.Repeat("(", 100000) + "\n}\n",
		"interp":   "crm_role \"x\" {\n  name = \"" + strings.Repeat("${\"", 50000) + "\n}\n",
		"blocks":   strings.Repeat("crm_role \"x\" {\n", 5000) + strings.Repeat("}\n", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, _, ds := Decode(map[string][]byte{"deep.hcl": []byte(src)})
			if !ds.HasErrors() {
				t.Fatal("no error")
			}
			if d := time.Since(start); d > 10*time.Second { // before: a fatal stack overflow, or 8 s and 2.9 GB
				t.Errorf("took %v", d)
			}
			found := false
			for _, d := range ds {
				if d.Summary == "Too deeply nested" && d.Subject != nil && d.Subject.Filename == "deep.hcl" && d.Subject.Start.Line >= 1 && d.Subject.Start.Column > 0 {
					found = true
				}
			}
			if !found {
				t.Fatalf("want a located \"Too deeply nested\" diagnostic, got %v", ds)
			}
		})
	}
	// A realistic policy nests far less than the limit.
	ok := `crm_role "m" {
  name = "M"
  permissions "deal" {
    read = "all"
    pipeline "p" {
      stage "s" { write = "none" }
    }
  }
}
`
	if _, _, ds := Decode(map[string][]byte{"ok.hcl": []byte(ok)}); ds.HasErrors() {
		t.Fatal(ds)
	}
}
