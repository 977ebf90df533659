package access

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
	"unsafe"
)

// A cached question (the graph cache's snapshot) keeps, beside the graph
// and the directory, the CRM roles every user reaches and through which
// subject: what reach computes by walking each user's departments,
// groups, codes and workgroups. who-can asks it of every user of the
// portal, and at XL computing it again was about half of a cached
// question's work. The table is a pure function of the graph and the
// directory, computed by reach itself when the snapshot is written.

// ReachAttachment names the snapshot attachment that holds EncodeReach's
// bytes.
const ReachAttachment = "access.crm-reach/1"

// EncodeReach returns the CRM roles every directory user reaches with
// the subject through which (reach), for a snapshot of r's graph and
// directory; a resolver built on them answers from it (UseReach).
//
// Layout, little-endian: u32 users, u32 entries, u32 strings; per user
// (by ascending ID) i64 ID and u32 end of his entries; per entry u32
// role, subject, code and why (string indexes); per string u32 end in
// the string bytes; the string bytes.
func (r *Resolver) EncodeReach() []byte {
	users := make([]int, len(r.ix.Dir.Users))
	for i := range users {
		users[i] = i
	}
	dir := r.ix.Dir.Users
	slices.SortFunc(users, func(a, b int) int { return cmp.Compare(dir[a].ID, dir[b].ID) })
	users = slices.CompactFunc(users, func(a, b int) bool { return dir[a].ID == dir[b].ID })
	strIdx := map[string]uint32{}
	var strs []string
	str := func(s string) uint32 {
		i, ok := strIdx[s]
		if !ok {
			i = uint32(len(strs))
			strIdx[s] = i
			strs = append(strs, s)
		}
		return i
	}
	var ids, ends, entries []byte
	n := uint32(0)
	for _, i := range users {
		u := &dir[i]
		for _, v := range r.reach(u, kindCRM) {
			entries = binary.LittleEndian.AppendUint32(entries, uint32(v.role))
			for _, s := range []string{v.via.Subject, v.via.Code, v.via.Why} {
				entries = binary.LittleEndian.AppendUint32(entries, str(s))
			}
			n++
		}
		ids = binary.LittleEndian.AppendUint64(ids, uint64(u.ID))
		ends = binary.LittleEndian.AppendUint32(ends, n)
	}
	var b []byte
	for _, v := range []uint32{uint32(len(users)), n, uint32(len(strs))} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = append(append(append(b, ids...), ends...), entries...)
	end := uint32(0)
	for _, s := range strs {
		end += uint32(len(s))
		b = binary.LittleEndian.AppendUint32(b, end)
	}
	for _, s := range strs {
		b = append(b, s...)
	}
	return b
}

// reachTable is EncodeReach's bytes, checked whole and read in place.
type reachTable struct {
	n               int
	ids, ends, ents []byte
	strEnds         []byte
	strs            string
	// The last lookup's answer.
	lastID            int64
	last              []roleVia
	lastOK, lastValid bool
}

var errReachTable = errors.New("reach table does not fit the graph")

// UseReach makes r answer which CRM roles a user reaches from b
// (EncodeReach's bytes for r's graph and directory), which r keeps and
// reads in place: b must not be modified. An error (a table that does not
// fit) leaves r computing them.
func (r *Resolver) UseReach(b []byte) error {
	le := binary.LittleEndian
	if len(b) < 12 {
		return errReachTable
	}
	nu, ne, ns := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:])), uint64(le.Uint32(b[8:]))
	need := 12 + 12*nu + 16*ne + 4*ns
	if need > uint64(len(b)) {
		return errReachTable
	}
	t := &reachTable{n: int(nu)}
	p := b[12:]
	t.ids, p = p[:8*nu], p[8*nu:]
	t.ends, p = p[:4*nu], p[4*nu:]
	t.ents, p = p[:16*ne], p[16*ne:]
	t.strEnds, p = p[:4*ns], p[4*ns:]
	if len(p) > 0 {
		t.strs = unsafe.String(&p[0], len(p))
	}
	prevEnd, prevEnd32 := uint32(0), uint32(0)
	for i := range ns {
		e := le.Uint32(t.strEnds[4*i:])
		if e < prevEnd || uint64(e) > uint64(len(p)) {
			return errReachTable
		}
		prevEnd = e
	}
	if uint64(prevEnd) != uint64(len(p)) {
		return errReachTable
	}
	for i := range nu {
		e := le.Uint32(t.ends[4*i:])
		if e < prevEnd32 || uint64(e) > ne || (i > 0 && int64(le.Uint64(t.ids[8*i:])) <= int64(le.Uint64(t.ids[8*(i-1):]))) {
			return errReachTable
		}
		prevEnd32 = e
	}
	if uint64(prevEnd32) != ne {
		return errReachTable
	}
	roles := uint32(len(r.g.CRMRoles))
	for i := range ne {
		e := t.ents[16*i:]
		if le.Uint32(e) >= roles || uint64(le.Uint32(e[4:])) >= ns || uint64(le.Uint32(e[8:])) >= ns || uint64(le.Uint32(e[12:])) >= ns {
			return errReachTable
		}
	}
	r.crmReach = t
	return nil
}

func (t *reachTable) str(i uint32) string {
	start := uint32(0)
	if i > 0 {
		start = binary.LittleEndian.Uint32(t.strEnds[4*(i-1):])
	}
	return t.strs[start:binary.LittleEndian.Uint32(t.strEnds[4*i:])]
}

// lookup returns the CRM roles user id reaches, as reach does; ok false
// for a user the table does not have. The last answer is kept: who-can
// asks for each user twice in a row.
func (t *reachTable) lookup(id int64) (out []roleVia, ok bool) {
	if t.lastValid && t.lastID == id {
		return t.last, t.lastOK
	}
	le := binary.LittleEndian
	lo, hi := 0, t.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(le.Uint64(t.ids[8*m:])) < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	ok = lo < t.n && int64(le.Uint64(t.ids[8*lo:])) == id
	if ok {
		start := uint32(0)
		if lo > 0 {
			start = le.Uint32(t.ends[4*(lo-1):])
		}
		end := le.Uint32(t.ends[4*lo:])
		if end > start {
			out = make([]roleVia, 0, end-start)
		}
		for e := start; e < end; e++ {
			x := t.ents[16*e:]
			out = append(out, roleVia{role: int(le.Uint32(x)), via: Held{Subject: t.str(le.Uint32(x[4:])), Code: t.str(le.Uint32(x[8:])), Why: t.str(le.Uint32(x[12:]))}})
		}
	}
	t.lastID, t.last, t.lastOK, t.lastValid = id, out, ok, true
	return out, ok
}
