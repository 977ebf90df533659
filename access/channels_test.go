package access

import (
	"fmt"
	"slices"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

func TestChannelUsersAndDelta(t *testing.T) {
	dir := exampleDir()
	dir.Users = append(dir.Users, graph.User{ID: 44, Email: "gone@example.com", Name: "Gone", Departments: []int64{7}, Inactive: true},
		graph.User{ID: 45, Email: "guest@example.com", Name: "Guest"}, // no department: extranet to im
		graph.User{ID: 46, Email: "chief@example.com", Name: "Chief", Departments: []int64{3}})
	dir.Departments[2].Head = 46 // Wholesale, below Sales
	channel := func(inactive bool, queue ...string) []graph.OpenChannel {
		return []graph.OpenChannel{{Key: "support", Name: "Support", QueueType: "all", Inactive: inactive, Queue: queue}}
	}
	for _, tc := range []struct {
		name          string
		before, after []graph.OpenChannel
		users         []int64  // who receives chats after
		changes       []string // user:before→after
	}{
		// A department covers its subdepartments; inactive users never
		// receive chats.
		{"department tree", nil, channel(false, "department:Company/Sales"), []int64{42, 43}, []string{"42:no→yes", "43:no→yes"}},
		{"the same people, spelled differently", channel(false, "department:Company/Sales"),
			channel(false, "user:anna@example.com", "department:Company/Sales"), []int64{42, 43}, nil},
		{"narrowed to a subdepartment", channel(false, "department:Company/Sales"), channel(false, "department:Company/Sales/Wholesale"),
			[]int64{42}, []string{"43:yes→no"}},
		{"switched off", channel(false, "user:boris@example.com"), channel(true, "user:boris@example.com"), nil, []string{"43:yes→no"}},
		{"deleted", channel(false, "user:anna@example.com"), nil, nil, []string{"42:yes→no"}},
		// QueueManager::update keeps only active users with a department
		// (isValidUser) and leaves the heads of a queued department out
		// (StructureService::getDepartmentUserIds).
		{"inactive and extranet users named", nil, channel(false, "user:gone@example.com", "user:guest@example.com", "user:boris@example.com"),
			[]int64{43}, []string{"43:no→yes"}},
		{"the head of a subdepartment only when named", channel(false, "department:Company/Sales"),
			channel(false, "department:Company/Sales", "user:chief@example.com"), []int64{42, 43, 46}, []string{"46:no→yes"}},
		// Entries that name nobody on the portal reach nobody.
		{"unknown entries", nil, channel(false, "user:ghost@example.com", "department:Company/Nowhere"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, after := &graph.Graph{OpenChannels: tc.before}, &graph.Graph{OpenChannels: tc.after}
			var got []int64
			if len(tc.after) > 0 {
				for id := range New(after, dir).ChannelUsers(&tc.after[0]) {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.users) {
				t.Errorf("receivers %v, want %v", got, tc.users)
			}
			d := ComputeDelta(before, after, dir, nil)
			var changes []string
			for _, g := range d.Groups {
				for _, u := range g.Users {
					for _, c := range g.Changes {
						if c.Domain == graph.DomainOpenlines && c.Action == "receive_chats" {
							changes = append(changes, fmt.Sprintf("%d:%s→%s", u.ID, c.Before, c.After))
						}
					}
				}
			}
			slices.Sort(changes)
			if !slices.Equal(changes, tc.changes) {
				t.Errorf("delta %v, want %v", changes, tc.changes)
			}
		})
	}
}

func TestChannelDerivation(t *testing.T) {
	g := &graph.Graph{OpenChannels: []graph.OpenChannel{
		{Key: "on", Name: "On", Queue: []string{"user:boris@example.com", "department:Company/Sales"}},
		{Key: "off", Name: "Off", Inactive: true, Queue: []string{"department:Company"}},
	}}
	r := New(g, exampleDir())
	anna, _ := r.LookupUser("anna@example.com")
	boris, _ := r.LookupUser("boris@example.com")
	for _, tc := range []struct {
		u         *graph.User
		key, want string
		subject   string
	}{
		{anna, "on", "receives_chats", "department:Company/Sales"}, // Wholesale is below Sales
		{boris, "on", "receives_chats", "user:boris@example.com"},  // the first entry that reaches him
		{anna, "off", "none", ""},
		{anna, "missing", "none", ""},
	} {
		res := r.Channel(tc.u, tc.key)
		if res.Level != tc.want || (tc.subject != "" && (len(res.Derivation) != 1 || res.Derivation[0].Subject != tc.subject)) {
			t.Errorf("%s on %s: %+v", tc.u.Email, tc.key, res)
		}
	}
}
