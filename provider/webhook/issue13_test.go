package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/portaltest"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
	"github.com/google/go-cmp/cmp"
)

// Over REST the workgroup states of issue 13 read as from the tables:
// banned members, join requests and invitations (sonet_group.user.get
// ROLE T/Z, INITIATED_BY_TYPE), the archive flag (CLOSED), VISIBLE=N
// with OPENED=Y, and extranet users (user.get USER_TYPE). What REST does
// not expose is not asserted: CRM roles, feature switches and
// permissions, the work_with_closed_groups option.
func TestReadIssue13StatesOverREST(t *testing.T) {
	pt := portaltest.Issue13(t, local.DemoPortal())
	want, _ := bitrix.Read(pt)
	_, p, got := readSim(t, pt)
	if len(p.Anomalies) != 0 {
		t.Errorf("anomalies: %v", p.Anomalies)
	}
	strip := func(ws []graph.Workgroup) []graph.Workgroup {
		out := stripFeatures(ws)
		for i := range out {
			out[i].DisabledFeatures = nil
		}
		return out
	}
	if d := cmp.Diff(strip(want.Workgroups), strip(got.Workgroups)); d != "" {
		t.Errorf("workgroups (-tables +cloud):\n%s", d)
	}
	extranet := func(g *graph.Graph) map[int64]bool {
		m := map[int64]bool{}
		for _, u := range g.Directory.Users {
			m[u.ID] = u.Extranet
		}
		return m
	}
	if d := cmp.Diff(extranet(want), extranet(got)); d != "" {
		t.Errorf("extranet users (-tables +cloud):\n%s", d)
	}
	byID := map[int64]graph.Workgroup{}
	for _, w := range got.Workgroups {
		byID[w.ID] = w
	}
	if w := byID[1]; len(w.Banned) != 1 || len(w.Requests) != 1 || len(w.Invited) != 1 || !byID[2].Archived || byID[3].Visibility != "secret_open" {
		t.Errorf("states lost over REST: %+v", got.Workgroups)
	}
}

// More banned users than a page (50) are read page by page.
func TestReadNonMembersPaging(t *testing.T) {
	pt := portaltest.Issue13(t, local.DemoPortal())
	for i := int64(0); i < 120; i++ {
		id := 1000 + i
		pt.Users = append(pt.Users, bitrix.User{ID: id, Email: fmt.Sprintf("u%d@example.com", id), Name: "U", Active: "Y", UFDepartment: []int64{1}, Groups: []int64{2}})
		pt.User2Group = append(pt.User2Group, bitrix.User2Group{ID: 100 + i, GroupID: 2, UserID: id, Role: "T"})
	}
	_, p, got := readSim(t, pt)
	for _, w := range got.Workgroups {
		if w.ID == 2 && len(w.Banned) != 120 {
			t.Errorf("%d banned read, want 120", len(w.Banned))
		}
	}
	if len(p.Warnings()) != 0 {
		t.Errorf("warnings: %v", p.Warnings())
	}
}

// A webhook that may not call socialnetwork.api.usertogroup.list reads
// the rest, with a warning that banned members and requests were not read.
func TestReadNonMembersRefused(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "tok", CommandFault: func(method string, _ map[string]any) (string, string) {
		if method == "socialnetwork.api.usertogroup.list" {
			return "ACCESS_DENIED", "Access denied"
		}
		return "", ""
	}}, portaltest.Issue13(t, local.DemoPortal()))
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	got, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Workgroups) != 3 || len(p.Warnings()) != 1 || !strings.Contains(p.Warnings()[0], "banned workgroup members and pending join requests were not read") {
		t.Errorf("workgroups %d, warnings %q", len(got.Workgroups), p.Warnings())
	}
}
