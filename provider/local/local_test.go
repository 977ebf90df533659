package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoPortalReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portal.json")
	if err := Init(path, false); err != nil {
		t.Fatal(err)
	}
	if err := Init(path, false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Init over an existing portal: %v", err)
	}
	p := New(path)
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Anomalies) > 0 {
		t.Errorf("anomalies: %v", p.Anomalies)
	}
	if len(g.Directory.Users) != 10 || len(g.CRMRoles) != 3 || len(g.Workgroups) != 2 {
		t.Fatalf("demo graph: %d users, %d roles, %d workgroups", len(g.Directory.Users), len(g.CRMRoles), len(g.Workgroups))
	}
	m := g.CRMRoles[2]
	if m.Key != "manager" || m.Assign[0] != "department_tree:Company/Sales" {
		t.Errorf("manager role: %+v", m)
	}
	if l, explicit := m.Level(cellKey("deal", "wholesale", "won", "write")); l != "none" || !explicit {
		t.Errorf("wholesale won write = %s explicit %v", l, explicit)
	}
	if g.Workgroups[0].Owner != "user:boris@example.com" && g.Workgroups[1].Owner != "user:boris@example.com" {
		t.Errorf("workgroup owners: %+v", g.Workgroups)
	}
}

func TestCorruptPortalIsReportedAndUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portal.json")
	bad := []byte("{\n \"format_version\": 1,\n \"crm_roles\": [\n")
	os.WriteFile(path, bad, 0o644)
	_, err := New(path).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(bad) {
		t.Fatal("corrupt portal was modified")
	}
}
