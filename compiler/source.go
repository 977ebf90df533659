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
	// files are the indexed CUE files (srcSpan.file-1), fixed the ranges
	// the HCL front-end resolved (-srcSpan.file-1).
	files []srcFile
	fixed []diag.Range
	// constraints: some field of the CUE files is optional (?) or
	// required (!). Such fields are not exported, so only unifying with
	// the schema checks them (see schemaChecker). Read it with
	// hasConstraints.
	constraints bool
	// pending is closed when an index built in the background is
	// complete; every reader waits for it.
	pending chan struct{}
}

// addCUEFilesAsync indexes the parsed files in the background: the index
// only reads the syntax trees, which nothing writes once the instance is
// built, and it is not needed until evaluation is done.
func (ix *srcIndex) addCUEFilesAsync(names []string, files []*ast.File) {
	ix.wait()
	done := make(chan struct{})
	ix.pending = done
	go func() {
		defer close(done)
		for i, f := range files {
			ix.addCUEFile(names[i], f)
		}
	}()
}

// wait returns once no background indexing is under way.
func (ix *srcIndex) wait() {
	if ix.pending != nil {
		<-ix.pending
		ix.pending = nil
	}
}

func (ix *srcIndex) hasConstraints() bool {
	ix.wait()
	return ix.constraints
}

// size is the number of indexed paths.
func (ix *srcIndex) size() int {
	ix.wait()
	return len(ix.m)
}

type srcFile struct {
	name string
	tf   *token.File
}

// srcEntry holds the label and value spans of one path. It holds no
// pointer and positions stay byte offsets until asked for: a large policy
// has ~100k paths, and few are ever shown.
type srcEntry struct {
	key, val srcSpan
}

// srcSpan is a range: byte offsets in a CUE file (file > 0), or a range
// the HCL front-end resolved (file < 0). The zero value is no span; an
// offset of -1 is an unknown position.
type srcSpan struct {
	file       int32
	start, end int32
}

func (s srcSpan) ok() bool { return s.file != 0 }

func (ix *srcIndex) rng(s srcSpan) *diag.Range {
	if s.file < 0 {
		r := ix.fixed[-s.file-1]
		return &r
	}
	f := ix.files[s.file-1]
	pos := func(off int32) token.Pos {
		if off < 0 || f.tf == nil {
			return token.NoPos
		}
		return f.tf.Pos(int(off), token.NoRelPos)
	}
	r := cueRange(f.name, pos(s.start), pos(s.end))
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
	ix.wait()
	ix.fixed = append(ix.fixed, r)
	sp := srcSpan{file: -int32(len(ix.fixed))}
	ix.m[path] = srcEntry{key: sp, val: sp}
}

func joinPath(parts ...string) string { return strings.Join(parts, ".") }

// value returns the range of the value at path, or of its label, or of
// the nearest ancestor that has one.
func (ix *srcIndex) value(path string) *diag.Range {
	ix.wait()
	for p := path; ; {
		if e, ok := ix.m[p]; ok {
			if e.val.ok() {
				return ix.rng(e.val)
			}
			if e.key.ok() {
				return ix.rng(e.key)
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
	ix.wait()
	for p := path; ; {
		if e, ok := ix.m[p]; ok {
			if e.key.ok() {
				return ix.rng(e.key)
			}
			if e.val.ok() {
				return ix.rng(e.val)
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
func (ix *srcIndex) setKey(path string, file int32, start, end token.Pos) {
	e := ix.m[path]
	if !e.key.ok() {
		e.key = ix.span(file, start, end)
		ix.m[path] = e
	}
}

func (ix *srcIndex) setVal(path string, file int32, start, end token.Pos) {
	e := ix.m[path]
	if !e.val.ok() {
		e.val = ix.span(file, start, end)
		ix.m[path] = e
	}
}

func (ix *srcIndex) span(file int32, start, end token.Pos) srcSpan {
	off := func(p token.Pos) int32 {
		if !p.IsValid() {
			return -1
		}
		if f := &ix.files[file-1]; f.tf == nil {
			f.tf = p.File()
		}
		return int32(p.Offset())
	}
	return srcSpan{file: file, start: off(start), end: off(end)}
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
	ix.files = append(ix.files, srcFile{name: name})
	ix.addDecls(int32(len(ix.files)), "", f.Decls)
}

func (ix *srcIndex) addDecls(file int32, prefix string, decls []ast.Decl) {
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
			ix.setKey(p, file, d.Label.Pos(), d.Label.End())
			ix.addExpr(file, p, d.Value)
		case *ast.EmbedDecl:
			ix.addExpr(file, prefix, d.Expr)
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

func (ix *srcIndex) addExpr(file int32, p string, e ast.Expr) {
	switch v := e.(type) {
	case *ast.StructLit:
		ix.addDecls(file, p, v.Elts)
	case *ast.ListLit:
		if p != "" {
			ix.setVal(p, file, v.Pos(), v.Pos())
		}
		for i, el := range v.Elts {
			ep := p + "." + strconv.Itoa(i)
			ix.setVal(ep, file, el.Pos(), el.End())
			ix.addExpr(file, ep, el)
		}
	case *ast.BinaryExpr:
		ix.addExpr(file, p, v.X)
		ix.addExpr(file, p, v.Y)
	case *ast.ParenExpr:
		ix.addExpr(file, p, v.X)
	case nil:
	default:
		switch e.(type) {
		case *ast.BasicLit, *ast.Ident:
		default:
			ix.findConstraints(e)
		}
		if p != "" {
			ix.setVal(p, file, e.Pos(), e.End())
		}
	}
}
