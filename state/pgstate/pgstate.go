// Package pgstate keeps b24perm state in PostgreSQL for teams, like
// Terraform's pg backend: one row per state name, and a session-level
// advisory lock held for the whole apply, released by the server when the
// holder's connection ends (so a killed apply never leaves a stale lock).
package pgstate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/jackc/pgx/v5/pgconn"

	dsnpkg "github.com/b24perm/b24perm/internal/dsn"
	"github.com/b24perm/b24perm/state"
)

// Store is a PostgreSQL state store.
type Store struct {
	db   *sql.DB
	name string
	desc string
}

var _ state.Store = (*Store)(nil)

// Open connects and creates the state tables if needed. name distinguishes
// several states in one database (default "default").
func Open(ctx context.Context, dsn, name, redacted string) (*Store, error) {
	if name == "" {
		name = "default"
	}
	// Redact here too: whatever the caller passed, no error may carry the
	// password, and a malformed DSN's parse error quotes pieces of it.
	redacted = dsnpkg.Redact(redacted)
	if err := dsnpkg.Check(dsn); err != nil {
		return nil, fmt.Errorf("invalid state DSN %s: %w", dsnpkg.Redact(dsn), err)
	}
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return nil, fmt.Errorf("invalid state DSN %s: not a valid connection string (percent-encode special characters such as / # %% @ or spaces in the password)", dsnpkg.Redact(dsn))
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, dsnpkg.Scrub(err, dsn)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot connect to the state database %s: %v", redacted, dsnpkg.Scrub(err, dsn))
	}
	if err := createTables(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the state tables in %s: %v", redacted, dsnpkg.Scrub(err, dsn))
	}
	return &Store{db: db, name: name, desc: redacted + " (state " + name + ")"}, nil
}

// tablesLock is the advisory lock key that serializes the creation of the
// state tables ("b24perm" in ASCII).
const tablesLock = 0x6232347065726d

// createTables creates the state tables if they are missing. CREATE TABLE
// IF NOT EXISTS is not safe against itself: two first runs at once both
// pass the check and one fails on pg_type's unique index with a raw
// "duplicate key value violates unique constraint" error. A transaction
// holding an advisory lock makes the creations take turns.
func createTables(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(tablesLock)); err != nil {
		return err
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS b24perm_state (name text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL, data jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		`CREATE TABLE IF NOT EXISTS b24perm_lock (name text PRIMARY KEY, info jsonb NOT NULL)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close releases the pool.
func (s *Store) Close() error { return s.db.Close() }

// Describe names the store.
func (s *Store) Describe() string { return s.desc }

// Load reads the state (a new one if there is none yet).
func (s *Store) Load() (*state.State, error) {
	var data []byte
	err := s.db.QueryRow(`SELECT data FROM b24perm_state WHERE name = $1`, s.name).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return state.New(), nil
	}
	if err != nil {
		return nil, err
	}
	var st state.State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state %q in %s is corrupt: %v", s.name, s.desc, err)
	}
	if st.FormatVersion > state.FormatVersion {
		return nil, fmt.Errorf("state %q was written by a newer b24perm (format %d)", s.name, st.FormatVersion)
	}
	if st.Resources == nil {
		st.Resources = map[string]state.Resource{}
	}
	return &st, nil
}

// Save increments the serial and upserts the state in one statement; a
// state of another lineage is refused.
func (s *Store) Save(st *state.State) error {
	st.FormatVersion = state.FormatVersion
	st.Serial++
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(`INSERT INTO b24perm_state (name, lineage, serial, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET serial = EXCLUDED.serial, data = EXCLUDED.data, updated_at = now()
		WHERE b24perm_state.lineage = EXCLUDED.lineage`, s.name, st.Lineage, st.Serial, data)
	if err != nil {
		st.Serial--
		return fmt.Errorf("saving state: %v", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		st.Serial--
		return fmt.Errorf("state %q in %s belongs to another lineage; refusing to overwrite it", s.name, s.desc)
	}
	return nil
}

// Lock takes the advisory lock on a dedicated connection. It fails at once
// (or when ctx expires, polling) with the holder's identity.
func (s *Store) Lock(ctx context.Context, info state.LockInfo) (func() error, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for {
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('b24perm:' || $1))`, s.name).Scan(&got); err != nil {
			conn.Close()
			return nil, err
		}
		if got {
			break
		}
		holder := s.holder(ctx)
		if _, has := ctx.Deadline(); !has {
			conn.Close()
			return nil, holder
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil, holder
		case <-time.After(250 * time.Millisecond):
		}
	}
	var pid int
	conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
	if info.ID == "" {
		info.ID = fmt.Sprintf("pg-%d", pid)
	}
	if info.Created.IsZero() {
		info.Created = time.Now().UTC()
	}
	b, _ := json.Marshal(struct {
		state.LockInfo
		BackendPID int `json:"backend_pid"`
	}{info, pid})
	if _, err := conn.ExecContext(ctx, `INSERT INTO b24perm_lock (name, info) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET info = EXCLUDED.info`, s.name, b); err != nil {
		conn.Close()
		return nil, err
	}
	return func() error {
		defer conn.Close()
		conn.ExecContext(context.Background(), `DELETE FROM b24perm_lock WHERE name = $1`, s.name)
		_, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext('b24perm:' || $1))`, s.name)
		return err
	}, nil
}

func (s *Store) holder(ctx context.Context) error {
	var data []byte
	if err := s.db.QueryRowContext(ctx, `SELECT info FROM b24perm_lock WHERE name = $1`, s.name).Scan(&data); err != nil {
		return &state.LockedError{Info: state.LockInfo{ID: "unknown", Operation: "apply", Who: "unknown"}}
	}
	var info state.LockInfo
	json.Unmarshal(data, &info)
	return &state.LockedError{Info: info}
}

// ForceUnlock ends the session that holds the lock (its advisory lock is
// released with it), if the lock ID matches.
func (s *Store) ForceUnlock(id string) error {
	var data []byte
	if err := s.db.QueryRow(`SELECT info FROM b24perm_lock WHERE name = $1`, s.name).Scan(&data); err != nil {
		return fmt.Errorf("the state is not locked")
	}
	var info struct {
		ID         string `json:"id"`
		BackendPID int    `json:"backend_pid"`
	}
	json.Unmarshal(data, &info)
	if info.ID != id {
		return fmt.Errorf("lock ID mismatch: the lock is %s, not %s", info.ID, id)
	}
	s.db.Exec(`SELECT pg_terminate_backend($1)`, info.BackendPID)
	_, err := s.db.Exec(`DELETE FROM b24perm_lock WHERE name = $1`, s.name)
	return err
}
