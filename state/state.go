// Package state persists what b24perm manages: lineage, serial, address →
// live ID, and the digest of the last applied policy. Writes are atomic;
// a lock file keeps two applies apart.
package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/atomicfile"
	"github.com/rogpeppe/go-internal/lockedfile"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// FormatVersion of state.json.
const FormatVersion = 1

// DefaultPath of the local state file.
const DefaultPath = ".b24perm/state.json"

// State is the persisted state.
type State struct {
	FormatVersion int                 `json:"format_version"`
	Lineage       string              `json:"lineage"`
	Serial        int64               `json:"serial"`
	ToolVersion   string              `json:"tool_version,omitempty"`
	PolicyDigest  string              `json:"policy_digest,omitempty"`
	Resources     map[string]Resource `json:"resources"`
	// contents caches the encoded form of every Resource.Content by the
	// content's address: a state with ~1,300 confirmed contents is ~6 MB,
	// re-encoded on every save (after every change on a non-transactional
	// backend), and a content, once recorded, is replaced, never changed
	// in place. Encode rebuilds it, so replaced contents are dropped.
	contents map[*graph.Resource][]byte
}

// Resource is one managed object.
type Resource struct {
	ID          int64  `json:"id"`
	Name        string `json:"name,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// At is when b24perm applied the object, or when an administrator
	// confirmed making it by hand (Confirmed).
	At        time.Time `json:"at,omitzero"`
	Confirmed bool      `json:"confirmed_manual,omitempty"`
	// Content is what was applied or confirmed, kept for kinds the backend
	// cannot read back (CRM roles over REST): it is their plan baseline.
	Content *graph.Resource `json:"content,omitempty"`
}

// New returns an empty state with a fresh lineage.
func New() *State {
	return &State{FormatVersion: FormatVersion, Lineage: newID(), Resources: map[string]Resource{}}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// IDs returns address → live ID.
func (s *State) IDs() map[string]int64 {
	m := make(map[string]int64, len(s.Resources))
	for a, r := range s.Resources {
		m[a] = r.ID
	}
	return m
}

// CheckLineage refuses a saved plan (or other artefact) recorded against
// state lineage saved when the current state has another lineage: they
// describe different portals or a state that was replaced. An empty saved
// lineage (made before the first apply) matches any state; the serial
// check catches the rest.
func CheckLineage(saved string, current *State) error {
	if saved == "" || current == nil || saved == current.Lineage {
		return nil
	}
	return &LineageError{Saved: saved, Current: current.Lineage}
}

// LineageError reports a lineage mismatch.
type LineageError struct{ Saved, Current string }

func (e *LineageError) Error() string {
	return fmt.Sprintf("Saved plan does not match the given state: it was made for state lineage %s, the state has lineage %s", e.Saved, e.Current)
}

// Addresses lists managed addresses, sorted.
func (s *State) Addresses() []string {
	out := make([]string, 0, len(s.Resources))
	for a := range s.Resources {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Store persists state.
type Store interface {
	Load() (*State, error)
	Save(*State) error
	Lock(ctx context.Context, info LockInfo) (unlock func() error, err error)
	ForceUnlock(id string) error
	Describe() string
}

// LockInfo says who holds a lock.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	Created   time.Time `json:"created"`
	Version   string    `json:"tool_version,omitempty"`
}

// FileStore keeps state in a JSON file next to a lock file. While a
// process holds the lock it also holds an OS file lock on the lock file
// (go-internal/lockedfile: flock on Unix, LockFileEx on Windows), which
// the OS drops when the process dies; that is how a holder's liveness is
// told, on every platform, without looking at process IDs.
type FileStore struct {
	Path string

	mu   sync.Mutex
	held map[string]*lockedfile.File // lock ID -> the OS lock we hold
}

// NewFileStore returns a store at path (DefaultPath when empty).
func NewFileStore(path string) *FileStore {
	if path == "" {
		path = DefaultPath
	}
	return &FileStore{Path: path}
}

// Describe names the store.
func (f *FileStore) Describe() string { return f.Path }

// MaxFileSize bounds a state file (an XL portal's state is a few MB): a
// path to a device or a huge file is an error, not an endless read.
const MaxFileSize = 1 << 30

// Load reads the state; a missing file is an empty state with a new
// lineage (written on the first Save).
func (f *FileStore) Load() (*State, error) {
	atomicfile.CleanStale(f.Path)
	atomicfile.CleanStale(f.lockPath())
	b, err := atomicfile.ReadRegular(f.Path, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(&s)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = fmt.Errorf("unexpected data after the state object at offset %d", dec.InputOffset())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%s); it was not changed. Restore %s.backup or fix it by hand", f.Path, jsonErr(b, err), f.Path)
	}
	if s.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("state file %s has format_version %d, newer than this b24perm supports (%d): upgrade b24perm", f.Path, s.FormatVersion, FormatVersion)
	}
	if s.Lineage == "" {
		return nil, fmt.Errorf("state file %s has no lineage; it was not changed", f.Path)
	}
	if s.Resources == nil {
		s.Resources = map[string]Resource{}
	}
	return &s, nil
}

func jsonErr(b []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case err.Error() == "unexpected EOF":
		return "the file is truncated"
	}
	if off < 0 || off > int64(len(b)) {
		return err.Error()
	}
	line := bytes.Count(b[:off], []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(b[:off], '\n') + 1)
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

// Save increments the serial and writes the state atomically (temp file,
// fsync, rename, directory fsync), keeping the previous file as .backup.
// On error the previous state is intact.
func (f *FileStore) Save(s *State) error {
	s.FormatVersion = FormatVersion
	s.Serial++
	if err := atomicfile.Write(f.Path, s.Encode(), true); err != nil {
		s.Serial--
		return fmt.Errorf("writing state %s: %w (the previous state is unchanged)", f.Path, err)
	}
	return nil
}

// Encode returns the canonical file form: header fields, then resources
// sorted by address, one per line (readable diffs, stable bytes). It is
// equivalent to encoding/json's output for the same value, and several
// times faster on large states.
func (s *State) Encode() []byte {
	addrs := s.Addresses()
	contents := make(map[*graph.Resource][]byte, len(s.contents))
	defer func() { s.contents = contents }()
	b := make([]byte, 0, 256+len(addrs)*120+s.contentSize())
	b = append(b, "{\n  \"format_version\": "...)
	b = strconv.AppendInt(b, int64(s.FormatVersion), 10)
	b = append(b, ",\n  \"lineage\": "...)
	b = appendString(b, s.Lineage)
	b = append(b, ",\n  \"serial\": "...)
	b = strconv.AppendInt(b, s.Serial, 10)
	if s.ToolVersion != "" {
		b = append(b, ",\n  \"tool_version\": "...)
		b = appendString(b, s.ToolVersion)
	}
	if s.PolicyDigest != "" {
		b = append(b, ",\n  \"policy_digest\": "...)
		b = appendString(b, s.PolicyDigest)
	}
	b = append(b, ",\n  \"resources\": {"...)
	for i, a := range addrs {
		r := s.Resources[a]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = appendString(b, a)
		b = append(b, ": {\"id\": "...)
		b = strconv.AppendInt(b, r.ID, 10)
		if r.Name != "" {
			b = append(b, ", \"name\": "...)
			b = appendString(b, r.Name)
		}
		if r.Kind != "" {
			b = append(b, ", \"kind\": "...)
			b = appendString(b, r.Kind)
		}
		if r.Fingerprint != "" {
			b = append(b, ", \"fingerprint\": "...)
			b = appendString(b, r.Fingerprint)
		}
		if !r.At.IsZero() {
			b = append(b, ", \"at\": "...)
			b = appendString(b, r.At.UTC().Format(time.RFC3339Nano))
		}
		if r.Confirmed {
			b = append(b, ", \"confirmed_manual\": true"...)
		}
		if r.Content != nil {
			// The content is one compact line: a resource is never large
			// (a CRM role: a few hundred cells). Encoded once per content.
			c, ok := s.contents[r.Content]
			if !ok {
				var err error
				if c, err = json.Marshal(r.Content); err != nil {
					c = nil
				}
			}
			if c != nil {
				contents[r.Content] = c
				b = append(b, ", \"content\": "...)
				b = append(b, c...)
			}
		}
		b = append(b, '}')
	}
	if len(addrs) > 0 {
		b = append(b, "\n  "...)
	}
	b = append(b, "}\n}\n"...)
	return b
}

// contentSize is the size of the cached encoded contents.
func (s *State) contentSize() int {
	n := 0
	for _, c := range s.contents {
		n += len(c) + 16
	}
	return n
}

// appendString appends s as a JSON string (valid UTF-8 kept as is,
// invalid bytes replaced, control characters escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\t':
					b = append(b, '\\', 't')
				case '\r':
					b = append(b, '\\', 'r')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// LockedError reports a held lock.
type LockedError struct {
	Info LockInfo
	Path string
	Dead bool
}

func (e *LockedError) Error() string {
	msg := fmt.Sprintf("the state is locked by %s (%s, pid %d on %s) since %s; lock ID %s",
		e.Info.Operation, e.Info.Who, e.Info.PID, e.Info.Host, e.Info.Created.Format(time.RFC3339), e.Info.ID)
	if e.Dead {
		msg += fmt.Sprintf(".\nThat process is no longer running. If no other b24perm is working on this portal, remove the lock with:\n  b24perm force-unlock %s", e.Info.ID)
	} else {
		msg += ". Wait for it to finish."
	}
	return msg
}

func (f *FileStore) lockPath() string { return f.Path + ".lock" }

// Lock takes the lock file, failing at once with the holder's identity,
// or, when ctx has a deadline (the CLI's --lock-timeout), polling until
// the lock is free or the deadline passes. The lock file appears complete
// or not at all (written to a temp file, then hard-linked into place), so
// a crash never leaves a half-written lock. The returned unlock removes
// the lock only while it is still ours.
func (f *FileStore) Lock(ctx context.Context, info LockInfo) (func() error, error) {
	if info.ID == "" {
		info.ID = newID()
	}
	if info.Created.IsZero() {
		info.Created = time.Now().UTC()
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return nil, fmt.Errorf("taking the state lock %s: %w", f.lockPath(), err)
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	for {
		err := f.create(append(b, '\n'))
		if err == nil {
			id := info.ID
			fh, oerr := lockedfile.Open(f.lockPath())
			if oerr != nil {
				os.Remove(f.lockPath())
				return nil, fmt.Errorf("taking the state lock %s: %w", f.lockPath(), oerr)
			}
			f.mu.Lock()
			if f.held == nil {
				f.held = map[string]*lockedfile.File{}
			}
			f.held[id] = fh
			f.mu.Unlock()
			return func() error { return f.release(id) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("taking the state lock %s: %w", f.lockPath(), err)
		}
		held, rerr := f.holder()
		if errors.Is(rerr, fs.ErrNotExist) {
			continue // released between our attempt and the read
		}
		if rerr != nil {
			return nil, rerr
		}
		if _, has := ctx.Deadline(); !has {
			return nil, held
		}
		select {
		case <-ctx.Done():
			return nil, held
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// create writes the lock file exclusively with its full content.
func (f *FileStore) create(data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), atomicfile.TempPattern(filepath.Base(f.lockPath())))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	if cerr := tmp.Close(); werr != nil || serr != nil || cerr != nil {
		return errors.Join(werr, serr, cerr)
	}
	if err := os.Link(tmp.Name(), f.lockPath()); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) && errors.Is(le.Err, syscall.EEXIST) {
			return fs.ErrExist
		}
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		// File systems without hard links: fall back to O_EXCL.
		fh, oerr := os.OpenFile(f.lockPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if oerr != nil {
			return oerr
		}
		_, werr := fh.Write(data)
		if cerr := fh.Close(); werr != nil || cerr != nil {
			os.Remove(f.lockPath())
			return errors.Join(werr, cerr)
		}
	}
	return nil
}

// release removes the lock if it is still the one with id.
func (f *FileStore) release(id string) error {
	f.mu.Lock()
	if fh := f.held[id]; fh != nil {
		fh.Close()
		delete(f.held, id)
	}
	f.mu.Unlock()
	held, err := f.holder()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the state lock %s was removed while this b24perm held it (force-unlock?)", f.lockPath())
	}
	if err != nil {
		return err
	}
	if held.Info.ID != id {
		return fmt.Errorf("the state lock %s now belongs to %s (lock ID %s): it was force-unlocked while this b24perm held it; left in place", f.lockPath(), held.Info.Who, held.Info.ID)
	}
	return os.Remove(f.lockPath())
}

func (f *FileStore) holder() (*LockedError, error) {
	b, err := os.ReadFile(f.lockPath())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("the state is locked (%s) but the lock file cannot be read: %w", f.lockPath(), err)
	}
	var info LockInfo
	if err := json.Unmarshal(b, &info); err != nil || info.ID == "" {
		return nil, fmt.Errorf("the state is locked by %s, which is not a valid lock file; if no other b24perm is running, delete it", f.lockPath())
	}
	// Only a holder on this host is judged: OS locks are not reliable
	// across network file systems, so a remote holder counts as alive.
	host, _ := os.Hostname()
	dead := info.Host == host && !f.osLockHeld()
	return &LockedError{Info: info, Path: f.lockPath(), Dead: dead}, nil
}

// osLockHeld reports whether a live process holds the OS lock on the
// lock file. lockedfile has no try-lock, so the exclusive lock is asked
// for in a goroutine and the holder counts as alive if it is not granted
// within probeWait; a lock granted after that is released at once.
func (f *FileStore) osLockHeld() bool {
	got := make(chan *lockedfile.File, 1)
	go func() {
		fh, err := lockedfile.OpenFile(f.lockPath(), os.O_RDWR, 0)
		if err != nil {
			got <- nil
			return
		}
		got <- fh
	}()
	select {
	case fh := <-got:
		if fh == nil {
			return true // cannot be opened for locking: do not call it dead
		}
		fh.Close()
		return false
	case <-time.After(probeWait):
		go func() {
			if fh := <-got; fh != nil {
				fh.Close()
			}
		}()
		return true
	}
}

const probeWait = 150 * time.Millisecond

// ForceUnlock removes the lock if its ID matches (the holder, if still
// running, keeps its OS lock on the removed file and is told on unlock).
func (f *FileStore) ForceUnlock(id string) error {
	held, err := f.holder()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the state %s is not locked", f.Path)
		}
		return err
	}
	if held.Info.ID != id {
		return fmt.Errorf("lock ID mismatch: the state is locked with ID %s (by %s), not %s; nothing was unlocked", held.Info.ID, held.Info.Who, id)
	}
	return os.Remove(f.lockPath())
}

// Identity returns lock info for this process; user is the login name
// (the CLI reads it from the environment).
func Identity(operation, user, version string) LockInfo {
	host, _ := os.Hostname()
	if user == "" {
		user = "uid " + strconv.Itoa(os.Getuid())
	}
	return LockInfo{Operation: operation, Who: user + "@" + host, PID: os.Getpid(), Host: host, Version: version}
}
