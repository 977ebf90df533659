package gen

import (
	"bytes"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, _ := Generate(Sizes["s"], 1).JSON()
	b, _ := Generate(Sizes["s"], 1).JSON()
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different graphs")
	}
	c, _ := Generate(Sizes["s"], 2).JSON()
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same graph")
	}
}

func TestGenerateXLShape(t *testing.T) {
	g := Generate(Sizes["xl"], 1)
	if n := len(g.Directory.Users); n != 10000 {
		t.Errorf("users = %d", n)
	}
	if n := len(g.CRMRoles); n != 200 {
		t.Errorf("roles = %d", n)
	}
	if n := len(g.Pipelines); n != 51 {
		t.Errorf("pipelines = %d", n)
	}
	if len(g.Workgroups) != 500 || len(g.FieldRules) != 1000 || len(g.TelephonyRoles) != 50 || len(g.OpenlineRoles) != 50 {
		t.Error("domain sizes wrong")
	}
}

func TestScale(t *testing.T) {
	if Scale(Sizes["xl"], 1) != Sizes["xl"] {
		t.Error("Scale 1 changed the size")
	}
	s := Scale(Sizes["s"], 3)
	if s.Name != "sx3" || s.Users != 150 || s.CRMRoles != 15 || s.Departments != 30 || s.Pipelines != 3 || s.Stages != 5 {
		t.Errorf("Scale(s, 3) = %+v", s)
	}
	g := Generate(s, 1)
	if len(g.Directory.Users) != 150 || len(g.CRMRoles) != 15 || len(g.Pipelines) != 4 || len(g.Workgroups) != 15 {
		t.Errorf("generated users=%d roles=%d pipelines=%d workgroups=%d", len(g.Directory.Users), len(g.CRMRoles), len(g.Pipelines), len(g.Workgroups))
	}
}

func BenchmarkGenerateXL(b *testing.B) {
	for b.Loop() {
		Generate(Sizes["xl"], 1)
	}
}
