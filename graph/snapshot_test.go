package graph

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"
)

func snapshotGraph() *Graph {

	g := &Graph{FormatVersion: 1, CRMRoles: []CRMRole{{Key: "r", Name: "R", Assign: []string{"user:a@example.com"},
		Perms: []CRMPerm{{Entity: "deal", Pipeline: DefaultPipeline, Action: "read", Level: "all"}}}},
		Sources: map[string]Pos{"crm_role.r": {File: "p/crm.cue", Line: 3, Col: 2}}}
	return g
}

func TestSnapshotRoundTrip(t *testing.T) {
	g := snapshotGraph()
	dir := &Directory{Users: []User{{ID: 7, Email: "b@example.com"}}}
	var buf bytes.Buffer
	names := &Graph{Pipelines: []Pipeline{{Entity: "deal", Key: "p"}}}
	attach := map[string][]byte{"b": []byte("second"), "a": []byte("first\x00"), "empty": {}}
	if err := WriteSnapshot(&buf, "k1", Snapshot{Graph: g, Names: names, Directory: dir, Attachments: attach}); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	s2, err := ReadSnapshot(raw, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.Attachments) != len(attach) {
		t.Fatalf("attachments: %q, want %q", s2.Attachments, attach)
	}
	for n, b := range attach {
		if got, ok := s2.Attachments[n]; !ok || string(got) != string(b) {
			t.Fatalf("attachment %s: %q, want %q", n, got, b)
		}
	}
	g2, dir2 := s2.Graph, s2.Directory
	if p, ok := s2.Sources.Lookup("crm_role.r"); !ok || p != g.Sources["crm_role.r"] || s2.Sources.Len() != 1 || len(g2.Sources) != 0 {
		t.Fatalf("source looked up in the snapshot table: %v %v", p, ok)
	}
	g2.Sources = sourceMap(s2.Sources) // to compare
	g2.DecodeCells()
	if !reflect.DeepEqual(g, g2) || !reflect.DeepEqual(dir, dir2) || !reflect.DeepEqual(names, s2.Names) {
		t.Fatalf("round trip changed the graph:\n%+v\n%+v", g, g2)
	}
	if _, err := ReadSnapshot(raw, "k2"); !errors.Is(err, ErrSnapshotStale) {
		t.Errorf("other key: err = %v, want ErrSnapshotStale", err)
	}
	// Damage: a flipped byte in the body, a truncated body, garbage.
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-3] ^= 0x40
	for name, b := range map[string][]byte{"flipped": flipped, "truncated": raw[:len(raw)-5], "garbage": []byte("not a snapshot"), "empty": nil} {
		if _, err := ReadSnapshot(b, "k1"); err == nil || errors.Is(err, ErrSnapshotStale) {
			t.Errorf("%s: err = %v, want a damage error", name, err)
		}
	}
}

func TestSnapshotSharedDirectory(t *testing.T) {
	g := snapshotGraph()
	g.Directory = &Directory{Users: []User{{ID: 1, Email: "a@example.com"}}}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, "live", Snapshot{Graph: g, Directory: g.Directory}); err != nil {
		t.Fatal(err)
	}
	s2, err := ReadSnapshot(buf.Bytes(), "live")
	if err != nil {
		t.Fatal(err)
	}
	g2, dir2 := s2.Graph, s2.Directory
	g2.Sources = sourceMap(s2.Sources)
	g2.DecodeCells()
	if dir2 != g2.Directory || !reflect.DeepEqual(g, g2) {
		t.Error("the live graph's directory is not shared after the round trip")
	}
}

// sourceMap is a snapshot's source table as a Graph.Sources map.
func sourceMap(t *SourceTable) map[string]Pos {
	m := map[string]Pos{}
	t.Each(func(k string, p Pos) { m[k] = p })
	return m
}

// TestSnapshotBodyParts: a body whose checksum holds but whose part
// lengths do not fill it (a writer's bug, or a forged entry) is refused,
// not read out of bounds.
func TestSnapshotBodyParts(t *testing.T) {
	var buf bytes.Buffer
	dir := &Directory{Users: []User{{ID: 7, Email: "b@example.com", Name: "B", Departments: []int64{1}, Groups: []int64{2, 3}, Admin: true}}}
	if err := WriteSnapshot(&buf, "k", Snapshot{Graph: snapshotGraph(), Directory: dir}); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	nl := bytes.IndexByte(raw, '\n')
	for part := range 8 {
		for _, delta := range []int64{1, -1, 1 << 40, -(1 << 62)} {
			body := bytes.Clone(raw[nl+1:])
			n := binary.LittleEndian.Uint64(body[8*part:])
			binary.LittleEndian.PutUint64(body[8*part:], n+uint64(delta))
			var b bytes.Buffer
			fmt.Fprintf(&b, "%s k %08x %d\n", snapshotFormat, crc32.Checksum(body, castagnoli), len(body))
			b.Write(body)
			if _, err := ReadSnapshot(b.Bytes(), "k"); err == nil || errors.Is(err, ErrSnapshotStale) {
				t.Errorf("part %d length %+d: err = %v, want a damage error", part, delta, err)
			}
		}
	}
}

// TestSnapshotUserFields: the snapshot writes a user's fields one by one
// (appendUsers); a new field must be added there, or it would be lost in
// the graph cache unnoticed.
func TestSnapshotUserFields(t *testing.T) {
	var got []string
	for f := range reflect.TypeFor[User]().Fields() {
		got = append(got, f.Name)
	}
	want := []string{"ID", "Email", "Name", "Departments", "Groups", "Admin", "Inactive", "Extranet"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("User has fields %v; the snapshot knows %v: update appendUsers and splitSnapshotBody", got, want)
	}
	u := User{ID: -3, Email: "é@example.com", Name: "Ü", Departments: []int64{5}, Groups: []int64{1 << 40}, Admin: true, Inactive: true, Extranet: true}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, "k", Snapshot{Graph: &Graph{}, Directory: &Directory{Users: []User{u, {ID: 1}}}}); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSnapshot(buf.Bytes(), "k")
	if err != nil || !reflect.DeepEqual(s.Directory.Users, []User{u, {ID: 1}}) {
		t.Fatalf("users round trip: %v %+v", err, s.Directory)
	}
}

// TestReadSnapshotDamagedRawParts: a snapshot body that passes the
// checksum but whose parts' lengths and raw parts (cells, sources, users,
// attachments) are damaged at random is read or refused, never a panic,
// and what is read answers its questions without a panic. (The gob part
// is kept: gob may allocate a gigabyte for a forged length.)
func TestReadSnapshotDamagedRawParts(t *testing.T) {
	var buf bytes.Buffer
	g := snapshotGraph()
	g.Directory = &Directory{Users: []User{{ID: 1, Email: "a@example.com", Departments: []int64{3}, Groups: []int64{2}}}}
	if err := WriteSnapshot(&buf, "k", Snapshot{Graph: g, Directory: g.Directory, Attachments: map[string][]byte{"x": []byte("abc")}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	seed := b[bytes.IndexByte(b, '\n')+1:]
	gobLen := binary.LittleEndian.Uint64(seed)
	gobEnd := snapshotHead + int(gobLen)
	rnd := rand.New(rand.NewPCG(7, 11))
	read := 0
	for range 20000 {
		body := bytes.Clone(seed)
		for range 1 + rnd.IntN(4) {
			// Anywhere but the gob part and its length.
			i := 8 + rnd.IntN(len(body)-8)
			if i >= snapshotHead && i < gobEnd {
				i = gobEnd + rnd.IntN(len(body)-gobEnd)
			}
			switch rnd.IntN(4) {
			case 0, 1:
				body[i] = byte(rnd.IntN(256))
			case 2:
				if i >= gobEnd {
					body = append(body[:i:i], body[i+1:]...)
				}
			default:
				if i >= gobEnd {
					body = append(body[:i:i], append([]byte{byte(rnd.IntN(256))}, body[i:]...)...)
				}
			}
		}
		head := fmt.Sprintf("%s k %08x %d\n", snapshotFormat, crc32.Checksum(body, castagnoli), len(body))
		s, err := ReadSnapshot(append([]byte(head), body...), "k")
		if err != nil {
			continue
		}
		read++
		for i := range s.Graph.CRMRoles {
			r := &s.Graph.CRMRoles[i]
			r.Level(CellKey{Entity: "deal", Pipeline: "default", Stage: "s", Action: "read"})
			r.EachScope(func(string, string, string) {})
			if len(r.Cells()) != r.NumCells() {
				t.Fatal("Cells and NumCells disagree")
			}
		}
		s.Graph.EachCellScope(func(string, string, string) {})
		s.Sources.Lookup("crm_role.r")
		s.Sources.Each(func(string, Pos) {})
	}
	if read == 0 {
		t.Fatal("no damaged snapshot was read: the test checks nothing")
	}
}
