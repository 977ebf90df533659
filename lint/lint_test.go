package lint

import (
	"strings"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

func lintDir() *graph.Directory {
	return &graph.Directory{
		Users: []graph.User{
			{ID: 42, Email: "anna@example.com", Name: "Anna", Departments: []int64{7}},
			{ID: 43, Email: "boris@example.com", Name: "Boris", Departments: []int64{7}},
		},
		Departments: []graph.Department{{ID: 1, Name: "Company"}, {ID: 7, Name: "Sales", Parent: 1}},
		Groups:      []graph.Group{{ID: 2, Name: "employees"}},
	}
}

func dealCell(s, a, l string) graph.CRMPerm {
	return graph.CRMPerm{Entity: "deal", Pipeline: "default", Stage: s, Action: a, Level: l}
}

func b24p002(g *graph.Graph) []string {
	var out []string
	for _, f := range Run(g.Normalize(), lintDir(), nil) {
		if f.Rule == "B24P002" {
			out = append(out, f.Address+" "+f.Message)
		}
	}
	return out
}

// Issue 13 cause 3: a stage row equal to the pipeline-level value is
// flagged as removable only where removing it changes no user's answer.
func TestRedundantStageRowOnlyWhenRemovalChangesNothing(t *testing.T) {
	a := graph.CRMRole{Key: "a", Name: "A", Assign: []string{"user:anna@example.com"},
		Perms: []graph.CRMPerm{dealCell("", "read", "own"), dealCell("won", "read", "own")}}
	// Alone, the row changes nothing: flagged.
	if got := b24p002(&graph.Graph{CRMRoles: []graph.CRMRole{a}}); len(got) != 1 || !strings.Contains(got[0], "stage won · read") {
		t.Errorf("alone: B24P002 = %q, want one finding", got)
	}
	// With role B (read all) on the same user, the row keeps Anna at own
	// on won: not flagged.
	b := graph.CRMRole{Key: "b", Name: "B", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "read", "all")}}
	if got := b24p002(&graph.Graph{CRMRoles: []graph.CRMRole{a, b}}); len(got) != 0 {
		t.Errorf("with B on the same user: B24P002 = %q, want none", got)
	}
	// B on another user only: the row changes nobody's answer.
	b.Assign = []string{"user:boris@example.com"}
	if got := b24p002(&graph.Graph{CRMRoles: []graph.CRMRole{a, b}}); len(got) != 1 {
		t.Errorf("with B on another user: B24P002 = %q, want one finding", got)
	}
	// Explicit none under pipeline none, with another role granting read:
	// the row denies won; not flagged.
	c := graph.CRMRole{Key: "c", Name: "C", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("won", "read", "none")}}
	b.Assign = []string{"user:anna@example.com"}
	if got := b24p002(&graph.Graph{CRMRoles: []graph.CRMRole{b, c}}); len(got) != 0 {
		t.Errorf("explicit none: B24P002 = %q, want none", got)
	}
}

// A role whose explicit stage row denies what another role grants by
// inheritance decides that stage: it is not shadowed (B24P008).
func TestExplicitStageRowIsNotShadowed(t *testing.T) {
	b := graph.CRMRole{Key: "b", Name: "B", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "read", "all")}}
	c := graph.CRMRole{Key: "c", Name: "C", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("won", "read", "none")}}
	for _, f := range Run((&graph.Graph{CRMRoles: []graph.CRMRole{b, c}}).Normalize(), lintDir(), nil) {
		if f.Rule == "B24P008" && f.Address == "crm_role.c" {
			t.Errorf("C reported as shadowed: %s", f.Message)
		}
	}
}

// Issue 13 cause 4: lint ranks levels as sets: a non-chain set and a
// chain level that neither contains give their union, not one winner.
func TestConflictOfSetsNamesTheUnion(t *testing.T) {
	a := graph.CRMRole{Key: "a", Name: "A", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "read", "own+open")}}
	b := graph.CRMRole{Key: "b", Name: "B", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "read", "department"), dealCell("", "transition", "won")}}
	c := graph.CRMRole{Key: "c", Name: "C", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "transition", "lose")}}
	var msgs []string
	for _, f := range Run((&graph.Graph{CRMRoles: []graph.CRMRole{a, b, c}}).Normalize(), lintDir(), nil) {
		if f.Rule == "B24P001" {
			msgs = append(msgs, f.Message)
		}
	}
	joined := strings.Join(msgs, "\n")
	if !strings.Contains(joined, "(own+open vs department): they get the union of both, own+department+open") {
		t.Errorf("set conflict: %s", joined)
	}
	if !strings.Contains(joined, "(won vs lose): they get the union of both, lose,won") {
		t.Errorf("transition conflict: %s", joined)
	}
}

// AU matches nobody in CRM (it is never stored in b_user_access): lint
// says so, as the resolver gives it to nobody, instead of calling it
// "every employee".
func TestAUMatchesNobody(t *testing.T) {
	r := graph.CRMRole{Key: "r", Name: "R", Assign: []string{"code:AU", "code:SG5"}, Perms: []graph.CRMPerm{dealCell("", "read", "all")}}
	var rules []string
	for _, f := range Run((&graph.Graph{CRMRoles: []graph.CRMRole{r}}).Normalize(), lintDir(), nil) {
		rules = append(rules, f.Rule+" "+f.Message)
	}
	joined := strings.Join(rules, "\n")
	if strings.Contains(joined, "B24P003") || strings.Count(joined, "B24P011") != 2 {
		t.Errorf("findings:\n%s", joined)
	}
}

// BenchmarkLintXL lints the XL organization (10,000 users, 200 roles).
func BenchmarkLintXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	for b.Loop() {
		Run(g, g.Directory, nil)
	}
}

// B24P012: a queue entry naming a user Bitrix keeps out of open-channel
// queues (inactive, or in no department: QueueManager::isValidUser) is
// reported at the entry; an active employee is not.
func TestQueueNamesUserBitrixLeavesOut(t *testing.T) {
	dir := lintDir()
	dir.Users = append(dir.Users, graph.User{ID: 44, Email: "gone@example.com", Name: "Gone", Departments: []int64{7}, Inactive: true},
		graph.User{ID: 45, Email: "guest@example.com", Name: "Guest"})
	g := &graph.Graph{OpenChannels: []graph.OpenChannel{{Key: "support", Name: "Support", Queue: []string{"user:gone@example.com", "user:guest@example.com", "user:anna@example.com"}}}}
	addr := graph.Addr{Kind: graph.KindOpenChannel, Key: "support"}
	g.SetSource(graph.AssignSourceKey(addr, "user:gone@example.com"), graph.Pos{File: "ol.cue", Line: 3, Col: 9})
	var got []string
	for _, f := range Run(g.Normalize(), dir, nil) {
		if f.Rule == "B24P012" {
			at := ""
			if f.Source != nil {
				at = f.Source.File
			}
			got = append(got, at+" "+f.Message)
		}
	}
	want := []string{
		`ol.cue open channel "Support": queue entry user:gone@example.com is inactive; Bitrix keeps no such user in a queue, so the entry has no effect: remove it`,
		` open channel "Support": queue entry user:guest@example.com belongs to no department (an extranet user to open channels); Bitrix keeps no such user in a queue, so the entry has no effect: remove it`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s", strings.Join(got, "\n"))
	}
}

// Transition lists are target sets, not ranked values (stop-19 note): a
// role is shadowed only by one whose targets contain its own, and "any"
// contains every list.
func TestShadowedTransitionListsAreSets(t *testing.T) {
	shadowed := func(ta, tb string) bool {
		a := graph.CRMRole{Key: "a", Name: "A", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "transition", ta)}}
		b := graph.CRMRole{Key: "b", Name: "B", Assign: []string{"user:anna@example.com"}, Perms: []graph.CRMPerm{dealCell("", "transition", tb)}}
		for _, f := range Run((&graph.Graph{CRMRoles: []graph.CRMRole{a, b}}).Normalize(), lintDir(), nil) {
			if f.Rule == "B24P008" && strings.Contains(f.Message, `CRM role "A" never decides`) {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"won", "lose,won", true}, {"won", "lose", false}, {"lose,won", "won", false}, {"won", "any", true}, {"any", "won", false}, {"lose", "won", false}} {
		if got := shadowed(tc.a, tc.b); got != tc.want {
			t.Errorf("transition %s next to %s: shadowed %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
