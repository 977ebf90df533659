package webhook

import (
	"context"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
	"github.com/google/go-cmp/cmp"
)

// The cloud backend fills the REST-readable tables and reads them with
// bitrix.Read, like every backend: what REST can see reads exactly as the
// local backend reads the same tables.
func TestReadIsTheTableModel(t *testing.T) {
	pt := demo(t)
	pt.SmartTypes = append(pt.SmartTypes, bitrix.SmartType{ID: 1, EntityTypeID: 128, Title: "Contracts"})
	pt.Categories = append(pt.Categories, bitrix.Category{ID: 11, EntityTypeID: 128, Name: "General", Sort: 10, IsDefault: "Y"})
	pt.Statuses = append(pt.Statuses,
		bitrix.Status{ID: 902, EntityID: "DYNAMIC_128_STAGE_11", StatusID: "DT128_11:DONE", Name: "Done", Sort: 20, Semantics: "S"},
		bitrix.Status{ID: 901, EntityID: "DYNAMIC_128_STAGE_11", StatusID: "DT128_11:NEW", Name: "Draft", Sort: 10},
		// Not a stage list: never read as one.
		bitrix.Status{ID: 950, EntityID: "SOURCE", StatusID: "CALL", Name: "Call", Sort: 10})
	want, _ := bitrix.Read(pt)
	_, p, got := readSim(t, pt)
	if len(p.Anomalies) != 0 {
		t.Errorf("anomalies: %v", p.Anomalies)
	}
	for _, c := range []struct {
		name      string
		want, got any
	}{
		{"smart processes", want.SmartProcesses, got.SmartProcesses},
		{"pipelines", want.Pipelines, got.Pipelines},
		{"workgroups (without features: REST cannot read them)", stripFeatures(want.Workgroups), got.Workgroups},
		{"open channels", want.OpenChannels, got.OpenChannels},
		{"departments", want.Directory.Departments, got.Directory.Departments},
	} {
		if d := cmp.Diff(c.want, c.got); d != "" {
			t.Errorf("%s (-local +cloud):\n%s", c.name, d)
		}
	}
}

func stripFeatures(ws []graph.Workgroup) []graph.Workgroup {
	out := make([]graph.Workgroup, len(ws))
	for i, w := range ws {
		w.Features = nil
		out[i] = w
	}
	return out
}

// Rows the model cannot represent are anomalies of the cloud read too: an
// owner membership row for another user than the group's OWNER_ID.
func TestReadAnomalies(t *testing.T) {
	pt := demo(t)
	pt.SonetGroups[0].OwnerID = 2 // the owner row (ROLE A) is user 5's
	_, u := serve(t, sim.Options{Token: "tok"}, pt)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	if _, err := p.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(p.Anomalies) != 1 || !strings.Contains(p.Anomalies[0], `workgroup "Sales team": owner row for user 5, but OWNER_ID is another user`) {
		t.Fatalf("anomalies: %q", p.Anomalies)
	}
}

// Extranet users (USER_TYPE extranet) and archived workgroups (CLOSED)
// read as from the tables.
func TestReadExtranetAndArchived(t *testing.T) {
	pt := demo(t)
	pt.Options = append(pt.Options, bitrix.Option{ModuleID: "extranet", Name: "extranet_group", Value: "14"})
	pt.Users[3].Groups = append(pt.Users[3].Groups, 14)
	pt.SonetGroups[1].Closed = "Y"
	want, _ := bitrix.Read(pt)
	_, _, got := readSim(t, pt)
	extranet := func(g *graph.Graph) (ids []int64) {
		for _, u := range g.Directory.Users {
			if u.Extranet {
				ids = append(ids, u.ID)
			}
		}
		return ids
	}
	if d := cmp.Diff(extranet(want), extranet(got)); d != "" || len(extranet(got)) != 1 {
		t.Errorf("extranet users (-tables +cloud):\n%s", d)
	}
	if !got.Workgroups[1].Archived && !got.Workgroups[0].Archived {
		t.Errorf("the archived workgroup reads as active: %+v", got.Workgroups)
	}
}
