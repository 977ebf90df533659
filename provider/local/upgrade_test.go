package local

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/google/go-cmp/cmp"
)

// A portal file in the first, simplified format is upgraded to the table
// model once, on the first read: the file is rewritten (the old one kept
// as .backup), the graph is the same, IDs are kept, and the plan output
// says so once.
func TestLegacyFileIsUpgradedOnRead(t *testing.T) {
	// The legacy demo with IDs that have gaps, as a portal whose objects
	// were deleted has.
	legacy, err := DemoPortalValue()
	if err != nil {
		t.Fatal(err)
	}
	for i := range legacy.CRMRoles {
		legacy.CRMRoles[i].ID = int64(10 * (i + 1))
	}
	for i := range legacy.Workgroups {
		legacy.Workgroups[i].ID += 40
	}
	// What the graph says beyond rows: an extranet user, the closed-groups
	// option, telephony roles not in force; and an archived group.
	legacy.Directory.Groups = append(legacy.Directory.Groups, graph.Group{ID: 3, Name: "Extranet"})
	legacy.Directory.Users[9].Extranet = true
	legacy.Directory.Users[9].Groups = append(legacy.Directory.Users[9].Groups, 3)
	legacy.Directory.WorkWithClosedGroups = true
	legacy.TelephonySecurityOff = true
	legacy.Workgroups[1].Closed = true
	legacy.Workgroups[0].Banned = []int64{7}
	legacy.Workgroups[0].Requests = []int64{8}
	legacy.Workgroups[0].Invited = []int64{6}
	legacy.Workgroups[1].DisabledFeatures = []string{"forum"}
	want, _ := legacy.ToGraph()
	path := filepath.Join(t.TempDir(), "portal.json")
	old := encodeLegacy(t, legacy)
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	p := New(path)
	got, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Anomalies) != 1 || !strings.Contains(p.Anomalies[0], "upgraded it to the bitrix-tables table model") {
		t.Fatalf("notes: %q", p.Anomalies)
	}
	gj, _ := got.JSON()
	wj, _ := want.JSON()
	if d := cmp.Diff(string(wj), string(gj)); d != "" {
		t.Fatalf("the upgraded portal reads differently (-legacy +upgraded):\n%s", d)
	}
	var ids []int64
	for _, r := range got.CRMRoles {
		ids = append(ids, r.ID)
	}
	for _, w := range got.Workgroups {
		ids = append(ids, w.ID)
	}
	slices.Sort(ids)
	if d := cmp.Diff([]int64{10, 20, 30, 41, 42}, ids); d != "" {
		t.Errorf("role and workgroup IDs (-want +got):\n%s", d)
	}
	now, _ := os.ReadFile(path)
	if !bitrix.IsPortalFile(now) {
		t.Fatal("the file was not rewritten in the table model")
	}
	if backup, _ := os.ReadFile(path + ".backup"); !bytes.Equal(backup, old) {
		t.Fatal("the old file is not kept as .backup")
	}
	// Once: the second read reads the tables, without a note.
	if _, err := p.Read(context.Background()); err != nil || len(p.Anomalies) != 0 {
		t.Fatalf("second read: %v, notes %q", err, p.Anomalies)
	}
	// LoadTables upgrades in memory, the same way.
	legacyPath := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(legacyPath, old, 0o644)
	bp, err := LoadTables(legacyPath)
	if err != nil {
		t.Fatal(err)
	}
	lg, _ := bitrix.Read(bp)
	if lj, _ := lg.JSON(); string(lj) != string(wj) {
		t.Error("LoadTables upgrades differently")
	}
	if b, _ := os.ReadFile(legacyPath); !bytes.Equal(b, old) {
		t.Error("LoadTables rewrote the file")
	}
}

// The embedded legacy demo upgrades to exactly the table demo.
func TestLegacyDemoUpgradesToTheDemo(t *testing.T) {
	bp, lost, err := upgrade(legacyDemo, "demo/legacy.json")
	if err != nil || len(lost) > 0 {
		t.Fatalf("upgrade: %v, lost %v", err, lost)
	}
	got, _ := bitrix.Read(bp)
	demo, _ := DemoTables()
	want, _ := bitrix.Read(demo)
	gj, _ := got.JSON()
	wj, _ := want.JSON()
	if d := cmp.Diff(string(wj), string(gj)); d != "" {
		t.Fatalf("(-demo +upgraded legacy demo):\n%s", d)
	}
}

// encodeLegacy writes a portal in the simplified file format, as the
// b24perm of that format did.
func encodeLegacy(t *testing.T, p *Portal) []byte {
	t.Helper()
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}
