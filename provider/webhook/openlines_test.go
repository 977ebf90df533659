package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
	"github.com/google/go-cmp/cmp"
)

// demoLines are telephony lines the simulator lists.
var demoLines = []graph.TelephonyLine{{ID: "reg42", Name: "+7 495 000-00-00"}, {ID: "sip7", Name: "Office PBX"}}

func demo(t *testing.T) *bitrix.Portal {
	t.Helper()
	pt, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

// channelChanges plans desired channels against the live graph.
func channelChanges(t *testing.T, live *graph.Graph, channels []graph.OpenChannel) []plan.Change {
	t.Helper()
	desired := *live
	desired.OpenChannels = channels
	desired.Settings = &graph.Settings{Mode: map[string]string{graph.DomainOpenlines: graph.ModeAuthoritative}}
	desired.Normalize()
	p, ds := plan.Diff(&desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	var out []plan.Change
	for _, c := range p.Changes {
		if c.Addr.Kind == graph.KindOpenChannel {
			out = append(out, c)
		}
	}
	return out
}

func TestOpenChannelsReadApplyConverge(t *testing.T) {
	s, u := serve(t, sim.Options{Token: "tok", Lines: demoLines}, demo(t))
	p, err := New(u, rest.Options{RPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []graph.OpenChannel{{Key: "support_chat", Name: "Support chat", ID: 1, QueueType: "evenly",
		Queue: []string{"user:olga@example.com", "department:Company/Support"}}}
	if d := cmp.Diff(want, live.OpenChannels); d != "" {
		t.Fatalf("channels read (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]graph.TelephonyLine{{ID: "reg42", Name: "+7 495 000-00-00"}, {ID: "sip7", Name: "Office PBX"}}, live.Directory.TelephonyLines); d != "" {
		t.Fatalf("lines read (-want +got):\n%s", d)
	}
	for _, d := range live.Directory.Departments {
		if (d.Name == "Sales") != (d.Head == 5) {
			t.Errorf("department %q read with head %d (Elena, 5, heads Sales)", d.Name, d.Head)
		}
	}
	if !p.Capabilities().Write[graph.KindOpenChannel] || len(p.Warnings()) != 0 {
		t.Fatalf("open channels should be writable without warnings: %v", p.Warnings())
	}
	// Reorder and extend the queue, deactivate; add a second channel.
	desired := []graph.OpenChannel{
		{Key: "support_chat", Name: "Support chat", Inactive: true, QueueType: "strictly",
			Queue: []string{"department:Company/Support", "user:ivan@example.com", "user:olga@example.com"}},
		{Key: "sales_chat", Name: "Sales chat", Queue: []string{"user:anna@example.com"}},
	}
	changes := channelChanges(t, live, desired)
	if len(changes) != 2 {
		t.Fatalf("want 2 changes, got %d", len(changes))
	}
	var results []provider.Result
	err = p.Apply(context.Background(), provider.ApplyRequest{Changes: changes, Report: func(r provider.Result) { results = append(results, r) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil || r.ID == 0 {
			t.Errorf("%s: id %d, %v", r.Address, r.ID, r.Err)
		}
	}
	sc, sq := s.Portal().OLConfigs, s.Portal().OLQueue
	var q1 []bitrix.OLQueue
	for _, q := range sq {
		if q.ConfigID == 1 {
			q1 = append(q1, q)
		}
	}
	// The rows of entries that stay are kept (user 9 was in the demo
	// queue: same row ID), in the new order.
	slices.SortFunc(q1, func(a, b bitrix.OLQueue) int { return int(a.Sort - b.Sort) })
	if len(sc) != 2 || sc[0].Active != "N" || sc[0].QueueType != "strictly" || len(q1) != 3 || q1[0] != (bitrix.OLQueue{ID: 2, Sort: 0, ConfigID: 1, EntityID: 3, EntityType: "department"}) ||
		q1[2] != (bitrix.OLQueue{ID: 1, Sort: 2, ConfigID: 1, EntityID: 9, EntityType: "user"}) {
		t.Fatalf("portal after apply: %+v %+v", sc, q1)
	}
	again, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if left := channelChanges(t, again, desired); len(left) != 0 {
		t.Fatalf("not converged: %+v", left)
	}
	// Delete.
	del := channelChanges(t, again, desired[:1])
	if len(del) != 1 || del[0].Action != plan.Delete {
		t.Fatalf("want one delete, got %+v", del)
	}
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: del}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Portal().OLConfigs); n != 1 {
		t.Fatalf("%d channels left, want 1", n)
	}
}

// A portal that merges the queue instead of replacing it: the write
// "succeeds", and read-back reports the difference.
func TestOpenChannelReadBackMismatch(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "tok", QueueMerges: true}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	changes := channelChanges(t, live, []graph.OpenChannel{{Key: "support_chat", Name: "Support chat", QueueType: "evenly", Queue: []string{"user:ivan@example.com"}}})
	err = p.Apply(context.Background(), provider.ApplyRequest{Changes: changes})
	if err == nil || !strings.Contains(err.Error(), "read-back: open channel 1: the portal did not keep QUEUE") {
		t.Fatalf("want a read-back error, got %v", err)
	}
}

// Without the imopenlines scope, open channels are not read and not
// writable (the plan shows them as manual), and the read still succeeds.
func TestOpenChannelsWithoutScope(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "tok", CommandFault: func(method string, _ map[string]any) (string, string) {
		if strings.HasPrefix(method, "imopenlines.") || strings.HasPrefix(method, "voximplant.") {
			return "insufficient_scope", "The request requires higher privileges than provided by the webhook token"
		}
		return "", ""
	}}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(live.OpenChannels) != 0 || len(live.Directory.TelephonyLines) != 0 {
		t.Fatalf("nothing should be read: %+v", live.OpenChannels)
	}
	caps := p.Capabilities()
	if caps.Read[graph.KindOpenChannel] || caps.Write[graph.KindOpenChannel] || !caps.Write[graph.KindWorkgroup] {
		t.Fatalf("capabilities: %+v", caps)
	}
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "imopenlines scope") {
		t.Fatalf("warnings: %v", w)
	}
}

// A queue entry naming someone not on the portal fails before any write.
func TestOpenChannelUnknownQueueUser(t *testing.T) {
	s, u := serve(t, sim.Options{Token: "tok"}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	if _, err := p.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch := plan.Change{Addr: graph.Addr{Kind: graph.KindOpenChannel, Key: "x"}, Address: "openline_channel.x", Action: plan.Create,
		After: &graph.Resource{OpenChannel: &graph.OpenChannel{Key: "x", Name: "X", QueueType: "all", Queue: []string{"user:nobody@example.com"}}}}
	err := p.Apply(context.Background(), provider.ApplyRequest{Changes: []plan.Change{ch}})
	if err == nil || !strings.Contains(err.Error(), "nobody@example.com") {
		t.Fatalf("want an unknown-user error, got %v", err)
	}
	if n := len(s.Portal().OLConfigs); n != 1 {
		t.Fatalf("a channel was written: %d", n)
	}
}

// imopenlines.config.list.get pages by limit/offset (at most 200): 450
// channels take the first page (in the structure batch) and two more.
func TestOpenChannelsPaging(t *testing.T) {
	pt := demo(t)
	pt.OLConfigs, pt.OLQueue = nil, nil
	for i := 1; i <= 450; i++ {
		pt.OLConfigs = append(pt.OLConfigs, bitrix.OLConfig{ID: int64(i), LineName: fmt.Sprintf("Line %03d", i), Active: "Y", QueueType: "all"})
		pt.OLQueue = append(pt.OLQueue, bitrix.OLQueue{ID: int64(i), Sort: 10, ConfigID: int64(i), EntityID: int64(1 + i%10), EntityType: "user"})
	}
	_, u := serve(t, sim.Options{Token: "tok", Lines: demoLines}, pt)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	before := p.Client().Requests.Load()
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(live.OpenChannels) != 450 {
		t.Fatalf("read %d channels, want 450", len(live.OpenChannels))
	}
	seen := map[int64]bool{}
	for _, c := range live.OpenChannels {
		if seen[c.ID] || len(c.Queue) != 1 {
			t.Fatalf("channel %d repeated or without its queue: %+v", c.ID, c)
		}
		seen[c.ID] = true
	}
	// Directory 2 (users, departments) and 2 to confirm their ends,
	// structure 1, channel pages 2, workgroups 1 and 1 to confirm its end,
	// members 1.
	if n := p.Client().Requests.Load() - before; n != 10 {
		t.Errorf("%d requests, want 10", n)
	}
}
