package sqldb

import (
	"context"
	"strconv"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
)

// Adding a user or a department to an open channel's queue updates
// b_imopenlines_queue, the operator list Bitrix distributes chats from, as
// the module's QueueManager does: the department expanded to its active
// users (sub-departments included, heads excluded), existing operators
// kept in place.
func TestOpenChannelOperators(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live.OpenChannels) == 0 {
			t.Fatal("the demo has no open channel")
		}
		operators := func() map[string]string {
			m := map[string]string{}
			rows, err := p.DB().Query(p.q("SELECT USER_ID, DEPARTMENT_ID FROM b_imopenlines_queue WHERE CONFIG_ID = ?"), live.OpenChannels[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var u, d string
				rows.Scan(&u, &d)
				m[u] = d
			}
			return m
		}
		before := operators()
		if len(before) == 0 {
			t.Fatal("the seeded channel has no operators")
		}
		// Department Sales (2) with its sub-departments Wholesale (5) and
		// Retail (6); its head (user 5) is not an operator through it.
		ch := &live.OpenChannels[0]
		ch.Queue = append(ch.Queue, graph.SubjDepartment+":Company/Sales")
		desired := live
		desired.Directory = nil
		applyPlan(t, p, desired)
		after := operators()
		var inSales []int64
		full := mustRead(t, p)
		sub := map[int64]bool{2: true, 5: true, 6: true}
		for _, u := range full.Directory.Users {
			for _, d := range u.Departments {
				if sub[d] && !u.Inactive && u.ID != 5 {
					inSales = append(inSales, u.ID)
					break
				}
			}
		}
		if len(inSales) == 0 {
			t.Fatal("nobody in Sales")
		}
		for _, id := range inSales {
			key := itoa(id)
			if _, ok := after[key]; !ok {
				t.Errorf("user %d of Sales is not an operator: %v", id, after)
			}
		}
		for u, d := range before {
			if after[u] != d && d != "0" {
				t.Errorf("operator %s changed department %s → %s", u, d, after[u])
			}
		}
		if _, ok := after["5"]; ok && before["5"] == "" {
			t.Errorf("the head of Sales became an operator through the department: %v", after)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
