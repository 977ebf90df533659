package access

import (
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

func TestQuestionNamesAreChecked(t *testing.T) {
	g := exampleGraph(true)
	g.Pipelines = append(g.Pipelines, graph.Pipeline{Entity: "deal", Key: "wholesale", Stages: []graph.Stage{{Key: "won"}, {Key: "new"}}})
	g.Workgroups = append(g.Workgroups, graph.Workgroup{Key: "board", Name: "Board", Visibility: "secret"})
	g.FieldRules = append(g.FieldRules, graph.FieldRule{Key: "amount", Entity: "deal", Field: "OPPORTUNITY"})
	n := NewNames(exampleDir(), g)
	for _, c := range []struct {
		q    Question
		want string // "" = accepted
	}{
		{Question{Entity: "deal", Action: "read"}, ""},
		{Question{Entity: "dael", Action: "read"}, `unknown entity "dael"; did you mean "deal"?`},
		{Question{Entity: "deal", Action: "raed"}, `unknown action "raed" of "deal"; did you mean "read"`},
		{Question{Entity: "deal", Action: "read", Pipeline: "wholsale"}, `unknown pipeline "wholsale" of "deal"; did you mean "wholesale"?`},
		{Question{Entity: "deal", Action: "read", Pipeline: "default"}, ""},
		{Question{Entity: "deal", Action: "read", Pipeline: "wholesale", Stage: "wn"}, `unknown stage "wn" in pipeline "wholesale" of "deal"; did you mean "won"?`},
		{Question{Entity: "contact", Action: "read", Pipeline: "x"}, `"contact" has no pipelines`},
		{Question{Entity: "deal", Action: "view", Field: "OPORTUNITY"}, `unknown field "OPORTUNITY" of "deal"; did you mean "OPPORTUNITY"?`},
		{Question{Entity: "deal", Action: "view", Field: "UF_CRM_UNRULED_THING"}, ""},
		{Question{Entity: "telephony:nosuch", Action: "view"}, `unknown entity "telephony:nosuch"; known: telephony:call_detail`},
		{Question{Entity: "telephony:call_record", Action: "lsiten"}, `did you mean "listen"?`},
		{Question{Entity: "workgroup:bord", Action: "forum.view"}, `unknown workgroup "bord"; did you mean "board"?`},
		{Question{Entity: "workgroup:board", Action: "forum.veiw"}, `unknown action "forum.veiw" of a workgroup; did you mean "forum.view"?`},
		{Question{Entity: "channel:x", Action: "receive_chats"}, `unknown channel "x"; there are none`},
		{Question{Entity: "activity", Action: "edit", Item: "dael"}, `unknown entity "dael"`},
		{Question{Entity: "telephony:call", Action: "perform", Pipeline: "x"}, `--pipeline applies to CRM entities only`},
	} {
		err := n.Check(c.q)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: unexpected %v", c.q, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: got %v, want %q", c.q, err, c.want)
		}
	}
	if q := (Question{Entity: "deal", Action: "read"}).Normalize(); q.Pipeline != "default" {
		t.Errorf("no --pipeline is the default pipeline, got %q", q.Pipeline)
	}
	if _, err := n.User("nosuch@nowhere"); err == nil || !strings.Contains(err.Error(), `unknown user "nosuch@nowhere"`) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestFieldWithoutPipelineIsTheDefaultPipeline(t *testing.T) {
	g := exampleGraph(true)
	g.FieldRules = []graph.FieldRule{{Key: "w", Entity: "deal", Pipeline: "wholesale", Field: "OPPORTUNITY", View: []string{"user:nobody@example.com"}}}
	r := New(g, exampleDir())
	u := &exampleDir().Users[0]
	// A question without --pipeline is about the default pipeline, as for
	// CRM cells: the wholesale rule does not govern it.
	q := Question{Entity: "deal", Action: "view", Field: "OPPORTUNITY"}.Normalize()
	a, b := r.Field(u, "deal", q.Pipeline, "OPPORTUNITY", "", "view"), r.Field(u, "deal", "default", "OPPORTUNITY", "", "view")
	if q.Pipeline != "default" || a.Level != b.Level || a.Level != "allowed" {
		t.Errorf("without pipeline %s (%q), with default %s; want both allowed (the rule is for wholesale)", a.Level, q.Pipeline, b.Level)
	}
}
