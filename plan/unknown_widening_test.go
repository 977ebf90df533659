package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Objects with an unknown baseline whose policy grants access are listed
// for --fail-on-widening; those with a state baseline, without subjects,
// or being destroyed are not.
func TestUnknownGranting(t *testing.T) {
	unknown := &Baseline{Source: BaselineUnknown}
	p := &Plan{Changes: []Change{
		{Address: "telephony_role.ops", Action: Verify, Baseline: unknown, After: &graph.Resource{Telephony: &graph.SimpleRole{Key: "ops", Assign: []string{"user:a@x"}}}},
		{Address: "crm_role.nobody", Action: Verify, Baseline: unknown, After: &graph.Resource{CRMRole: &graph.CRMRole{Key: "nobody"}}},
		{Address: "crm_role.known", Action: Update, Baseline: &Baseline{Source: BaselineState}, After: &graph.Resource{CRMRole: &graph.CRMRole{Key: "known", Assign: []string{"user:a@x"}}}},
		{Address: "field_rule.deal_sum", Action: Verify, Baseline: unknown, After: &graph.Resource{FieldRule: &graph.FieldRule{Key: "deal_sum", View: []string{"department:Sales"}}}},
		{Address: "crm_role.gone", Action: Delete, Baseline: unknown, Before: &graph.Resource{CRMRole: &graph.CRMRole{Key: "gone"}}},
		{Address: "workgroup.board#features", Action: Update, Baseline: unknown, After: &graph.Resource{Workgroup: &graph.Workgroup{Key: "board", Features: []graph.FeaturePerm{{Role: "everyone"}}}}},
	}}
	got := p.UnknownGranting()
	want := []string{"field_rule.deal_sum", "telephony_role.ops", "workgroup.board#features"}
	if !slices.Equal(got, want) {
		t.Fatalf("UnknownGranting = %v, want %v", got, want)
	}
	note := UnknownWideningNote(got)
	if !strings.HasPrefix(note, "3 objects could not be read: their access may widen; confirm with apply --confirm-manual") || strings.Contains(note, "\n") {
		t.Errorf("note %q", note)
	}
	if UnknownWideningNote(nil) != "" {
		t.Error("a note without objects")
	}
}
