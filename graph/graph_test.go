package graph

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNormalizeCRMRoleKeepsStageRowsDropsPipelineNone(t *testing.T) {
	r := CRMRole{Key: "m", Name: " Manager ", Assign: []string{"user:b", "user:a", "user:b"}, Perms: []CRMPerm{
		{Entity: "deal", Pipeline: "default", Action: "read", Level: "department"},
		{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read", Level: "department"}, // equal to the pipeline: kept (explicit)
		{Entity: "deal", Pipeline: "default", Stage: "lose", Action: "read", Level: "none"},      // explicit none kept
		{Entity: "deal", Pipeline: "default", Action: "write", Level: "none"},                    // pipeline none dropped
		{Entity: "deal", Pipeline: "default", Stage: "won", Action: "write", Level: "none"},      // explicit none under none: kept
		{Entity: "deal", Pipeline: "default", Stage: "new", Action: "write", Level: "own"},       // differs from none
	}}
	r.Normalize()
	if r.Name != "Manager" {
		t.Errorf("name not trimmed: %q", r.Name)
	}
	if len(r.Assign) != 2 || r.Assign[0] != "user:a" {
		t.Errorf("assign = %v", r.Assign)
	}
	want := []CRMPerm{
		{Entity: "deal", Pipeline: "default", Action: "read", Level: "department"},
		{Entity: "deal", Pipeline: "default", Stage: "lose", Action: "read", Level: "none"},
		{Entity: "deal", Pipeline: "default", Stage: "new", Action: "write", Level: "own"},
		{Entity: "deal", Pipeline: "default", Stage: "won", Action: "read", Level: "department"},
		{Entity: "deal", Pipeline: "default", Stage: "won", Action: "write", Level: "none"},
	}
	if len(r.Perms) != len(want) {
		t.Fatalf("perms = %+v", r.Perms)
	}
	for i := range want {
		if r.Perms[i] != want[i] {
			t.Errorf("perm %d = %+v, want %+v", i, r.Perms[i], want[i])
		}
	}
	for _, tc := range []struct {
		k        CellKey
		level    string
		explicit bool
	}{
		{CellKey{"deal", "default", "won", "read"}, "department", true},
		{CellKey{"deal", "default", "won", "write"}, "none", true},
		{CellKey{"deal", "default", "new", "read"}, "department", false},
		{CellKey{"deal", "default", "lose", "read"}, "none", true},
		{CellKey{"deal", "default", "new", "write"}, "own", true},
		{CellKey{"deal", "default", "", "delete"}, "none", false},
	} {
		l, e := r.Level(tc.k)
		if l != tc.level || e != tc.explicit {
			t.Errorf("Level(%v) = %s,%v want %s,%v", tc.k, l, e, tc.level, tc.explicit)
		}
	}
}

func TestNormalizeIsIdempotentAndCanonical(t *testing.T) {
	mk := func() *Graph {
		return &Graph{
			CRMRoles: []CRMRole{{Key: "b", Name: "B"}, {Key: "a", Name: "A", Perms: []CRMPerm{{Entity: "lead", Action: "read", Level: "all"}}}},
			Workgroups: []Workgroup{{Key: "w", Name: "W", Visibility: "secret", Owner: "user:o",
				Moderators: []string{"user:o", "user:m"}, Members: []string{"user:m", "user:x", "user:o"},
				Features: []FeaturePerm{{"tasks", "view", "members"}, {"tasks", "edit_tasks", "members"}}}},
		}
	}
	g1 := mk().Normalize()
	b1, _ := g1.JSON()
	b2, _ := g1.Normalize().JSON()
	if !bytes.Equal(b1, b2) {
		t.Fatal("Normalize is not idempotent")
	}
	if g1.CRMRoles[0].Key != "a" {
		t.Error("roles not sorted")
	}
	w := g1.Workgroups[0]
	if len(w.Moderators) != 1 || w.Moderators[0] != "user:m" || len(w.Members) != 1 || w.Members[0] != "user:x" {
		t.Errorf("workgroup sets: mods %v members %v", w.Moderators, w.Members)
	}
	if len(w.Features) != 1 || w.Features[0].Operation != "edit_tasks" {
		t.Errorf("default feature rule not dropped: %v", w.Features)
	}
	if mk().Normalize().Digest() != g1.Digest() {
		t.Error("digest differs for equal graphs")
	}
}

func TestSubjectsResolveAndCanonicalize(t *testing.T) {
	dir := &Directory{
		Users:       []User{{ID: 42, Email: "Anna@Example.com", Name: "Anna", Departments: []int64{7}}},
		Departments: []Department{{ID: 1, Name: "Company"}, {ID: 3, Name: "Sales", Parent: 1}, {ID: 7, Name: "Wholesale", Parent: 3}},
		Groups:      []Group{{ID: 2, Name: "employees"}},
	}
	ix := NewIndex(dir, []Workgroup{{Key: "ka", ID: 15}})
	for _, tc := range []struct{ in, code, canon string }{
		{"user:42", "U42", "user:anna@example.com"},
		{"user:anna@example.com", "U42", "user:anna@example.com"},
		{"department:Company/Sales", "D3", "department:Company/Sales"},
		{"department_tree:Company/Sales/Wholesale", "DR7", "department_tree:Company/Sales/Wholesale"},
		{"department_tree:#3", "DR3", "department_tree:Company/Sales"},
		{"group:employees", "G2", "group:employees"},
		{"workgroup_members:ka", "SG15_K", "workgroup_members:ka"},
		{"workgroup_owner:ka", "SG15_A", "workgroup_owner:ka"},
		{"code:AE0", "AE0", "code:AE0"},
	} {
		s, err := ParseSubject(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		code, err := ix.Code(s)
		if err != nil || code != tc.code {
			t.Errorf("Code(%s) = %q, %v; want %q", tc.in, code, err, tc.code)
		}
		canon, err := ix.Canonical(tc.in)
		if err != nil || canon != tc.canon {
			t.Errorf("Canonical(%s) = %q, %v; want %q", tc.in, canon, err, tc.canon)
		}
	}
	if _, err := ix.Canonical("department:Sales/Wholesale"); err == nil {
		t.Error("unknown department path resolved")
	} else if want := `did you mean "Company/Sales/Wholesale"`; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q lacks hint %q", err, want)
	}
	if got := ix.Ancestors(7); len(got) != 3 || got[2] != 1 {
		t.Errorf("Ancestors(7) = %v", got)
	}
}

func TestParseAddr(t *testing.T) {
	a, err := ParseAddr("crm_pipeline.deal.wholesale")
	if err != nil || a.Kind != KindPipeline || a.Key != "deal.wholesale" {
		t.Fatalf("ParseAddr = %v, %v", a, err)
	}
	if !a.Matches("crm_pipeline") || a.Matches("crm_role") {
		t.Error("Matches by kind")
	}
	for _, bad := range []string{"crm_role", "nope.x", ""} {
		if _, err := ParseAddr(bad); err == nil {
			t.Errorf("ParseAddr(%q) succeeded", bad)
		}
	}
}

func BenchmarkNormalizeXLRole(b *testing.B) {
	var perms []CRMPerm
	for p := 0; p < 50; p++ {
		pk := "p" + string(rune('a'+p%26)) + string(rune('a'+p/26))
		for _, a := range []string{"read", "add", "write", "delete", "export", "import"} {
			perms = append(perms, CRMPerm{Entity: "deal", Pipeline: pk, Action: a, Level: "department"})
			for s := 0; s < 12; s++ {
				perms = append(perms, CRMPerm{Entity: "deal", Pipeline: pk, Stage: "s" + string(rune('a'+s)), Action: a, Level: []string{"department", "own"}[s%2]})
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		r := CRMRole{Key: "r", Name: "R", Perms: append([]CRMPerm(nil), perms...)}
		r.Normalize()
	}
}

func TestAmbiguousDepartmentPathAsksForID(t *testing.T) {
	dir := &Directory{Departments: []Department{{ID: 1, Name: "Company"}, {ID: 3, Name: "Sales", Parent: 1}, {ID: 4, Name: "Sales", Parent: 1}}}
	ix := NewIndex(dir, nil)
	_, err := ix.Canonical("department:Company/Sales")
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`names 2 departments (#3, #4)`)) {
		t.Fatalf("ambiguous path: %v", err)
	}
	if c, err := ix.Canonical("department_tree:#4"); err != nil || c != "department_tree:#4" {
		t.Fatalf("by ID: %q %v", c, err)
	}
}

// TestEmailsDifferingInCase: exact match first, a single case-insensitive
// match resolves, several without an exact one are an error naming all;
// the canonical form of each user resolves back to that user (issue 16 #4).
func TestEmailsDifferingInCase(t *testing.T) {
	ix := NewIndex(&Directory{Users: []User{{ID: 5, Email: "elena@example.com"}, {ID: 11, Email: "Elena@Example.com"}, {ID: 7, Email: "Boris@Example.com"}}}, nil)
	for ref, want := range map[string]int64{"elena@example.com": 5, "Elena@Example.com": 11, "boris@example.com": 7, "BORIS@example.COM": 7, "11": 11} {
		u, err := ix.ResolveUser(ref)
		if err != nil || u.ID != want {
			t.Errorf("%s: got %v, %v; want #%d", ref, u, err, want)
		}
	}
	_, err := ix.ResolveUser("ELENA@example.com")
	if !errors.Is(err, ErrAmbiguousUser) || !strings.Contains(err.Error(), "#5 elena@example.com, #11 Elena@Example.com") {
		t.Errorf("ambiguous: %v", err)
	}
	if _, ok := ix.LookupUser("ELENA@example.com"); ok {
		t.Error("LookupUser resolved an ambiguous e-mail")
	}
	for _, id := range []int64{5, 11, 7} {
		s := ix.SubjectForCode(fmt.Sprintf("U%d", id))
		c, err := ix.Code(s)
		if err != nil || c != fmt.Sprintf("U%d", id) {
			t.Errorf("U%d → %s → %s, %v", id, s, c, err)
		}
	}
	if s := ix.SubjectForCode("U7").String(); s != "user:boris@example.com" {
		t.Errorf("unique e-mail not lower-cased: %s", s)
	}
}
