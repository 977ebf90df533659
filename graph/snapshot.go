package graph

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"unsafe"
)

// snapshotFormat opens every snapshot; a new encoding gets a new number,
// and readers ignore snapshots of another one.
const snapshotFormat = "b24perm-graph-snapshot/5"

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
	// Attachments are bytes a caller keeps with the graph, by name
	// (access keeps the roles every user reaches); ReadSnapshot's are
	// read in place and must not be modified.
	Attachments map[string][]byte
}

// snapshot is the gob part of a snapshot file's body. The bulk of a large
// graph (CRM cells and the cell sources) is not in it: it follows the gob
// part as flat little-endian arrays (snapshotRaw), indexes into one string
// table and one string of keys, so that reading a snapshot allocates a few
// large slices and copies nothing twice (gob copies every message into a
// buffer of its own, and every string once more).
type snapshot struct {
	Names *Graph
	// Graph is the graph without its CRM roles' cells and its Sources.
	Graph     *Graph
	Directory *Directory
	// SharedDirectory: the directory is Graph.Directory (a live graph).
	SharedDirectory bool
	// HasDirectory: the snapshot has a directory (its users are in the raw
	// part, and gob leaves out a directory that has nothing else).
	HasDirectory bool

	Strings []string
	// CellCounts holds, per CRM role, how many cells it has in the raw
	// part's Cells.
	CellCounts []uint32
	// AttachmentNames and AttachmentLens name the attachments in the raw
	// part's Attachments, in order, and give their lengths.
	AttachmentNames []string
	AttachmentLens  []uint64
}

// snapshotRaw is the raw part of a snapshot body, after the gob part:
//
//	u64 len(gob part) · u64 len(Cells) · u64 len(SourceEnds) · u64 len(SourceKeys)
//	u64 users · u64 len(UserDepts) · u64 len(UserGroups) · u64 len(UserStrings)
//	u64 len(Attachments)
//	gob part
//	Cells: 5 string indexes per cell (entity, pipeline, stage, action,
//	       level), role after role (u32 each)
//	SourceEnds, SourceFile (u32), SourceLine, SourceCol (i32): per source key
//	the directory's users, column by column: ID (i64), number of
//	       departments, number of groups (u32), end of the e-mail and end
//	       of the name in UserStrings (u32 each), flags (u8: 1 admin,
//	       2 inactive, 4 extranet)
//	UserDepts, UserGroups (i64): the users' departments and groups
//	UserStrings: the users' e-mails and names concatenated
//	Attachments: the attachments concatenated (their names and lengths
//	       are in the gob part)
//	SourceKeys: the Sources keys concatenated in sorted order
//
// all little-endian. SourceEnds[i] is the end of key i in SourceKeys;
// SourceFile a string index.
type snapshotRaw struct {
	// Cells, SourceEnds, SourceFile, SourceLine and SourceCol are read in
	// place: 4 little-endian bytes per value (le32).
	Cells                  []byte
	SourceKeys             string
	SourceEnds, SourceFile []byte
	SourceLine, SourceCol  []byte
	// Users is the directory's users (read with strings in place).
	Users []User
	// Attachments is the attachments concatenated.
	Attachments []byte
}

// snapshotHead is the length of a body's head: the lengths of its parts
// (snapshotRaw).
const snapshotHead = 9 * 8

// le32 is value i of a little-endian array of 4-byte values.
func le32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }

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
	s := snapshot{Graph: &gs, Directory: dir, Names: snap.Names, CellCounts: make([]uint32, len(g.CRMRoles))}
	var cells, ends, files []uint32
	var lines, cols []int32
	t := &strtab{idx: map[string]uint32{}}
	for i, r := range g.CRMRoles {
		gs.CRMRoles[i] = r
		gs.CRMRoles[i].Perms, gs.CRMRoles[i].packed = nil, nil
		perms := r.Cells()
		s.CellCounts[i] = uint32(len(perms))
		for _, c := range perms {
			cells = append(cells, t.id(c.Entity), t.id(c.Pipeline), t.id(c.Stage), t.id(c.Action), t.id(c.Level))
		}
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
		ends = append(ends, uint32(sk.Len()))
		files = append(files, t.id(p.File))
		lines = append(lines, int32(p.Line))
		cols = append(cols, int32(p.Col))
	}
	s.Strings = t.list
	var attach []byte
	names := make([]string, 0, len(snap.Attachments))
	for n := range snap.Attachments {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.AttachmentNames = append(s.AttachmentNames, n)
		s.AttachmentLens = append(s.AttachmentLens, uint64(len(snap.Attachments[n])))
		attach = append(attach, snap.Attachments[n]...)
	}
	var users []User
	if dir != nil {
		d := *dir
		users, d.Users = dir.Users, nil
		s.HasDirectory = true
		if dir == g.Directory {
			gs.Directory, s.Directory, s.SharedDirectory = &d, nil, true
		} else {
			s.Directory = &d
		}
	}
	var gb bytes.Buffer
	if err := gob.NewEncoder(&gb).Encode(&s); err != nil {
		return err
	}
	ns := len(ends)
	var nd, ng, ls int
	for i := range users {
		nd, ng, ls = nd+len(users[i].Departments), ng+len(users[i].Groups), ls+len(users[i].Email)+len(users[i].Name)
	}
	body := make([]byte, 0, snapshotHead+gb.Len()+4*len(cells)+16*ns+25*len(users)+8*(nd+ng)+ls+len(attach)+sk.Len())
	for _, n := range []int{gb.Len(), len(cells), ns, sk.Len(), len(users), nd, ng, ls, len(attach)} {
		body = binary.LittleEndian.AppendUint64(body, uint64(n))
	}
	body = append(body, gb.Bytes()...)
	for _, a := range [][]uint32{cells, ends, files} {
		for _, v := range a {
			body = binary.LittleEndian.AppendUint32(body, v)
		}
	}
	for _, a := range [][]int32{lines, cols} {
		for _, v := range a {
			body = binary.LittleEndian.AppendUint32(body, uint32(v))
		}
	}
	body = appendUsers(body, users)
	body = append(body, attach...)
	body = append(body, sk.String()...)
	if _, err := fmt.Fprintf(w, "%s %s %08x %d\n", snapshotFormat, key, crc32.Checksum(body, castagnoli), len(body)); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// SnapshotKey returns the key in a snapshot's header (what WriteSnapshot
// was given), without reading the rest: a caller that learns the key it
// expects only later can read the snapshot with it (ReadSnapshot) and
// compare the keys then.
func SnapshotKey(b []byte) (string, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return "", errors.New("snapshot header: no end of line")
	}
	var format, k string
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(string(b[:nl+1]), "%s %s %08x %d\n", &format, &k, &sum, &n); err != nil {
		return "", fmt.Errorf("snapshot header: %w", err)
	}
	if format != snapshotFormat {
		return "", ErrSnapshotStale
	}
	return k, nil
}

// ErrSnapshotStale is returned by ReadSnapshot for a snapshot of another
// key or format: not damaged, just not the one asked for.
var ErrSnapshotStale = errors.New("snapshot of another policy, portal or format")

// ReadSnapshot reads a snapshot written by WriteSnapshot with the same key.
// A snapshot of another key or format gives ErrSnapshotStale; a damaged one
// (truncated, checksum mismatch, undecodable) another error. Either way the
// caller compiles afresh. The snapshot keeps b (its source keys are read
// in place): the caller must not modify b afterwards.
func ReadSnapshot(b []byte, key string) (Snapshot, error) {
	g, names, dir, tab, attach, err := readSnapshot(b, key)
	return Snapshot{Graph: g, Names: names, Directory: dir, Sources: tab, Attachments: attach}, err
}

func readSnapshot(b []byte, key string) (_, _ *Graph, _ *Directory, _ *SourceTable, _ map[string][]byte, err error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, nil, nil, nil, nil, errors.New("snapshot header: no end of line")
	}
	head := string(b[:nl+1])
	var format, k string
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(head, "%s %s %08x %d\n", &format, &k, &sum, &n); err != nil {
		return nil, nil, nil, nil, nil, fmt.Errorf("snapshot header: %w", err)
	}
	if format != snapshotFormat || k != key {
		return nil, nil, nil, nil, nil, ErrSnapshotStale
	}
	body := b[nl+1:]
	if n != len(body) {
		return nil, nil, nil, nil, nil, fmt.Errorf("snapshot body is %d bytes, the header says %d", len(body), n)
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, nil, nil, nil, nil, errors.New("snapshot checksum mismatch")
	}
	var s snapshot
	var tab *SourceTable
	raw, gobPart, err := splitSnapshotBody(body)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	if err := gob.NewDecoder(bytes.NewReader(gobPart)).Decode(&s); err != nil {
		return nil, nil, nil, nil, nil, fmt.Errorf("snapshot body: %w", err)
	}
	if s.Graph == nil {
		return nil, nil, nil, nil, nil, errors.New("snapshot holds no graph")
	}
	str := func(i uint32) (string, error) {
		if int(i) >= len(s.Strings) {
			return "", errors.New("snapshot string index out of range")
		}
		return s.Strings[i], nil
	}
	if len(s.CellCounts) != len(s.Graph.CRMRoles) {
		return nil, nil, nil, nil, nil, errors.New("snapshot cells do not match its roles")
	}
	total := 0
	for _, n := range s.CellCounts {
		total += int(n)
	}
	if 5*4*total != len(raw.Cells) {
		return nil, nil, nil, nil, nil, errors.New("snapshot cells are not whole")
	}
	// The cells stay packed (see packedCells), checked here whole.
	nstr := uint32(len(s.Strings))
	for i := range 5 * total {
		if le32(raw.Cells, i) >= nstr {
			return nil, nil, nil, nil, nil, errors.New("snapshot string index out of range")
		}
	}
	cells := &cellTable{raw: raw.Cells, strings: s.Strings}
	off := 0
	for i, n := range s.CellCounts {
		if n == 0 {
			continue
		}
		r := &s.Graph.CRMRoles[i]
		r.packed = &packedCells{t: cells, off: off, n: int(n)}
		off += int(n)
	}
	ns := len(raw.SourceEnds) / 4
	if ns > 0 {
		// Checked whole here; kept as a sorted table that Graph.Source
		// searches (WriteSnapshot sorts the keys; a table out of order
		// goes to the map instead).
		sorted := true
		start, prev := uint32(0), ""
		for i := range ns {
			end := le32(raw.SourceEnds, i)
			if end < start || int(end) > len(raw.SourceKeys) {
				return nil, nil, nil, nil, nil, errors.New("snapshot source keys out of range")
			}
			if _, err := str(le32(raw.SourceFile, i)); err != nil {
				return nil, nil, nil, nil, nil, err
			}
			k := raw.SourceKeys[start:end]
			if i > 0 && k <= prev {
				sorted = false
			}
			prev, start = k, end
		}
		t := &SourceTable{keys: raw.SourceKeys, ends: raw.SourceEnds, file: raw.SourceFile, line: raw.SourceLine, col: raw.SourceCol, strings: s.Strings}
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
	if s.HasDirectory {
		if dir == nil {
			dir = &Directory{}
			if s.SharedDirectory {
				s.Graph.Directory = dir
			}
		}
		dir.Users = raw.Users
	} else if len(raw.Users) > 0 {
		return nil, nil, nil, nil, nil, errors.New("snapshot users without a directory")
	}
	var attach map[string][]byte
	if len(s.AttachmentNames) != len(s.AttachmentLens) {
		return nil, nil, nil, nil, nil, errors.New("snapshot attachments do not match their lengths")
	}
	rest := raw.Attachments
	for i, n := range s.AttachmentNames {
		l := s.AttachmentLens[i]
		if l > uint64(len(rest)) {
			return nil, nil, nil, nil, nil, errors.New("snapshot attachments are not whole")
		}
		if attach == nil {
			attach = map[string][]byte{}
		}
		attach[n], rest = rest[:l:l], rest[l:]
	}
	if len(rest) > 0 {
		return nil, nil, nil, nil, nil, errors.New("snapshot attachments are not whole")
	}
	return s.Graph, s.Names, dir, tab, attach, nil
}

// splitSnapshotBody splits a (checksummed) body into its gob part and its
// raw part (see snapshotRaw). Nothing is copied: the raw arrays and the
// source keys stay in body, which the caller no longer modifies.
func splitSnapshotBody(body []byte) (raw snapshotRaw, gobPart []byte, err error) {
	const head = snapshotHead
	if len(body) < head {
		return raw, nil, errors.New("snapshot body: too short")
	}
	var n [head / 8]uint64
	rest := uint64(len(body) - head)
	for i := range n {
		n[i] = binary.LittleEndian.Uint64(body[8*i:])
		if n[i] > rest {
			return raw, nil, errors.New("snapshot body: a part is longer than the body")
		}
	}
	nu, nd, ng, ls, la := n[4], n[5], n[6], n[7], n[8]
	if n[0]+4*n[1]+16*n[2]+n[3]+25*nu+8*(nd+ng)+ls+la != rest {
		return raw, nil, errors.New("snapshot body: the parts do not fill the body")
	}
	p := body[head:]
	cut := func(k uint64) []byte {
		out := p[:k:k]
		p = p[k:]
		return out
	}
	gobPart = cut(n[0])
	raw.Cells = cut(4 * n[1])
	raw.SourceEnds, raw.SourceFile = cut(4*n[2]), cut(4*n[2])
	raw.SourceLine, raw.SourceCol = cut(4*n[2]), cut(4*n[2])
	ids, deptN, groupN, strEnds, flags := cut(8*nu), cut(4*nu), cut(4*nu), cut(8*nu), cut(nu)
	depts, groups, strs := cut(8*nd), cut(8*ng), cut(ls)
	raw.Attachments = cut(la)
	if len(p) > 0 {
		raw.SourceKeys = unsafe.String(&p[0], len(p))
	}
	if nu == 0 {
		return raw, gobPart, nil
	}
	str := ""
	if ls > 0 {
		str = unsafe.String(&strs[0], len(strs))
	}
	// One allocation each for the users and their departments and groups.
	raw.Users = make([]User, nu)
	ints := make([]int64, nd+ng)
	for i := range nd {
		ints[i] = int64(binary.LittleEndian.Uint64(depts[8*i:]))
	}
	for i := range ng {
		ints[nd+i] = int64(binary.LittleEndian.Uint64(groups[8*i:]))
	}
	ud, ug := ints[:nd:nd], ints[nd:]
	start := uint32(0)
	for i := range raw.Users {
		u := &raw.Users[i]
		u.ID = int64(binary.LittleEndian.Uint64(ids[8*i:]))
		emailEnd, nameEnd := le32(strEnds, 2*i), le32(strEnds, 2*i+1)
		if emailEnd < start || nameEnd < emailEnd || uint64(nameEnd) > ls {
			return raw, nil, errors.New("snapshot body: user strings out of range")
		}
		u.Email, u.Name, start = str[start:emailEnd], str[emailEnd:nameEnd], nameEnd
		f := flags[i]
		if f&^7 != 0 {
			return raw, nil, errors.New("snapshot body: unknown user flags")
		}
		u.Admin, u.Inactive, u.Extranet = f&1 != 0, f&2 != 0, f&4 != 0
		dn, gn := uint64(le32(deptN, i)), uint64(le32(groupN, i))
		if dn > uint64(len(ud)) || gn > uint64(len(ug)) {
			return raw, nil, errors.New("snapshot body: user departments or groups out of range")
		}
		if dn > 0 {
			u.Departments, ud = ud[:dn:dn], ud[dn:]
		}
		if gn > 0 {
			u.Groups, ug = ug[:gn:gn], ug[gn:]
		}
	}
	if len(ud) > 0 || len(ug) > 0 || uint64(start) != ls {
		return raw, nil, errors.New("snapshot body: user parts left over")
	}
	return raw, gobPart, nil
}

// appendUsers appends the users part of a snapshot body (snapshotRaw).
func appendUsers(b []byte, users []User) []byte {
	for i := range users {
		b = binary.LittleEndian.AppendUint64(b, uint64(users[i].ID))
	}
	for i := range users {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(users[i].Departments)))
	}
	for i := range users {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(users[i].Groups)))
	}
	end := 0
	for i := range users {
		end += len(users[i].Email)
		b = binary.LittleEndian.AppendUint32(b, uint32(end))
		end += len(users[i].Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(end))
	}
	for i := range users {
		var f byte
		if users[i].Admin {
			f |= 1
		}
		if users[i].Inactive {
			f |= 2
		}
		if users[i].Extranet {
			f |= 4
		}
		b = append(b, f)
	}
	for i := range users {
		for _, d := range users[i].Departments {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
	}
	for i := range users {
		for _, g := range users[i].Groups {
			b = binary.LittleEndian.AppendUint64(b, uint64(g))
		}
	}
	for i := range users {
		b = append(b, users[i].Email...)
		b = append(b, users[i].Name...)
	}
	return b
}

// SourceTable is the Sources of a snapshot: keys concatenated in sorted
// order, ends[i] the end of key i, its position in file (string index),
// line and col. readSnapshot checked every index. A nil table is empty.
type SourceTable struct {
	keys string
	// ends, file, line and col are le32 arrays (snapshotRaw).
	ends, file []byte
	line, col  []byte
	strings    []string
}

func (t *SourceTable) key(i int) string {
	start := uint32(0)
	if i > 0 {
		start = le32(t.ends, i-1)
	}
	return t.keys[start:le32(t.ends, i)]
}

func (t *SourceTable) pos(i int) Pos {
	return Pos{File: t.strings[le32(t.file, i)], Line: int(int32(le32(t.line, i))), Col: int(int32(le32(t.col, i)))}
}

// Len is the number of positions.
func (t *SourceTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.ends) / 4
}

// Lookup returns the position of key, as Graph.Source does.
func (t *SourceTable) Lookup(key string) (Pos, bool) {
	if t == nil {
		return Pos{}, false
	}
	i, ok := sort.Find(t.Len(), func(i int) int { return strings.Compare(key, t.key(i)) })
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
