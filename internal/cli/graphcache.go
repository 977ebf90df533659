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
	"time"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/local"
)

// The graph cache lets who-can, explain and access answer a repeated
// question without compiling the policy and reading the portal again. An
// entry is a graph.WriteSnapshot of the compiled graph and the portal's
// directory, named by the digest of everything the answer depends on: this
// binary, the policy files' bytes and the local portal file's bytes. Any
// change gives another name; a damaged entry is ignored and rewritten.
// Only local portals are cached (a remote read has no cheap fingerprint).
//
// B24PERM_CACHE_DIR overrides the directory ("off" disables the cache);
// B24PERM_DEBUG=cache (or "all") reports hits and misses on stderr.

// graphCacheKeep is how many entries the cache keeps (newest first).
const graphCacheKeep = 8

type graphCache struct {
	dir   string
	key   string
	debug io.Writer // nil: silent
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
	gc := &graphCache{debug: debug}
	dir := c.streams.Getenv("B24PERM_CACHE_DIR")
	if dir == "off" {
		return nil
	}
	portal, ok := local.ParseSpec(spec)
	if !ok {
		gc.debugf("not used: the portal is not a local file")
		return nil
	}
	// The portal file (15 MB at XL) is hashed while the policy is read
	// and hashed: the key is ready in the longer of the two times, not
	// their sum.
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
	ps := <-portalSum
	if ps == nil {
		return nil
	}
	fmt.Fprintf(h, "portal %x\x00", ps)
	if dir == "" {
		if ucd, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(ucd, "b24perm")
		}
	}
	if dir == "" || os.MkdirAll(dir, 0o700) != nil {
		dir = filepath.Join(".b24perm", "cache")
	}
	gc.dir, gc.key = dir, hex.EncodeToString(h.Sum(nil))
	return gc
}

func (gc *graphCache) path() string { return filepath.Join(gc.dir, "graph-"+gc.key[:32]+".snap") }

// load returns the cached snapshot, or ok false.
func (gc *graphCache) load() (s graph.Snapshot, ok bool) {
	b, err := readCacheEntry(gc.path())
	if err != nil {
		gc.debugf("miss (%s)", gc.path())
		return s, false
	}
	// Everything the read allocates stays live: a collection during it
	// only costs time (a fifth of a cached question at XL).
	gcPercent := debug.SetGCPercent(-1)
	s, err = graph.ReadSnapshot(b, gc.key)
	debug.SetGCPercent(gcPercent)
	if err != nil {
		gc.debugf("ignored %s: %v", gc.path(), err)
		return s, false
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
	var buf bytes.Buffer
	if err := graph.WriteSnapshot(&buf, gc.key, snap); err != nil {
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
