package local

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "regenerate demo/portal.json from demo/legacy.json")

// buildDemoTables derives the table-model demo from the legacy demo: the
// same company, objects created in ID order as in the UI, every second level row in the legacy letter form and one legacy
// empty-ATTR row, so that both encodings are exercised.
func buildDemoTables(t *testing.T) []byte {
	t.Helper()
	legacy, err := DemoPortalValue()
	if err != nil {
		t.Fatal(err)
	}
	g, anomalies := legacy.ToGraph()
	if len(anomalies) > 0 {
		t.Fatalf("legacy demo anomalies: %v", anomalies)
	}
	bp, err := bitrix.FromGraph(g, legacy.Portal)
	if err != nil {
		t.Fatal(err)
	}
	bp.UseLegacyLetters(2)
	for _, r := range bp.Roles {
		if r.Name == "Manager" {
			bp.RolePerms = append(bp.RolePerms, bitrix.RolePerm{ID: bp.NextID(bitrix.TRolePerm), RoleID: r.ID, Entity: "QUOTE", Field: "-", PermType: "DELETE"})
		}
	}
	b, err := bp.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDemoTablesMatchLegacy(t *testing.T) {
	b := buildDemoTables(t)
	if *update {
		if err := os.WriteFile("demo/portal.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if !bytes.Equal(b, demoPortal) {
		t.Fatalf("demo/portal.json is stale: run go test ./provider/local -run TestDemoTablesMatchLegacy -update")
	}
	bp, err := bitrix.Decode(demoPortal, "demo/portal.json")
	if err != nil {
		t.Fatal(err)
	}
	got, anomalies := bitrix.Read(bp)
	if len(anomalies) > 0 {
		t.Fatalf("anomalies: %v", anomalies)
	}
	legacy, _ := DemoPortalValue()
	want, _ := legacy.ToGraph()
	gj, _ := got.JSON()
	wj, _ := want.JSON()
	if d := cmp.Diff(string(wj), string(gj)); d != "" {
		t.Fatalf("the two demos differ (-legacy +tables):\n%s", d)
	}
	// Both encodings are present.
	letters, settings, empty := 0, 0, 0
	for _, r := range bp.RolePerms {
		hasSettings := len(r.Settings) > 0 && string(r.Settings) != "null"
		switch {
		case hasSettings:
			settings++
		case r.Attr != "":
			letters++
		default:
			empty++
		}
	}
	if letters == 0 || settings == 0 || empty == 0 {
		t.Errorf("rows: %d letters, %d settings, %d empty; want all forms", letters, settings, empty)
	}
	var v map[string]any
	if err := json.Unmarshal(demoPortal, &v); err != nil || v["format"] != bitrix.FormatName {
		t.Errorf("demo format %v, %v", v["format"], err)
	}
}
