package sim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/sim"
)

// portal has n users, departments and workgroups with IDs 10, 20, … stored
// in descending order.
func portal(n int) *bitrix.Portal {
	pt := bitrix.NewPortal("sim.example")
	for i := n; i >= 1; i-- {
		id := int64(10 * i)
		pt.Users = append(pt.Users, bitrix.User{ID: id, Name: fmt.Sprintf("U%d", id), LastName: "L", Active: "Y"})
		pt.Departments = append(pt.Departments, bitrix.Department{ID: id, Name: fmt.Sprint("D", id)})
		pt.SonetGroups = append(pt.SonetGroups, bitrix.SonetGroup{ID: id, Name: fmt.Sprint("G", id), Visible: "Y", Opened: "N", Closed: "N", OwnerID: id, InitiatePerms: "K"})
	}
	return pt
}

func post(t *testing.T, url, method string, body map[string]any) map[string]json.RawMessage {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url+method+".json", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

type answer struct {
	n           int
	first, last string // IDs
	total, next string // "" when absent
}

func read(t *testing.T, out map[string]json.RawMessage) answer {
	t.Helper()
	if e, ok := out["error"]; ok {
		t.Fatalf("error answer: %s", e)
	}
	var items []struct{ ID string }
	if err := json.Unmarshal(out["result"], &items); err != nil {
		t.Fatalf("result %s: %v", out["result"], err)
	}
	a := answer{n: len(items), total: string(out["total"]), next: string(out["next"])}
	if len(items) > 0 {
		a.first, a.last = items[0].ID, items[len(items)-1].ID
	}
	return a
}

// List methods page by start offsets (total, next) or, with start=-1,
// without counting (neither total nor next); they honour the >ID filter
// and the ID sort with each method's own parameter names.
func TestListPaging(t *testing.T) {
	srv := httptest.NewServer(sim.New(portal(120), sim.Options{}))
	defer srv.Close()
	u := srv.URL + "/rest/1/t/"
	asc := map[string]map[string]any{
		"user.get":        {"SORT": "ID", "ORDER": "ASC"},
		"department.get":  {"sort": "ID", "order": "ASC"},
		"sonet_group.get": {"ORDER": map[string]any{"ID": "ASC"}},
	}
	gt := func(method string, id int) map[string]any {
		if method == "department.get" {
			return map[string]any{">ID": id}
		}
		return map[string]any{"FILTER": map[string]any{">ID": id}}
	}
	for _, method := range []string{"user.get", "department.get", "sonet_group.get"} {
		for _, tc := range []struct {
			name   string
			params []map[string]any
			want   answer
		}{
			{"offset 0", nil, answer{50, "", "", "120", "50"}},
			{"offset 100", []map[string]any{{"start": 100}}, answer{20, "", "", "120", ""}},
			{"offset past the end", []map[string]any{{"start": 500}}, answer{0, "", "", "120", ""}},
			{"sorted offset 50", []map[string]any{asc[method], {"start": 50}}, answer{50, "510", "1000", "120", "100"}},
			{"fast", []map[string]any{asc[method], {"start": -1}}, answer{50, "10", "500", "", ""}},
			{"fast after 500", []map[string]any{asc[method], gt(method, 500), {"start": -1}}, answer{50, "510", "1000", "", ""}},
			{"fast short page", []map[string]any{asc[method], gt(method, 1000), {"start": -1}}, answer{20, "1010", "1200", "", ""}},
			{"fast empty page", []map[string]any{asc[method], gt(method, 1200), {"start": -1}}, answer{0, "", "", "", ""}},
			{"offset with filter", []map[string]any{asc[method], gt(method, 1000)}, answer{20, "1010", "1200", "20", ""}},
		} {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				body := map[string]any{}
				for _, p := range tc.params {
					for k, v := range p {
						body[k] = v
					}
				}
				got := read(t, post(t, u, method, body))
				if tc.want.first == "" && got.n > 0 {
					got.first, got.last = "", "" // the portal's own order
				}
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
			})
		}
	}
	// sonet_group.get sorts by ID descending unless told otherwise.
	if got := read(t, post(t, u, "sonet_group.get", map[string]any{"start": -1})); got.first != "1200" || got.last != "710" {
		t.Errorf("sonet_group.get default order: %+v", got)
	}
}

// Batch references reach into list results ($result[key][N][FIELD]); a
// reference that cannot resolve is passed on literally, and a >ID filter
// holding it fails that command only. Commands in fast mode have no
// result_total or result_next.
func TestBatchListReferences(t *testing.T) {
	srv := httptest.NewServer(sim.New(portal(120), sim.Options{}))
	defer srv.Close()
	const q = "user.get?SORT=ID&ORDER=ASC&start=-1&FILTER%5B%3EID%5D="
	out := post(t, srv.URL+"/rest/1/t/", "batch", map[string]any{"halt": 0, "cmd": map[string]any{
		"p0": q + "0",
		"p1": q + "$result[p0][49][ID]",
		"p2": q + "%24result%5Bp1%5D%5B49%5D%5BID%5D", // encoded: resolved too
		"p3": q + "$result[p2][49][ID]",               // p2 has 20 items
		"p4": q + "$result[p3][49][ID]",               // p3 failed
		"p5": "user.get?start=0",
	}})
	var r struct {
		Result      map[string][]struct{ ID string }        `json:"result"`
		ResultError map[string]struct{ Error, Desc string } `json:"result_error"`
		ResultTotal map[string]int                          `json:"result_total"`
		ResultNext  map[string]int                          `json:"result_next"`
	}
	if err := json.Unmarshal(out["result"], &r); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string][3]any{"p0": {50, "10", "500"}, "p1": {50, "510", "1000"}, "p2": {20, "1010", "1200"}} {
		items := r.Result[k]
		if len(items) != want[0] || items[0].ID != want[1] || items[len(items)-1].ID != want[2] {
			t.Errorf("%s: %d items %v…, want %v", k, len(items), items[:min(1, len(items))], want)
		}
		if _, ok := r.ResultTotal[k]; ok {
			t.Errorf("%s: result_total in fast mode", k)
		}
		if _, ok := r.ResultNext[k]; ok {
			t.Errorf("%s: result_next in fast mode", k)
		}
	}
	for _, k := range []string{"p3", "p4"} {
		if r.ResultError[k].Error != "INVALID_FILTER" {
			t.Errorf("%s: %+v, want INVALID_FILTER", k, r.ResultError[k])
		}
	}
	if r.ResultTotal["p5"] != 120 || r.ResultNext["p5"] != 50 {
		t.Errorf("p5 (offset mode): total %d, next %d", r.ResultTotal["p5"], r.ResultNext["p5"])
	}
}

func decode(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
}
