package bitrix

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// queuePortal: department 2 (Sales, head Anna) under 1; Boris and Vera in
// Sales, Vera inactive (b_user.ACTIVE 'N'); Xenia in no department (an
// extranet user to im: CIMContactList::IsExtranet); one open channel.
func queuePortal() *Portal {
	p := NewPortal("queue")
	p.Users = []User{
		{ID: 1, Email: "admin@example.com", Name: "Admin", Active: "Y", UFDepartment: []int64{1}, Groups: []int64{1, 2}},
		{ID: 2, Email: "anna@example.com", Name: "Anna", Active: "Y", UFDepartment: []int64{2}, Groups: []int64{2}},
		{ID: 3, Email: "boris@example.com", Name: "Boris", Active: "Y", UFDepartment: []int64{2}, Groups: []int64{2}},
		{ID: 4, Email: "vera@example.com", Name: "Vera", Active: "N", UFDepartment: []int64{2}, Groups: []int64{2}},
		{ID: 5, Email: "xenia@example.com", Name: "Xenia", Active: "Y", Groups: []int64{2}},
	}
	p.Departments = []Department{{ID: 1, Name: "Company"}, {ID: 2, Name: "Sales", Parent: 1, Head: 2}}
	p.OLConfigs = []OLConfig{{ID: 1, Active: "Y", LineName: "Support", QueueType: "evenly"}}
	p.fixCounters()
	return p
}

// TestSetQueue: the rows QueueManager::update writes
// (imopenlines/lib/queuemanager.php): user entries isValidUser refuses
// (inactive, no department) are in neither table, a department brings its
// active users without its head, SORT counts the entries kept.
func TestSetQueue(t *testing.T) {
	u := func(id int64) OLQueue { return OLQueue{EntityType: "user", EntityID: id} }
	d := func(id int64) OLQueue { return OLQueue{EntityType: "department", EntityID: id} }
	tests := []struct {
		name            string
		entries         []OLQueue
		config, operats string // config: type/id@sort; operators: user/dept@sort
	}{
		{"active users", []OLQueue{u(3), u(1)}, "user/3@0 user/1@1", "3/0@0 1/0@1"},
		{"inactive user named", []OLQueue{u(4), u(3)}, "user/3@0", "3/0@0"},
		{"user without department named", []OLQueue{u(5), d(2)}, "department/2@0", "3/2@0"},
		{"department without its inactive user and its head", []OLQueue{d(2)}, "department/2@0", "3/2@0"},
		{"the head named", []OLQueue{u(2), d(1)}, "user/2@0 department/1@1", "2/0@0 1/1@1 3/1@2"},
		{"only invalid users", []OLQueue{u(4), u(5)}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := queuePortal()
			p.SetQueue(1, tc.entries)
			var cfg, ops []string
			for _, q := range p.OLQueue {
				cfg = append(cfg, fmt.Sprintf("%s/%d@%d", q.EntityType, q.EntityID, q.Sort))
			}
			for _, o := range p.OLOperators {
				ops = append(ops, fmt.Sprintf("%d/%d@%d", o.UserID, o.DepartmentID, o.Sort))
			}
			if got := strings.Join(cfg, " "); got != tc.config {
				t.Errorf("b_imopenlines_config_queue %q, want %q", got, tc.config)
			}
			if got := strings.Join(ops, " "); got != tc.operats {
				t.Errorf("b_imopenlines_queue %q, want %q", got, tc.operats)
			}
		})
	}
}

// TestInactiveQueueUserConverges: a policy whose queue names an inactive
// user and a department with an inactive member plans a warning that
// names the user, applies the rows Bitrix writes, and the next plan is
// empty; the inactive user receives none of the channel's chats.
func TestInactiveQueueUserConverges(t *testing.T) {
	p := queuePortal()
	live, _ := Read(p)
	desired := *live
	desired.OpenChannels = slices.Clone(live.OpenChannels)
	c := &desired.OpenChannels[0]
	c.Queue = []string{"user:vera@example.com", "user:xenia@example.com", "department:Company/Sales", "user:admin@example.com"}
	addr := graph.Addr{Kind: graph.KindOpenChannel, Key: c.Key}
	for i, s := range c.Queue {
		desired.SetSource(graph.AssignSourceKey(addr, s), graph.Pos{File: "openlines.cue", Line: 5 + i, Col: 5})
	}
	desired.Normalize()
	pl, ds := plan.Diff(&desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	var warn []string
	for _, d := range ds {
		warn = append(warn, fmt.Sprintf("%s:%d %s", d.Subject.Filename, d.Subject.Start.Line, d.Detail))
	}
	if len(warn) != 2 || !strings.HasPrefix(warn[0], `openlines.cue:5 open channel "Support": user Vera (vera@example.com, ID 4) is inactive on the portal`) ||
		!strings.HasPrefix(warn[1], `openlines.cue:6 open channel "Support": user Xenia (xenia@example.com, ID 5) belongs to no department`) {
		t.Errorf("warnings:\n%s", strings.Join(warn, "\n"))
	}
	a := NewApplier(p, pl.LiveIDs)
	for _, ch := range pl.Changes {
		if _, err := a.Apply(ch); err != nil {
			t.Fatal(err)
		}
	}
	var ops []int64
	for _, o := range p.OLOperators {
		ops = append(ops, o.UserID)
	}
	if !slices.Equal(ops, []int64{3, 1}) {
		t.Errorf("operators %v, want Boris and Admin", ops)
	}
	again, an := Read(p)
	if len(an) > 0 {
		t.Fatal(an)
	}
	if pl2, _ := plan.Diff(&desired, again, plan.Options{}); pl2.HasChanges() {
		t.Errorf("not converged: %+v", pl2.Changes)
	}
}
