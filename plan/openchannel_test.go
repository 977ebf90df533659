package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
)

func TestOpenChannelDiff(t *testing.T) {
	live := (&graph.Graph{Directory: dir(), OpenChannels: []graph.OpenChannel{{Key: "support", Name: "Support", ID: 4, QueueType: "evenly",
		Queue: []string{"user:anna@example.com", "department:Company/Sales"}}}}).Normalize()
	for _, tc := range []struct {
		name  string
		c     graph.OpenChannel
		attrs []string // kind:path:action symbol
		text  string   // a line the text renderer must print
		err   string
	}{
		{name: "same, another spelling of a user", c: graph.OpenChannel{Key: "support", Name: "Support", QueueType: "evenly",
			Queue: []string{"user:42", "department:Company/Sales"}}},
		{name: "reordered", c: graph.OpenChannel{Key: "support", Name: "Support", QueueType: "evenly",
			Queue: []string{"department:Company/Sales", "user:anna@example.com"}},
			attrs: []string{"order:queue order:~"},
			text:  `queue order                                 1. user anna@example.com, 2. department "Company/Sales" → 1. department "Company/Sales", 2. user anna@example.com`},
		{name: "member swapped", c: graph.OpenChannel{Key: "support", Name: "Support", QueueType: "evenly",
			Queue: []string{"user:boris@example.com", "department:Company/Sales"}},
			attrs: []string{"member:queue:+", "member:queue:-"}, text: "+ queue user boris@example.com"},
		{name: "mode and switch-off", c: graph.OpenChannel{Key: "support", Name: "Support", QueueType: "strictly", Inactive: true,
			Queue: []string{"user:anna@example.com", "department:Company/Sales"}},
			attrs: []string{"attr:active:~", "attr:queue_type:~"}, text: `active                                      "true" → "false"`},
		{name: "unknown user", c: graph.OpenChannel{Key: "support", Name: "Support", Queue: []string{"user:ghost@example.com"}},
			err: "queue entry of openline_channel.support"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired := (&graph.Graph{OpenChannels: []graph.OpenChannel{tc.c}}).Normalize()
			p, ds := Diff(desired, live, Options{})
			if tc.err != "" {
				if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), tc.err) {
					t.Fatalf("want an error with %q, got %v", tc.err, ds)
				}
				return
			}
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			var got []string
			for _, c := range p.Changes {
				for _, a := range c.Attrs {
					got = append(got, string(a.Kind)+":"+a.Path+":"+string(a.Action))
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.attrs, " ") {
				t.Fatalf("attrs %v, want %v", got, tc.attrs)
			}
			if tc.text != "" {
				var b bytes.Buffer
				RenderText(&b, p, RenderOptions{})
				if !strings.Contains(b.String(), tc.text) {
					t.Errorf("text output lacks %q:\n%s", tc.text, b.String())
				}
			}
		})
	}
}
