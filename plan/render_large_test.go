package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

// largePlan builds a plan of n CRM role updates and n telephony role
// creations, each with cells, and an access delta of n groups.
func bigPlan(n int) *Plan {
	p := &Plan{Backend: "local: portal.json", Access: &access.Delta{Gainers: n, Losers: n, Widening: true}}
	for i := 0; i < n; i++ {
		k := graph.CellKey{Entity: "deal", Pipeline: "default", Action: "read"}
		p.Changes = append(p.Changes, Change{Addr: graph.Addr{Kind: graph.KindCRMRole, Key: fmt.Sprintf("r%05d", i)}, Address: fmt.Sprintf("crm_role.r%05d", i),
			Action: Update, Domain: graph.DomainCRM, Name: fmt.Sprintf("Role %d", i), ID: int64(i + 1),
			Attrs: []AttrChange{{Kind: AttrCell, Action: Update, Cell: &k, Before: "own", After: "all"}, {Kind: AttrAssign, Action: Create, After: "user:anna@example.com"}}})
		p.Changes = append(p.Changes, Change{Addr: graph.Addr{Kind: graph.KindTelephony, Key: fmt.Sprintf("t%05d", i)}, Address: fmt.Sprintf("telephony_role.t%05d", i),
			Action: Create, Domain: graph.DomainTelephony, Name: fmt.Sprintf("Tel %d", i)})
		p.Access.Groups = append(p.Access.Groups, access.DeltaGroup{Users: []access.UserRef{{ID: int64(i), Name: fmt.Sprintf("User %d", i)}},
			Changes: []access.CellChange{{Domain: graph.DomainTelephony, Label: "Call recordings · listen", Before: "none", After: "any", Widens: true, Sensitive: true}}})
		p.Warnings = append(p.Warnings, fmt.Sprintf("crm_role.r%05d matches the system role %q (ID %d), which b24perm never modifies; rename the declared role or remove it", i, fmt.Sprint("Sys ", i), i))
	}
	return p
}

func TestLargePlanMarkdownShowsEveryDomainUnderTheLimit(t *testing.T) {
	var md bytes.Buffer
	if err := RenderMarkdown(&md, bigPlan(5000), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	if md.Len() > 65536 {
		t.Fatalf("markdown is %d bytes, over GitHub's 65,536", md.Len())
	}
	for _, want := range []string{
		"<summary>CRM (5000 changes)</summary>", "! crm_role.r00000", "<summary>Telephony roles (5000 changes)</summary>", "+ telephony_role.t00000",
		"<summary>Access changes (5000 gain, 5000 lose)</summary>", "not shown here", "Shortened",
		"⚠ **Widens access", "- ▲ Call recordings · listen: none → any — User 0, User 1, User 2, and 4997 more",
		"(and 4999 more like this: crm_role.r00001",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Count(out, "matches the system role") != 1 {
		t.Errorf("repeated warnings are not grouped")
	}
}

func TestLargePlanTextStartsWithTheSummaryAndCompacts(t *testing.T) {
	var full, compact bytes.Buffer
	p := bigPlan(5000)
	RenderText(&full, p, RenderOptions{})
	RenderText(&compact, p, RenderOptions{Compact: true})
	for name, out := range map[string]string{"full": full.String(), "compact": compact.String()} {
		if !strings.HasPrefix(out, "Summary: 5000 to add, 5000 to change, 0 to destroy; 5000 users gain, 5000 users lose access.\n") {
			t.Errorf("%s: does not start with the summary:\n%.300s", name, out)
		}
		if !strings.Contains(out, "⚠ "+WidensBanner+"\n    ▲ Call recordings · listen") {
			t.Errorf("%s: no banner with the sensitive item", name)
		}
		if strings.Count(out, "matches the system role") != 1 || !strings.Contains(out, "(and 4999 more like this: crm_role.r00001") {
			t.Errorf("%s: warnings are not grouped", name)
		}
		if !strings.Contains(out, "… and 4960 more groups of users (4960 users)") && !strings.Contains(out, "… and 4990 more groups of users (4990 users)") {
			t.Errorf("%s: the access section is not capped", name)
		}
	}
	if !strings.Contains(full.String(), "--compact shows one line per object") {
		t.Errorf("a large plan does not suggest --compact")
	}
	lines := strings.Count(compact.String(), "\n")
	if lines > 10000+100 {
		t.Errorf("compact plan has %d lines for 10,000 changes", lines)
	}
	if !strings.Contains(compact.String(), `  ~ crm_role.r00000 "Role 0"`) || !strings.Contains(compact.String(), "1 cell, 1 assignment") {
		t.Errorf("compact lines:\n%.800s", compact.String())
	}
	var limited bytes.Buffer
	RenderText(&limited, p, RenderOptions{Limit: 20})
	if !strings.Contains(limited.String(), "… and 9980 more changes not shown (--limit 20") {
		t.Errorf("--limit does not count the rest")
	}
}
