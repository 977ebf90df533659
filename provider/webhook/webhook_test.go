package webhook

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
)

// readSim serves portal pt from the REST simulator and reads it through a
// provider fast enough not to wait on the rate limit.
func readSim(t testing.TB, pt *bitrix.Portal) (*sim.Server, *Provider, *graph.Graph) {
	t.Helper()
	s, u := serve(t, sim.Options{Token: "tok"}, pt)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, p, g
}

func serve(t testing.TB, o sim.Options, portal *bitrix.Portal) (*sim.Server, string) {
	if portal == nil {
		var err error
		if portal, err = local.DemoTables(); err != nil {
			t.Fatal(err)
		}
	}
	s := sim.New(portal, o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL + "/rest/1/" + o.Token + "/"
}

func TestReadDemoPortal(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "tok"}, nil)
	p, err := New(u, rest.Options{RPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Directory.Users) != 10 || len(g.Directory.Departments) != 7 || len(g.Workgroups) != 2 || len(g.CRMRoles) != 0 {
		t.Fatalf("read: %d users, %d departments, %d workgroups, %d roles", len(g.Directory.Users), len(g.Directory.Departments), len(g.Workgroups), len(g.CRMRoles))
	}
	if w := g.Workgroups[0]; w.Owner == "" || len(w.Members)+len(w.Moderators) == 0 {
		t.Errorf("workgroup members not read: %+v", w)
	}
}

// A storm of 503 QUERY_LIMIT_EXCEEDED: the client backs off and retries,
// and no limit error reaches the caller.
func TestRateLimitStormIsAbsorbed(t *testing.T) {
	s, u := serve(t, sim.Options{Token: "tok", RPS: 20, Burst: 3}, nil)
	p, _ := New(u, rest.Options{RPS: 500, Burst: 500}) // misconfigured: far above the portal's limit
	if _, err := p.Read(context.Background()); err != nil {
		t.Fatalf("a limit error reached the caller: %v", err)
	}
	if s.Limited == 0 {
		t.Fatal("the simulator never limited: the test proves nothing")
	}
}

func TestErrorsAreClearAndRedacted(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "right"}, nil)
	wrong := strings.Replace(u, "/right/", "/wrong-token-123/", 1)
	p, _ := New(wrong, rest.Options{RPS: 1000, Burst: 1000})
	_, err := p.Read(context.Background())
	if err == nil || strings.Contains(err.Error(), "wrong-token-123") || !strings.Contains(err.Error(), "NO_AUTH_FOUND") {
		t.Fatalf("wrong token: %v", err)
	}
	if d := p.Describe(); strings.Contains(d, "wrong-token") || !strings.Contains(d, "/rest/1/****") {
		t.Errorf("describe leaks the token: %s", d)
	}
	_, hu := serve(t, sim.Options{Token: "t", HTMLRate: 1}, nil)
	p, _ = New(hu, rest.Options{RPS: 1000, Burst: 1000, Retries: 1})
	if _, err := p.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "non-JSON page") {
		t.Fatalf("HTML page: %v", err)
	}
	// Role methods do not exist on cloud REST.
	c, _ := rest.New(u, rest.Options{RPS: 1000, Burst: 1000})
	if _, err := c.Call(context.Background(), "crm.role.list", nil, true); err == nil || !strings.Contains(err.Error(), "ERROR_METHOD_NOT_FOUND") {
		t.Fatalf("crm.role.list: %v", err)
	}
}

// Command 17 of 50 fails: its error is reported, the others succeed.
func TestBatchPerCommandErrors(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "t"}, nil)
	c, _ := rest.New(u, rest.Options{RPS: 1000, Burst: 1000})
	var cmds []rest.Cmd
	for i := 0; i < 50; i++ {
		m := "user.get"
		if i == 16 {
			m = "sonet_group.user.get"
		}
		cmds = append(cmds, rest.Cmd{Key: fmt.Sprintf("c%d", i), Method: m, Params: url.Values{"ID": {"999"}}})
	}
	res, err := c.Batch(context.Background(), cmds, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		r := res[fmt.Sprintf("c%d", i)]
		if (i == 16) != (r.Err != nil) {
			t.Errorf("command %d: err %v", i, r.Err)
		}
	}
	if _, err := c.Batch(context.Background(), append(cmds, cmds[0]), true); err == nil {
		t.Error("51 commands accepted")
	}
}

func TestCancellation(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "t", Latency: 50 * time.Millisecond}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Read(ctx); err == nil {
		t.Fatal("cancelled read succeeded")
	}
}

// BenchmarkReadXL reads a simulated portal with 10,000 users, 1,000
// departments, 500 workgroups and 51 pipelines, and reports requests: 21
// with the fast paging (start=-1, 50 chained pages a batch, no COUNT) —
// users 5 (10000/2500+1), departments 1, pipelines 1, workgroups 1, their
// members 10, and one request per list confirming its end (a page cut
// short is never taken for the end) — where offset paging took 20.
func BenchmarkReadXL(b *testing.B) {
	portal, err := bitrix.FromGraph(gen.Generate(gen.Sizes["xl"], 1), "xl.example")
	if err != nil {
		b.Fatal(err)
	}
	_, u := serve(b, sim.Options{Token: "t"}, portal)
	for b.Loop() {
		p, _ := New(u, rest.Options{RPS: 1e6, Burst: 1e6})
		if _, err := p.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(p.Client().Requests.Load()), "requests")
	}
}

// 500 workgroup changes against a simulator enforcing 2 requests/s with a
// burst of 50: ceil(500/50) write batches plus ceil(500/25) read-back batches, and no
// rate-limit error reaches the caller.
func TestApply500WorkgroupsInBatches(t *testing.T) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	portal, err := bitrix.FromGraph(g, "xl.example")
	if err != nil {
		t.Fatal(err)
	}
	s, u := serve(t, sim.Options{Token: "t", RPS: 2, Burst: 50}, portal)
	p, _ := New(u, rest.Options{}) // defaults: 2/s, burst 50
	ctx := context.Background()
	live, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reads := p.Client().Requests.Load()
	desired := gen.Generate(gen.Sizes["xl"], 1)
	desired.Directory = nil
	flip := map[string]string{"public": "private", "private": "secret", "secret": "public"}
	for i := range desired.Workgroups {
		desired.Workgroups[i].Visibility = flip[desired.Workgroups[i].Visibility]
	}
	desired.Normalize()
	pl, ds := plan.Diff(desired, live, plan.Options{})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	var changes []plan.Change
	for _, c := range pl.Changes {
		if c.Addr.Kind == graph.KindWorkgroup {
			changes = append(changes, c)
		}
	}
	if len(changes) != 500 {
		t.Fatalf("%d workgroup changes", len(changes))
	}
	start := time.Now()
	if err := p.Apply(ctx, provider.ApplyRequest{Changes: changes, IDs: pl.LiveIDs}); err != nil {
		t.Fatal(err)
	}
	writes := p.Client().Requests.Load() - reads
	t.Logf("read: %d requests; apply of 500 workgroup changes: %d requests (%v); simulator limited %d", reads, writes, time.Since(start), s.Limited)
	// Read-back asks for each group's fields and members: 25 groups a batch.
	if writes > 10+20 {
		t.Errorf("%d requests for 500 changes; want ≤ 10 write batches + 20 read-back batches", writes)
	}
	if s.Limited != 0 {
		t.Errorf("the simulator refused %d requests: the client's bucket let them through", s.Limited)
	}
	after, _ := p.Read(ctx)
	// Feature permissions cannot be read over REST: only they may remain.
	again, _ := plan.Diff(desired, after, plan.Options{})
	left := false
	for _, c := range again.Changes {
		for _, a := range c.Attrs {
			if c.Addr.Kind == graph.KindWorkgroup && a.Kind != plan.AttrFeature {
				left = true
			}
		}
	}
	if left {
		t.Error("workgroups not converged")
	}
}

// Truncated answers and dropped connections on reads are retried.
func TestFlakyPortalIsRetried(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "t", TruncRate: 0.3, DropRate: 0.3}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000, Backoff: time.Millisecond, Retries: 20})
	if _, err := p.Read(context.Background()); err != nil {
		t.Fatalf("a flaky portal was not absorbed: %v", err)
	}
}

// OPERATION_TIME_LIMIT blocks one method until its reset time; the client
// waits for it instead of failing.
func TestOperationTimeLimitWaitsForReset(t *testing.T) {
	reset := time.Now().Add(1500 * time.Millisecond)
	_, u := serve(t, sim.Options{Token: "t", OperatingLimit: map[string]time.Time{"user.get": reset}}, nil)
	c, _ := rest.New(u, rest.Options{RPS: 1000, Burst: 1000, Backoff: time.Millisecond})
	start := time.Now()
	if _, err := c.Call(context.Background(), "user.get", nil, true); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < time.Second {
		t.Errorf("answered after %v, before the reset", time.Since(start))
	}
	if _, err := c.Call(context.Background(), "department.get", nil, true); err != nil {
		t.Fatal(err)
	}
}

func TestOAuthAccessToken(t *testing.T) {
	s, u := serve(t, sim.Options{Token: "oauth-access-1", ExpiredToken: "oauth-old"}, nil)
	_ = s
	endpoint := strings.TrimSuffix(u, "1/oauth-access-1/")
	p, err := NewOAuth(endpoint, "oauth-access-1", rest.Options{RPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(context.Background()); err != nil {
		t.Fatalf("OAuth read: %v", err)
	}
	old, _ := NewOAuth(endpoint, "oauth-old", rest.Options{RPS: 1000, Burst: 1000})
	_, err = old.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "access token expired") || strings.Contains(err.Error(), "oauth-old") {
		t.Fatalf("expired token: %v", err)
	}
}
