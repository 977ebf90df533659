// Package hclfront decodes HCL policy files into the JSON-shaped document
// the CUE schema validates, so HCL and CUE policies share one schema, one
// set of checks and one graph. Only literal values are accepted: no
// variables or functions.
package hclfront

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/diag"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Decode parses HCL policy files (name → content) and returns the policy
// document, the source range of every path in it ("crm.roles.manager.name",
// list elements as numbers), and diagnostics.
func Decode(files map[string][]byte) (map[string]any, map[string]diag.Range, diag.Diagnostics) {
	d := &decoder{doc: map[string]any{}, ranges: map[string]diag.Range{}, seen: map[string]hcl.Range{}}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if r, ok := tooDeep(files[n], n); !ok {
			d.errorf(r, "Too deeply nested", "more than %d levels of nested blocks, brackets or braces; a policy needs far fewer (the file is not parsed further)", MaxDepth)
			continue
		}
		f, hd := hclsyntax.ParseConfig(files[n], n, hcl.Pos{Line: 1, Column: 1, Byte: 0})
		d.add(hd)
		if hd.HasErrors() || f == nil {
			continue
		}
		body := f.Body.(*hclsyntax.Body)
		for _, a := range body.Attributes {
			d.errorf(a.NameRange, "Unexpected attribute", "top-level attributes are not allowed; use blocks such as crm_role \"key\" { … } (see docs/policy-language.md)")
		}
		for _, b := range body.Blocks {
			d.block(b)
		}
	}
	return d.doc, d.ranges, d.ds
}

// MaxDepth is the deepest nesting of blocks, brackets, braces,
// parentheses and template interpolations accepted. The HCL parser
// recurses per level: 100,000 "[" overflow the stack (a fatal error, not a
// panic), 50,000 take seconds and gigabytes. So the depth is measured on
// the tokens (the scanner does not recurse) before anything is parsed.
const MaxDepth = 100

// tooDeep reports whether src nests deeper than MaxDepth, and where.
func tooDeep(src []byte, filename string) (hcl.Range, bool) {
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	depth := 0
	for _, t := range tokens {
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl, hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			depth++
			if depth > MaxDepth {
				return t.Range, false
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			depth = max(0, depth-1)
		}
	}
	return hcl.Range{}, true
}

type decoder struct {
	doc    map[string]any
	ranges map[string]diag.Range
	seen   map[string]hcl.Range
	ds     diag.Diagnostics
	tests  int
	remove int
}

func toRange(r hcl.Range) diag.Range {
	return diag.Range{Filename: r.Filename, Start: diag.Pos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
		End: diag.Pos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte}}
}

func (d *decoder) add(hd hcl.Diagnostics) {
	for _, x := range hd {
		sev := diag.Error
		if x.Severity == hcl.DiagWarning {
			sev = diag.Warning
		}
		dd := diag.Diagnostic{Severity: sev, Summary: x.Summary, Detail: x.Detail}
		if x.Subject != nil {
			r := toRange(*x.Subject)
			dd.Subject = &r
		}
		d.ds = append(d.ds, dd)
	}
}

func (d *decoder) errorf(r hcl.Range, summary, format string, args ...any) {
	rr := toRange(r)
	d.ds = append(d.ds, diag.Diagnostic{Severity: diag.Error, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &rr})
}

// at returns the map at path, creating it.
func (d *decoder) at(path ...string) map[string]any {
	m := d.doc
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	return m
}

var blockLabels = map[string][]string{
	"crm_smart_process": {"key"},
	"crm_pipeline":      {"entity", "key"},
	"crm_role":          {"key"},
	"telephony":         {},
	"telephony_role":    {"key"},
	"openline_role":     {"key"},
	"openline_channel":  {"key"},
	"workgroup":         {"key"},
	"field_rule":        {"key"},
	"field_visibility":  {"key"},
	"settings":          {},
	"removed":           {},
	"test":              {},
}

func blockTypes() string {
	var s []string
	for k := range blockLabels {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func (d *decoder) block(b *hclsyntax.Block) {
	want, ok := blockLabels[b.Type]
	if !ok {
		d.errorf(b.TypeRange, "Unsupported block type", "blocks of type %q are not expected here; use one of %s", b.Type, blockTypes())
		return
	}
	if len(b.Labels) != len(want) {
		d.errorf(b.TypeRange, "Wrong number of labels", "a %s block needs %d label(s) (%s), not %d", b.Type, len(want), strings.Join(want, ", "), len(b.Labels))
		return
	}
	if b.Type != "removed" && b.Type != "test" {
		if !d.unique(d.seen, b) {
			return
		}
	}
	var path []string
	switch b.Type {
	case "crm_smart_process":
		path = []string{"crm", "smart_processes", b.Labels[0]}
	case "crm_pipeline":
		path = []string{"crm", "pipelines", b.Labels[0], b.Labels[1]}
	case "crm_role":
		path = []string{"crm", "roles", b.Labels[0]}
	case "telephony":
		path = []string{"telephony"}
	case "telephony_role":
		path = []string{"telephony", "roles", b.Labels[0]}
	case "openline_role":
		path = []string{"openlines", "roles", b.Labels[0]}
	case "openline_channel":
		path = []string{"openlines", "channels", b.Labels[0]}
	case "workgroup":
		path = []string{"workgroups", b.Labels[0]}
	case "field_rule":
		path = []string{"fields", "rules", b.Labels[0]}
	case "field_visibility":
		path = []string{"fields", "visibility", b.Labels[0]}
	case "settings":
		path = []string{"settings"}
	case "removed", "test":
		key, idx := "removed", &d.remove
		if b.Type == "test" {
			key, idx = "tests", &d.tests
		}
		list, _ := d.doc[key].([]any)
		m := map[string]any{}
		if *idx == 0 {
			d.ranges[key] = toRange(b.DefRange())
		}
		p := key + "." + strconv.Itoa(*idx)
		*idx++
		d.ranges[p] = toRange(b.DefRange())
		d.attrs(b.Body, p, m)
		for _, nb := range b.Body.Blocks {
			d.errorf(nb.TypeRange, "Unsupported block type", "a %s block holds only attributes", b.Type)
		}
		d.doc[key] = append(list, m)
		return
	}
	m := d.at(path...)
	p := strings.Join(path, ".")
	r := toRange(b.DefRange())
	if len(b.LabelRanges) > 0 {
		r = toRange(b.LabelRanges[len(b.LabelRanges)-1])
	}
	d.ranges[p] = r
	d.attrs(b.Body, p, m)
	switch b.Type {
	case "crm_pipeline":
		d.conflict(b.Body, "stages", "stage")
		seen := map[string]hcl.Range{}
		for _, nb := range b.Body.Blocks {
			if nb.Type != "stage" || len(nb.Labels) != 1 {
				d.errorf(nb.TypeRange, "Unsupported block type", "a crm_pipeline holds stage \"key\" { name = … } blocks")
				continue
			}
			if !d.unique(seen, nb) {
				continue
			}
			for _, x := range nb.Body.Blocks {
				d.errorf(x.TypeRange, "Unsupported block type", "a stage block holds only attributes (name)")
			}
			sm := subMap(subMap(m, "stages"), nb.Labels[0])
			sp := p + ".stages." + nb.Labels[0]
			d.ranges[sp] = toRange(nb.LabelRanges[0])
			d.attrs(nb.Body, sp, sm)
		}
	case "crm_role":
		d.conflict(b.Body, "permissions", "permissions")
		seen := map[string]hcl.Range{}
		for _, nb := range b.Body.Blocks {
			if nb.Type != "permissions" || len(nb.Labels) != 1 {
				d.errorf(nb.TypeRange, "Unsupported block type", "a crm_role holds permissions \"entity\" { … } blocks")
				continue
			}
			if !d.unique(seen, nb) {
				continue
			}
			em := subMap(subMap(m, "permissions"), nb.Labels[0])
			ep := p + ".permissions." + nb.Labels[0]
			d.ranges[ep] = toRange(nb.LabelRanges[0])
			d.permBody(nb.Body, ep, em, levelEntity)
		}
	default:
		for _, nb := range b.Body.Blocks {
			d.errorf(nb.TypeRange, "Unsupported block type", "a %s block holds only attributes", b.Type)
		}
	}
}

// blockID names a block by type and labels ("crm_role manager").
func blockID(b *hclsyntax.Block) string {
	return strings.TrimSpace(b.Type + " " + strings.Join(quoteAll(b.Labels), " "))
}

func quoteAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strconv.Quote(s)
	}
	return out
}

// unique records b in seen and reports a block with the same type and
// labels declared earlier (in any file for top-level blocks, in the same
// body for nested ones).
func (d *decoder) unique(seen map[string]hcl.Range, b *hclsyntax.Block) bool {
	id := blockID(b)
	if prev, dup := seen[id]; dup {
		r := b.TypeRange
		if len(b.LabelRanges) > 0 {
			r = b.LabelRanges[0]
		}
		d.errorf(r, "Duplicate block", "%s is also declared at %s:%d; declare it once", id, prev.Filename, prev.Start.Line)
		return false
	}
	seen[id] = b.DefRange()
	return true
}

// conflict reports an attribute that a nested block would also set, such
// as permissions = {…} next to permissions "deal" { … }.
func (d *decoder) conflict(body *hclsyntax.Body, attr, blockType string) bool {
	a, ok := body.Attributes[attr]
	if !ok {
		return false
	}
	for _, nb := range body.Blocks {
		if nb.Type == blockType {
			d.errorf(a.NameRange, "Conflicting definitions", "%s is set both by this attribute and by %s blocks (line %d); use one form", attr, blockType, nb.TypeRange.Start.Line)
			return true
		}
	}
	return false
}

// Levels of permission bodies: which override blocks each may hold.
const (
	levelEntity   = iota // permissions "deal" { … }: pipeline and stage blocks
	levelPipeline        // pipeline "key" { … }: stage blocks
	levelStage           // stage "key" { … }: actions only
)

// permBody decodes actions plus pipeline/stage override blocks.
func (d *decoder) permBody(body *hclsyntax.Body, p string, m map[string]any, level int) {
	d.attrs(body, p, m)
	if level < levelStage {
		d.conflict(body, "stages", "stage")
	}
	if level == levelEntity {
		d.conflict(body, "pipelines", "pipeline")
	}
	seen := map[string]hcl.Range{}
	for _, nb := range body.Blocks {
		ok := len(nb.Labels) == 1 && ((nb.Type == "stage" && level < levelStage) || (nb.Type == "pipeline" && level == levelEntity))
		if !ok {
			switch level {
			case levelEntity:
				d.errorf(nb.TypeRange, "Unsupported block type", "a permissions block holds actions plus pipeline \"key\" { … } and stage \"key\" { … } blocks")
			case levelPipeline:
				d.errorf(nb.TypeRange, "Unsupported block type", "a pipeline block holds actions plus stage \"key\" { … } blocks")
			default:
				d.errorf(nb.TypeRange, "Unsupported block type", "a stage block holds only actions (read = \"all\")")
			}
			continue
		}
		if !d.unique(seen, nb) {
			continue
		}
		kind, next := "stages", levelStage
		if nb.Type == "pipeline" {
			kind, next = "pipelines", levelPipeline
		}
		sm := subMap(subMap(m, kind), nb.Labels[0])
		sp := p + "." + kind + "." + nb.Labels[0]
		d.ranges[sp] = toRange(nb.LabelRanges[0])
		d.permBody(nb.Body, sp, sm, next)
	}
}

func subMap(m map[string]any, k string) map[string]any {
	n, ok := m[k].(map[string]any)
	if !ok {
		n = map[string]any{}
		m[k] = n
	}
	return n
}

// attrs evaluates the attributes of a body into m.
func (d *decoder) attrs(body *hclsyntax.Body, p string, m map[string]any) {
	names := make([]string, 0, len(body.Attributes))
	for n := range body.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := body.Attributes[n]
		ap := p + "." + n
		d.ranges[ap] = toRange(a.Expr.Range())
		v, ok := d.value(a.Expr, ap)
		if ok {
			m[n] = v
		}
	}
}

// value evaluates a literal expression, recording ranges of nested
// elements.
func (d *decoder) value(e hclsyntax.Expression, p string) (any, bool) {
	switch x := e.(type) {
	case *hclsyntax.TupleConsExpr:
		out := make([]any, 0, len(x.Exprs))
		for i, el := range x.Exprs {
			ep := p + "." + strconv.Itoa(i)
			d.ranges[ep] = toRange(el.Range())
			v, ok := d.value(el, ep)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case *hclsyntax.ObjectConsExpr:
		out := map[string]any{}
		for _, it := range x.Items {
			kv, hd := it.KeyExpr.Value(nil)
			if hd.HasErrors() || kv.Type() != cty.String || kv.IsNull() {
				d.errorf(it.KeyExpr.Range(), "Invalid key", "object keys must be names or strings")
				return nil, false
			}
			k := kv.AsString()
			if _, dup := out[k]; dup {
				d.errorf(it.KeyExpr.Range(), "Duplicate key", "%q is set twice in this object", k)
				return nil, false
			}
			ep := p + "." + k
			d.ranges[ep] = toRange(it.ValueExpr.Range())
			v, ok := d.value(it.ValueExpr, ep)
			if !ok {
				return nil, false
			}
			out[k] = v
		}
		return out, true
	case *hclsyntax.ParenthesesExpr:
		return d.value(x.Expression, p)
	}
	if vars := e.Variables(); len(vars) > 0 {
		d.errorf(e.Range(), "Only literal values are allowed", "policies take plain values: no variables or references (%s)", vars[0].RootName())
		return nil, false
	}
	if !literal(e) {
		what := "no function calls, operators, conditionals or for expressions"
		if _, isCall := e.(*hclsyntax.FunctionCallExpr); isCall {
			what = "no function calls"
		}
		d.errorf(e.Range(), "Only literal values are allowed", "policies take plain values: %s", what)
		return nil, false
	}
	v, hd := e.Value(nil)
	if hd.HasErrors() {
		d.add(hd)
		return nil, false
	}
	return ctyToGo(v), true
}

// literal reports whether e is a literal scalar: a number, bool, null or
// a string (including heredocs and templates whose parts are all
// literal), or a negated number.
func literal(e hclsyntax.Expression) bool {
	switch x := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		for _, part := range x.Parts {
			if _, ok := part.(*hclsyntax.LiteralValueExpr); !ok {
				return false
			}
		}
		return true
	case *hclsyntax.UnaryOpExpr:
		l, ok := x.Val.(*hclsyntax.LiteralValueExpr)
		return ok && x.Op == hclsyntax.OpNegate && l.Val.Type() == cty.Number
	}
	return false
}

func ctyToGo(v cty.Value) any {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		f := v.AsBigFloat()
		if i, acc := f.Int64(); acc == big.Exact {
			return i
		}
		x, _ := f.Float64()
		return x
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		var out []any
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			out = append(out, ctyToGo(ev))
		}
		return out
	case t.IsObjectType() || t.IsMapType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			out[k.AsString()] = ctyToGo(ev)
		}
		return out
	}
	return nil
}
