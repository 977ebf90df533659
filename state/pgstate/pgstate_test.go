package pgstate

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/state"
)

func TestStateAndAdvisoryLock(t *testing.T) {
	dsn := dbtest.Postgres(t)
	ctx := context.Background()
	a, err := Open(ctx, dsn, "prod", "pg")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn, "prod", "pg")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	st, _ := a.Load()
	st.Resources["crm_role.manager"] = state.Resource{ID: 2}
	if err := a.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := b.Load()
	if err != nil || got.Serial != 1 || got.Resources["crm_role.manager"].ID != 2 {
		t.Fatalf("load: %+v %v", got, err)
	}
	other := state.New()
	if err := b.Save(other); err == nil || !strings.Contains(err.Error(), "another lineage") {
		t.Fatalf("foreign lineage saved: %v", err)
	}

	unlock, err := a.Lock(ctx, state.Identity("apply", "ivan", "test"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Lock(ctx, state.Identity("apply", "olga", "test"))
	var le *state.LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "ivan@") {
		t.Fatalf("second lock: %v", err)
	}
	// One waits, then succeeds when the first releases.
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		u, err := b.Lock(wctx, state.Identity("apply", "olga", "test"))
		if err == nil {
			u()
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("waiting locker: %v", err)
	}

	// A killed holder: its session ends, the server releases the lock.
	raw, _ := sql.Open("pgx", dsn)
	defer raw.Close()
	_, err = a.Lock(ctx, state.Identity("apply", "ghost", "test"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	raw.QueryRow(`SELECT (info->>'backend_pid')::int FROM b24perm_lock WHERE name = 'prod'`).Scan(&pid)
	raw.Exec(`SELECT pg_terminate_backend($1)`, pid)
	time.Sleep(200 * time.Millisecond)
	u, err := b.Lock(ctx, state.Identity("apply", "olga", "test"))
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	u()
}

// Concurrent first use of a fresh database: every Open succeeds (the
// tables are created race-free), none fails with a raw duplicate-key
// error (issue 16, unclear errors).
func TestConcurrentFirstOpen(t *testing.T) {
	for round := 0; round < 3; round++ {
		dsn := dbtest.Postgres(t)
		const n = 8
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			go func() {
				<-start
				s, err := Open(context.Background(), dsn, "", "pg")
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		close(start)
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
