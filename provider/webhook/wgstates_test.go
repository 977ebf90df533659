package webhook

import (
	"context"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
)

// Over REST the archive flag (sonet_group.get CLOSED) and extranet users
// (user.get USER_TYPE) are read, and CLOSED is written and read back.
func TestWorkgroupArchiveAndExtranetOverREST(t *testing.T) {
	portal, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	portal.SonetGroups[0].Closed = "Y"
	portal.Groups = append(portal.Groups, bitrix.Group{ID: 14, Name: "extranet"})
	portal.Options = append(portal.Options, bitrix.Option{ModuleID: "extranet", Name: "extranet_group", Value: "14"})
	last := &portal.Users[len(portal.Users)-1]
	last.Groups, last.UFDepartment = []int64{2, 14}, nil
	s, u := serve(t, sim.Options{Token: "tok"}, portal)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	ctx := context.Background()
	live, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var archived []string
	for _, w := range live.Workgroups {
		if w.Archived {
			archived = append(archived, w.Key)
		}
	}
	var extranet []int64
	for _, u := range live.Directory.Users {
		if u.Extranet {
			extranet = append(extranet, u.ID)
		}
	}
	if len(archived) != 1 || len(extranet) != 1 || extranet[0] != last.ID {
		t.Fatalf("archived %v, extranet %v", archived, extranet)
	}
	desired := *live
	desired.Workgroups = append([]graph.Workgroup(nil), live.Workgroups...)
	for i := range desired.Workgroups {
		desired.Workgroups[i].Archived = !desired.Workgroups[i].Archived
	}
	pl, ds := plan.Diff(&desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if err := p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
		t.Fatal(err)
	}
	want := map[int64]bool{}
	for _, w := range desired.Workgroups {
		want[w.ID] = w.Archived
	}
	for _, w := range s.Portal().SonetGroups {
		if (w.Closed == "Y") != want[w.ID] {
			t.Errorf("group %d: CLOSED %q after apply, want %v", w.ID, w.Closed, want[w.ID])
		}
	}
}
