package graph

import (
	"slices"
	"sync"
)

// A CRM role read from a snapshot keeps its cells packed (the snapshot's
// string indexes, read in place) until they are asked for: a question
// looks up one cell per role, and decoding the ~70,000 cells of an XL
// policy into CRMPerm values (5.7 MB of fresh memory, a page fault per
// 4 KB) was a sixth of a cached who-can. Perms is nil while the cells are
// packed; code that may be given a snapshot graph reads them through
// Cells, Level or EachScope, or calls DecodeCells first.

// cellTable is the packed cells of every role of a snapshot: 5 string
// indexes per cell (entity, pipeline, stage, action, level), le32 each,
// all checked against strings by ReadSnapshot.
type cellTable struct {
	raw     []byte
	strings []string
}

func (t *cellTable) field(cell, f int) string { return t.strings[le32(t.raw, 5*cell+f)] }

func (t *cellTable) cell(i int) CRMPerm {
	return CRMPerm{Entity: t.field(i, 0), Pipeline: t.field(i, 1), Stage: t.field(i, 2), Action: t.field(i, 3), Level: t.field(i, 4)}
}

// packedCells are one role's cells: cells [off, off+n) of t, sorted as
// CompareCRMPerm sorts them.
type packedCells struct {
	t      *cellTable
	off, n int
	once   sync.Once
	cells  []CRMPerm
}

func (p *packedCells) decode() []CRMPerm {
	p.once.Do(func() {
		p.cells = make([]CRMPerm, p.n)
		for i := range p.cells {
			p.cells[i] = p.t.cell(p.off + i)
		}
	})
	return p.cells
}

// find is Level's search of one cell key.
func (p *packedCells) find(k CellKey) (string, bool) {
	lo, hi := 0, p.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		c := p.off + m
		r := compareKey(p.t.field(c, 0), p.t.field(c, 1), p.t.field(c, 2), p.t.field(c, 3), k)
		switch {
		case r == 0:
			return p.t.field(c, 4), true
		case r < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return "", false
}

// compareKey is CompareCRMPerm of a cell (entity, pipeline, stage, action)
// and a key.
func compareKey(entity, pipeline, stage, action string, k CellKey) int {
	return CompareCRMPerm(CRMPerm{Entity: entity, Pipeline: pipeline, Stage: stage, Action: action},
		CRMPerm{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action})
}

// Cells returns r's cells: Perms, or the packed cells of a snapshot's
// role, decoded once.
func (r *CRMRole) Cells() []CRMPerm {
	if r.packed != nil {
		return r.packed.decode()
	}
	return r.Perms
}

// NumCells is len(r.Cells()), without decoding packed cells.
func (r *CRMRole) NumCells() int {
	if r.packed != nil {
		return r.packed.n
	}
	return len(r.Perms)
}

// EachScope calls f with the entity, pipeline and stage of r's cells,
// once per run of cells that share them (cells are sorted), without
// decoding packed cells.
func (r *CRMRole) EachScope(f func(entity, pipeline, stage string)) {
	if p := r.packed; p != nil {
		var pe, pp, ps uint32
		for i := range p.n {
			c := 5 * (p.off + i)
			e, pl, st := le32(p.t.raw, c), le32(p.t.raw, c+1), le32(p.t.raw, c+2)
			if i > 0 && e == pe && pl == pp && st == ps {
				continue
			}
			pe, pp, ps = e, pl, st
			f(p.t.strings[e], p.t.strings[pl], p.t.strings[st])
		}
		return
	}
	for i, c := range r.Perms {
		if i > 0 {
			if prev := &r.Perms[i-1]; c.Entity == prev.Entity && c.Pipeline == prev.Pipeline && c.Stage == prev.Stage {
				continue
			}
		}
		f(c.Entity, c.Pipeline, c.Stage)
	}
}

// DecodeCells gives every role of g read from a snapshot its Perms, for
// code that reads Perms directly.
func (g *Graph) DecodeCells() {
	for i := range g.CRMRoles {
		r := &g.CRMRoles[i]
		if r.packed != nil {
			r.Perms = r.packed.decode()
			r.packed = nil
		}
	}
}

// EachCellScope calls f with every (entity, pipeline, stage) that g's CRM
// cells name, at least once each and in no set order: NewNames needs the
// set. Packed cells are de-duplicated across roles by their string
// indexes (200 roles repeat the same few hundred scopes at XL).
func (g *Graph) EachCellScope(f func(entity, pipeline, stage string)) {
	type scope struct {
		t       *cellTable
		e, p, s uint32
	}
	seen := map[scope]bool{}
	for i := range g.CRMRoles {
		r := &g.CRMRoles[i]
		p := r.packed
		if p == nil {
			r.EachScope(f)
			continue
		}
		var prev scope
		for j := range p.n {
			c := 5 * (p.off + j)
			k := scope{p.t, le32(p.t.raw, c), le32(p.t.raw, c+1), le32(p.t.raw, c+2)}
			if j > 0 && k == prev {
				continue
			}
			prev = k
			if !seen[k] {
				seen[k] = true
				f(p.t.strings[k.e], p.t.strings[k.p], p.t.strings[k.s])
			}
		}
	}
}

// Equal reports whether r and o are the same role with the same cells,
// packed or not. (go-cmp, which the tests use, compares roles with it:
// it cannot look into the unexported packed cells.)
func (r CRMRole) Equal(o CRMRole) bool {
	return r.Key == o.Key && r.Name == o.Name && r.ID == o.ID && r.System == o.System &&
		slices.Equal(r.Assign, o.Assign) && (r.Assign == nil) == (o.Assign == nil) &&
		slices.Equal(r.Cells(), o.Cells()) && (r.Cells() == nil) == (o.Cells() == nil)
}
