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
	key map[string]diag.Range
	val map[string]diag.Range
	// constraints: some field of the CUE files is optional (?) or
	// required (!). Such fields are not exported, so only unifying with
	// the schema checks them (see schemaChecker).
	constraints bool
}

func newSrcIndex() *srcIndex {
	return &srcIndex{key: map[string]diag.Range{}, val: map[string]diag.Range{}}
}

func joinPath(parts ...string) string { return strings.Join(parts, ".") }

// value returns the range of the value at path, or of its label, or of
// the nearest ancestor that has one.
func (ix *srcIndex) value(path string) *diag.Range {
	for p := path; ; {
		if r, ok := ix.val[p]; ok {
			return &r
		}
		if r, ok := ix.key[p]; ok {
			return &r
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
		if r, ok := ix.key[p]; ok {
			return &r
		}
		if r, ok := ix.val[p]; ok {
			return &r
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

func cueRange(filename string, start, end token.Pos) diag.Range {
	r := diag.Range{Filename: filename}
	if start.IsValid() {
		r.Start = diag.Pos{Line: start.Line(), Column: start.Column(), Byte: start.Offset()}
	}
	if end.IsValid() && end.Line() == start.Line() {
		r.End = diag.Pos{Line: end.Line(), Column: end.Column(), Byte: end.Offset()}
	} else {
		r.End = r.Start
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
			if _, ok := ix.key[p]; !ok {
				ix.key[p] = cueRange(name, d.Label.Pos(), d.Label.End())
			}
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
		if _, ok := ix.val[p]; !ok && p != "" {
			ix.val[p] = cueRange(name, v.Pos(), v.Pos())
		}
		for i, el := range v.Elts {
			ep := p + "." + strconv.Itoa(i)
			if _, ok := ix.val[ep]; !ok {
				ix.val[ep] = cueRange(name, el.Pos(), el.End())
			}
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
			if _, ok := ix.val[p]; !ok {
				ix.val[p] = cueRange(name, e.Pos(), e.End())
			}
		}
	}
}
