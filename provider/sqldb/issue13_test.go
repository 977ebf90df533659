package sqldb

import (
	"context"
	"testing"

	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/internal/portaltest"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/google/go-cmp/cmp"
)

// The SQL backend carries every state of issue 13 from the tables to the
// graph, as the table model (bitrix.Read of the same portal) has them.
func TestReadIssue13States(t *testing.T) {
	want, an := bitrix.Read(portaltest.Issue13(t, local.DemoPortal()))
	if len(an) != 0 {
		t.Fatalf("anomalies of the table model: %v", an)
	}
	portaltest.CheckIssue13(t, want)
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		p, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		if err := p.InitSchema(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Seed(ctx, portaltest.Issue13(t, local.DemoPortal())); err != nil {
			t.Fatal(err)
		}
		got := mustRead(t, p)
		portaltest.CheckIssue13(t, got)
		for _, c := range []struct {
			name      string
			want, got any
		}{{"CRM roles", want.CRMRoles, got.CRMRoles}, {"workgroups", want.Workgroups, got.Workgroups}, {"users", want.Directory.Users, got.Directory.Users}} {
			if d := cmp.Diff(c.want, c.got); d != "" {
				t.Errorf("%s (-tables +SQL):\n%s", c.name, d)
			}
		}
	})
}
