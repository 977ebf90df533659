package sim_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/sim"
	"github.com/google/go-cmp/cmp"
)

// The REST methods change exactly the rows Bitrix changes: memberships
// in place (SetOwner), banned members, requests and switched-off
// features untouched, a stage renamed in place keeping its SORT and
// SEMANTICS, a new pipeline with its default stages, an open-channel
// queue row kept when its entry stays.
func TestRESTWritesRows(t *testing.T) {
	pt, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	// Group 2: user 7 banned (T), user 8 asked to join (Z); its forum is
	// switched off.
	pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: 20, GroupID: 2, UserID: 7, Role: "T"}, bitrix.User2Group{ID: 21, GroupID: 2, UserID: 8, Role: "Z"})
	pt.Features = append(pt.Features, bitrix.Feature{ID: 5, EntityType: "G", EntityID: 2, Feature: "forum", Active: "N"})
	s := sim.New(pt, sim.Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	u := srv.URL + "/rest/1/t/"
	call := func(method string, body map[string]any) {
		t.Helper()
		if out := post(t, u, method, body); out["error"] != nil {
			t.Fatalf("%s: %s", method, out["error"])
		}
	}
	before := *pt
	before.User2Group = slices.Clone(pt.User2Group)
	before.Features = slices.Clone(pt.Features)
	before.Statuses = slices.Clone(pt.Statuses)

	// Members listed: owner, moderators and members only.
	var members []struct{ USER_ID, ROLE string }
	decode(t, post(t, u, "sonet_group.user.get", map[string]any{"ID": 2})["result"], &members)
	if len(members) != 3 {
		t.Fatalf("sonet_group.user.get lists %+v; banned and requesting users are not members", members)
	}
	call("sonet_group.user.add", map[string]any{"GROUP_ID": 2, "USER_ID": 9})
	call("sonet_group.setowner", map[string]any{"GROUP_ID": 2, "USER_ID": 2})
	want := append(slices.Clone(before.User2Group), bitrix.User2Group{ID: 22, GroupID: 2, UserID: 9, Role: "K"})
	want[5].Role = "K" // row 6: user 3, the old owner
	want[6].Role = "A" // row 7: user 2, the new owner
	if d := cmp.Diff(want, pt.User2Group); d != "" {
		t.Errorf("memberships (-want +got):\n%s", d)
	}
	if d := cmp.Diff(before.Features, pt.Features); d != "" {
		t.Errorf("features changed (-want +got):\n%s", d)
	}
	if pt.SonetGroups[1].OwnerID != 2 {
		t.Errorf("OWNER_ID %d, want 2", pt.SonetGroups[1].OwnerID)
	}

	// Rename the won stage: in place.
	call("crm.status.update", map[string]any{"id": 4, "fields": map[string]any{"NAME": "Won!"}})
	wantSt := slices.Clone(before.Statuses)
	wantSt[3].Name = "Won!"
	if d := cmp.Diff(wantSt, pt.Statuses); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
	// A new deal pipeline gets its default stages, success and failure
	// marked.
	call("crm.category.add", map[string]any{"entityTypeId": 2, "fields": map[string]any{"name": "Retail"}})
	added := pt.Statuses[len(before.Statuses):]
	if len(added) != 3 || added[0].EntityID != "DEAL_STAGE_2" || added[0].StatusID != "C2:NEW" || added[1].Semantics != "S" || added[2].Semantics != "F" {
		t.Errorf("stages of the new pipeline: %+v", added)
	}
	// ... and every role its default rights (DealCategory::add,
	// crm/lib/category/dealcategory.php: nine rows, READ … X, TRANSITION
	// ANY; provider/bitrix/defaults.go).
	perRole := map[int64]int{}
	for _, r := range pt.RolePerms {
		if r.Entity == "DEAL_C2" {
			perRole[r.RoleID]++
		}
	}
	if len(perRole) != len(pt.Roles) || perRole[pt.Roles[0].ID] != 9 {
		t.Errorf("default rows of the new pipeline per role: %v (roles %d)", perRole, len(pt.Roles))
	}

	// The open channel's queue: user 9 stays (its row is kept), the
	// department goes, user 4 comes.
	call("imopenlines.config.update", map[string]any{"CONFIG_ID": 1, "PARAMS": map[string]any{
		"QUEUE": []any{map[string]any{"ENTITY_TYPE": "user", "ENTITY_ID": 4}, map[string]any{"ENTITY_TYPE": "user", "ENTITY_ID": 9}}}})
	// SORT is the 0-based position (QueueManager::getDataAddConfigQueue).
	wantQ := []bitrix.OLQueue{{ID: 1, Sort: 1, ConfigID: 1, EntityID: 9, EntityType: "user"}, {ID: 3, Sort: 0, ConfigID: 1, EntityID: 4, EntityType: "user"}}
	if d := cmp.Diff(wantQ, pt.OLQueue); d != "" {
		t.Errorf("queue rows (-want +got):\n%s", d)
	}
	// b_imopenlines_queue follows: user 9 keeps row 1, user 6 (from the
	// department) loses row 2, user 4 gets one.
	wantOps := []bitrix.OLOperator{{ID: 1, Sort: 1, ConfigID: 1, UserID: 9}, {ID: 3, Sort: 0, ConfigID: 1, UserID: 4}}
	if d := cmp.Diff(wantOps, pt.OLOperators); d != "" {
		t.Errorf("operator rows (-want +got):\n%s", d)
	}
	// An inactive user is left out of both tables, named or in a
	// department, as QueueManager::update does (isValidUser), and
	// QUEUE lists the operators.
	pt.Users[3].Active = "N" // user 4
	pt.Users[5].Active = "N" // user 6, of department 3
	call("imopenlines.config.update", map[string]any{"CONFIG_ID": 1, "PARAMS": map[string]any{
		"QUEUE": []any{map[string]any{"ENTITY_TYPE": "user", "ENTITY_ID": 4}, map[string]any{"ENTITY_TYPE": "department", "ENTITY_ID": 3}}}})
	wantQ = []bitrix.OLQueue{{ID: 4, Sort: 0, ConfigID: 1, EntityID: 3, EntityType: "department"}}
	if d := cmp.Diff(wantQ, pt.OLQueue); d != "" {
		t.Errorf("queue rows with inactive users (-want +got):\n%s", d)
	}
	wantOps = []bitrix.OLOperator{{ID: 1, Sort: 0, ConfigID: 1, UserID: 9, DepartmentID: 3}}
	if d := cmp.Diff(wantOps, pt.OLOperators); d != "" {
		t.Errorf("operator rows with inactive users (-want +got):\n%s", d)
	}
	var got struct{ QUEUE []string }
	if err := json.Unmarshal(post(t, u, "imopenlines.config.get", map[string]any{"CONFIG_ID": 1})["result"], &got); err != nil || fmt.Sprint(got.QUEUE) != "[9]" {
		t.Errorf("QUEUE = %v (%v), want [9]", got.QUEUE, err)
	}

	// Deleting a workgroup deletes its memberships and features.
	call("sonet_group.delete", map[string]any{"GROUP_ID": 2})
	for _, m := range pt.User2Group {
		if m.GroupID == 2 {
			t.Errorf("membership row %d of the deleted group left", m.ID)
		}
	}
	for _, f := range pt.Features {
		if f.EntityID == 2 {
			t.Errorf("feature row %d of the deleted group left", f.ID)
		}
	}
}
