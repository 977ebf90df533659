// Package compiler turns a directory of policy files (CUE, or HCL) into a
// normalized permission graph. It validates the files against the embedded
// schema, checks cross-references in Go, and reports every problem as a
// diagnostic pointing into the user's files.
package compiler

import (
	"bytes"
	"crypto/sha256"
	"cuelang.org/go/cue"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/b24perm/b24perm/compiler/hclfront"
	"github.com/b24perm/b24perm/diag"
	"github.com/b24perm/b24perm/graph"
)

// MaxFileSize bounds one policy file; real policies are far smaller, and
// the limit keeps a stray data file from exhausting memory.
const MaxFileSize = 8 << 20

// Options tune a compilation (reserved).
type Options struct {
	// Progress, when set, is told each step as it starts ("reading the
	// files", "evaluating CUE", "building the graph"), so that a caller
	// can show where a long compilation is.
	Progress func(step string)
}

func (o Options) step(name string) {
	if o.Progress != nil {
		o.Progress(name)
	}
}

// Result is the outcome of a compilation.
type Result struct {
	// Graph is nil when Diags has errors.
	Graph *graph.Graph
	// Diags are sorted.
	Diags diag.Diagnostics
	// Files are the policy sources by the name used in diagnostics.
	Files map[string][]byte
	// Language is "cue" or "hcl".
	Language string
}

// CompileDir compiles the *.cue or *.hcl files of dir (not recursive).
func CompileDir(dir string, opts Options) Result {
	res := Result{Files: map[string][]byte{}}
	opts.step("reading the files")
	names, abs, ds := readDir(dir, res.Files)
	res.Diags = ds
	if ds.HasErrors() {
		res.Diags = res.Diags.Sort()
		return res
	}
	size := 0
	for _, b := range res.Files {
		size += len(b)
	}
	// About one path per 20 bytes of policy (19 in the generated XL one).
	ix := newSrcIndexSized(size / 20)
	var doc *Document
	if strings.HasSuffix(names[0], ".hcl") {
		res.Language = "hcl"
		opts.step("parsing HCL")
		doc, ds = compileHCL(names, res.Files, ix)
	} else {
		res.Language = "cue"
		opts.step("evaluating CUE")
		doc, ds = compileCUE(dir, names, abs, res.Files, ix)
	}
	res.Diags = append(res.Diags, ds...)
	if doc != nil {
		opts.step("building the graph")
		g, cds := build(doc, ix)
		res.Diags = append(res.Diags, dropShadowed(cds, res.Diags)...)
		if !res.Diags.HasErrors() {
			res.Graph = g
		}
	}
	if res.Graph == nil && !res.Diags.HasErrors() {
		res.Diags.Errorf(nil, "Internal error", "the policy produced no graph and no error; please report this with the policy attached")
	}
	res.Diags = res.Diags.Sort()
	return res
}

// toDisplayOf inverts display name → absolute path.
func toDisplayOf(abs map[string]string) map[string]string {
	m := make(map[string]string, len(abs))
	for d, a := range abs {
		m[a] = d
	}
	return m
}

// dropShadowed removes Go-check diagnostics at a position where the schema
// already reported a problem, so one mistake gives one message.
func dropShadowed(checks, schemaDiags diag.Diagnostics) diag.Diagnostics {
	seen := map[string]bool{}
	paths := map[string]bool{}
	for _, d := range schemaDiags {
		if d.Subject != nil {
			seen[fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)] = true
		}
		if d.Path != "" {
			paths[d.Path] = true
		}
	}
	var out diag.Diagnostics
	for _, d := range checks {
		if d.Subject != nil && seen[fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)] || d.Path != "" && paths[d.Path] {
			continue
		}
		out = append(out, d)
	}
	return out
}

func fileRange(name string) *diag.Range {
	return &diag.Range{Filename: name, Start: diag.Pos{Line: 1, Column: 1}, End: diag.Pos{Line: 1, Column: 1}}
}

// readDir lists and reads the policy files of dir, checking size and
// encoding. names are display names (dir joined with the base name).
func readDir(dir string, files map[string][]byte) (names []string, abs map[string]string, ds diag.Diagnostics) {
	names, abs, absDir, ds := policyFiles(dir)
	if ds.HasErrors() {
		return names, abs, ds
	}
	for _, n := range names {
		b, err := ReadPolicyFile(absDir, abs[n])
		if err != nil {
			summary := "Cannot read file"
			if fe, ok := err.(*FileError); ok {
				summary = fe.Summary
			}
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: summary, Subject: fileRange(n), Detail: err.Error()})
			continue
		}
		if !utf8.Valid(b) {
			off := invalidUTF8Offset(b)
			line := bytes.Count(b[:off], []byte("\n")) + 1
			col := off - bytes.LastIndexByte(b[:off], '\n')
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Invalid encoding",
				Subject: &diag.Range{Filename: n, Start: diag.Pos{Line: line, Column: col, Byte: off}, End: diag.Pos{Line: line, Column: col, Byte: off}},
				Detail:  fmt.Sprintf("%s is not valid UTF-8 (byte 0x%02x at offset %d); save the file as UTF-8", n, b[off], off)})
			continue
		}
		files[n] = b
	}
	return names, abs, ds
}

// policyFiles lists the policy files of dir that CompileDir reads: their
// display names in order, and absolute paths; an error when there are none
// or both languages.
func policyFiles(dir string) (names []string, abs map[string]string, absDir string, ds diag.Diagnostics) {
	abs = map[string]string{}
	st, err := os.Stat(dir)
	if err != nil {
		ds.Errorf(nil, "Cannot read policy directory", "%v", err)
		return
	}
	if !st.IsDir() {
		ds.Errorf(nil, "Not a directory", "%s is not a directory; pass the directory that holds the policy files", dir)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		ds.Errorf(nil, "Cannot read policy directory", "%v", err)
		return
	}
	absDir, _ = filepath.Abs(dir)
	var cueFiles, hclFiles []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		display := filepath.ToSlash(filepath.Join(dir, n))
		switch filepath.Ext(n) {
		case ".cue":
			cueFiles = append(cueFiles, display)
		case ".hcl":
			hclFiles = append(hclFiles, display)
		default:
			continue
		}
		abs[display] = filepath.Join(absDir, n)
	}
	sort.Strings(cueFiles)
	sort.Strings(hclFiles)
	switch {
	case len(cueFiles) == 0 && len(hclFiles) == 0:
		if len(entries) == 0 {
			ds.Errorf(nil, "Empty policy directory", "%s is empty: add policy files (*.cue or *.hcl); see docs/policy-language.md", dir)
		} else {
			// Subdirectories that hold policies are the likely intent.
			var subs []string
			for _, e := range entries {
				if !e.IsDir() {
					continue
				}
				for _, ext := range []string{"*.cue", "*.hcl"} {
					if m, _ := filepath.Glob(filepath.Join(dir, e.Name(), ext)); len(m) > 0 {
						subs = append(subs, filepath.Join(dir, e.Name()))
						break
					}
				}
			}
			hint := ""
			if len(subs) > 0 {
				hint = "; the policies may be in " + strings.Join(subs, " or ")
			}
			ds.Errorf(nil, "No policy files", "no policy files (*.cue, *.hcl) in %s%s", dir, hint)
		}
		return
	case len(cueFiles) > 0 && len(hclFiles) > 0:
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Mixed policy languages", Subject: fileRange(hclFiles[0]),
			Detail: fmt.Sprintf("%s holds both CUE (%s) and HCL (%s) files; keep one language per directory", dir, cueFiles[0], hclFiles[0])})
		return
	}
	names = cueFiles
	if len(hclFiles) > 0 {
		names = hclFiles
	}
	return names, abs, absDir, ds
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return 0
}

func compileCUE(dir string, names []string, abs map[string]string, files map[string][]byte, ix *srcIndex) (*Document, diag.Diagnostics) {
	run, err := newCUERun()
	if err != nil {
		return nil, diag.Diagnostics{{Severity: diag.Error, Summary: "Internal error", Detail: err.Error()}}
	}
	absDir, _ := filepath.Abs(dir)
	user, ds := run.loadUser(absDir, names, abs, files, ix)
	// The schema adds no defaults, so the user's value decodes to the same
	// document as the unified one, and much faster. On schema errors this
	// is also the best effort the Go checks run on, so that one run reports
	// as much as possible.
	var doc Document
	var b []byte
	var marshalErr, decodeErr error
	conforms := false
	if user.Exists() {
		if b, marshalErr = user.MarshalJSON(); marshalErr == nil {
			// Decoding is plain Go: it runs beside the schema checker,
			// which asks the (single-goroutine) CUE context.
			decoded := make(chan error, 1)
			go func() { decoded <- json.Unmarshal(b, &doc) }()
			conforms = !ds.HasErrors() && fastSchemaCheck && !ix.hasConstraints() && run.checker().conforms(b)
			decodeErr = <-decoded
		}
	}
	if !ds.HasErrors() && user.Exists() {
		// Every CRM chain level checked in Go: the loose schema gives the
		// same errors as the strict one without a disjunction per cell.
		// Any doubt (a bad level, a document that does not decode) takes
		// the strict schema, whose diagnostics explain the problem.
		switch {
		case conforms && decodeErr == nil:
			// Conforms by the schema's own answers, asked per distinct
			// label and value (schemaChecker): no unification needed.
		case marshalErr == nil && decodeErr == nil && chainLevelsValid(&doc):
			ds = run.validate(user, run.loose, abs, ix)
		default:
			ds = run.validate(user, run.def, abs, ix)
		}
	}
	if !user.Exists() {
		if !ds.HasErrors() {
			ds.Errorf(nil, "No policy loaded", "no CUE value was found in %s", dir)
		}
		return nil, ds
	}
	if marshalErr != nil {
		if !ds.HasErrors() {
			ds = append(ds, run.convert(marshalErr, toDisplayOf(abs), ix)...)
		}
		return nil, ds
	}
	if decodeErr != nil {
		if !ds.HasErrors() {
			ds.Errorf(nil, "Internal error", "decoding the validated policy: %v", decodeErr)
		}
		return nil, ds
	}
	return &doc, ds
}

// fastSchemaCheck lets tests compare the checker's path with unification.
var fastSchemaCheck = true

// chainSetMembers are the members of a CRM level written as a list, and
// chainLevels the level names; they mirror the schema's #SetMember and
// #ChainLevel (chainLevelDecl).
var (
	chainSetMembers = map[string]bool{"own": true, "department": true, "subdepartments": true, "open": true, "all": true}
	chainLevels     = map[string]bool{"none": true, "own": true, "department": true, "subdepartments": true, "open": true, "all": true}
	chainActions    = []string{"read", "add", "write", "delete", "export", "import"}
)

// chainLevelsValid reports whether every CRM chain level of doc (the
// #ChainLevel fields of #ItemActions and #StageActions) is what the schema
// allows: a level name, or a non-empty list of set members.
func chainLevelsValid(doc *Document) bool {
	ok := func(a Actions) bool {
		for _, act := range chainActions {
			l, set := a[act]
			if !set {
				continue
			}
			if chainLevels[l] {
				continue
			}
			list, isList := parseListLevel(l)
			if !isList || len(list) == 0 {
				return false
			}
			for _, m := range list {
				if !chainSetMembers[m] {
					return false
				}
			}
		}
		return true
	}
	for _, role := range doc.CRM.Roles {
		for _, e := range role.Permissions {
			if !ok(e.Actions) {
				return false
			}
			for _, st := range e.Stages {
				if !ok(st) {
					return false
				}
			}
			for _, p := range e.Pipelines {
				if !ok(p.Actions) {
					return false
				}
				for _, st := range p.Stages {
					if !ok(st) {
						return false
					}
				}
			}
		}
	}
	return true
}

func compileHCL(names []string, files map[string][]byte, ix *srcIndex) (*Document, diag.Diagnostics) {
	in := map[string][]byte{}
	for _, n := range names {
		if b, ok := files[n]; ok {
			in[n] = b
		}
	}
	raw, ranges, ds := hclfront.Decode(in)
	for p, r := range ranges {
		ix.setFixed(p, r)
	}
	if ds.HasErrors() || raw == nil {
		return nil, ds
	}
	run, err := newCUERun()
	if err != nil {
		return nil, append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Internal error", Detail: err.Error()})
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Internal error", Detail: err.Error()})
	}
	if !fastSchemaCheck || !run.checker().conforms(b) {
		v := run.ctx.Encode(raw)
		u := v.Unify(run.def)
		if err := u.Validate(cue.Concrete(true)); err != nil {
			ds = append(ds, run.convert(err, map[string]string{}, ix)...)
		}
	}
	var doc Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, ds
	}
	return &doc, ds
}

// SourceDigest hashes the policy files CompileDir(dir) would read: their
// display names (they appear in the graph's Sources) and their bytes. It
// is the policy half of the key of a cached compilation; any edit, added
// or removed file changes it. ok is false when the directory cannot be
// read as a policy (CompileDir reports why).
func SourceDigest(dir string) (digest string, ok bool) {
	names, abs, absDir, ds := policyFiles(dir)
	if ds.HasErrors() || len(names) == 0 {
		return "", false
	}
	// Each file is hashed as it is read, through one small buffer: a
	// digest needs no file whole (reading a 1 MB policy into fresh
	// memory costs a page fault per 4 KB).
	h, fh := sha256.New(), sha256.New()
	buf := make([]byte, 64<<10)
	for _, n := range names {
		fh.Reset()
		size, err := readPolicyFile(absDir, abs[n], func(f *os.File, _ int64) (int64, error) {
			return io.CopyBuffer(fh, io.LimitReader(f, MaxFileSize+1), buf)
		})
		if err != nil {
			return "", false // the compile reports the problem
		}
		fmt.Fprintf(h, "%s\x00%d\x00%x\x00", n, size, fh.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil)), true
}
