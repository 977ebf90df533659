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
	// Sources, when ReadSnapshot sets it, holds Graph's declaration
	// positions (Graph.Sources is then nil): a table searched on demand,
	// because a question needs a few hundred of the ~70,000 an XL policy
	// has, and building the map cost more than the rest of the read.
	// WriteSnapshot writes them with Graph.Sources.
	Sources *SourceTable
}

// snapshot is the gob body of a snapshot file. The bulk of a large graph
// (CRM cells and the cell sources) is stored as indexes into one string
// table and one string of keys, so that reading it allocates a few large
// slices instead of a string per field: gob decodes that several times
// faster.
type snapshot struct {
	Names *Graph
	// Graph is the graph without its CRM roles' cells and its Sources.
	Graph     *Graph
	Directory *Directory
	// SharedDirectory: the directory is Graph.Directory (a live graph).
	SharedDirectory bool

	Strings []string
	// Cells holds, per CRM role, 5 string indexes per cell: entity,
	// pipeline, stage, action, level.
	Cells [][]uint32
	// SourceKeys are the Sources keys concatenated; SourceEnds the end of
	// each; SourceFile (string index), SourceLine and SourceCol its Pos.
	SourceKeys             string
	SourceEnds, SourceFile []uint32
	SourceLine, SourceCol  []int32
}

// strtab interns strings for a snapshot.
type strtab struct {
	idx  map[string]uint32
	list []string
}

func (t *strtab) id(s string) uint32 {
	if i, ok := t.idx[s]; ok {
		return i
	}
	i := uint32(len(t.list))
	t.idx[s] = i
	t.list = append(t.list, s)
	return i
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
	gs.CRMRoles = make([]CRMRole, len(g.CRMRoles))
	s := snapshot{Graph: &gs, Directory: dir, Names: snap.Names, Cells: make([][]uint32, len(g.CRMRoles))}
	t := &strtab{idx: map[string]uint32{}}
	for i, r := range g.CRMRoles {
		gs.CRMRoles[i] = r
		gs.CRMRoles[i].Perms = nil
		if len(r.Perms) == 0 {
			continue
		}
		ids := make([]uint32, 0, 5*len(r.Perms))
		for _, c := range r.Perms {
			ids = append(ids, t.id(c.Entity), t.id(c.Pipeline), t.id(c.Stage), t.id(c.Action), t.id(c.Level))
		}
		s.Cells[i] = ids
	}
	all := make(map[string]Pos, len(g.Sources)+snap.Sources.Len())
	snap.Sources.Each(func(k string, p Pos) { all[k] = p })
	for k, p := range g.Sources {
		all[k] = p
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sk strings.Builder
	for _, k := range keys {
		p := all[k]
		sk.WriteString(k)
		s.SourceEnds = append(s.SourceEnds, uint32(sk.Len()))
		s.SourceFile = append(s.SourceFile, t.id(p.File))
		s.SourceLine = append(s.SourceLine, int32(p.Line))
		s.SourceCol = append(s.SourceCol, int32(p.Col))
	}
	s.SourceKeys = sk.String()
	s.Strings = t.list
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
	g, names, dir, tab, err := readSnapshot(b, key)
	return Snapshot{Graph: g, Names: names, Directory: dir, Sources: tab}, err
}

func readSnapshot(b []byte, key string) (_, _ *Graph, _ *Directory, _ *SourceTable, _ error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, nil, nil, nil, errors.New("snapshot header: no end of line")
	}
	head := string(b[:nl+1])
	var format, k string
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(head, "%s %s %08x %d\n", &format, &k, &sum, &n); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("snapshot header: %w", err)
	}
	if format != snapshotFormat || k != key {
		return nil, nil, nil, nil, ErrSnapshotStale
	}
	body := b[nl+1:]
	if n != len(body) {
		return nil, nil, nil, nil, fmt.Errorf("snapshot body is %d bytes, the header says %d", len(body), n)
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, nil, nil, nil, errors.New("snapshot checksum mismatch")
	}
	var s snapshot
	var tab *SourceTable
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&s); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("snapshot body: %w", err)
	}
	if s.Graph == nil {
		return nil, nil, nil, nil, errors.New("snapshot holds no graph")
	}
	str := func(i uint32) (string, error) {
		if int(i) >= len(s.Strings) {
			return "", errors.New("snapshot string index out of range")
		}
		return s.Strings[i], nil
	}
	if len(s.Cells) != len(s.Graph.CRMRoles) {
		return nil, nil, nil, nil, errors.New("snapshot cells do not match its roles")
	}
	for i, ids := range s.Cells {
		if len(ids) == 0 {
			continue
		}
		if len(ids)%5 != 0 {
			return nil, nil, nil, nil, errors.New("snapshot cells are not whole")
		}
		perms := make([]CRMPerm, len(ids)/5)
		for j := range perms {
			var f [5]string
			for k := range f {
				v, err := str(ids[5*j+k])
				if err != nil {
					return nil, nil, nil, nil, err
				}
				f[k] = v
			}
			perms[j] = CRMPerm{Entity: f[0], Pipeline: f[1], Stage: f[2], Action: f[3], Level: f[4]}
		}
		s.Graph.CRMRoles[i].Perms = perms
	}
	ns := len(s.SourceEnds)
	if len(s.SourceFile) != ns || len(s.SourceLine) != ns || len(s.SourceCol) != ns {
		return nil, nil, nil, nil, errors.New("snapshot sources are not whole")
	}
	if s.SourceEnds != nil {
		// Checked whole here; kept as a sorted table that Graph.Source
		// searches (WriteSnapshot sorts the keys; a table out of order
		// goes to the map instead).
		sorted := true
		start, prev := uint32(0), ""
		for i, end := range s.SourceEnds {
			if end < start || int(end) > len(s.SourceKeys) {
				return nil, nil, nil, nil, errors.New("snapshot source keys out of range")
			}
			if _, err := str(s.SourceFile[i]); err != nil {
				return nil, nil, nil, nil, err
			}
			k := s.SourceKeys[start:end]
			if i > 0 && k <= prev {
				sorted = false
			}
			prev, start = k, end
		}
		t := &SourceTable{keys: s.SourceKeys, ends: s.SourceEnds, file: s.SourceFile, line: s.SourceLine, col: s.SourceCol, strings: s.Strings}
		if sorted {
			tab = t
		} else {
			s.Graph.Sources = make(map[string]Pos, ns)
			t.Each(func(k string, p Pos) { s.Graph.Sources[k] = p })
		}
	}
	dir := s.Directory
	if s.SharedDirectory {
		dir = s.Graph.Directory
	}
	return s.Graph, s.Names, dir, tab, nil
}

// SourceTable is the Sources of a snapshot: keys concatenated in sorted
// order, ends[i] the end of key i, its position in file (string index),
// line and col. readSnapshot checked every index. A nil table is empty.
type SourceTable struct {
	keys       string
	ends, file []uint32
	line, col  []int32
	strings    []string
}

func (t *SourceTable) key(i int) string {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.keys[start:t.ends[i]]
}

func (t *SourceTable) pos(i int) Pos {
	return Pos{File: t.strings[t.file[i]], Line: int(t.line[i]), Col: int(t.col[i])}
}

// Len is the number of positions.
func (t *SourceTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.ends)
}

// Lookup returns the position of key, as Graph.Source does.
func (t *SourceTable) Lookup(key string) (Pos, bool) {
	if t == nil {
		return Pos{}, false
	}
	i, ok := sort.Find(len(t.ends), func(i int) int { return strings.Compare(key, t.key(i)) })
	if !ok {
		return Pos{}, false
	}
	return t.pos(i), true
}

// Each calls f with every key and position, in key order.
func (t *SourceTable) Each(f func(string, Pos)) {
	for i := range t.Len() {
		f(t.key(i), t.pos(i))
	}
}
