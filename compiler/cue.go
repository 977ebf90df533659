package compiler

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cuebuild "cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/schema"
)

// cueRun holds the one CUE context of a compilation; it is used from one
// goroutine only.
type cueRun struct {
	ctx *cue.Context
	def cue.Value
	// loose is #Policy with every CRM chain level left open (#ChainLevel:
	// _): the same structure, without the per-cell disjunction that is most
	// of the cost of unifying a large policy. It is used only once the
	// compiler has checked every chain level in Go (chainLevelsValid), so
	// it reports exactly the errors def would.
	loose cue.Value
	// schema is the compiled embedded schema (def is its #Policy).
	schema cue.Value
}

// checker returns a schema checker for def.
func (r *cueRun) checker() *schemaChecker {
	return newSchemaChecker(r.ctx, r.schema, r.def, schema.Source)
}

// chainLevelDecl is the schema's #ChainLevel line; newCUERun checks that
// it is there, so that the loose schema cannot silently stay strict.
const chainLevelDecl = `#ChainLevel: =~"^(none|own|department|subdepartments|open|all)$" | [#SetMember, ...#SetMember]`

func newCUERun() (*cueRun, error) {
	ctx := cuecontext.New()
	s := ctx.CompileString(schema.Source, cue.Filename(schema.Filename))
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("internal error: the embedded schema does not compile: %v", err)
	}
	if strings.Count(schema.Source, chainLevelDecl) != 1 {
		return nil, fmt.Errorf("internal error: the embedded schema's #ChainLevel is not %s (update chainLevelsValid with it)", chainLevelDecl)
	}
	l := ctx.CompileString(strings.Replace(schema.Source, chainLevelDecl, "#ChainLevel: _", 1), cue.Filename(schema.Filename))
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("internal error: the loose schema does not compile: %v", err)
	}
	return &cueRun{ctx: ctx, schema: s, def: s.LookupPath(cue.ParsePath("#Policy")), loose: l.LookupPath(cue.ParsePath("#Policy"))}, nil
}

// loadUser loads the CUE files (display names → absolute paths) and
// returns the user's value (not yet validated) and diagnostics.
func (r *cueRun) loadUser(absDir string, names []string, abs map[string]string, files map[string][]byte, ix *srcIndex) (user cue.Value, ds diag.Diagnostics) {
	toDisplay := map[string]string{}
	var args []string
	for _, n := range names {
		toDisplay[abs[n]] = n
		args = append(args, "./"+filepath.Base(abs[n]))
	}
	// Parse each file first: syntax errors are reported for every file,
	// and the AST feeds the source index.
	overlay := map[string]load.Source{}
	parsed := make([]*ast.File, len(names))
	var errs []error
	for i, n := range names {
		// The bytes readDir checked, not the file again: it may have
		// changed, or be something readDir refused to read.
		// Comments are not needed: nothing of the policy's meaning or of
		// its diagnostics comes from them.
		f, err := parser.ParseFile(abs[n], files[n])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parsed[i] = f
		// Hand the parsed file to the loader so it is not parsed twice.
		overlay[abs[n]] = load.FromFile(f)
	}
	if len(errs) > 0 {
		// In file order, each error with the files before it indexed.
		for i, n := range names {
			if parsed[i] != nil {
				ix.addCUEFile(n, parsed[i])
				continue
			}
			ds = append(ds, r.convert(errs[0], toDisplay, ix)...)
			errs = errs[1:]
		}
		return cue.Value{}, ds
	}
	if inst := directInstance(absDir, parsed); inst != nil {
		// The instance holds the resolved files: the index reads them
		// on the other core while CUE evaluates (readers wait for it).
		ix.addCUEFilesAsync(names, parsed)
		user = r.ctx.BuildInstance(inst)
		if err := user.Err(); err != nil {
			return user, r.convert(err, toDisplay, ix)
		}
		return user, nil
	}
	insts := load.Instances(args, &load.Config{Dir: absDir, Overlay: overlay})
	ix.addCUEFilesAsync(names, parsed)
	if len(insts) == 0 {
		ds.Errorf(nil, "No policy loaded", "no CUE instance was found in %s", absDir)
		return
	}
	inst := insts[0]
	if inst.Err != nil {
		return cue.Value{}, r.convert(inst.Err, toDisplay, ix)
	}
	user = r.ctx.BuildInstance(inst)
	if err := user.Err(); err != nil {
		return user, r.convert(err, toDisplay, ix)
	}
	return user, nil
}

// directInstance builds the instance of files that import nothing and
// share one package clause without the loader, which would format every
// parsed file back to text (load.FromFile) and look for a module. With
// files named on its command line the loader builds exactly these files,
// so the value is the same. Otherwise it returns nil: the loader resolves
// imports and reports mixed packages in its own words.
func directInstance(absDir string, files []*ast.File) *cuebuild.Instance {
	if len(files) == 0 {
		return nil
	}
	pkg := files[0].PackageName()
	for _, f := range files {
		if f.PackageName() != pkg {
			return nil
		}
		for _, d := range f.Decls {
			if _, ok := d.(*ast.ImportDecl); ok {
				return nil
			}
		}
	}
	inst := cuebuild.NewContext().NewInstance(absDir, nil)
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			return nil
		}
	}
	return inst
}

// validate unifies the user's value with a schema (def or loose) and
// reports what does not conform.
func (r *cueRun) validate(user, def cue.Value, abs map[string]string, ix *srcIndex) diag.Diagnostics {
	unified := user.Unify(def)
	if err := unified.Validate(cue.Concrete(true)); err != nil {
		return r.convert(err, toDisplayOf(abs), ix)
	}
	return nil
}

var boundRe = regexp.MustCompile(`^=~"\^\((.*)\)\$"$`)

// convert turns CUE errors into diagnostics in the user's files. Errors of
// one path from an empty disjunction become one diagnostic listing the
// allowed values.
func (r *cueRun) convert(err error, toDisplay map[string]string, ix *srcIndex) diag.Diagnostics {
	type group struct {
		path     string
		rng      *diag.Range
		pairs    [][2]string
		got      string
		allowed  []string
		msgs     []string
		disj     bool
		fallback *diag.Range
	}
	var order []string
	groups := map[string]*group{}
	var conflicts diag.Diagnostics
	seenConflict := map[string]bool{}
	for _, e := range errors.Errors(err) {
		path := strings.Join(e.Path(), ".")
		var rng *diag.Range
		for _, p := range errors.Positions(e) {
			if d, ok := toDisplay[p.Filename()]; ok {
				rr := cueRange(d, p, p)
				// Widen to the whole value when the index knows it.
				if v := ix.value(strings.Join(e.Path(), ".")); v != nil && v.Filename == d && v.Start.Line == rr.Start.Line && v.Start.Column == rr.Start.Column {
					rr = *v
				}
				rng = &rr
				break
			}
		}
		if rng == nil && path != "" {
			rng = ix.label(path)
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if d, ok := conflictAcrossPlaces(e, path, format, args, toDisplay, rng); ok {
			// Two places of the user's policy set one field differently
			// (often two files): name both; neither is "the" wrong one.
			if !seenConflict[d.Detail] {
				seenConflict[d.Detail] = true
				conflicts = append(conflicts, d)
			}
			continue
		}
		key := path
		if path == "" {
			key = fmt.Sprintf("%v|%s", rng, msg)
		}
		g := groups[key]
		if g == nil {
			g = &group{path: path, rng: rng}
			groups[key] = g
			order = append(order, key)
		}
		// The range of the error that explains the value best: not a
		// disjunction header nor the other form's type mismatch.
		if strings.HasSuffix(msg, "errors in empty disjunction:") || strings.Contains(msg, "mismatched types") {
			if g.fallback == nil {
				g.fallback = rng
			}
		} else if g.rng == nil {
			g.rng = rng
		}
		if strings.HasSuffix(msg, "errors in empty disjunction:") {
			g.disj = true
			continue
		}
		if len(args) == 2 && strings.HasPrefix(format, "conflicting values") && !strings.Contains(format, "mismatched") {
			// CUE names the two sides in either order; which one is the
			// user's value is decided once the whole group is seen.
			g.pairs = append(g.pairs, [2]string{fmt.Sprint(args[0]), fmt.Sprint(args[1])})
			continue
		}
		g.msgs = append(g.msgs, msg)
	}
	ds := conflicts
	for _, k := range order {
		g := groups[k]
		if g.rng == nil {
			g.rng = g.fallback
		}
		if g.disj {
			// CUE places disjunction errors at the field; the value is
			// what is wrong.
			if v := ix.value(g.path); v != nil && g.path != "" {
				g.rng = v
			}
			// A value that fails every form of a disjunction such as
			// "level or list of levels" reports, besides the error of the
			// form it has, that it is not of the other form's type: noise
			// when the form it has explains the error (here or in an
			// element of it).
			var kept []string
			for _, m := range g.msgs {
				if !strings.Contains(m, "mismatched types") {
					kept = append(kept, m)
				}
			}
			child := false
			for _, o := range order {
				if g.path != "" && strings.HasPrefix(o, g.path+".") {
					child = true
				}
			}
			if len(kept) > 0 || len(g.pairs) > 0 || child {
				g.msgs = kept
				if len(kept) == 0 && len(g.pairs) == 0 {
					continue // the element's error says it
				}
			}
		}
		g.got, g.allowed = splitConflicts(g.pairs)
		where := g.path
		if where == "" {
			where = "policy"
		}
		switch {
		case len(g.allowed) > 0 && len(g.msgs) == 0:
			sort.Strings(g.allowed)
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Invalid value", Path: g.path, Subject: g.rng,
				Detail: fmt.Sprintf("%s: %s is not allowed; use one of %s", where, g.got, strings.Join(g.allowed, ", "))})
		case len(g.msgs) == 0:
			// Only a disjunction header survived: still one error.
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Invalid value", Path: g.path, Subject: g.rng,
				Detail: fmt.Sprintf("%s: the value matches none of the allowed forms", where)})
		default:
			for _, m := range g.msgs {
				ds = append(ds, describe(g.path, m, g.rng))
			}
		}
	}
	if err != nil && !ds.HasErrors() {
		// Never lose an error, even one that carries no position.
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Invalid policy", Detail: errors.Details(err, nil)})
	}
	return ds
}

// splitConflicts finds the user's value among "conflicting values a and
// b" pairs: with several pairs it is the value every pair shares; with one,
// the non-string side (a wrong type) or, failing that, the first.
func splitConflicts(pairs [][2]string) (got string, allowed []string) {
	if len(pairs) == 0 {
		return "", nil
	}
	got = pairs[0][0]
	switch {
	case len(pairs) > 1:
		for _, cand := range pairs[0] {
			common := true
			for _, p := range pairs[1:] {
				if p[0] != cand && p[1] != cand {
					common = false
					break
				}
			}
			if common {
				got = cand
				break
			}
		}
	case !strings.HasPrefix(pairs[0][1], `"`) && strings.HasPrefix(pairs[0][0], `"`):
		got = pairs[0][1]
	}
	for _, p := range pairs {
		other := p[1]
		if p[1] == got {
			other = p[0]
		}
		if !slices.Contains(allowed, other) {
			allowed = append(allowed, other)
		}
	}
	return got, allowed
}

var outOfBound = regexp.MustCompile(`^invalid value (.*) \(out of bound (.*)\)$`)

// describe gives a CUE message a summary and a plain-language detail.
func describe(path, msg string, rng *diag.Range) diag.Diagnostic {
	d := diag.Diagnostic{Severity: diag.Error, Path: path, Subject: rng}
	where := path
	if where == "" {
		where = "policy"
	}
	switch {
	case msg == "field not allowed":
		name := path
		parent := "the policy root"
		if i := strings.LastIndexByte(path, '.'); i >= 0 {
			name, parent = path[i+1:], path[:i]
		}
		d.Summary = "Unknown field"
		d.Detail = fmt.Sprintf("%q is not allowed in %s", name, parent)
	case strings.HasPrefix(msg, "field is required but not present"):
		d.Summary = "Missing required field"
		d.Detail = fmt.Sprintf("%s must be set", where)
	case outOfBound.MatchString(msg):
		m := outOfBound.FindStringSubmatch(msg)
		d.Summary = "Invalid value"
		if b := boundRe.FindStringSubmatch(m[2]); b != nil && !strings.ContainsAny(b[1], `[]\*+?`) {
			d.Detail = fmt.Sprintf("%s: %s is not allowed; use one of %s", where, m[1], strings.Join(strings.Split(b[1], "|"), ", "))
		} else {
			d.Detail = fmt.Sprintf("%s: %s does not match %s", where, m[1], m[2])
		}
	case strings.HasPrefix(msg, "incompatible list lengths (0 and"):
		d.Summary = "Invalid value"
		d.Detail = fmt.Sprintf("%s: an empty list; list at least one member, or write \"none\"", where)
	case strings.Contains(msg, "mismatched types"):
		d.Summary = "Wrong type"
		d.Detail = fmt.Sprintf("%s: %s", where, msg)
	case strings.HasPrefix(msg, "expected") || strings.Contains(msg, "missing ',' ") || strings.Contains(msg, "illegal"):
		d.Summary = "Syntax error"
		d.Detail = msg
	default:
		d.Summary = "Invalid policy"
		d.Detail = fmt.Sprintf("%s: %s", where, msg)
	}
	return d
}

// conflictAcrossPlaces turns "conflicting values a and b" whose two values
// both come from the user's files into one diagnostic that names both
// places (file:line:col each).
func conflictAcrossPlaces(e errors.Error, path, format string, args []any, toDisplay map[string]string, rng *diag.Range) (diag.Diagnostic, bool) {
	if len(args) != 2 || !strings.HasPrefix(format, "conflicting values") {
		return diag.Diagnostic{}, false
	}
	var places []string
	for _, p := range errors.Positions(e) {
		d, ok := toDisplay[p.Filename()]
		if !ok {
			continue
		}
		where := fmt.Sprintf("%s:%d:%d", d, p.Line(), p.Column())
		if !slices.Contains(places, where) {
			places = append(places, where)
		}
	}
	if len(places) < 2 {
		return diag.Diagnostic{}, false
	}
	slices.Sort(places)
	where := path
	if where == "" {
		where = "policy"
	}
	return diag.Diagnostic{Severity: diag.Error, Summary: "Conflicting values", Path: path, Subject: rng,
		Detail: fmt.Sprintf("%s is set twice with different values (%v, %v), at %s: a field may have one value; remove one of them", where, args[0], args[1], strings.Join(places, " and "))}, true
}
