package rest_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/sim"
)

// A page cut short without an error (a portal or proxy under load) in the
// middle of a list never ends the read: ListByID either returns every
// item or fails. The reported flake: an XL plan whose user list lacked
// users, with no error.
func TestListByIDShortPageMidList(t *testing.T) {
	const n = 3000
	pt := bigPortal(n)
	for _, tc := range []struct {
		name string
		page int // 1-based page cut to 20 items
		once bool
	}{
		{"first batch, once", 7, true},
		{"first batch, always", 7, false},
		{"last command of a batch, once", 50, true},
		{"second batch, always", 55, false},
		{"cut to empty", 12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := "0"
			if tc.page > 1 {
				after = strconv.FormatInt(idOf((tc.page-1)*50-1), 10)
			}
			keep := 20
			if strings.HasPrefix(tc.name, "cut to empty") {
				keep = 0
			}
			cuts := 0
			_, c := serve(t, pt, sim.Options{PageCut: func(method string, p map[string]any, items int) int {
				if method == "user.get" && p["FILTER[>ID]"] == after && (!tc.once || cuts == 0) {
					cuts++
					return keep
				}
				return -1
			}})
			m := methods[0]
			items, err := c.ListByID(context.Background(), m.method, m.params, m.keys)
			if cuts == 0 {
				t.Fatal("the fault was not injected")
			}
			if err != nil {
				// Failing is allowed, silently returning less is not.
				if !strings.Contains(err.Error(), "user.get") {
					t.Fatalf("error %q does not name the method", err)
				}
				return
			}
			checkItems(t, items, n, m.prefix)
		})
	}
}

// The offset mode (List) checks what it read against the total the first
// page announced and the page sizes: a page cut short is an error naming
// the shortfall, never a shorter list.
func TestListShortPage(t *testing.T) {
	const n = 400
	pt := bigPortal(n)
	_, c := serve(t, pt, sim.Options{PageCut: func(method string, p map[string]any, items int) int {
		if p["start"] == "150" {
			return 10
		}
		return -1
	}})
	items, err := c.List(context.Background(), "user.get", url.Values{"SORT": {"ID"}, "ORDER": {"ASC"}})
	if err == nil {
		t.Fatalf("no error; %d items of %d", len(items), n)
	}
	for _, want := range []string{"user.get", "incomplete", "400"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
