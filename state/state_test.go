package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24perm/b24perm/graph"
	"github.com/rogpeppe/go-internal/lockedfile"
)

func TestSaveLoadAndSerial(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".b24perm", "state.json")
	s := NewFileStore(path)
	st, err := s.Load()
	if err != nil || st.Serial != 0 || st.Lineage == "" || len(st.Resources) != 0 {
		t.Fatalf("new state: %+v %v", st, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("Load of a missing state created a file")
	}
	st.Resources["crm_role.manager"] = Resource{ID: 7, Name: "Manager", Kind: "crm_role", Fingerprint: "abc"}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	st.Resources["crm_role.finance"] = Resource{ID: 8, Name: "Finance", Kind: "crm_role"}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 2 || got.Lineage != st.Lineage || got.FormatVersion != FormatVersion {
		t.Fatalf("reloaded header: %+v", got)
	}
	if got.Resources["crm_role.manager"] != (Resource{ID: 7, Name: "Manager", Kind: "crm_role", Fingerprint: "abc"}) {
		t.Fatalf("reloaded resource: %+v", got.Resources["crm_role.manager"])
	}
	// The backup holds exactly the previous version.
	backup, err := os.ReadFile(path + ".backup")
	if err != nil || string(backup) != string(first) {
		t.Errorf("backup is not the previous state: %v\n%s", err, backup)
	}
	if got := got.Addresses(); strings.Join(got, ",") != "crm_role.finance,crm_role.manager" {
		t.Errorf("addresses: %v", got)
	}
	if ids := got.IDs(); ids["crm_role.finance"] != 8 || ids["crm_role.manager"] != 7 || len(ids) != 2 {
		t.Errorf("IDs: %v", ids)
	}
	// No temp files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// The file is canonical: sorted keys, stable bytes for the same content.
func TestSaveIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, order []string) []byte {
		st := &State{Lineage: "l", Resources: map[string]Resource{}}
		for i, a := range order {
			st.Resources[a] = Resource{ID: int64(len(a) + i*0)}
		}
		p := filepath.Join(dir, name)
		if err := NewFileStore(p).Save(st); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		return b
	}
	a := write("a.json", []string{"z.b", "a.c", "m.d"})
	b := write("b.json", []string{"m.d", "z.b", "a.c"})
	if string(a) != string(b) {
		t.Fatalf("not deterministic:\n%s\n%s", a, b)
	}
	if strings.Index(string(a), "a.c") > strings.Index(string(a), "z.b") {
		t.Errorf("resources not sorted:\n%s", a)
	}
}

func TestCorruptAndNewerStateAreRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"truncated", `{"format_version": 1, "lineage": "x", "serial": 3, "resources": {`, "truncated"},
		{"newer", `{"format_version": 99, "lineage": "x", "serial": 3, "resources": {}}`, "format_version 99, newer than this b24perm supports"},
		{"garbage", "not json", "line 1, column 2"},
		{"badline", "{\n  \"format_version\": 1,\n  \"lineage\": \"x\",\n  \"serial\": \"three\"\n}", "line 4"},
		{"trailing", `{"format_version": 1, "lineage": "x", "serial": 3, "resources": {}} {"serial": 4}`, "unexpected data after the state object"},
		{"nolineage", `{"format_version": 1, "serial": 3, "resources": {}}`, "no lineage"},
		{"unknownfield", `{"format_version": 1, "lineage": "x", "serial": 3, "resourcez": {}}`, "resourcez"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json")
			os.WriteFile(path, []byte(tc.content), 0o644)
			_, err := NewFileStore(path).Load()
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not contain %q and the path", err, tc.want)
			}
			b, _ := os.ReadFile(path)
			if string(b) != tc.content {
				t.Error("file modified")
			}
		})
	}
}

// A failed write (unwritable location) leaves the previous state and its
// serial as they were.
func TestFailedWriteKeepsOldState(t *testing.T) {
	t.Run("below a file", func(t *testing.T) {
		dir := t.TempDir()
		// A state path below a regular file cannot be written, even as root.
		blocker := filepath.Join(dir, "file")
		os.WriteFile(blocker, []byte("x"), 0o644)
		s := NewFileStore(filepath.Join(blocker, "state.json"))
		st := New()
		err := s.Save(st)
		if err == nil {
			t.Fatal("save below a file succeeded")
		}
		if !strings.Contains(err.Error(), "the previous state is unchanged") {
			t.Errorf("error: %v", err)
		}
		if st.Serial != 0 {
			t.Errorf("serial moved on a failed save: %d", st.Serial)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// Root ignores directory permissions; "below a file" covers
			// the same failure path for root.
			t.Log("running as root: covered by the ENOTDIR case")
			return
		}
		dir := filepath.Join(t.TempDir(), "ro")
		s := NewFileStore(filepath.Join(dir, "state.json"))
		st := New()
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(s.Path)
		os.Chmod(dir, 0o555)
		defer os.Chmod(dir, 0o755)
		st.Resources["a.b"] = Resource{ID: 1}
		if err := s.Save(st); err == nil {
			t.Fatal("save into a read-only directory succeeded")
		}
		after, _ := os.ReadFile(s.Path)
		if string(before) != string(after) || st.Serial != 1 {
			t.Error("state changed on a failed save")
		}
	})
	t.Run("existing state survives", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		s := NewFileStore(path)
		st := New()
		st.Resources["crm_role.a"] = Resource{ID: 1}
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		// Make the backup location a directory: the write must fail
		// before the state file is replaced.
		os.Mkdir(path+".backup", 0o755)
		os.WriteFile(filepath.Join(path+".backup", "x"), []byte("x"), 0o644)
		st.Resources["crm_role.b"] = Resource{ID: 2}
		if err := s.Save(st); err == nil {
			t.Fatal("save succeeded")
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) || st.Serial != 1 {
			t.Errorf("state changed on a failed save (serial %d)", st.Serial)
		}
	})
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := NewFileStore(path)
	unlock, err := s.Lock(context.Background(), Identity("apply", "ivan", "test"))
	if err != nil {
		t.Fatal(err)
	}
	var info LockInfo
	b, _ := os.ReadFile(path + ".lock")
	if err := json.Unmarshal(b, &info); err != nil || info.Operation != "apply" || info.PID != os.Getpid() || !strings.HasPrefix(info.Who, "ivan@") || info.ID == "" || info.Created.IsZero() || info.Version != "test" {
		t.Fatalf("lock file: %v %s", err, b)
	}
	start := time.Now()
	_, err = s.Lock(context.Background(), Identity("plan", "olga", "test"))
	var le *LockedError
	if !errors.As(err, &le) || le.Dead || le.Info.ID != info.ID {
		t.Fatalf("second lock: %v", err)
	}
	for _, want := range []string{"the state is locked by apply (ivan@", fmt.Sprintf("pid %d", os.Getpid()), "lock ID " + info.ID, "Wait for it to finish"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %q", want, err)
		}
	}
	if time.Since(start) > time.Second {
		t.Error("a lock without a timeout must fail at once")
	}
	// With a deadline the second locker waits, then reports the holder.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := s.Lock(ctx, Identity("apply", "olga", "test")); !errors.As(err, &le) {
		t.Fatalf("lock taken twice: %v", err)
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Error("lock with a timeout did not wait")
	}
	if err := s.ForceUnlock("wrong-id"); err == nil || !strings.Contains(err.Error(), "lock ID mismatch") {
		t.Errorf("force-unlock with a wrong ID: %v", err)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatal("a wrong force-unlock removed the lock")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Fatal("unlock left the lock file")
	}
	if err := s.ForceUnlock(info.ID); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("force-unlock of an unlocked state: %v", err)
	}
	if u, err := s.Lock(context.Background(), Identity("apply", "olga", "test")); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	} else {
		u()
	}
}

// A waiting locker gets the lock as soon as the holder releases it.
func TestLockWaitsForRelease(t *testing.T) {
	s := NewFileStore(filepath.Join(t.TempDir(), "state.json"))
	unlock, err := s.Lock(context.Background(), Identity("apply", "ivan", "test"))
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(150*time.Millisecond, func() { unlock() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := s.Lock(ctx, Identity("apply", "olga", "test"))
	if err != nil {
		t.Fatalf("waiting lock: %v", err)
	}
	u()
}

// Exactly one of many concurrent lockers wins.
func TestLockIsExclusive(t *testing.T) {
	s := NewFileStore(filepath.Join(t.TempDir(), "state.json"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if u, err := s.Lock(context.Background(), Identity("apply", fmt.Sprint("u", i), "test")); err == nil {
				t.Cleanup(func() { u() })
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d lockers won", wins)
	}
}

// A lock force-unlocked and taken by someone else is not removed by the
// first holder's unlock.
func TestUnlockLeavesAnotherHoldersLock(t *testing.T) {
	s := NewFileStore(filepath.Join(t.TempDir(), "state.json"))
	unlock, err := s.Lock(context.Background(), LockInfo{ID: "first", Operation: "apply", Who: "a@h"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ForceUnlock("first"); err != nil {
		t.Fatal(err)
	}
	second, err := s.Lock(context.Background(), LockInfo{ID: "second", Operation: "apply", Who: "b@h"})
	if err != nil {
		t.Fatal(err)
	}
	defer second()
	if err := unlock(); err == nil || !strings.Contains(err.Error(), "force-unlocked") {
		t.Fatalf("stale unlock: %v", err)
	}
	if _, err := s.Lock(context.Background(), Identity("apply", "c", "test")); err == nil {
		t.Fatal("the second holder's lock was removed")
	}
}

func TestDeadHolderIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	host, _ := os.Hostname()
	os.WriteFile(path+".lock", []byte(`{"id":"abc","operation":"apply","who":"x","pid":999999,"host":"`+host+`"}`), 0o644)
	_, err := NewFileStore(path).Lock(context.Background(), Identity("apply", "y", "test"))
	var le *LockedError
	if !errors.As(err, &le) || !le.Dead || !strings.Contains(err.Error(), "no longer running") || !strings.Contains(err.Error(), "b24perm force-unlock abc") {
		t.Fatalf("dead holder: %v", err)
	}
	// On another host the PID cannot be checked: the holder counts as alive.
	os.WriteFile(path+".lock", []byte(`{"id":"abc","operation":"apply","who":"x","pid":999999,"host":"elsewhere"}`), 0o644)
	_, err = NewFileStore(path).Lock(context.Background(), Identity("apply", "y", "test"))
	if !errors.As(err, &le) || le.Dead {
		t.Fatalf("remote holder: %v", err)
	}
	if err := NewFileStore(path).ForceUnlock("abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Fatal("force-unlock left the lock")
	}
}

func TestInvalidLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path+".lock", []byte(`{`), 0o644)
	_, err := NewFileStore(path).Lock(context.Background(), Identity("apply", "y", "test"))
	if err == nil || !strings.Contains(err.Error(), "not a valid lock file") {
		t.Fatalf("invalid lock: %v", err)
	}
}

func TestCheckLineage(t *testing.T) {
	st := &State{Lineage: "aaa"}
	if err := CheckLineage("", st); err != nil {
		t.Errorf("empty saved lineage: %v", err)
	}
	if err := CheckLineage("aaa", st); err != nil {
		t.Errorf("same lineage: %v", err)
	}
	err := CheckLineage("bbb", st)
	var le *LineageError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "lineage bbb") || !strings.Contains(err.Error(), "lineage aaa") {
		t.Errorf("other lineage: %v", err)
	}
}

func bigState(n int) *State {
	st := New()
	for i := range n {
		a := fmt.Sprintf("workgroup.group_%05d", i)
		st.Resources[a] = Resource{ID: int64(i + 1), Name: fmt.Sprintf("Group %d", i), Kind: "workgroup", Fingerprint: "0123456789abcdef01234567"}
	}
	return st
}

// BenchmarkSave10k: one atomic state write with 10,000 managed objects
// (what a non-transactional apply does after every change).
func BenchmarkSave10k(b *testing.B) {
	s := NewFileStore(filepath.Join(b.TempDir(), "state.json"))
	st := bigState(10000)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Save(st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad10k(b *testing.B) {
	s := NewFileStore(filepath.Join(b.TempDir(), "state.json"))
	if err := s.Save(bigState(10000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLockUnlock(b *testing.B) {
	s := NewFileStore(filepath.Join(b.TempDir(), "state.json"))
	info := Identity("apply", "bench", "test")
	for b.Loop() {
		unlock, err := s.Lock(context.Background(), info)
		if err != nil {
			b.Fatal(err)
		}
		if err := unlock(); err != nil {
			b.Fatal(err)
		}
	}
}

// Encode matches encoding/json for every string, so the file is plain JSON.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	st := &State{FormatVersion: 1, Lineage: "l\"in", Serial: 42, ToolVersion: "v1", PolicyDigest: "sha256:x",
		Resources: map[string]Resource{
			"crm_role.b":       {ID: 2, Name: "Менеджер \"VIP\" \\ <&> \t\n\x01 \u2028 \xff", Kind: "crm_role", Fingerprint: "f"},
			"crm_role.a":       {ID: 1},
			"workgroup.😀":      {ID: 3, Name: "😀"},
			"telephony_role.x": {ID: -4, Name: "x", Kind: "telephony_role"},
		}}
	var viaEncode, viaJSON State
	if err := json.Unmarshal(st.Encode(), &viaEncode); err != nil {
		t.Fatalf("Encode is not JSON: %v\n%s", err, st.Encode())
	}
	b, _ := json.Marshal(st)
	json.Unmarshal(b, &viaJSON)
	if fmt.Sprintf("%+v", viaEncode) != fmt.Sprintf("%+v", viaJSON) {
		t.Fatalf("differs:\n%+v\n%+v", viaEncode, viaJSON)
	}
	empty := (&State{FormatVersion: 1, Lineage: "l", Resources: map[string]Resource{}}).Encode()
	if !json.Valid(empty) || !strings.Contains(string(empty), `"resources": {}`) {
		t.Fatalf("empty state: %s", empty)
	}
}

// FuzzEncode: any string content round-trips through Encode and Load.
func FuzzEncode(f *testing.F) {
	f.Add("crm_role.a", "Manager", "\x00\"\\\u2028\xff")
	f.Fuzz(func(t *testing.T, addr, name, fp string) {
		st := &State{FormatVersion: 1, Lineage: "l", Resources: map[string]Resource{addr: {ID: 1, Name: name, Fingerprint: fp}}}
		var got State
		if err := json.Unmarshal(st.Encode(), &got); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		want, _ := json.Marshal(st)
		var exp State
		json.Unmarshal(want, &exp)
		if !reflect.DeepEqual(got.Resources, exp.Resources) {
			t.Fatalf("round trip: %+v vs %+v", got.Resources, exp.Resources)
		}
	})
}

// Liveness is the OS lock (lockedfile), not the PID: a lock file naming
// this very (running) process but held by nobody is a dead holder's, and
// one whose OS lock is held counts as alive whatever PID it names.
func TestLivenessIsTheOSLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	host, _ := os.Hostname()
	pid := strconv.Itoa(os.Getpid())
	os.WriteFile(path+".lock", []byte(`{"id":"abc","operation":"apply","who":"x","pid":`+pid+`,"host":"`+host+`"}`), 0o644)
	_, err := NewFileStore(path).Lock(context.Background(), Identity("apply", "y", "test"))
	var le *LockedError
	if !errors.As(err, &le) || !le.Dead {
		t.Fatalf("unheld lock naming a live PID: %v", err)
	}
	os.WriteFile(path+".lock", []byte(`{"id":"abc","operation":"apply","who":"x","pid":999999,"host":"`+host+`"}`), 0o644)
	fh, err := lockedfile.Open(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewFileStore(path).Lock(context.Background(), Identity("apply", "y", "test"))
	if !errors.As(err, &le) || le.Dead {
		t.Fatalf("OS-locked lock naming a dead PID: %v", err)
	}
	fh.Close()
}

// The record of an object the backend cannot read keeps when it was
// applied or confirmed and its content, and Encode writes them as
// encoding/json reads them back.
func TestEncodeBaselineRecord(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 4, 5, 0, time.UTC)
	role := &graph.CRMRole{Key: "manager", Name: "Manager", Assign: []string{"department_tree:Company/Sales"},
		Perms: []graph.CRMPerm{{Entity: "deal", Pipeline: "default", Action: "read", Level: "department"}}}
	st := &State{FormatVersion: 1, Lineage: "l", Serial: 1, Resources: map[string]Resource{
		"crm_role.manager": {Name: "Manager", Kind: "crm_role", Fingerprint: "f", At: at, Confirmed: true, Content: &graph.Resource{CRMRole: role}},
		"workgroup.board":  {ID: 3, At: at},
	}}
	var viaEncode, viaJSON State
	if err := json.Unmarshal(st.Encode(), &viaEncode); err != nil {
		t.Fatalf("Encode is not JSON: %v\n%s", err, st.Encode())
	}
	b, _ := json.Marshal(st)
	if err := json.Unmarshal(b, &viaJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(viaEncode, viaJSON) {
		t.Fatalf("differs:\n%s\n%s", st.Encode(), b)
	}
	got := viaEncode.Resources["crm_role.manager"]
	if !got.At.Equal(at) || !got.Confirmed || got.Content == nil || got.Content.CRMRole.Perms[0].Level != "department" {
		t.Fatalf("record lost its baseline: %+v", got)
	}
	if !strings.Contains(string(st.Encode()), `"workgroup.board": {"id": 3, "at": "2026-12-02T10:04:05Z"}`) {
		t.Fatalf("at not written: %s", st.Encode())
	}
}
