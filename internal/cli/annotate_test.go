package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// GitHub shows 10 annotations of each kind per step and drops the rest
// silently; a large plan printed 15,000 ::notice lines. annotate prints
// what GitHub shows and says how many it left out.
func TestAnnotateCapsPerKind(t *testing.T) {
	p := &plan.Plan{}
	for i := 1; i <= 25; i++ {
		p.Changes = append(p.Changes, plan.Change{
			Address: fmt.Sprintf("workgroup.g%02d", i),
			Action:  plan.Create,
			Source:  &graph.Pos{File: "policies/workgroups.cue", Line: i, Col: 2},
		})
	}
	var b strings.Builder
	annotate(&b, p, false, nil)
	out := b.String()
	if n := strings.Count(out, "::notice "); n != annotationsPerKind {
		t.Errorf("%d notices printed, want %d:\n%s", n, annotationsPerKind, out)
	}
	if !strings.Contains(out, "::notice file=policies/workgroups.cue,line=1,col=2::") {
		t.Errorf("the first change is not annotated:\n%s", out)
	}
	if !strings.Contains(out, "b24perm: 15 more annotations not printed") {
		t.Errorf("the left-out count is missing:\n%s", out)
	}

	b.Reset()
	annotate(&b, &plan.Plan{Changes: p.Changes[:3]}, false, nil)
	if strings.Contains(b.String(), "not printed") || strings.Count(b.String(), "::notice ") != 3 {
		t.Errorf("a small plan is cut:\n%s", b.String())
	}
}
