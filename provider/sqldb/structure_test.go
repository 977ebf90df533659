package sqldb

import (
	"context"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
)

// What a real portal holds: the structure is the information block named
// by option intranet/iblock_structure (here 3, not 1), departments come
// from the UF_DEPARTMENT field found in b_user_field (here field 2), heads
// from UF_HEAD in b_uts_iblock_3_section, and the default deal pipeline is
// named by option crm/default_deal_category_name.
func TestRealStructure(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		for _, q := range []string{
			// Another information block's sections are not departments,
			// another user field's values are not departments.
			`INSERT INTO b_iblock_section (ID, IBLOCK_ID, NAME) VALUES (100, 1, 'News category')`,
			`INSERT INTO b_utm_user (VALUE_ID, FIELD_ID, VALUE_INT) VALUES (3, 1, 100)`,
			`UPDATE b_option SET VALUE = 'Main funnel' WHERE MODULE_ID = 'crm' AND NAME = 'default_deal_category_name'`,
		} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live.Directory.Departments) != 7 {
			t.Errorf("%d departments, want the 7 of iblock %d", len(live.Directory.Departments), SeedStructureIBlock)
		}
		for _, d := range live.Directory.Departments {
			if d.ID == 2 && d.Head != 5 {
				t.Errorf("head of Sales = %d, want 5 (UF_HEAD)", d.Head)
			}
		}
		for _, u := range live.Directory.Users {
			for _, d := range u.Departments {
				if d == 100 {
					t.Errorf("user %d is in section 100 through another user field", u.ID)
				}
			}
		}
		name := ""
		for _, pl := range live.Pipelines {
			if pl.Entity == "deal" && pl.Key == graph.DefaultPipeline {
				name = pl.Name
			}
		}
		if name != "Main funnel" {
			t.Errorf("default deal pipeline named %q, want the option's", name)
		}
		if w := strings.Join(p.Warnings(), "\n"); w != "" {
			t.Errorf("warnings on a complete portal: %s", w)
		}
		// Renaming the default deal pipeline writes the option, as
		// DealCategory::setDefaultCategoryName does.
		for i := range live.Pipelines {
			if live.Pipelines[i].Entity == "deal" && live.Pipelines[i].Key == graph.DefaultPipeline {
				live.Pipelines[i].Name = "Renamed funnel"
			}
		}
		live.Directory = nil
		applyPlan(t, p, live)
		var v string
		if err := p.DB().QueryRow(`SELECT VALUE FROM b_option WHERE MODULE_ID = 'crm' AND NAME = 'default_deal_category_name'`).Scan(&v); err != nil || v != "Renamed funnel" {
			t.Errorf("option after the rename: %q %v", v, err)
		}
	})
}

// Each missing structure or option gives a message naming what was looked
// for: errors for what b24perm cannot work without, warnings otherwise.
func TestMissingStructure(t *testing.T) {
	cases := []struct {
		name, sql string
		err       []string // Read fails naming these
		warn      []string // Read works, warning naming these
	}{
		{"no structure option", `DELETE FROM b_option WHERE MODULE_ID = 'intranet' AND NAME = 'iblock_structure'`, []string{"intranet/iblock_structure", "b_option"}, nil},
		{"bad structure option", `UPDATE b_option SET VALUE = 'x' WHERE MODULE_ID = 'intranet' AND NAME = 'iblock_structure'`, []string{"intranet/iblock_structure", `"x"`}, nil},
		{"no UF_DEPARTMENT", `DELETE FROM b_user_field WHERE FIELD_NAME = 'UF_DEPARTMENT'`, []string{"b_user_field", "UF_DEPARTMENT", "USER"}, nil},
		{"no UF_HEAD field", `DELETE FROM b_user_field WHERE FIELD_NAME = 'UF_HEAD'`, nil, []string{"UF_HEAD", "IBLOCK_3_SECTION"}},
		{"no UF_HEAD table", `DROP TABLE b_uts_iblock_3_section`, nil, []string{"b_uts_iblock_3_section"}},
		{"no pipeline name", `DELETE FROM b_option WHERE MODULE_ID = 'crm' AND NAME = 'default_deal_category_name'`, nil, []string{"crm/default_deal_category_name", `"General"`}},
		{"new structure", `CREATE TABLE b_hr_structure_node (ID INT NOT NULL PRIMARY KEY)`, nil, []string{"b_hr_structure_node", "intranet/iblock_structure", "information-block structure 3"}},
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				p := seeded(t, freshLike(t, dsn))
				if _, err := p.DB().Exec(c.sql); err != nil {
					t.Fatal(err)
				}
				_, err := p.Read(context.Background())
				if c.err != nil {
					if err == nil {
						t.Fatal("read worked")
					}
					for _, w := range c.err {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error lacks %q: %v", w, err)
						}
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				warnings := strings.Join(p.Warnings(), "\n")
				for _, w := range c.warn {
					if !strings.Contains(warnings, w) {
						t.Errorf("warnings lack %q: %s", w, warnings)
					}
				}
			})
		}
	})
}

// freshLike gives a new database of the same server and sql_mode as dsn.
func freshLike(t *testing.T, dsn string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "mysql://") {
		fresh := dbtest.MySQL(t)
		if i := strings.Index(dsn, "?"); i >= 0 {
			fresh += dsn[i:]
		}
		return fresh
	}
	return dbtest.Postgres(t)
}
