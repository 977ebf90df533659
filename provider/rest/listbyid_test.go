package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
)

// idOf is the ID of the i-th item (0-based, in ID order) of a test portal:
// IDs have gaps, so a client counting instead of reading IDs fails.
func idOf(i int) int64 { return 7 + 3*int64(i) }

// bigPortal has n users, n departments and n workgroups, stored in a
// shuffled order: only a client asking for ID order gets them sorted.
func bigPortal(n int) *bitrix.Portal {
	pt := bitrix.NewPortal("big.example")
	for i := range n {
		id := idOf(i)
		pt.Users = append(pt.Users, bitrix.User{ID: id, Email: fmt.Sprintf("u%d@example.com", id), Name: fmt.Sprintf("U%d", id), LastName: "Last", Active: "Y"})
		pt.Departments = append(pt.Departments, bitrix.Department{ID: id, Name: fmt.Sprintf("D%d", id)})
		pt.SonetGroups = append(pt.SonetGroups, bitrix.SonetGroup{ID: id, Name: fmt.Sprintf("G%d", id), Visible: "Y", Opened: "N", Closed: "N", OwnerID: 1, InitiatePerms: "K"})
	}
	r := rand.New(rand.NewPCG(uint64(n), 2))
	r.Shuffle(n, func(i, j int) {
		pt.Users[i], pt.Users[j] = pt.Users[j], pt.Users[i]
		pt.Departments[i], pt.Departments[j] = pt.Departments[j], pt.Departments[i]
		pt.SonetGroups[i], pt.SonetGroups[j] = pt.SonetGroups[j], pt.SonetGroups[i]
	})
	return pt
}

func serve(t testing.TB, pt *bitrix.Portal, o sim.Options) (*sim.Server, *rest.Client) {
	t.Helper()
	o.Token = "tok"
	s := sim.New(pt, o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

var methods = []struct {
	method string
	params url.Values
	keys   rest.IDPaging
	prefix string // NAME is prefix+ID
}{
	{"user.get", url.Values{"ADMIN_MODE": {"true"}}, rest.UserGet, "U"},
	{"department.get", url.Values{}, rest.DepartmentGet, "D"},
	{"sonet_group.get", url.Values{"IS_ADMIN": {"Y"}}, rest.SonetGroupGet, "G"},
}

// checkItems: exactly the n items of the portal, complete, in ID order,
// each once.
func checkItems(t *testing.T, items []json.RawMessage, n int, prefix string) {
	t.Helper()
	if len(items) != n {
		t.Fatalf("%d items, want %d", len(items), n)
	}
	for i, raw := range items {
		var it struct {
			ID    string `json:"ID"`
			Name  string `json:"NAME"`
			Email string `json:"EMAIL"`
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		want := idOf(i)
		if it.ID != strconv.FormatInt(want, 10) {
			t.Fatalf("item %d has ID %s, want %d (out of order, missing or repeated)", i, it.ID, want)
		}
		if it.Name != prefix+it.ID {
			t.Fatalf("item %d (ID %s): NAME %q, want %q", i, it.ID, it.Name, prefix+it.ID)
		}
		if prefix == "U" && it.Email != "u"+it.ID+"@example.com" {
			t.Fatalf("user %s: EMAIL %q", it.ID, it.Email)
		}
	}
}

// Page boundaries: n items take n/50+1 pages (the last one short, maybe
// empty) and n/2500+1 requests and one to confirm the end, with no COUNT (every command start=-1).
// Commands after the short page carry references that cannot resolve:
// the simulator fails them, as the filter gets a literal $result[...],
// and the client ignores them.
func TestListByIDPageBoundaries(t *testing.T) {
	for _, n := range []int{0, 1, 49, 50, 51, 2450, 2499, 2500, 2501, 5000, 10000} {
		pt := bigPortal(n)
		for _, m := range methods {
			if n == 10000 && m.method != "user.get" {
				continue // one method is enough for the big one
			}
			t.Run(fmt.Sprintf("%s/%d", m.method, n), func(t *testing.T) {
				var commands, literal, counted atomic.Int64
				s, c := serve(t, pt, sim.Options{CommandFault: func(method string, p map[string]any) (string, string) {
					commands.Add(1)
					if p["start"] != "-1" {
						counted.Add(1)
					}
					for _, v := range p {
						if s, ok := v.(string); ok && strings.Contains(s, "$result[") {
							literal.Add(1)
						}
					}
					return "", ""
				}})
				items, err := c.ListByID(context.Background(), m.method, m.params, m.keys)
				if err != nil {
					t.Fatal(err)
				}
				checkItems(t, items, n, m.prefix)
				pages := n/50 + 1
				// One more request, of one command, confirms the end.
				wantReq := int64((pages+49)/50) + 1
				if got := c.Requests.Load(); got != wantReq || int64(s.Requests) != wantReq {
					t.Errorf("%d requests (simulator: %d), want %d", got, s.Requests, wantReq)
				}
				if counted.Load() != 0 {
					t.Errorf("%d commands without start=-1", counted.Load())
				}
				if want := int64(49 - (pages-1)%50); literal.Load() != want {
					t.Errorf("%d commands got an unresolved reference, want %d", literal.Load(), want)
				}
				if commands.Load() != (wantReq-1)*50+1 {
					t.Errorf("%d commands, want %d", commands.Load(), (wantReq-1)*50+1)
				}
			})
		}
	}
}

// A command in the middle of a batch fails: ListByID returns the error
// with the method and page, and no items.
func TestListByIDCommandFails(t *testing.T) {
	pt := bigPortal(10000)
	for _, tc := range []struct {
		page    int // 1-based page whose command fails
		wantReq int64
	}{
		{1, 1},
		{4, 1},
		{50, 1}, // the last command of the first batch
		{51, 2}, // the first command of the second batch
		{77, 2},
		{200, 4},
	} {
		t.Run(fmt.Sprint("page", tc.page), func(t *testing.T) {
			after := "0"
			if tc.page > 1 {
				after = strconv.FormatInt(idOf((tc.page-1)*50-1), 10)
			}
			_, c := serve(t, pt, sim.Options{CommandFault: func(method string, p map[string]any) (string, string) {
				if method == "user.get" && p["FILTER[>ID]"] == after {
					return "ACCESS_DENIED", "Access denied"
				}
				return "", ""
			}})
			items, err := c.ListByID(context.Background(), "user.get", url.Values{"ADMIN_MODE": {"true"}}, rest.UserGet)
			if err == nil {
				t.Fatalf("no error; %d items", len(items))
			}
			for _, want := range []string{"user.get", fmt.Sprintf("page %d ", tc.page), "ID > " + after, "ACCESS_DENIED", "Access denied"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if items != nil {
				t.Errorf("%d items returned with the error", len(items))
			}
			if got := c.Requests.Load(); got != tc.wantReq {
				t.Errorf("%d requests, want %d", got, tc.wantReq)
			}
		})
	}
}

// Cancellation before, during and between requests ends ListByID with the
// context's error and no further requests.
func TestListByIDCancellation(t *testing.T) {
	pt := bigPortal(6000) // three batches
	for _, tc := range []struct {
		name    string
		latency time.Duration
		setup   func(cancel context.CancelFunc) func(string, map[string]any) (string, string)
		timeout time.Duration
		maxReq  int64
	}{
		{name: "before", maxReq: 0},
		{name: "during the first request", latency: 200 * time.Millisecond, timeout: 30 * time.Millisecond, maxReq: 1},
		{name: "during the second batch", maxReq: 2, setup: func(cancel context.CancelFunc) func(string, map[string]any) (string, string) {
			second := strconv.FormatInt(idOf(2499), 10)
			return func(_ string, p map[string]any) (string, string) {
				if p["FILTER[>ID]"] == second {
					cancel()
				}
				return "", ""
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			o := sim.Options{Latency: tc.latency}
			if tc.setup != nil {
				o.CommandFault = tc.setup(cancel)
			}
			if tc.name == "before" {
				cancel()
			}
			_, c := serve(t, pt, o)
			items, err := c.ListByID(ctx, "user.get", nil, rest.UserGet)
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v (%d items), want the context's error", err, len(items))
			}
			if got := c.Requests.Load(); got > tc.maxReq {
				t.Errorf("%d requests after cancellation, want ≤ %d", got, tc.maxReq)
			}
		})
	}
}

// A portal that ignores the ID filter or sort would make chained pages
// repeat or skip items: ListByID notices that IDs do not advance and
// reads the method again by offsets.
func TestListByIDFallsBackToOffsets(t *testing.T) {
	pt := bigPortal(120)
	for _, tc := range []struct {
		name string
		keys rest.IDPaging
	}{
		{"filter ignored", rest.IDPaging{Filter: "FILTER[>XID]", Sort: rest.UserGet.Sort}},
		{"sort ignored", rest.IDPaging{Filter: "FILTER[>ID]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := serve(t, pt, sim.Options{})
			items, err := c.ListByID(context.Background(), "user.get", nil, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 120 {
				t.Fatalf("%d items, want 120", len(items))
			}
			seen := map[string]bool{}
			for _, raw := range items {
				var it struct{ ID string }
				json.Unmarshal(raw, &it)
				if seen[it.ID] {
					t.Fatalf("user %s twice", it.ID)
				}
				seen[it.ID] = true
			}
			// One fast batch, then offsets: the first page and one batch.
			if got := c.Requests.Load(); got != 3 {
				t.Errorf("%d requests, want 3", got)
			}
		})
	}
}

// References into earlier results stay literal through URL encoding and
// resolve in the simulator: $result[key][N][FIELD] into a list, and an
// index past a short list leaves the reference unresolved.
func TestBatchListReferences(t *testing.T) {
	_, c := serve(t, bigPortal(120), sim.Options{})
	sorted := func(filter string) url.Values {
		return url.Values{"SORT": {"ID"}, "ORDER": {"ASC"}, "start": {"-1"}, "FILTER[>ID]": {filter}}
	}
	res, err := c.Batch(context.Background(), []rest.Cmd{
		{Key: "a", Method: "user.get", Params: sorted("0")},
		{Key: "b", Method: "user.get", Params: sorted("$result[a][49][ID]")},
		{Key: "c", Method: "user.get", Params: sorted("$result[b][49][ID]")},
		{Key: "d", Method: "user.get", Params: sorted("$result[c][49][ID]")}, // c has 20 items
		{Key: "e", Method: "user.get", Params: sorted("$result[a][0][EMAIL]")},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	first := func(k string) (string, int) {
		var page []struct{ ID string }
		if err := json.Unmarshal(res[k].Result, &page); err != nil || len(page) == 0 {
			return "", len(page)
		}
		return page[0].ID, len(page)
	}
	for _, tc := range []struct {
		key   string
		first int64
		n     int
	}{{"a", idOf(0), 50}, {"b", idOf(50), 50}, {"c", idOf(100), 20}} {
		if id, n := first(tc.key); id != strconv.FormatInt(tc.first, 10) || n != tc.n || res[tc.key].Err != nil {
			t.Errorf("%s: first ID %s of %d items (err %v), want %d of %d", tc.key, id, n, res[tc.key].Err, tc.first, tc.n)
		}
		if res[tc.key].Total != 0 || res[tc.key].Next != nil {
			t.Errorf("%s: start=-1 answered total %d, next %v", tc.key, res[tc.key].Total, res[tc.key].Next)
		}
	}
	// d: c is short, so $result[c][49][ID] reaches the filter literally;
	// e: a field of an item resolves (to an e-mail, not an ID).
	for k, want := range map[string]string{"d": `"$result[c][49][ID]"`, "e": `"u7@example.com"`} {
		if err := res[k].Err; err == nil || !strings.Contains(err.Error(), "INVALID_FILTER") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want INVALID_FILTER for %s", k, err, want)
		}
	}
}
