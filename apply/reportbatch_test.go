package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/state"
)

// batchProvider reports its changes 50 at a time through ReportBatch and,
// before writing more, checks that the state on disk records every
// change reported so far: a crash between two batches loses nothing.
type batchProvider struct {
	store  *state.FileStore
	failAt int
	t      *testing.T
}

func (f *batchProvider) Describe() string                           { return "batch" }
func (f *batchProvider) Read(context.Context) (*graph.Graph, error) { return &graph.Graph{}, nil }
func (f *batchProvider) Capabilities() provider.Capabilities        { return provider.All(false) }

func (f *batchProvider) Apply(ctx context.Context, req provider.ApplyRequest) error {
	for start := 0; start < len(req.Changes); start += 50 {
		var rs []provider.Result
		var err error
		for i := start; i < min(start+50, len(req.Changes)); i++ {
			r := provider.Result{Index: i, Address: req.Changes[i].Address, ID: int64(1000 + i)}
			if i == f.failAt {
				r.Err = errors.New("portal said no")
				err = fmt.Errorf("%s: %w", r.Address, r.Err)
			}
			rs = append(rs, r)
		}
		req.ReportBatch(rs)
		disk, lerr := f.store.Load()
		if lerr != nil {
			f.t.Fatal(lerr)
		}
		for _, r := range rs {
			if _, ok := disk.Resources[r.Address]; ok != (r.Err == nil) {
				f.t.Fatalf("after the batch from %d: %s on disk: %v, want %v", start, r.Address, ok, r.Err == nil)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestRunReportBatch(t *testing.T) {
	var changes []plan.Change
	for i := range 120 {
		changes = append(changes, change(plan.Create, fmt.Sprintf("r%03d", i), 0))
	}
	for _, failAt := range []int{-1, 70} {
		t.Run(fmt.Sprint("failAt", failAt), func(t *testing.T) {
			fs := state.NewFileStore(filepath.Join(t.TempDir(), "state.json"))
			store := &countingStore{FileStore: fs}
			var seen []string
			out, err := Run(context.Background(), Options{Provider: &batchProvider{store: fs, failAt: failAt, t: t}, Store: store, State: state.New(),
				Plan: &plan.Plan{Changes: changes}, OnResult: func(c plan.Change, r provider.Result) { seen = append(seen, c.Address) }})
			if len(seen) != len(out.Applied)+len(out.Failed) {
				t.Errorf("OnResult saw %d outcomes, want %d", len(seen), len(out.Applied)+len(out.Failed))
			}
			if failAt < 0 {
				if err != nil || len(out.Applied) != 120 {
					t.Fatalf("err %v, %d applied", err, len(out.Applied))
				}
				// Three batches, one save each, and the final one.
				if store.saves != 4 {
					t.Errorf("%d saves, want 4", store.saves)
				}
				return
			}
			if err == nil || len(out.Applied) != 99 || len(out.Failed) != 1 || len(out.NotAttempted) != 20 {
				t.Fatalf("err %v, %d applied, %d failed, %d not attempted", err, len(out.Applied), len(out.Failed), len(out.NotAttempted))
			}
		})
	}
}
