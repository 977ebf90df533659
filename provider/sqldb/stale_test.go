package sqldb

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
)

// Any concurrent edit of any table of the model between plan (Read) and
// apply is refused as stale and writes nothing, not only edits of CRM
// roles: open channels, their queues, workgroup features and memberships,
// stages, telephony permissions, the directory.
func TestStaleCoversEveryTable(t *testing.T) {
	edits := []struct{ table, sql string }{
		{"b_imopenlines_config", `UPDATE b_imopenlines_config SET LINE_NAME = 'Renamed in the UI'`},
		{"b_imopenlines_config_queue", `UPDATE b_imopenlines_config_queue SET SORT = SORT + 5`},
		{"b_sonet_features", `UPDATE b_sonet_features SET ACTIVE = 'N'`},
		{"b_sonet_features2perms", `UPDATE b_sonet_features2perms SET ROLE = 'A'`},
		{"b_sonet_user2group", `UPDATE b_sonet_user2group SET ROLE = 'T' WHERE ROLE = 'K'`},
		{"b_sonet_group", `UPDATE b_sonet_group SET OPENED = 'N'`},
		{"b_crm_status", `UPDATE b_crm_status SET NAME = 'Renamed' WHERE STATUS_ID = 'NEW'`},
		{"b_crm_deal_category", `UPDATE b_crm_deal_category SET NAME = 'Renamed'`},
		{"b_voximplant_role_permission", `UPDATE b_voximplant_role_permission SET PERMISSION = 'X'`},
		{"b_imopenlines_role_access", `INSERT INTO b_imopenlines_role_access (ROLE_ID, ACCESS_CODE) VALUES (1, 'U9')`},
		{"b_crm_role_relation", `INSERT INTO b_crm_role_relation (ROLE_ID, RELATION) VALUES (3, 'U9')`},
		{"b_user", `UPDATE b_user SET ACTIVE = 'N' WHERE ID = 9`},
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		desired := policy(t)
		for _, e := range edits {
			live, err := p.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pl, _ := plan.Diff(desired, live, plan.Options{})
			if !pl.HasChanges() {
				t.Fatal("the policy should differ from the portal")
			}
			before := snapshot(t, p)
			res, err := p.DB().Exec(e.sql)
			if err != nil {
				t.Fatalf("%s: %v", e.sql, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				t.Fatalf("%s changed no row", e.sql)
			}
			edited := snapshot(t, p)
			err = p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs})
			var stale *StaleError
			if !errors.As(err, &stale) || !strings.Contains(err.Error(), e.table) {
				t.Fatalf("edit of %s not refused as stale: %v", e.table, err)
			}
			if d := diffSnapshots(edited, snapshot(t, p)); len(d) != 0 {
				t.Fatalf("the refused apply wrote: %v", d)
			}
			if d := diffSnapshots(before, edited); len(d) == 0 {
				t.Fatal("the edit is not visible in the snapshot")
			}
		}
	})
}
