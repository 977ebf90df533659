package graph

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
)

// snapshotFormat opens every snapshot; a new encoding gets a new number,
// and readers ignore snapshots of another one.
const snapshotFormat = "b24perm-graph-snapshot/1"

// Snapshot is what a snapshot file holds: a graph to evaluate, an optional
// second graph that only contributes names (the live portal's pipelines,
// stages, fields … that a question may mention), and the directory that
// resolves users.
type Snapshot struct {
	Graph     *Graph
	Names     *Graph
	Directory *Directory
}

// snapshot is the gob body of a snapshot file.
type snapshot struct {
	Names *Graph
	// Sources are Graph.Sources as a sorted list: gob decodes a list of
	// structs faster than a map, and the map is rebuilt at its full size.
	Sources   []sourceEntry
	Graph     *Graph
	Directory *Directory
	// SharedDirectory: the directory is Graph.Directory (a live graph).
	SharedDirectory bool
}

type sourceEntry struct {
	Key string
	Pos Pos
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes a compiled graph (with its Sources) and the
// directory that resolves its users, for ReadSnapshot to load without
// compiling again. key names what the snapshot was built from (the caller's
// digest of the policy and the portal); the body carries a checksum so that
// a damaged snapshot is refused rather than half-read.
func WriteSnapshot(w io.Writer, key string, snap Snapshot) error {
	g, dir := snap.Graph, snap.Directory
	if strings.ContainsAny(key, " \n") {
		return fmt.Errorf("snapshot key %q holds a space or a newline", key)
	}
	gs := *g
	gs.Sources = nil
	s := snapshot{Graph: &gs, Directory: dir, Names: snap.Names}
	for k, p := range g.Sources {
		s.Sources = append(s.Sources, sourceEntry{k, p})
	}
	sort.Slice(s.Sources, func(i, j int) bool { return s.Sources[i].Key < s.Sources[j].Key })
	if dir != nil && dir == g.Directory {
		s.Directory, s.SharedDirectory = nil, true
	}
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(&s); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s %s %08x %d\n", snapshotFormat, key, crc32.Checksum(body.Bytes(), castagnoli), body.Len()); err != nil {
		return err
	}
	_, err := w.Write(body.Bytes())
	return err
}

// ErrSnapshotStale is returned by ReadSnapshot for a snapshot of another
// key or format: not damaged, just not the one asked for.
var ErrSnapshotStale = errors.New("snapshot of another policy, portal or format")

// ReadSnapshot reads a snapshot written by WriteSnapshot with the same key.
// A snapshot of another key or format gives ErrSnapshotStale; a damaged one
// (truncated, checksum mismatch, undecodable) another error. Either way the
// caller compiles afresh.
func ReadSnapshot(b []byte, key string) (Snapshot, error) {
	g, names, dir, err := readSnapshot(b, key)
	return Snapshot{Graph: g, Names: names, Directory: dir}, err
}

func readSnapshot(b []byte, key string) (_, _ *Graph, _ *Directory, _ error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, nil, nil, errors.New("snapshot header: no end of line")
	}
	head := string(b[:nl+1])
	var format, k string
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(head, "%s %s %08x %d\n", &format, &k, &sum, &n); err != nil {
		return nil, nil, nil, fmt.Errorf("snapshot header: %w", err)
	}
	if format != snapshotFormat || k != key {
		return nil, nil, nil, ErrSnapshotStale
	}
	body := b[nl+1:]
	if n != len(body) {
		return nil, nil, nil, fmt.Errorf("snapshot body is %d bytes, the header says %d", len(body), n)
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, nil, nil, errors.New("snapshot checksum mismatch")
	}
	var s snapshot
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&s); err != nil {
		return nil, nil, nil, fmt.Errorf("snapshot body: %w", err)
	}
	if s.Graph == nil {
		return nil, nil, nil, errors.New("snapshot holds no graph")
	}
	if s.Sources != nil {
		s.Graph.Sources = make(map[string]Pos, len(s.Sources))
		for _, e := range s.Sources {
			s.Graph.Sources[e.Key] = e.Pos
		}
	}
	dir := s.Directory
	if s.SharedDirectory {
		dir = s.Graph.Directory
	}
	return s.Graph, s.Names, dir, nil
}
