package webhook

import (
	"context"
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/cputime"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
	"github.com/b24perm/b24perm/state"
)

// BenchmarkCloudPlanXL is the XL cloud plan through the REST simulator
// (issue 14 #2; target ≤ 3 s, ≤ 1 GiB): read the portal, diff the XL
// policy against it with the kinds REST cannot read taken from the state,
// and compute the access delta. "unknown": nothing recorded (the first
// plan); "confirmed": every unreadable object recorded as confirmed.
//
//	go test ./provider/webhook -run '^$' -bench CloudPlanXL -benchtime=1x -benchmem
func BenchmarkCloudPlanXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	portal, err := bitrix.FromGraph(g, "xl.example")
	if err != nil {
		b.Fatal(err)
	}
	_, u := serve(b, sim.Options{Token: "t"}, portal)
	desired := gen.Generate(gen.Sizes["xl"], 1)
	desired.Directory = nil
	confirmed := map[string]state.Resource{}
	caps := (&Provider{}).Capabilities()
	for a, r := range desired.Resources() {
		if !caps.CanRead(a.Kind) {
			ch := plan.Change{Addr: a, Address: a.String(), After: &r}
			confirmed[a.String()] = plan.Recorded(ch, 0, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), true, caps.CanRead)
		}
	}
	for _, bc := range []struct {
		name     string
		recorded map[string]state.Resource
	}{{"unknown", nil}, {"confirmed", confirmed}} {
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := cputime.Process()
			for b.Loop() {
				p, _ := New(u, rest.Options{RPS: 1e6, Burst: 1e6})
				live, err := p.Read(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				caps := p.Capabilities()
				pl, ds := plan.Diff(desired, live, plan.Options{Writable: caps.CanWrite, Readable: caps.CanRead, Recorded: bc.recorded,
					UnreadableWhy: "cannot be read over REST", FeaturesUnreadable: true})
				if ds.HasErrors() {
					b.Fatal(ds.Err())
				}
				pl.Access = pl.AccessDelta(live.Directory, desired)
				b.ReportMetric(float64(len(pl.Changes)), "changes")
				b.ReportMetric(float64(pl.Access.Gainers+pl.Access.Losers), "users-changed")
			}
			// Both sides' CPU: the simulator serves from this process.
			b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
