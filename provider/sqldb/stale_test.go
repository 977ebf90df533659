package sqldb

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
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

// differs compares every table of bitrix.Portal: a table added to the
// model but not to the staleness check would let an edit made while apply
// waits for "yes" be reverted (issue 16 #5). Each table in turn gets one
// row with every field set; differs must name it.
func TestDiffersCoversEveryTable(t *testing.T) {
	// Not tables: the file header, the ID counters (the writer's own
	// bookkeeping, read again inside the transaction) and the cloud plan,
	// which a database does not hold.
	notTables := map[string]bool{"Format": true, "FormatVersion": true, "Portal": true, "Counters": true, "Bitrix24": true}
	typ := reflect.TypeOf(bitrix.Portal{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if notTables[f.Name] {
			continue
		}
		if f.Type.Kind() != reflect.Slice {
			t.Errorf("bitrix.Portal.%s is not a table (a slice): decide whether the staleness check compares it", f.Name)
			continue
		}
		var a, b bitrix.Portal
		row := reflect.New(f.Type.Elem()).Elem()
		fill(row)
		reflect.ValueOf(&b).Elem().Field(i).Set(reflect.Append(reflect.MakeSlice(f.Type, 0, 1), row))
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if got := differs(&a, &b); got != tag {
			t.Errorf("a row added to bitrix.Portal.%s (%s): differs names %q", f.Name, tag, got)
		}
		if got := differs(&b, &b); got != "" {
			t.Errorf("bitrix.Portal.%s equal on both sides: differs names %q", f.Name, got)
		}
	}
}

// fill sets every settable field of v to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				fill(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Slice:
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), e))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem())
		v.Set(p)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	}
}
