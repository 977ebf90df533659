package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
)

func demoPath(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portal.json")
	if err := Init(path, false); err != nil {
		t.Fatal(err)
	}
	return path
}

func roleByKey(g *graph.Graph, key string) *graph.CRMRole {
	for i := range g.CRMRoles {
		if g.CRMRoles[i].Key == key {
			return &g.CRMRoles[i]
		}
	}
	return nil
}

func TestApplyTablesAllOrNothing(t *testing.T) {
	path := demoPath(t)
	p := New(path)
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	m := *roleByKey(g, "manager")
	m.Perms = append([]graph.CRMPerm{{Entity: "contact", Action: "read", Level: "all"}}, m.Perms...)
	bad := graph.CRMRole{Key: "ghost", Name: "Ghost", Assign: []string{"user:ghost@example.com"}}
	var reported []provider.Result
	req := provider.ApplyRequest{
		Changes: []plan.Change{
			{Address: "crm_role.manager", Action: plan.Update, ID: m.ID, After: &graph.Resource{CRMRole: &m}},
			{Address: "crm_role.ghost", Action: plan.Create, After: &graph.Resource{CRMRole: &bad}},
			{Address: "crm_role.never", Action: plan.Create, After: &graph.Resource{CRMRole: &graph.CRMRole{Key: "never", Name: "Never"}}},
		},
		Report: func(r provider.Result) { reported = append(reported, r) },
	}
	err = p.Apply(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "crm_role.ghost") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("err = %v", err)
	}
	if len(reported) != 1 || reported[0].Index != 1 || reported[0].Err == nil {
		t.Fatalf("reported %+v, want only the failed change", reported)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatal("a failed apply wrote the portal")
	}
	if _, err := os.Stat(path + ".backup"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backup after a failed apply: %v", err)
	}

	// Success: one write, results after it, the previous file kept.
	reported = nil
	req.Changes = append(req.Changes[:1], req.Changes[2])
	if err := p.Apply(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(reported) != 2 || reported[0].ID != m.ID || reported[1].ID != 4 || reported[1].Err != nil {
		t.Fatalf("reported %+v", reported)
	}
	backup, _ := os.ReadFile(path + ".backup")
	if string(backup) != string(before) {
		t.Fatal("the backup is not the previous portal")
	}
	g2, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := roleByKey(g2, "manager").Level(graph.CellKey{Entity: "contact", Action: "read"}); l != "all" {
		t.Errorf("contact read = %s after apply", l)
	}
	if roleByKey(g2, "never") == nil || len(p.Anomalies) != 0 {
		t.Errorf("new role missing or anomalies %v", p.Anomalies)
	}
	// No temp files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestCorruptTablesPortal(t *testing.T) {
	path := demoPath(t)
	good, _ := os.ReadFile(path)
	bad := append([]byte{}, good[:len(good)/3]...)
	os.WriteFile(path, bad, 0o644)
	for name, fn := range map[string]func() error{
		"read":  func() error { _, err := New(path).Read(context.Background()); return err },
		"apply": func() error { return New(path).Apply(context.Background(), provider.ApplyRequest{}) },
		"load":  func() error { _, err := LoadTables(path); return err },
	} {
		err := fn()
		if err == nil || !strings.Contains(err.Error(), path+" is not a valid portal file: line ") || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(bad) {
		t.Fatal("the corrupt portal was modified")
	}
}

func TestSaveTables(t *testing.T) {
	path := demoPath(t)
	tp, err := LoadTables(path)
	if err != nil {
		t.Fatal(err)
	}
	tp.Roles[0].Name = "Renamed"
	if err := SaveTables(path, tp); err != nil {
		t.Fatal(err)
	}
	if g, _ := New(path).Read(context.Background()); roleByKey(g, "renamed") == nil {
		t.Fatal("SaveTables did not write the change")
	}
}

func TestEnsureExistsAndParseSpec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "portal.json")
	created, err := EnsureExists(path)
	if err != nil || !created {
		t.Fatalf("EnsureExists = %v, %v", created, err)
	}
	if created, err = EnsureExists(path); err != nil || created {
		t.Fatalf("second EnsureExists = %v, %v", created, err)
	}
	if err := Init(path, true); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{"local:": DefaultPath, "local:x/p.json": "x/p.json"} {
		if got, ok := ParseSpec(spec); !ok || got != want {
			t.Errorf("ParseSpec(%q) = %q, %v", spec, got, ok)
		}
	}
	if _, ok := ParseSpec("mysql://x"); ok {
		t.Error("mysql:// parsed as local")
	}
	if d := New("a/b.json").Describe(); d != "local: a/b.json" {
		t.Errorf("Describe = %q", d)
	}
	if c := New("x").Capabilities(); !c.Transactional || !c.CanWrite(graph.KindFieldRule) {
		t.Errorf("capabilities %+v", c)
	}
}

var xlFile = sync.OnceValue(func() []byte {
	b, err := bitrix.GenerateXL(1).Encode()
	if err != nil {
		panic(err)
	}
	return b
})

func xlPath(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "portal.json")
	if err := os.WriteFile(path, xlFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// xlChanges changes every role's deal read level on every pipeline
// (10,200 cells in 200 role updates).
func xlChanges(g *graph.Graph) []plan.Change {
	var out []plan.Change
	for i := range g.CRMRoles {
		r := g.CRMRoles[i]
		r.Perms = append([]graph.CRMPerm(nil), r.Perms...)
		for j := range r.Perms {
			if c := &r.Perms[j]; c.Entity == "deal" && c.Stage == "" && c.Action == "read" {
				c.Level = map[bool]string{true: "department", false: "own"}[c.Level == "own"]
			}
		}
		out = append(out, plan.Change{Address: "crm_role." + r.Key, Action: plan.Update, ID: r.ID, After: &graph.Resource{CRMRole: &r}})
	}
	return out
}

func BenchmarkLocalReadXL(b *testing.B) {
	p := New(xlPath(b))
	for b.Loop() {
		if _, err := p.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalApplyXL10kCells(b *testing.B) {
	path := xlPath(b)
	p := New(path)
	g, err := p.Read(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	changes := xlChanges(g)
	for b.Loop() {
		b.StopTimer()
		os.WriteFile(path, xlFile(), 0o644)
		b.StartTimer()
		if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: changes}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLocalXLBudgets(t *testing.T) {
	if testing.Short() {
		return
	}
	path := xlPath(t)
	p := New(path)
	t0 := time.Now()
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("XL read took %v, budget 1 s", d)
	}
	t0 = time.Now()
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: xlChanges(g)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("XL apply of 10,200 cells took %v, budget 5 s", d)
	}
	if _, err := p.Read(context.Background()); err != nil || len(p.Anomalies) != 0 {
		t.Fatalf("after apply: %v %v", err, p.Anomalies)
	}
}
