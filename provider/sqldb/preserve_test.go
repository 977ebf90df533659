package sqldb

import (
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// dbSnapshot is every row of every table of the database: table → row key
// (the ID, or the whole row for tables without one) → column → value.
type dbSnapshot map[string]map[string]map[string]string

const null = "\x00NULL"

// snapshot reads every table of the connected schema, all columns, all
// rows.
func snapshot(t testing.TB, p *Provider) dbSnapshot {
	t.Helper()
	schema := "DATABASE()"
	if p.dialect == "postgres" {
		schema = "current_schema()"
	}
	rows, err := p.db.Query("SELECT LOWER(table_name) FROM information_schema.tables WHERE table_schema = " + schema + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	s := dbSnapshot{}
	for _, table := range tables {
		rs, err := p.db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		s[table] = map[string]map[string]string{}
		for rs.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := map[string]string{}
			var whole []string
			key := ""
			for i, c := range cols {
				v := vals[i].String
				if !vals[i].Valid {
					v = null
				}
				c = strings.ToUpper(c)
				row[c] = v
				whole = append(whole, c+"="+v)
				if c == "ID" {
					key = v
				}
			}
			if key == "" {
				key = strings.Join(whole, ",")
			}
			s[table][key] = row
		}
		rs.Close()
	}
	return s
}

// rowChange is one row that differs between two snapshots.
type rowChange struct {
	table, key    string
	before, after map[string]string // nil: the row did not exist
}

func (c rowChange) String() string {
	switch {
	case c.before == nil:
		return fmt.Sprintf("+%s %s %v", c.table, c.key, c.after)
	case c.after == nil:
		return fmt.Sprintf("-%s %s %v", c.table, c.key, c.before)
	}
	var d []string
	for col, v := range c.after {
		if c.before[col] != v {
			d = append(d, fmt.Sprintf("%s %q→%q", col, c.before[col], v))
		}
	}
	slices.Sort(d)
	return fmt.Sprintf("~%s %s %s", c.table, c.key, strings.Join(d, ", "))
}

func diffSnapshots(a, b dbSnapshot) []rowChange {
	var out []rowChange
	tables := map[string]bool{}
	for t := range a {
		tables[t] = true
	}
	for t := range b {
		tables[t] = true
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		keys := map[string]bool{}
		for k := range a[t] {
			keys[k] = true
		}
		for k := range b[t] {
			keys[k] = true
		}
		ks := make([]string, 0, len(keys))
		for k := range keys {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			x, y := a[t][k], b[t][k]
			if x != nil && y != nil && fmt.Sprint(x) == fmt.Sprint(y) {
				continue
			}
			out = append(out, rowChange{t, k, x, y})
		}
	}
	return out
}

type owner struct {
	kind graph.Kind
	id   int64
}

// owners are the resources a changed row belongs to (a permission row of a
// role belongs to the role and to the pipeline of its ENTITY: a new
// pipeline gives every role rows, as Bitrix does).
func owners(c rowChange, before, after dbSnapshot) []owner {
	row := c.after
	if row == nil {
		row = c.before
	}
	num := func(col string) int64 {
		n, _ := strconv.ParseInt(row[col], 10, 64)
		return n
	}
	switch c.table {
	case "b_crm_role":
		return []owner{{graph.KindCRMRole, num("ID")}}
	case "b_crm_role_relation":
		return []owner{{graph.KindCRMRole, num("ROLE_ID")}}
	case "b_crm_role_perms":
		o := []owner{{graph.KindCRMRole, num("ROLE_ID")}}
		if _, cat := splitEntity(row["ENTITY"]); cat >= 0 {
			o = append(o, owner{graph.KindPipeline, cat})
		}
		return o
	case "b_crm_deal_category", "b_crm_item_category":
		return []owner{{graph.KindPipeline, num("ID")}}
	case "b_crm_dynamic_type":
		return []owner{{graph.KindSmartProcess, num("ENTITY_TYPE_ID")}}
	case "b_crm_status":
		_, cat, _ := bitrix.ParseStatusEntityID(row["ENTITY_ID"])
		return []owner{{graph.KindPipeline, cat}}
	case "b_option":
		if row["MODULE_ID"] == "crm" && row["NAME"] == optDealName {
			return []owner{{graph.KindPipeline, 0}}
		}
	case "b_voximplant_role":
		return []owner{{graph.KindTelephony, num("ID")}}
	case "b_voximplant_role_permission", "b_voximplant_role_access":
		return []owner{{graph.KindTelephony, num("ROLE_ID")}}
	case "b_imopenlines_role":
		return []owner{{graph.KindOpenline, num("ID")}}
	case "b_imopenlines_role_permission", "b_imopenlines_role_access":
		return []owner{{graph.KindOpenline, num("ROLE_ID")}}
	case "b_sonet_group":
		return []owner{{graph.KindWorkgroup, num("ID")}}
	case "b_sonet_group_site", "b_sonet_user2group":
		return []owner{{graph.KindWorkgroup, num("GROUP_ID")}}
	case "b_sonet_features":
		return []owner{{graph.KindWorkgroup, num("ENTITY_ID")}}
	case "b_sonet_features2perms":
		f := row["FEATURE_ID"]
		for _, s := range []dbSnapshot{after, before} {
			if fr := s["b_sonet_features"][f]; fr != nil {
				n, _ := strconv.ParseInt(fr["ENTITY_ID"], 10, 64)
				return []owner{{graph.KindWorkgroup, n}}
			}
		}
	case "b_imopenlines_config":
		return []owner{{graph.KindOpenChannel, num("ID")}}
	case "b_imopenlines_config_queue", "b_imopenlines_queue":
		return []owner{{graph.KindOpenChannel, num("CONFIG_ID")}}
	case fieldRuleTable, "b_user_field_permission":
		return []owner{{graph.KindFieldRule, -1}}
	}
	return nil
}

// splitEntity: "DEAL_C3" → 3, "DEAL" → 0, "DYNAMIC_130_C7" → ("DYNAMIC",
// 7), "SMART_INVOICE_C2" → 2, other entities → -1.
func splitEntity(e string) (string, int64) {
	if e == "DEAL" || e == "LEAD" || e == "SMART_INVOICE" {
		return e, 0
	}
	for _, base := range []string{"DEAL", "SMART_INVOICE", "DYNAMIC"} {
		rest, ok := strings.CutPrefix(e, base+"_")
		if !ok {
			continue
		}
		if base == "DYNAMIC" {
			if i := strings.Index(rest, "_"); i >= 0 {
				rest = rest[i+1:]
			}
		}
		if rest, ok := strings.CutPrefix(rest, "C"); ok {
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				return base, n
			}
		}
	}
	return e, -1
}

// checkPreserved asserts that the database difference of an apply is
// exactly the planned changes: every changed row belongs to a planned
// resource (an existing one by ID, or a new one of a kind the plan
// creates), and every planned resource changed some row. Rows b24perm does
// not manage (ORDER/CCA permission rows, dictionaries, users, options …)
// never change.
func checkPreserved(t testing.TB, pl *plan.Plan, before, after dbSnapshot) {
	t.Helper()
	planned := map[owner]bool{}
	creates := map[graph.Kind]bool{}
	// cells: for a role that is updated (not created, replaced or
	// deleted), the (ENTITY base, PERM_TYPE) pairs of its planned cells;
	// its other permission rows (ORDER, CCA, unchanged cells) must stay.
	cells := map[int64]map[[2]string]bool{}
	// onlyNewPipelines: role updates that only set the cells of pipelines
	// the plan creates. The new pipeline gave the role Bitrix's default
	// rows (provider/bitrix/defaults.go) and the update replaced them in
	// the same transaction: the net difference may be nothing.
	newPipes := map[string]bool{}
	for _, c := range pl.Changes {
		if c.Action == plan.Create && c.After != nil && c.After.Pipeline != nil {
			newPipes[c.After.Pipeline.Entity+"/"+c.After.Pipeline.Key] = true
		}
		if c.Action == plan.Create && c.After != nil && c.After.SmartProcess != nil {
			newPipes[graph.SmartProcessPrefix+c.After.SmartProcess.Key+"/"+graph.DefaultPipeline] = true
		}
	}
	onlyNewPipelines := map[int64]bool{}
	for _, c := range pl.Changes {
		if c.Addr.Kind != graph.KindCRMRole || c.Action != plan.Update || len(c.Attrs) == 0 {
			continue
		}
		only := true
		for _, a := range c.Attrs {
			only = only && a.Cell != nil && newPipes[a.Cell.Entity+"/"+a.Cell.Pipeline]
		}
		onlyNewPipelines[c.ID] = only
	}
	for _, c := range pl.Changes {
		if c.Manual {
			continue
		}
		if c.Addr.Kind == graph.KindCRMRole && c.Action == plan.Update {
			cells[c.ID] = map[[2]string]bool{}
			for _, a := range c.Attrs {
				if a.Cell == nil {
					continue
				}
				desc, _ := graph.LookupCRMEntity(a.Cell.Entity)
				cells[c.ID][[2]string{strings.ToUpper(desc.Bitrix), strings.ToUpper(a.Cell.Action)}] = true
			}
		}
		k := c.Addr.Kind
		if k == graph.KindFieldRule {
			planned[owner{k, -1}] = true
			continue
		}
		if c.Action == plan.Create || c.Action == plan.Replace {
			creates[k] = true
		}
		if c.Action != plan.Create {
			planned[owner{k, c.ID}] = true
		}
	}
	existing := map[owner]bool{}
	for _, c := range diffSnapshots(dbSnapshot{}, before) {
		for _, o := range owners(c, before, before) {
			existing[o] = true
		}
	}
	touched := map[owner]bool{}
	for _, c := range diffSnapshots(before, after) {
		os := owners(c, before, after)
		if c.table == "b_crm_role_perms" {
			row := c.after
			if row == nil {
				row = c.before
			}
			roleID, _ := strconv.ParseInt(row["ROLE_ID"], 10, 64)
			base, cat := splitEntity(row["ENTITY"])
			viaPipeline := cat >= 0 && (planned[owner{graph.KindPipeline, cat}] || (creates[graph.KindPipeline] && !existing[owner{graph.KindPipeline, cat}]))
			if set, ok := cells[roleID]; ok && !viaPipeline && !set[[2]string{base, row["PERM_TYPE"]}] {
				t.Errorf("apply changed a permission row that is not a planned cell of role %d: %s", roleID, c)
				continue
			}
		}
		ok := false
		for _, o := range os {
			touched[o] = true
			if planned[o] {
				ok = true
				continue
			}
			if creates[o.kind] && !existing[o] {
				ok = true
			}
		}
		if !ok {
			t.Errorf("apply changed a row outside the plan: %s", c)
		}
	}
	for o := range planned {
		if !touched[o] && !(o.kind == graph.KindCRMRole && onlyNewPipelines[o.id]) {
			t.Errorf("planned %s %d changed no row", o.kind, o.id)
		}
	}
}
