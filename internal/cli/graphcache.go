package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/local"
)

// The graph cache lets who-can, explain and access answer a repeated
// question without compiling the policy and reading the portal again. An
// entry is a graph.WriteSnapshot of the compiled graph and the portal's
// directory under the digest of everything the answer depends on: this
// binary, the policy files' bytes and the local portal file's bytes. An
// entry is used only when that digest (its key) is the one of the
// question; a damaged entry is ignored and rewritten. Only local portals
// are cached (a remote read has no cheap fingerprint).
//
// The file an entry is in is named by a cheaper digest, in which the
// portal counts by its path, size and modification time: the entry is
// read (mapped, its checksum verified, decoded) while the portal file is
// hashed on the other core, and the keys are compared once both are done.
// The name only finds the entry; whether it may answer is decided by the
// full key alone, so a portal changed in any way (even one that keeps its
// size and time) never gives a stale answer.
//
// B24PERM_CACHE_DIR overrides the directory ("off" disables the cache);
// B24PERM_DEBUG=cache (or "all") reports hits and misses on stderr.

// graphCacheKeep is how many entries the cache keeps (newest first).
const graphCacheKeep = 8

type graphCache struct {
	dir   string
	name  string    // names the entry's file (see above)
	debug io.Writer // nil: silent
	// keyc delivers the full key once the portal is hashed ("" when it
	// cannot be read); fullKey keeps it.
	keyc chan string
	once sync.Once
	key  string
}

// fullKey is the digest of the binary, the policy and the portal's bytes
// (waiting for the portal's hash); "" when the portal could not be read.
func (gc *graphCache) fullKey() string {
	gc.once.Do(func() { gc.key = <-gc.keyc })
	return gc.key
}

// debugf reports on stderr when B24PERM_DEBUG asks for it.
func (gc *graphCache) debugf(format string, args ...any) {
	if gc.debug != nil {
		fmt.Fprintf(gc.debug, "cache: "+format+"\n", args...)
	}
}

// openGraphCache returns the cache for a question about the policy in
// policyDir ("" for a question about the live portal) against the local
// portal spec, or nil when the question cannot be cached.
func (c *Command) openGraphCache(spec, policyDir string, stderr io.Writer) *graphCache {
	var debug io.Writer
	if d := c.streams.Getenv("B24PERM_DEBUG"); d == "cache" || d == "all" || d == "1" {
		debug = stderr
	}
	gc := &graphCache{debug: debug, keyc: make(chan string, 1)}
	dir := c.streams.Getenv("B24PERM_CACHE_DIR")
	if dir == "off" {
		return nil
	}
	portal, ok := local.ParseSpec(spec)
	if !ok {
		gc.debugf("not used: the portal is not a local file")
		return nil
	}
	pst, err := os.Stat(portal)
	if err != nil {
		return nil // the read reports the problem
	}
	// The portal file (15 MB at XL) is hashed while the policy is read
	// and hashed and the entry is read.
	portalSum := make(chan []byte, 1)
	go func() {
		f, err := os.Open(portal)
		if err != nil {
			portalSum <- nil // the read reports the problem
			return
		}
		defer f.Close()
		ph := sha256.New()
		if _, err := io.Copy(ph, f); err != nil {
			portalSum <- nil
			return
		}
		portalSum <- ph.Sum(nil)
	}()
	h := sha256.New()
	fmt.Fprintf(h, "b24perm %s\x00", ToolVersion())
	// A development build keeps its version across rebuilds: the binary's
	// size and time tell one build from the next.
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00", exe, st.Size(), st.ModTime().UnixNano())
		}
	}
	if policyDir == "" {
		fmt.Fprint(h, "live\x00")
	} else {
		d, ok := compiler.SourceDigest(policyDir)
		if !ok {
			return nil // the compile reports the problem
		}
		fmt.Fprintf(h, "policy %s\x00", d)
	}
	// The name: the portal by path, size and time.
	nh := sha256.New()
	nh.Write(h.Sum(nil))
	absPortal, _ := filepath.Abs(portal)
	fmt.Fprintf(nh, "portal file %s\x00%d\x00%d\x00", absPortal, pst.Size(), pst.ModTime().UnixNano())
	// The key: the portal by its bytes.
	go func() {
		ps := <-portalSum
		if ps == nil {
			gc.keyc <- ""
			return
		}
		fmt.Fprintf(h, "portal %x\x00", ps)
		gc.keyc <- hex.EncodeToString(h.Sum(nil))
	}()
	if dir == "" {
		if ucd, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(ucd, "b24perm")
		}
	}
	if dir == "" || os.MkdirAll(dir, 0o700) != nil {
		dir = filepath.Join(".b24perm", "cache")
	}
	gc.dir, gc.name = dir, hex.EncodeToString(nh.Sum(nil))
	return gc
}

func (gc *graphCache) path() string { return filepath.Join(gc.dir, "graph-"+gc.name[:32]+".snap") }

// load returns the cached snapshot, or ok false. The entry is read under
// the key its header names while the portal is hashed; it is used only
// when that is the full key.
func (gc *graphCache) load() (s graph.Snapshot, ok bool) {
	b, err := readCacheEntry(gc.path())
	if err != nil {
		if gc.fullKey() == "" {
			return s, false // the read reports the problem
		}
		gc.debugf("miss (%s)", gc.path())
		return s, false
	}
	k, err := graph.SnapshotKey(b)
	if err == nil {
		// Everything the read allocates stays live: a collection during
		// it only costs time (a fifth of a cached question at XL).
		gcPercent := debug.SetGCPercent(-1)
		s, err = graph.ReadSnapshot(b, k)
		debug.SetGCPercent(gcPercent)
	}
	full := gc.fullKey()
	switch {
	case full == "":
		return graph.Snapshot{}, false // the read reports the problem
	case err == nil && k != full:
		err = graph.ErrSnapshotStale
	}
	if err != nil {
		gc.debugf("ignored %s: %v", gc.path(), err)
		return graph.Snapshot{}, false
	}
	gc.debugf("hit %s", gc.path())
	now := time.Now()
	os.Chtimes(gc.path(), now, now) // recently used entries survive pruning
	return s, true
}

// store writes the entry (temp file, then rename) and prunes old ones.
// Failures are reported only in debug mode: the cache is an optimization.
func (gc *graphCache) store(snap graph.Snapshot) {
	if err := os.MkdirAll(gc.dir, 0o700); err != nil {
		gc.debugf("not stored: %v", err)
		return
	}
	key := gc.fullKey()
	if key == "" {
		gc.debugf("not stored: the portal file could not be read")
		return
	}
	var buf bytes.Buffer
	if err := graph.WriteSnapshot(&buf, key, snap); err != nil {
		gc.debugf("not stored: %v", err)
		return
	}
	tmp, err := os.CreateTemp(gc.dir, ".graph-*.tmp")
	if err == nil {
		_, err = tmp.Write(buf.Bytes())
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), gc.path())
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		gc.debugf("not stored: %v", err)
		return
	}
	gc.debugf("stored %s", gc.path())
	gc.prune()
}

// prune keeps the graphCacheKeep most recently used entries.
func (gc *graphCache) prune() {
	ents, err := os.ReadDir(gc.dir)
	if err != nil {
		return
	}
	type ent struct {
		name string
		mod  int64
	}
	var all []ent
	for _, e := range ents {
		if n := e.Name(); len(n) > 11 && n[:6] == "graph-" && filepath.Ext(n) == ".snap" {
			if info, err := e.Info(); err == nil {
				all = append(all, ent{n, info.ModTime().UnixNano()})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].mod != all[j].mod {
			return all[i].mod > all[j].mod
		}
		return all[i].name < all[j].name
	})
	for i := graphCacheKeep; i < len(all); i++ {
		if err := os.Remove(filepath.Join(gc.dir, all[i].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			gc.debugf("prune: %v", err)
		}
	}
}
