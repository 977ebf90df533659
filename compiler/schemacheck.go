package compiler

import (
	"regexp"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// schemaChecker decides whether an exported policy document conforms to
// #Policy without unifying the whole document with the schema, which costs
// as much as evaluating the policy again (issue 17). The walk over the
// document is in Go; every judgement in it is CUE's own, asked of the
// schema once per distinct question: may this struct have this label, and
// what constrains it (cue.Value.Allows, LookupPath with an optional
// selector, which applies pattern constraints); does this scalar or list of
// scalars satisfy this constraint (unify and validate the one value).
//
// Answers are memoized per schema node. A label the struct declares has
// its own child; labels it does not declare reach it through pattern
// constraints, and two such labels that satisfy the same label constraints
// of the schema ([#Key], [string], …: every one is listed from the
// schema's source) match the same patterns and so have the same child, as
// long as no pattern value depends on its label (an alias): newSchemaChecker
// refuses a schema with aliases. So a thousand roles cost what one does.
//
// The checker only ever says "conforms" or "not sure": anything it does
// not handle (an unknown label, a failing leaf, a list of structs under a
// constraint that is not a plain open list, a disjunction of structs) makes
// the caller unify with the schema as before, which reports the problem
// with its usual diagnostics. A document the checker accepts is therefore
// one the schema accepts; TestSchemaCheckAgrees and FuzzSchemaCheck hold
// it to that.
type schemaChecker struct {
	ctx *cue.Context
	// root is nil when the schema has a form the checker does not handle.
	root *schemaNode
	// labelConstraints are the label constraints of the schema's
	// patterns; sigs memoizes which ones a label satisfies.
	labelConstraints []labelConstraint
	sigs             map[string]uint64

	stringT, boolT cue.Value
}

// labelConstraint is one label constraint of the schema's patterns,
// answered in Go when it is "any string" or a regular expression (CUE's
// =~ is Go's regexp), else by CUE.
type labelConstraint struct {
	v   cue.Value
	any bool
	re  *regexp.Regexp
}

func (l labelConstraint) match(label string, enc func(string) cue.Value) bool {
	switch {
	case l.any:
		return true
	case l.re != nil:
		return l.re.MatchString(label)
	}
	return l.v.Unify(enc(label)).Validate(cue.Concrete(true)) == nil
}

// schemaNode is one constraint of the schema.
type schemaNode struct {
	v cue.Value
	// object: the constraint is a struct (and only a struct).
	object    bool
	required  []string
	declared  map[string]*schemaNode // nil value: not computed yet
	byPattern map[uint64]*schemaNode // by label signature; nil value: not allowed
	// elem constrains the elements of a list of structs; listOK says that
	// the constraint is a plain open list ([...X]) so elem is all of it.
	elem   *schemaNode
	listOK bool
	leaves map[string]bool // raw JSON of a scalar or list of scalars
	// anyString, anyBool: the constraint admits every string, every bool
	// (it subsumes the type; cue.Value.Subsume is not reliable for lists,
	// whose elements are checked one by one instead), so such values need
	// no question to CUE.
	anyString, anyBool bool
}

// newSchemaChecker prepares the checker for def, the #Policy of schema
// (the embedded schema's value, whose source is src).
func newSchemaChecker(ctx *cue.Context, schemaVal, def cue.Value, src string) *schemaChecker {
	c := &schemaChecker{ctx: ctx, sigs: map[string]uint64{},
		stringT: ctx.CompileString("string"), boolT: ctx.CompileString("bool")}
	lcs, ok := patternLabels(src)
	if !ok {
		return c
	}
	for _, e := range lcs {
		var v cue.Value
		switch {
		case e == "string":
			v = c.stringT
		case strings.HasPrefix(e, "#"):
			v = schemaVal.LookupPath(cue.MakePath(cue.Def(e)))
		default:
			return c
		}
		if !v.Exists() || v.Err() != nil {
			return c
		}
		lc := labelConstraint{v: v, any: v.Subsume(c.stringT) == nil}
		if op, args := v.Expr(); op == cue.RegexMatchOp && len(args) == 1 {
			if p, err := args[0].String(); err == nil {
				lc.re, _ = regexp.Compile(p)
			}
		}
		c.labelConstraints = append(c.labelConstraints, lc)
	}
	if len(c.labelConstraints) > 64 {
		return c
	}
	c.root = c.node(def)
	return c
}

// patternLabels lists the distinct label constraints of the patterns in
// the schema source (an identifier each: string or a definition), and
// reports false when the schema has a form whose pattern values could
// depend on the label (aliases, let, comprehensions) or a label constraint
// that is not an identifier.
func patternLabels(src string) ([]string, bool) {
	f, err := parser.ParseFile("schema.cue", src)
	if err != nil {
		return nil, false
	}
	seen := map[string]bool{}
	var out []string
	ok := true
	ast.Walk(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Alias, *ast.LetClause, *ast.Comprehension, *ast.PostfixAlias:
			ok = false
		case *ast.Field:
			if n.Alias != nil {
				ok = false
			}
			if l, isList := n.Label.(*ast.ListLit); isList {
				if len(l.Elts) != 1 {
					ok = false
					break
				}
				id, isIdent := l.Elts[0].(*ast.Ident)
				if !isIdent {
					ok = false
					break
				}
				if !seen[id.Name] {
					seen[id.Name] = true
					out = append(out, id.Name)
				}
			}
		}
		return ok
	}, nil)
	return out, ok
}

func (c *schemaChecker) node(v cue.Value) *schemaNode {
	n := &schemaNode{v: v, leaves: map[string]bool{}}
	op, _ := v.Expr()
	single := op != cue.OrOp
	if single && v.IncompleteKind() == cue.StructKind {
		n.object = true
		n.declared, n.byPattern = map[string]*schemaNode{}, map[uint64]*schemaNode{}
		if it, err := v.Fields(cue.Optional(true)); err == nil {
			for it.Next() {
				l := it.Selector().Unquoted()
				n.declared[l] = nil
				if it.Selector().ConstraintType() == cue.RequiredConstraint {
					n.required = append(n.required, l)
				}
			}
		} else {
			n.object = false
		}
	}
	if single && v.IncompleteKind() == cue.ListKind {
		if first := v.LookupPath(cue.MakePath(cue.Index(0))); !first.Exists() {
			if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
				n.listOK = true
				n.elem = c.node(e)
			}
		}
	}
	switch k := v.IncompleteKind(); {
	case k&cue.StringKind != 0:
		n.anyString = v.Subsume(c.stringT) == nil
	case k&cue.BoolKind != 0:
		n.anyBool = v.Subsume(c.boolT) == nil
	}
	return n
}

// child returns the constraint of label under n, or nil when the label is
// not allowed (or the answer is not certain).
func (c *schemaChecker) child(n *schemaNode, label string) *schemaNode {
	if ch, declared := n.declared[label]; declared {
		if ch == nil {
			ch = c.lookup(n, label)
			n.declared[label] = ch
		}
		return ch
	}
	sig, ok := c.sigs[label]
	if !ok {
		enc := func(l string) cue.Value { return c.ctx.Encode(l) }
		for i, lc := range c.labelConstraints {
			if lc.match(label, enc) {
				sig |= 1 << i
			}
		}
		c.sigs[label] = sig
	}
	ch, seen := n.byPattern[sig]
	if !seen {
		ch = c.lookup(n, label)
		n.byPattern[sig] = ch
	}
	return ch
}

func (c *schemaChecker) lookup(n *schemaNode, label string) *schemaNode {
	sel := cue.Str(label)
	if !n.v.Allows(sel) {
		return nil
	}
	v := n.v.LookupPath(cue.MakePath(sel.Optional()))
	if !v.Exists() || v.Err() != nil {
		return nil
	}
	return c.node(v)
}

// leaf reports whether the raw JSON scalar (or list of scalars) satisfies
// n's constraint.
func (c *schemaChecker) leaf(n *schemaNode, raw []byte) bool {
	if ok, seen := n.leaves[string(raw)]; seen {
		return ok
	}
	v := c.ctx.CompileBytes(raw)
	ok := v.Err() == nil && n.v.Unify(v).Validate(cue.Concrete(true)) == nil
	n.leaves[string(raw)] = ok
	return ok
}

// conforms reports whether doc (compact or indented JSON, as
// cue.Value.MarshalJSON writes it) certainly conforms to the schema.
func (c *schemaChecker) conforms(doc []byte) bool {
	if c.root == nil {
		return false
	}
	s := jsonScan{b: doc}
	ok := c.value(c.root, &s)
	s.space()
	return ok && s.err == nil && s.i == len(s.b)
}

func (c *schemaChecker) value(n *schemaNode, s *jsonScan) bool {
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '{':
		return n.object && c.object(n, s)
	case '[':
		if n.listOK {
			return c.list(n.elem, s)
		}
		start := s.i
		return s.scalarList() && c.leaf(n, s.b[start:s.i])
	case '"':
		if n.anyString {
			_, ok := s.str()
			return ok
		}
	case 't', 'f':
		if n.anyBool {
			return s.skipScalar()
		}
	}
	start := s.i
	if !s.skipScalar() {
		return false
	}
	return c.leaf(n, s.b[start:s.i])
}

func (c *schemaChecker) object(n *schemaNode, s *jsonScan) bool {
	seen := 0
	ok := s.members(func(label string) bool {
		ch := c.child(n, label)
		if ch == nil {
			return false
		}
		if slices.Contains(n.required, label) {
			seen++
		}
		return c.value(ch, s)
	})
	return ok && seen == len(n.required)
}

func (c *schemaChecker) list(elem *schemaNode, s *jsonScan) bool {
	return s.elements(func() bool { return c.value(elem, s) })
}
