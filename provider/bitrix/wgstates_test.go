package bitrix

import (
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// statesPortal holds every workgroup state issue 13 names: banned (T),
// asked (Z by U), invited (Z by G), archived (CLOSED=Y), a switched-off
// feature (ACTIVE=N), VISIBLE=N with OPENED=Y, an extranet user and the
// work_with_closed_groups option.
func statesPortal() *Portal {
	p := tiny()
	p.Users = append(p.Users, User{ID: 3, Email: "guest@example.com", Name: "Guest", Active: "Y", Groups: []int64{2, 14}},
		User{ID: 4, Email: "boris@example.com", Name: "Boris", Active: "Y", UFDepartment: []int64{2}, Groups: []int64{2}})
	p.Options = []Option{{ModuleID: "extranet", Name: "extranet_group", Value: "14"}, {ModuleID: "socialnetwork", Name: "work_with_closed_groups", Value: "Y"}}
	p.SonetGroups = []SonetGroup{{ID: 1, Name: "Archive", Visible: "Y", Opened: "N", Closed: "Y", OwnerID: 2}, {ID: 2, Name: "Hidden open", Visible: "N", Opened: "Y", Closed: "N", OwnerID: 1}}
	p.User2Group = []User2Group{{ID: 1, GroupID: 1, UserID: 2, Role: "A"}, {ID: 2, GroupID: 1, UserID: 1, Role: "T"},
		{ID: 3, GroupID: 1, UserID: 3, Role: "Z", InitiatedByType: "U"}, {ID: 4, GroupID: 1, UserID: 4, Role: "Z", InitiatedByType: "G"},
		{ID: 5, GroupID: 2, UserID: 1, Role: "A"}}
	p.Features = []Feature{{ID: 1, EntityType: "G", EntityID: 1, Feature: "tasks", Active: "N"}, {ID: 2, EntityType: "G", EntityID: 1, Feature: "files", Active: "Y"}}
	p.FeaturePerms = []FeaturePerm{{ID: 1, FeatureID: 2, OperationID: "write", Role: "K"}}
	p.fixCounters()
	return p
}

func TestReadWorkgroupStates(t *testing.T) {
	g, an := Read(statesPortal())
	if len(an) != 0 {
		t.Fatalf("anomalies: %v", an)
	}
	w := g.Workgroups[0]
	if w.Key != "archive" || !w.Archived || w.Visibility != "private" {
		t.Errorf("archive %+v", w)
	}
	if got := strings.Join(w.Banned, ","); got != "user:admin@example.com" {
		t.Errorf("banned %q", got)
	}
	if got := strings.Join(w.Requests, ","); got != "user:guest@example.com" {
		t.Errorf("requests %q", got)
	}
	if got := strings.Join(w.Invited, ","); got != "user:boris@example.com" {
		t.Errorf("invited %q", got)
	}
	if len(w.Members)+len(w.Moderators) != 0 {
		t.Errorf("T and Z rows became members: %+v", w)
	}
	if !slices.Equal(w.DisabledFeatures, []string{"tasks"}) {
		t.Errorf("disabled features %v", w.DisabledFeatures)
	}
	if h := g.Workgroups[1]; h.Visibility != "secret_open" {
		t.Errorf("hidden open %+v", h)
	}
	var extranet []string
	for _, u := range g.Directory.Users {
		if u.Extranet {
			extranet = append(extranet, u.Email)
		}
	}
	if strings.Join(extranet, ",") != "guest@example.com" || !g.Directory.WorkWithClosedGroups {
		t.Errorf("directory: extranet %v, work_with_closed_groups %v", extranet, g.Directory.WorkWithClosedGroups)
	}
}

// Apply writes the archive flag and feature switches it is given and
// keeps banned users, requests and invitations, which a policy does not
// state: they are never turned into members nor deleted.
func TestApplyKeepsNonMembersAndWritesStates(t *testing.T) {
	p := statesPortal()
	g, _ := Read(p)
	w := g.Workgroups[0]
	w.Name, w.Banned, w.Requests, w.Invited = "Archive 2", nil, nil, nil // as compiled from a policy
	w.Archived, w.DisabledFeatures = false, []string{"files", "calendar"}
	if _, err := p.Apply(plan.Change{Address: "workgroup.archive", Action: plan.Update, ID: 1, After: &graph.Resource{Workgroup: &w}}, nil); err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range p.User2Group {
		if m.GroupID == 1 {
			roles = append(roles, m.Role+m.InitiatedByType)
		}
	}
	slices.Sort(roles)
	if strings.Join(roles, ",") != "A,T,ZG,ZU" {
		t.Errorf("user2group roles %v, want the owner and the T and Z rows kept", roles)
	}
	if p.SonetGroups[0].Closed != "N" {
		t.Errorf("CLOSED %q after un-archiving", p.SonetGroups[0].Closed)
	}
	active := map[string]string{}
	for _, f := range p.Features {
		if f.EntityID == 1 {
			active[f.Feature] = f.Active
		}
	}
	if active["tasks"] != "Y" || active["files"] != "N" || active["calendar"] != "N" {
		t.Errorf("feature switches %v", active)
	}
	// Declaring the banned user a member replaces the T row.
	w.Members = []string{"user:admin@example.com"}
	if _, err := p.Apply(plan.Change{Address: "workgroup.archive", Action: plan.Update, ID: 1, After: &graph.Resource{Workgroup: &w}}, nil); err != nil {
		t.Fatal(err)
	}
	g2, _ := Read(p)
	if w2 := g2.Workgroups[0]; len(w2.Banned) != 0 || !slices.Equal(w2.Members, []string{"user:admin@example.com"}) || len(w2.Requests) != 1 || len(w2.Invited) != 1 {
		t.Errorf("after declaring the member: %+v", w2)
	}
}

// voximplant Helper::canUse(): no bitrix24 module ⇒ roles in force; a
// cloud plan without voximplant_security ⇒ off.
func TestReadTelephonySecuritySwitch(t *testing.T) {
	p := tiny()
	if g, _ := Read(p); g.TelephonySecurityOff {
		t.Error("self-hosted (no bitrix24 module): security is on")
	}
	p.Bitrix24 = &Bitrix24Plan{Features: []string{"voximplant_security"}}
	if g, _ := Read(p); g.TelephonySecurityOff {
		t.Error("a plan with voximplant_security: on")
	}
	p.Bitrix24.Features = nil
	if g, _ := Read(p); !g.TelephonySecurityOff {
		t.Error("a plan without voximplant_security: off")
	}
}
