package hclfront

import "testing"

// FuzzDecode: any input gives a document or diagnostics, never a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`crm_role "x" { name = "X" }`,
		`crm_role "x" { permissions "deal" { read = "all" pipeline "p" { stage "s" { write = "none" } } } }`,
		`telephony_role "t" { permissions = { call = { perform = "any" } } }`,
		`test { user = "a" can = "read" entity = "deal" }`,
		`workgroup "w" { features = { tasks = { view = upper("x") } } }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, _, ds := Decode(map[string][]byte{"a.hcl": b})
		if doc == nil && !ds.HasErrors() {
			t.Fatal("no document and no error")
		}
	})
}
