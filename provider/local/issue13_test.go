package local

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/b24perm/b24perm/internal/portaltest"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/google/go-cmp/cmp"
)

// The local backend carries every state of issue 13 from its portal file
// to the graph, as the table model has them.
func TestReadIssue13States(t *testing.T) {
	want, _ := bitrix.Read(portaltest.Issue13(t, DemoPortal()))
	path := filepath.Join(t.TempDir(), "portal.json")
	if err := SaveTables(path, portaltest.Issue13(t, DemoPortal())); err != nil {
		t.Fatal(err)
	}
	p := New(path)
	got, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Anomalies) != 0 {
		t.Errorf("anomalies: %v", p.Anomalies)
	}
	portaltest.CheckIssue13(t, got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("graph (-tables +local):\n%s", d)
	}
}
