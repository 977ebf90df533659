package compiler

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
	"github.com/b24perm/b24perm/diag"
)

// srcIndex maps dotted policy paths ("crm.roles.manager.permissions.deal.read",
// list elements as numbers) to the source ranges of their labels and
// values, so that every diagnostic and every graph node points into the
// user's file. Both front-ends fill it.
type srcIndex struct {
	m map[string]srcEntry
	// constraints: some field of the CUE files is optional (?) or
	// required (!). Such fields are not exported, so only unifying with
	// the schema checks them (see schemaChecker).
	constraints bool
}

// srcEntry holds the label and value spans of one path. Positions stay
// token.Pos until asked for: a large policy has ~100k paths, and few are
// ever shown.
type srcEntry struct {
	key, val srcSpan
}

// srcSpan is a range in a file: CUE positions (converted on demand), or a
// range the HCL front-end resolved. The zero value is no span.
type srcSpan struct {
	name       string
	start, end token.Pos
	fixed      *diag.Range
}

func (s srcSpan) ok() bool { return s.fixed != nil || s.name != "" }

func (s srcSpan) rng() *diag.Range {
	if s.fixed != nil {
		r := *s.fixed
		return &r
	}
	r := cueRange(s.name, s.start, s.end)
	return &r
}

func newSrcIndex() *srcIndex { return newSrcIndexSized(0) }

// newSrcIndexSized presizes the index for about n paths: growing a map of
// 100k entries step by step costs more than filling it.
func newSrcIndexSized(n int) *srcIndex {
	return &srcIndex{m: make(map[string]srcEntry, n)}
}

// setFixed records a resolved range as both label and value of path (the
// HCL front-end).
func (ix *srcIndex) setFixed(path string, r diag.Range) {
	ix.m[path] = srcEntry{key: srcSpan{fixed: &r}, val: srcSpan{fixed: &r}}
}

func joinPath(parts ...string) string { return strings.Join(parts, ".") }

// value returns the range of the value at path, or of its label, or of
// the nearest ancestor that has one.
func (ix *srcIndex) value(path string) *diag.Range {
	for p := path; ; {
		if e, ok := ix.m[p]; ok {
			if e.val.ok() {
				return e.val.rng()
			}
			if e.key.ok() {
				return e.key.rng()
			}
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

// label returns the range of the label at path (or the nearest ancestor).
func (ix *srcIndex) label(path string) *diag.Range {
	for p := path; ; {
		if e, ok := ix.m[p]; ok {
			if e.key.ok() {
				return e.key.rng()
			}
			if e.val.ok() {
				return e.val.rng()
			}
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

// setKey and setVal record the first span seen for path (a later file or
// a later conjunct of the same path does not move it).
func (ix *srcIndex) setKey(path, name string, start, end token.Pos) {
	e := ix.m[path]
	if !e.key.ok() {
		e.key = srcSpan{name: name, start: start, end: end}
		ix.m[path] = e
	}
}

func (ix *srcIndex) setVal(path, name string, start, end token.Pos) {
	e := ix.m[path]
	if !e.val.ok() {
		e.val = srcSpan{name: name, start: start, end: end}
		ix.m[path] = e
	}
}

func cueRange(filename string, start, end token.Pos) diag.Range {
	r := diag.Range{Filename: filename}
	if start.IsValid() {
		sp := start.Position()
		r.Start = diag.Pos{Line: sp.Line, Column: sp.Column, Byte: sp.Offset}
	}
	r.End = r.Start
	if end.IsValid() {
		if ep := end.Position(); ep.Line == r.Start.Line {
			r.End = diag.Pos{Line: ep.Line, Column: ep.Column, Byte: ep.Offset}
		}
	}
	return r
}

// addCUEFile indexes the literal structure of one parsed file.
func (ix *srcIndex) addCUEFile(name string, f *ast.File) {
	ix.addDecls(name, "", f.Decls)
}

func (ix *srcIndex) addDecls(name, prefix string, decls []ast.Decl) {
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			if d.Constraint != token.ILLEGAL {
				ix.constraints = true
			}
			label, _, err := ast.LabelName(d.Label)
			if err != nil {
				continue
			}
			p := label
			if prefix != "" {
				p = prefix + "." + label
			}
			ix.setKey(p, name, d.Label.Pos(), d.Label.End())
			ix.addExpr(name, p, d.Value)
		case *ast.EmbedDecl:
			ix.addExpr(name, prefix, d.Expr)
		default:
			ix.findConstraints(d)
		}
	}
}

// findConstraints notes an optional or required field anywhere under n
// (comprehensions, definitions, function arguments).
func (ix *srcIndex) findConstraints(n ast.Node) {
	if ix.constraints {
		return
	}
	ast.Walk(n, func(n ast.Node) bool {
		if f, ok := n.(*ast.Field); ok && f.Constraint != token.ILLEGAL {
			ix.constraints = true
		}
		return !ix.constraints
	}, nil)
}

func (ix *srcIndex) addExpr(name, p string, e ast.Expr) {
	switch v := e.(type) {
	case *ast.StructLit:
		ix.addDecls(name, p, v.Elts)
	case *ast.ListLit:
		if p != "" {
			ix.setVal(p, name, v.Pos(), v.Pos())
		}
		for i, el := range v.Elts {
			ep := p + "." + strconv.Itoa(i)
			ix.setVal(ep, name, el.Pos(), el.End())
			ix.addExpr(name, ep, el)
		}
	case *ast.BinaryExpr:
		ix.addExpr(name, p, v.X)
		ix.addExpr(name, p, v.Y)
	case *ast.ParenExpr:
		ix.addExpr(name, p, v.X)
	case nil:
	default:
		switch e.(type) {
		case *ast.BasicLit, *ast.Ident:
		default:
			ix.findConstraints(e)
		}
		if p != "" {
			ix.setVal(p, name, e.Pos(), e.End())
		}
	}
}
