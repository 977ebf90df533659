package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Access through a code the delta cannot expand is widening, never "no
// change"; codes it expands (IU, G, SG…) are judged per user as usual.
func TestUnexpandedCodes(t *testing.T) {
	role := func(assign []string, level string) *graph.Graph {
		return (&graph.Graph{Directory: exampleDir(), CRMRoles: []graph.CRMRole{{Key: "all", Name: "All", Assign: assign,
			Perms: []graph.CRMPerm{cell("default", "", "read", level)}}}}).Normalize()
	}
	empty := (&graph.Graph{Directory: exampleDir()}).Normalize()
	for _, tc := range []struct {
		name          string
		before, after *graph.Graph
		want          []string // codes reported
	}{
		{"new role for AU", empty, role([]string{"code:AU"}, "all"), []string{"AU"}},
		{"AU added", role([]string{"user:anna@example.com"}, "own"), role([]string{"user:anna@example.com", "code:AU", "code:UA"}, "own"), []string{"AU", "UA"}},
		{"AU role widens", role([]string{"code:AU"}, "own"), role([]string{"code:AU"}, "all"), []string{"AU"}},
		{"AU role narrows", role([]string{"code:AU"}, "all"), role([]string{"code:AU"}, "own"), nil},
		{"AU role unchanged", role([]string{"code:AU"}, "all"), role([]string{"code:AU"}, "all"), nil},
		{"AU removed", role([]string{"code:AU", "code:CR"}, "all"), role([]string{"code:CR"}, "all"), nil},
		{"expandable codes", empty, role([]string{"code:IU42", "code:G2", "code:SG15_K", "code:DR3", "code:AE0"}, "all"), nil},
	} {
		d := ComputeDelta(tc.before, tc.after, exampleDir(), nil)
		var got []string
		for _, u := range d.Unexpanded {
			got = append(got, u.Code)
			if u.Object != "crm_role.all" || u.Message() != "access through code "+u.Code+" cannot be expanded: treated as widening" {
				t.Errorf("%s: %+v", tc.name, u)
			}
		}
		if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("%s: unexpanded %v, want %v", tc.name, got, tc.want)
		}
		if len(tc.want) > 0 && (!d.Widening || d.NoChange()) {
			t.Errorf("%s: widening %v, no change %v", tc.name, d.Widening, d.NoChange())
		}
	}
	// Telephony: a new AU assignment with rights.
	tel := (&graph.Graph{Directory: exampleDir(), TelephonyRoles: []graph.SimpleRole{{Key: "t", Name: "T", Assign: []string{"code:AU"},
		Perms: []graph.SimplePerm{{Entity: "call_record", Action: "listen", Level: "any"}}}}}).Normalize()
	if d := ComputeDelta(empty, tel, exampleDir(), nil); len(d.Unexpanded) != 1 || d.Unexpanded[0].Object != "telephony_role.t" || !d.Widening {
		t.Errorf("telephony: %+v", d.Unexpanded)
	}
}
