package apply

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/provider/webhook"
	"github.com/b24perm/b24perm/sim"
	"github.com/b24perm/b24perm/state"
)

// countingStore is a FileStore that counts saves and bytes written.
type countingStore struct {
	*state.FileStore
	saves int
	bytes int64
	took  time.Duration
}

func (s *countingStore) Save(st *state.State) error {
	t := time.Now()
	err := s.FileStore.Save(st)
	s.took += time.Since(t)
	s.saves++
	if fi, e := os.Stat(s.Path); e == nil {
		s.bytes += fi.Size()
	}
	return err
}

// xlCloudRun applies 500 workgroup changes of the XL organization through
// the REST simulator on the webhook backend (non-transactional), with a
// state holding the confirmed content of every object REST cannot read
// (about 1,300 CRM, telephony and open-channel roles and field rules).
func xlCloudRun(tb testing.TB, timer interface {
	StartTimer()
	StopTimer()
}) (store *countingStore, st *state.State, contents int, took time.Duration) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	desired := gen.Generate(gen.Sizes["xl"], 1)
	desired.Directory = nil
	flip := map[string]string{"public": "private", "private": "secret", "secret": "public"}
	for i := range desired.Workgroups {
		desired.Workgroups[i].Visibility = flip[desired.Workgroups[i].Visibility]
	}
	desired.Normalize()
	caps := (&webhook.Provider{}).Capabilities()
	portal, err := bitrix.FromGraph(g, "xl.example")
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(sim.New(portal, sim.Options{Token: "t"}))
	defer srv.Close()
	p, err := webhook.New(srv.URL+"/rest/1/t/", rest.Options{RPS: 1e6, Burst: 1e6})
	if err != nil {
		tb.Fatal(err)
	}
	live, err := p.Read(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	st = state.New()
	for a, r := range desired.Resources() {
		if !caps.CanRead(a.Kind) {
			ch := plan.Change{Addr: a, Address: a.String(), After: &r}
			st.Resources[a.String()] = plan.Recorded(ch, 0, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), true, caps.CanRead)
			contents++
		}
	}
	pl, ds := plan.Diff(desired, live, plan.Options{Writable: caps.CanWrite, Readable: caps.CanRead, Recorded: st.Resources,
		UnreadableWhy: "cannot be read over REST", FeaturesUnreadable: true})
	if ds.HasErrors() {
		tb.Fatal(ds.Err())
	}
	var changes []plan.Change
	for _, c := range pl.Changes {
		if c.Addr.Kind == graph.KindWorkgroup && !c.Manual {
			changes = append(changes, c)
		}
	}
	pl.Changes = changes
	store = &countingStore{FileStore: state.NewFileStore(filepath.Join(tb.TempDir(), "state.json"))}
	timer.StartTimer()
	t := time.Now()
	out, err := Run(context.Background(), Options{Provider: p, Store: store, State: st, Plan: pl})
	took = time.Since(t)
	timer.StopTimer()
	if err != nil {
		tb.Fatal(err)
	}
	if len(out.Applied) != 500 {
		tb.Fatalf("%d applied, want 500", len(out.Applied))
	}
	return store, st, contents, took
}

type noTimer struct{}

func (noTimer) StartTimer() {}
func (noTimer) StopTimer()  {}

// The webhook backend reports a REST batch's outcomes together: they are
// saved together, not with one save (of ~6 MB of confirmed contents) per
// change, and the state on disk records every change applied.
func TestApplyXLCloudSavesPerBatch(t *testing.T) {
	store, st, _, _ := xlCloudRun(t, noTimer{})
	// One save for the workgroups' outcomes, one at the end.
	if store.saves > 2 {
		t.Errorf("%d state saves for 500 workgroup changes, want ≤ 2", store.saves)
	}
	disk, err := store.FileStore.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(disk.Resources) != len(st.Resources) {
		t.Fatalf("state on disk has %d resources, in memory %d", len(disk.Resources), len(st.Resources))
	}
	n := 0
	for a, r := range disk.Resources {
		if strings.HasPrefix(a, "workgroup.") && r.ID > 0 && r.Fingerprint != "" {
			n++
		}
	}
	if n != 500 {
		t.Errorf("%d workgroups recorded on disk, want 500", n)
	}
}

// BenchmarkApplyXLCloud is the XL apply through the REST simulator on the
// webhook backend: it reports the saves, the bytes they wrote, the time
// spent saving and the apply's time (before ReportBatch: 501 saves, 2984
// MiB, 35.2 s of 35.6 s; after: 2 saves, 12 MiB, 0.23 s of 0.69 s).
//
//	go test ./apply -run '^$' -bench ApplyXLCloud -benchtime=1x
func BenchmarkApplyXLCloud(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		store, _, contents, took := xlCloudRun(b, b)
		b.ReportMetric(float64(contents), "contents")
		b.ReportMetric(float64(store.saves), "saves")
		b.ReportMetric(float64(store.bytes)/(1<<20), "MiB-written")
		b.ReportMetric(store.took.Seconds(), "s-saving")
		b.ReportMetric(took.Seconds(), "s-apply")
		b.StartTimer()
	}
}
