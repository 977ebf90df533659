package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b24perm/b24perm/apply"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/sim"
	"github.com/b24perm/b24perm/state"
)

// A webhook whose scopes lack "user" cannot read the directory: the error
// names the method and the portal's code, and never the token.
func TestInsufficientScopeIsClear(t *testing.T) {
	_, u := serve(t, sim.Options{Token: "sekrit-token", CommandFault: func(method string, _ map[string]any) (string, string) {
		if method == "user.get" {
			return "insufficient_scope", "The request requires higher privileges than provided by the webhook token"
		}
		return "", ""
	}}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	_, err := p.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "user.get") || !strings.Contains(err.Error(), "insufficient_scope") || strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("want a clear insufficient_scope error naming user.get, got %v", err)
	}
}

// A portal address that does not answer as a Bitrix24 portal: a host that
// does not resolve, and a web server answering 404 pages.
func TestPortalNotFound(t *testing.T) {
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body><h1>Portal not found</h1></body></html>")
	}))
	t.Cleanup(notFound.Close)
	for name, u := range map[string]string{
		"no such host": "https://no-such-portal.invalid/rest/1/sekrit-token/",
		"404 page":     notFound.URL + "/rest/1/sekrit-token/",
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(u, rest.Options{RPS: 1000, Burst: 1000, Retries: 1, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Read(context.Background())
			if err == nil || strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "/rest/1/****") {
				t.Fatalf("want a redacted error naming the portal, got %v", err)
			}
		})
	}
}

// Cancelling an apply halfway (Ctrl-C) leaves the state holding exactly
// the changes the portal confirmed; the next plan shows only what is not
// on the portal, and applying it converges.
func TestCancelMidApplyConverges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var creates atomic.Int32
	s, u := serve(t, sim.Options{Token: "t", CommandFault: func(method string, _ map[string]any) (string, string) {
		if method == "sonet_group.create" && creates.Add(1) == 60 {
			cancel() // between batches: the batch running now completes
		}
		return "", ""
	}}, nil)
	p, _ := New(u, rest.Options{RPS: 1000, Burst: 1000})
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	desired := *live
	desired.Workgroups = append([]graph.Workgroup(nil), live.Workgroups...)
	for i := range 120 {
		desired.Workgroups = append(desired.Workgroups, graph.Workgroup{Key: fmt.Sprintf("w_%03d", i), Name: fmt.Sprintf("W %03d", i),
			Visibility: "private", Owner: "user:anna@example.com", Members: []string{"user:boris@example.com"}})
	}
	desired.Normalize()
	store := state.NewFileStore(filepath.Join(t.TempDir(), "state.json"))
	st, _ := store.Load()
	pl, ds := plan.Diff(&desired, live, plan.Options{IDs: st.IDs()})
	if ds.HasErrors() || len(pl.Changes) != 120 {
		t.Fatalf("plan: %v, %d changes", ds, len(pl.Changes))
	}
	out, err := apply.Run(ctx, apply.Options{Provider: p, Store: store, State: st, Plan: pl, Desired: &desired})
	if err == nil {
		t.Fatal("a cancelled apply reported success")
	}
	made := len(s.Portal().SonetGroups) - len(live.Workgroups)
	if made == 0 || made == 120 {
		t.Fatalf("cancellation should stop the apply halfway; %d groups were created", made)
	}
	st, err = store.Load()
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for a := range st.Resources {
		if strings.HasPrefix(a, "workgroup.w_") {
			recorded++
		}
	}
	// The batch running when the context was cancelled completed on the
	// portal, but its answer was lost: those groups are "not confirmed",
	// not recorded; the next plan recognizes them by name.
	if recorded != len(out.Applied) || recorded == 0 || recorded > made {
		t.Fatalf("state records %d groups, the apply reported %d, the portal has %d", recorded, len(out.Applied), made)
	}
	unconfirmed := 0
	for _, f := range out.Failed {
		if strings.Contains(fmt.Sprint(f.Address), "workgroup.w_") {
			unconfirmed++
		}
	}
	if unconfirmed+len(out.NotAttempted)+recorded != 120 {
		t.Fatalf("outcome: %d applied, %d failed, %d not attempted of 120", recorded, unconfirmed, len(out.NotAttempted))
	}
	// Re-plan: only the rest; apply it; then nothing.
	live, _ = p.Read(context.Background())
	pl, _ = plan.Diff(&desired, live, plan.Options{IDs: st.IDs()})
	if len(pl.Changes) != 120-made {
		t.Fatalf("re-plan after cancel: %d changes, want %d", len(pl.Changes), 120-made)
	}
	if _, err := apply.Run(context.Background(), apply.Options{Provider: p, Store: store, State: st, Plan: pl, Desired: &desired}); err != nil {
		t.Fatal(err)
	}
	live, _ = p.Read(context.Background())
	st, _ = store.Load()
	if pl, _ := plan.Diff(&desired, live, plan.Options{IDs: st.IDs()}); len(pl.Changes) != 0 {
		t.Fatalf("not converged: %d changes", len(pl.Changes))
	}
}
