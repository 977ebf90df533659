package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Workgroup states (issue 13, cause 5): socialnetwork's
// CanPerformOperation / OperationService::canPerform and
// AccessManager::canView / canJoin, one state per test.

func wgDir() *graph.Directory {
	return &graph.Directory{
		Users: []graph.User{
			{ID: 1, Email: "admin@x.com", Departments: []int64{1}, Admin: true},
			{ID: 2, Email: "owner@x.com", Departments: []int64{1}},
			{ID: 3, Email: "mod@x.com", Departments: []int64{1}},
			{ID: 4, Email: "member@x.com", Departments: []int64{1}},
			{ID: 5, Email: "banned@x.com", Departments: []int64{1}},
			{ID: 6, Email: "asking@x.com", Departments: []int64{1}},
			{ID: 7, Email: "invited@x.com", Departments: []int64{1}},
			{ID: 8, Email: "outsider@x.com", Departments: []int64{1}},
			{ID: 9, Email: "guest@x.com", Extranet: true},
		},
		Departments: []graph.Department{{ID: 1, Name: "Company"}},
	}
}

func wgGraph(mod func(w *graph.Workgroup)) *graph.Graph {
	w := graph.Workgroup{Key: "g", ID: 5, Name: "G", Visibility: "public", Owner: "user:owner@x.com",
		Moderators: []string{"user:mod@x.com"}, Members: []string{"user:member@x.com", "user:guest@x.com"},
		Banned: []string{"user:banned@x.com"}, Requests: []string{"user:asking@x.com"}, Invited: []string{"user:invited@x.com"}}
	if mod != nil {
		mod(&w)
	}
	return (&graph.Graph{Workgroups: []graph.Workgroup{w}}).Normalize()
}

func wgUser(t *testing.T, r *Resolver, email string) *graph.User {
	t.Helper()
	u, ok := r.LookupUser(email)
	if !ok {
		t.Fatalf("no user %s", email)
	}
	return u
}

// check asserts feature.op for each user (allowed or denied).
func checkWG(t *testing.T, r *Resolver, feature, op string, want map[string]string) {
	t.Helper()
	for email, lvl := range want {
		if got := r.Workgroup(wgUser(t, r, email), "g", feature, op); got.Level != lvl {
			t.Errorf("%s %s.%s = %s (%s), want %s", email, feature, op, got.Level, got.Rule, lvl)
		}
	}
}

func TestWorkgroupBannedIsNotMember(t *testing.T) {
	r := New(wgGraph(func(w *graph.Workgroup) {
		w.Features = []graph.FeaturePerm{{Feature: "tasks", Operation: "create_tasks", Role: "authorized"}}
	}), wgDir())
	// Banned users are refused before any role is looked at, even where
	// every authorized user is admitted.
	checkWG(t, r, "tasks", "create_tasks", map[string]string{"banned@x.com": "denied", "outsider@x.com": "allowed"})
	checkWG(t, r, "tasks", "view", map[string]string{"banned@x.com": "denied", "member@x.com": "allowed"})
	banned := wgUser(t, r, "banned@x.com")
	for _, h := range r.UserSubjects(banned) {
		if h.Subject == "workgroup_members:g" {
			t.Errorf("a banned user holds %s", h.Subject)
		}
	}
	if j := r.Join(banned, "g"); j.Allowed || j.Outcome != "denied" {
		t.Errorf("a banned user may not join: %+v", j)
	}
}

func TestWorkgroupRequestAndInvitationAreNotMembers(t *testing.T) {
	r := New(wgGraph(nil), wgDir())
	checkWG(t, r, "tasks", "view", map[string]string{"asking@x.com": "denied", "invited@x.com": "denied"})
	for _, email := range []string{"asking@x.com", "invited@x.com"} {
		for _, h := range r.UserSubjects(wgUser(t, r, email)) {
			if h.Subject == "workgroup_members:g" {
				t.Errorf("%s holds %s", email, h.Subject)
			}
		}
	}
	if j := r.Join(wgUser(t, r, "asking@x.com"), "g"); j.Allowed || j.Relation != "requested" {
		t.Errorf("a pending request cannot be sent again: %+v", j)
	}
	if j := r.Join(wgUser(t, r, "invited@x.com"), "g"); !j.Allowed || j.Outcome != "accepts_invitation" {
		t.Errorf("an invited user joins by accepting: %+v", j)
	}
}

func TestWorkgroupArchivedOnlyMinOperations(t *testing.T) {
	g := wgGraph(func(w *graph.Workgroup) { w.Archived = true })
	r := New(g, wgDir())
	// Viewing operations keep working.
	checkWG(t, r, "tasks", "view", map[string]string{"member@x.com": "allowed", "outsider@x.com": "denied"})
	checkWG(t, r, "blog", "view_post", map[string]string{"member@x.com": "allowed"})
	// Anything else: nobody, not even the owner or an administrator.
	checkWG(t, r, "tasks", "edit_tasks", map[string]string{"owner@x.com": "denied", "mod@x.com": "denied", "admin@x.com": "denied"})
	checkWG(t, r, "search", "view", map[string]string{"member@x.com": "denied"})
	if j := r.Join(wgUser(t, r, "outsider@x.com"), "g"); j.Allowed {
		t.Errorf("an archived group takes no members: %+v", j)
	}
	if j := r.Join(wgUser(t, r, "admin@x.com"), "g"); !j.Allowed || !j.See {
		t.Errorf("an administrator may join an archived group: %+v", j)
	}

	// work_with_closed_groups: the minimal role becomes the owner.
	dir := wgDir()
	dir.WorkWithClosedGroups = true
	r = New(g, dir)
	checkWG(t, r, "tasks", "edit_tasks", map[string]string{"owner@x.com": "allowed", "mod@x.com": "denied", "admin@x.com": "allowed"})
	checkWG(t, r, "tasks", "create_tasks", map[string]string{"owner@x.com": "allowed", "member@x.com": "denied"})
	checkWG(t, r, "tasks", "view", map[string]string{"member@x.com": "allowed"})
}

func TestWorkgroupSwitchedOffFeature(t *testing.T) {
	r := New(wgGraph(func(w *graph.Workgroup) { w.DisabledFeatures = []string{"tasks"} }), wgDir())
	checkWG(t, r, "tasks", "view", map[string]string{"owner@x.com": "denied", "member@x.com": "denied", "admin@x.com": "denied"})
	checkWG(t, r, "tasks", "edit_tasks", map[string]string{"owner@x.com": "denied"})
	checkWG(t, r, "files", "view", map[string]string{"member@x.com": "allowed"})
}

func TestWorkgroupHiddenButOpen(t *testing.T) {
	r := New(wgGraph(func(w *graph.Workgroup) {
		w.Visibility = "secret_open"
		w.Features = []graph.FeaturePerm{{Feature: "blog", Operation: "view_post", Role: "everyone"}}
	}), wgDir())
	// "everyone" becomes "members" in a group not listed.
	checkWG(t, r, "blog", "view_post", map[string]string{"member@x.com": "allowed", "outsider@x.com": "denied"})
	out := wgUser(t, r, "outsider@x.com")
	if j := r.Join(out, "g"); j.See || j.Allowed {
		t.Errorf("VISIBLE=N: a non-member neither sees nor joins, OPENED=Y notwithstanding: %+v", j)
	}
	if j := r.Join(wgUser(t, r, "admin@x.com"), "g"); !j.See || !j.Allowed || j.Outcome != "joins" {
		t.Errorf("an administrator joins a hidden open group at once: %+v", j)
	}
	// The same group listed: everyone reads.
	r = New(wgGraph(func(w *graph.Workgroup) {
		w.Features = []graph.FeaturePerm{{Feature: "blog", Operation: "view_post", Role: "everyone"}}
	}), wgDir())
	checkWG(t, r, "blog", "view_post", map[string]string{"outsider@x.com": "allowed"})
}

func TestWorkgroupExtranetUser(t *testing.T) {
	r := New(wgGraph(func(w *graph.Workgroup) {
		w.Features = []graph.FeaturePerm{{Feature: "files", Operation: "view", Role: "employee_members"},
			{Feature: "tasks", Operation: "create_tasks", Role: "authorized"}}
	}), wgDir())
	// J: a member who is an intranet employee; the extranet guest is a
	// member but not an employee.
	checkWG(t, r, "files", "view", map[string]string{"member@x.com": "allowed", "guest@x.com": "denied", "outsider@x.com": "denied"})
	// L: any authorized user, extranet included.
	checkWG(t, r, "tasks", "create_tasks", map[string]string{"guest@x.com": "allowed"})
	// An extranet user does not see intranet groups he is not in.
	r = New(wgGraph(func(w *graph.Workgroup) { w.Members = []string{"user:member@x.com"} }), wgDir())
	if j := r.Join(wgUser(t, r, "guest@x.com"), "g"); j.See {
		t.Errorf("an extranet non-member does not see an intranet group: %+v", j)
	}
	if j := r.Join(wgUser(t, r, "outsider@x.com"), "g"); !j.See || !j.Allowed || j.Outcome != "joins" {
		t.Errorf("an employee sees and joins a public group: %+v", j)
	}
}

func TestAdministratorSeesAndJoinsEveryKind(t *testing.T) {
	for vis, outcome := range map[string]string{"public": "joins", "private": "request", "secret": "request", "secret_open": "joins"} {
		r := New(wgGraph(func(w *graph.Workgroup) { w.Visibility = vis }), wgDir())
		if j := r.Join(wgUser(t, r, "admin@x.com"), "g"); !j.See || !j.Allowed || j.Outcome != outcome {
			t.Errorf("%s: administrator %+v, want sees and %s", vis, j, outcome)
		}
		see, join := r.CanSee(wgUser(t, r, "outsider@x.com"), "g")
		if want := vis == "public" || vis == "private"; see != want || join != want {
			t.Errorf("%s: outsider sees=%v joins=%v", vis, see, join)
		}
	}
}

// GetOperationPerm: without a row, blog view_post/view_comment are open
// to every authorized user in a public group; an explicit members row
// keeps them to members (and survives normalization).
func TestWorkgroupPublicBlogDefault(t *testing.T) {
	r := New(wgGraph(nil), wgDir())
	checkWG(t, r, "blog", "view_post", map[string]string{"outsider@x.com": "allowed", "guest@x.com": "allowed", "banned@x.com": "denied"})
	checkWG(t, r, "blog", "write_post", map[string]string{"outsider@x.com": "denied"})
	r = New(wgGraph(func(w *graph.Workgroup) { w.Visibility = "private" }), wgDir())
	checkWG(t, r, "blog", "view_post", map[string]string{"outsider@x.com": "denied", "member@x.com": "allowed"})
	g := wgGraph(func(w *graph.Workgroup) {
		w.Features = []graph.FeaturePerm{{Feature: "blog", Operation: "view_post", Role: "members"}}
	})
	if len(g.Workgroups[0].Features) != 1 {
		t.Fatalf("the explicit members row of a public group's blog is not a default: %+v", g.Workgroups[0].Features)
	}
	checkWG(t, New(g, wgDir()), "blog", "view_post", map[string]string{"outsider@x.com": "denied", "member@x.com": "allowed"})
}

// An operation set to nobody (ROLE "0") is refused to everyone,
// administrators and owners included: CanPerformOperation returns false
// on `$featureOperationPerms == false` before any other check, and "0"
// is false in PHP (group_features_perms.php, yuliai/bitrix-modules
// a3a2a579).
func TestWorkgroupNobodyRefusesAdministrators(t *testing.T) {
	r := New(wgGraph(func(w *graph.Workgroup) {
		w.Features = []graph.FeaturePerm{{Feature: "tasks", Operation: "view", Role: "nobody"}}
	}), wgDir())
	checkWG(t, r, "tasks", "view", map[string]string{"admin@x.com": "denied", "owner@x.com": "denied", "member@x.com": "denied"})
	checkWG(t, r, "tasks", "view_all", map[string]string{"admin@x.com": "allowed", "member@x.com": "allowed"})
}
