package compiler

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"cuelang.org/go/cue"
	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/importer"
	"github.com/b24perm/b24perm/schema"
)

// cueAccepts is the reference: the whole document unified with #Policy.
func cueAccepts(run *cueRun, doc []byte) bool {
	v := run.ctx.CompileBytes(doc)
	return v.Err() == nil && v.Unify(run.def).Validate(cue.Concrete(true)) == nil
}

// exampleDocs exports the repository's policies and a generated large
// organization: documents the checker must accept (the fast path is what
// real policies take).
func exampleDocs(t testing.TB) map[string][]byte {
	docs := map[string][]byte{"policies": exportDir(t, "../policies"), "rich": []byte(richDoc)}
	files, err := importer.Write(gen.Generate(gen.Sizes["s"], 1))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n, c := range files {
		os.WriteFile(filepath.Join(dir, n), c, 0o644)
	}
	docs["gen-s"] = exportDir(t, dir)
	return docs
}

// richDoc uses every part of the schema.
const richDoc = `{
 "crm": {
  "smart_processes": {"sp": {"name": "SP"}},
  "pipelines": {"deal": {"w": {"name": "W", "stages": {"won": {"name": "Won"}}}}, "sp": {"main": {"name": "Main"}}},
  "roles": {"r": {"name": "R", "assign": [{"user": "a@b"}, {"department": "Sales", "subdepartments": true}, {"workgroup": "g", "members": "moderators"}, {"code": "AU"}],
   "permissions": {"deal": {"read": ["own", "open"], "write": "all", "automation": "all", "transition": ["won"],
     "pipelines": {"w": {"read": "department", "stages": {"won": {"write": "none", "transition": "any"}}}}, "stages": {"new": {"hide_sum": "none"}}}}}}
 },
 "telephony": {"security": "on", "roles": {"t": {"name": "T", "permissions": {"call": {"perform": "crm_clients"}, "call_record": {"listen": "own", "modify": "any"}}}}},
 "openlines": {"roles": {"o": {"name": "O", "permissions": {"vote_head": {"perform": "department"}, "lines": {"view": "any"}}}},
  "channels": {"c": {"name": "C", "active": true, "queue_type": "evenly", "queue": [{"user": "a@b"}]}}},
 "workgroups": {"g": {"name": "G", "visibility": "secret_open", "archived": false, "disabled_features": ["forum"], "owner": "a@b", "moderators": ["c@d"], "members": [], "features": {"tasks": {"view": "members"}}}},
 "fields": {"rules": {"f": {"entity": "deal", "pipeline": "w", "field": "OPPORTUNITY", "stages": ["won"], "view": [{"user": "a@b"}], "edit": []}},
  "visibility": {"v": {"entity": "deal", "field": "UF_X", "view": [{"group": "admins"}]}}},
 "settings": {"mode": {"crm": "authoritative", "fields": "observe"}, "protect": ["crm_role.r"], "sensitive_fields": ["OPPORTUNITY"]},
 "removed": [{"address": "crm_role.old", "reason": "gone"}],
 "tests": [{"name": "t", "user": "a@b", "can": "read", "entity": "deal", "pipeline": "w", "stage": "won", "exactly": true}]
}`

func exportDir(t testing.TB, dir string) []byte {
	t.Helper()
	run, err := newCUERun()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	names, abs, ds := readDir(dir, files)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	absDir, _ := filepath.Abs(dir)
	user, ds := run.loadUser(absDir, names, abs, files, newSrcIndex())
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	b, err := user.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSchemaCheckAcceptsExamples(t *testing.T) {
	run, _ := newCUERun()
	c := run.checker()
	if c.root == nil {
		t.Fatal("the checker refuses the embedded schema; every compilation unifies the whole policy")
	}
	for name, b := range exampleDocs(t) {
		if !c.conforms(b) {
			t.Errorf("%s: the checker is not sure of a valid policy (compilation falls back to unification)", name)
		}
		if !cueAccepts(run, b) {
			t.Errorf("%s: CUE rejects it", name)
		}
	}
}

// TestSchemaCheckAgrees mutates valid documents at random (seeded) and
// requires that whatever the checker accepts, CUE accepts; it also counts
// how often the checker is sure, so that it stays useful.
func TestSchemaCheckAgrees(t *testing.T) {
	run, _ := newCUERun()
	seeds := exampleDocs(t)
	names := make([]string, 0, len(seeds))
	for n := range seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(17, 1))
	n := 400
	if testing.Short() {
		n = 100
	}
	accepted, agreedReject := 0, 0
	for i := range n {
		var doc any
		json.Unmarshal(seeds[names[i%len(names)]], &doc)
		for range 1 + rng.IntN(3) {
			doc = mutate(rng, doc, 0)
		}
		b, _ := json.Marshal(doc)
		got := run.checker().conforms(b)
		want := cueAccepts(run, b)
		if got && !want {
			t.Fatalf("the checker accepts a document the schema rejects:\n%s", b)
		}
		if got {
			accepted++
		} else if !want {
			agreedReject++
		}
	}
	t.Logf("%d documents: checker sure of %d, both reject %d, checker unsure of valid %d", n, accepted, agreedReject, n-accepted-agreedReject)
	if accepted == 0 || agreedReject == 0 {
		t.Fatalf("the mutations do not exercise both answers (accepted %d, rejected %d)", accepted, agreedReject)
	}
}

// FuzzSchemaCheck: on any JSON document, accepted by the checker implies
// accepted by CUE.
func FuzzSchemaCheck(f *testing.F) {
	for _, s := range []string{
		`{"crm":{"roles":{"x":{"name":"X","permissions":{"deal":{"read":"all"}}}}}}`,
		`{"crm":{"roles":{"x":{"name":"X","permissions":{"deal":{"read":["own","open"],"transition":["won"]}}}}}}`,
		`{"workgroups":{"g":{"name":"G","visibility":"secret","owner":"a@b","members":["c"]}}}`,
		`{"telephony":{"roles":{"t":{"name":"T","permissions":{"call":{"perform":"any"},"foo":{"bar":"x"}}}}}}`,
		`{"tests":[{"user":"a","can":"read","entity":"deal"}]}`,
		`{"crm":{"roles":{"X":{"name":"X"}}}}`,
	} {
		f.Add([]byte(s))
	}
	run, _ := newCUERun()
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if run.checker().conforms(b) && !cueAccepts(run, b) {
			t.Fatalf("the checker accepts a document the schema rejects:\n%s", b)
		}
	})
}

var mutationWords = []string{"none", "own", "department", "subdepartments", "open", "all", "any", "nobody", "owner",
	"public", "secret", "X", "read", "write", "name", "stages", "pipelines", "deal", "lead", "bogus", "Bad Key", "_x",
	"authoritative", "on", "off", "members", "user", "code", "crm", "roles", "permissions", "view", "modify", ""}

// mutate changes one random place of a decoded JSON document.
func mutate(rng *rand.Rand, v any, depth int) any {
	word := func() string { return mutationWords[rng.IntN(len(mutationWords))] }
	scalar := func() any {
		switch rng.IntN(6) {
		case 0:
			return true
		case 1:
			return 3
		case 2:
			return []any{word(), word()}
		case 3:
			return []any{}
		case 4:
			return map[string]any{word(): word()}
		}
		return word()
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 || rng.IntN(8) == 0 {
			x[word()] = scalar()
			return x
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(10) {
		case 0:
			delete(x, k)
		case 3:
			// A sibling under a new key: pattern labels, valid or not.
			c, _ := json.Marshal(x[k])
			var dup any
			json.Unmarshal(c, &dup)
			x[word()+word()] = dup
		case 1:
			x[word()] = x[k]
			delete(x, k)
		case 2:
			x[k] = scalar()
		default:
			x[k] = mutate(rng, x[k], depth+1)
		}
		return x
	case []any:
		if len(x) == 0 || rng.IntN(6) == 0 {
			return append(x, scalar())
		}
		i := rng.IntN(len(x))
		if rng.IntN(5) == 0 {
			return append(x[:i], x[i+1:]...)
		}
		x[i] = mutate(rng, x[i], depth+1)
		return x
	}
	return scalar()
}

// The checker refuses a schema whose pattern values could depend on their
// label, rather than sharing answers between labels.
func TestPatternLabelsRefusesAliases(t *testing.T) {
	if _, ok := patternLabels(schema.Source); !ok {
		t.Fatal("the embedded schema is refused")
	}
	for _, src := range []string{
		`#A: [X=string]: {name: X}`,
		`#A: {let y = 1, a: y}`,
		`#A: [=~"^a"]: string`,
		`#A: {for k in ["a"] {(k): string}}`,
	} {
		if _, ok := patternLabels(src); ok {
			t.Errorf("accepted %q", src)
		}
	}
}

// The checker's path and unification give the same result, diagnostics
// included, on policies of every kind: valid, invalid, and with optional
// or required fields (which export leaves out).
func TestSchemaCheckSameResult(t *testing.T) {
	for _, src := range []string{
		`crm: roles: x: {name: "X", bogus?: 1}`,
		`crm: roles: x: {name: "X", permissions: deal: read?: "everything"}`,
		`#R: {name: string, wrong?: int}` + "\n" + `crm: roles: x: #R & {name: "X"}`,
		`crm: roles: {for k in ["x"] {(k): {name: "X", typo?: true}}}`,
		`crm: roles: x: {name: "X", permissions: deal: read: "everything"}`,
		`crm: roles: x: {name: "X", permissions: deal: read: ["own", "bogus"]}`,
		`crm: roles: X: {name: "X"}`,
		`crm: roles: x: {name: "X", typo: 1}`,
		`crm: roles: x: {permissions: deal: read: "all"}`,
		`workgroups: g: {name: "G", visibility: "hidden", owner: "a"}`,
		`telephony: roles: t: {name: "T", permissions: call: perform: "all"}`,
		`telephony: roles: t: {name: "T", permissions: foo: bar: "x"}`,
		`tests: [{user: "a", can: "read", entity: "deal", bogus: 1}]`,
		`crm: roles: x: {name: "X", assign: [{user: "a"}, "b"]}`,
		`settings: mode: crm: "strict"`,
		`_hidden: 1` + "\n" + `#Def: {a: int}` + "\n" + `crm: roles: x: name: "X"`,
	} {
		var out [2]string
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.cue"), []byte(src), 0o644)
		for i, fast := range []bool{false, true} {
			fastSchemaCheck = fast
			out[i] = compileOutcome(CompileDir(dir, Options{}))
		}
		fastSchemaCheck = true
		if out[0] != out[1] {
			t.Errorf("%q:\nunification: %s\nchecker:     %s", src, out[0], out[1])
		}
	}
}

// The HCL front-end takes the checker's path too, with the same result.
func TestSchemaCheckSameResultHCL(t *testing.T) {
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "a.hcl"), []byte(`crm_role "x" {
  name = "X"
  permissions = { deal = { read = "everything" } }
}
`), 0o644)
	for _, dir := range []string{"../examples/hcl", bad} {
		var out [2]string
		for i, fast := range []bool{false, true} {
			fastSchemaCheck = fast
			out[i] = compileOutcome(CompileDir(dir, Options{}))
		}
		fastSchemaCheck = true
		if out[0] != out[1] {
			t.Errorf("%s:\nunification: %s\nchecker:     %s", dir, out[0], out[1])
		}
	}
}

// Files that import a package go through the CUE loader; files with one
// package clause are built directly; both give the policy's value.
func TestInstanceWithAndWithoutLoader(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"import":  {"a.cue": "import \"strings\"\n\ncrm: roles: x: name: strings.ToUpper(\"x\")\n"},
		"package": {"a.cue": "package p\n\ncrm: roles: x: name: \"X\"\n", "b.cue": "package p\n\ncrm: roles: x: permissions: deal: read: \"all\"\n"},
		"mixed":   {"a.cue": "package p\n\ncrm: roles: x: name: \"X\"\n", "b.cue": "package q\n\ncrm: roles: y: name: \"Y\"\n"},
		"nopkg":   {"a.cue": "crm: roles: x: name: \"X\"\n", "b.cue": "crm: roles: x: permissions: deal: read: \"all\"\n"},
	} {
		dir := t.TempDir()
		for n, c := range files {
			os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
		}
		res := CompileDir(dir, Options{})
		switch name {
		case "mixed":
			if !res.Diags.HasErrors() {
				t.Errorf("%s: two packages compiled without an error", name)
			}
		default:
			if res.Graph == nil || len(res.Graph.CRMRoles) != 1 {
				t.Errorf("%s: %v", name, res.Diags)
			} else if name == "import" && res.Graph.CRMRoles[0].Name != "X" {
				t.Errorf("import: name %q", res.Graph.CRMRoles[0].Name)
			}
		}
	}
}
