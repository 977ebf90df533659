// Package diag holds diagnostics: problems a user must fix, with severity,
// summary, detail and a source range. CUE and HCL errors and the compiler's
// own checks all become Diagnostics and go through one renderer.
package diag

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Severity of a diagnostic.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Pos is a 1-based line/column position with a byte offset.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// Range is a span in a file, HCL-compatible in shape.
type Range struct {
	Filename string `json:"filename"`
	Start    Pos    `json:"start"`
	End      Pos    `json:"end"`
}

// Diagnostic is one problem.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
	// Path is the policy path (e.g. crm.roles.manager.permissions.deal.read).
	Path    string  `json:"path,omitempty"`
	Subject *Range  `json:"range,omitempty"`
	Related []Range `json:"related,omitempty"`
}

// Diagnostics is a list; functions return it alongside results.
type Diagnostics []Diagnostic

// Errorf appends an error diagnostic at r (which may be nil).
func (ds *Diagnostics) Errorf(r *Range, summary, detailFmt string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Error, Summary: summary, Detail: fmt.Sprintf(detailFmt, args...), Subject: r})
}

// Warnf appends a warning.
func (ds *Diagnostics) Warnf(r *Range, summary, detailFmt string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Warning, Summary: summary, Detail: fmt.Sprintf(detailFmt, args...), Subject: r})
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == Error })
}

// Err returns ds as an error if it has errors, else nil.
func (ds Diagnostics) Err() error {
	if ds.HasErrors() {
		return ErrorList(ds)
	}
	return nil
}

// ErrorList is Diagnostics used as an error value.
type ErrorList Diagnostics

func (e ErrorList) Error() string {
	var b strings.Builder
	for i, d := range e {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(d.Short())
	}
	return b.String()
}

// Short renders "file:line:col: summary: detail".
func (d Diagnostic) Short() string {
	var b strings.Builder
	if d.Subject != nil && d.Subject.Filename != "" {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// Sort orders diagnostics by file, line, column, then message, and drops
// exact duplicates, so output is stable.
func (ds Diagnostics) Sort() Diagnostics {
	key := func(d Diagnostic) (string, int, int) {
		if d.Subject == nil {
			return "", 0, 0
		}
		return d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
	}
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		fa, la, ca := key(a)
		fb, lb, cb := key(b)
		return cmp.Or(cmp.Compare(fa, fb), cmp.Compare(la, lb), cmp.Compare(ca, cb),
			cmp.Compare(a.Summary, b.Summary), cmp.Compare(a.Detail, b.Detail))
	})
	return slices.CompactFunc(ds, func(a, b Diagnostic) bool {
		fa, la, ca := key(a)
		fb, lb, cb := key(b)
		return fa == fb && la == lb && ca == cb && a.Summary == b.Summary && a.Detail == b.Detail && a.Severity == b.Severity
	})
}

// Sources gives access to file contents for snippets.
type Sources func(filename string) []byte

// WriteText renders diagnostics Terraform-style: a header line with the
// position, the source line with a caret marker, and the detail.
func WriteText(w io.Writer, ds Diagnostics, src Sources) {
	WriteTextOptions(w, ds, src, TextOptions{})
}

// TextOptions keep a long list of diagnostics readable.
type TextOptions struct {
	// MaxErrors caps the errors shown in full (0: all), as cue does; the
	// rest are counted in one line ending with MoreHint.
	MaxErrors int
	// MoreHint ends the "and N more errors" line ("use -E for all").
	MoreHint string
	// WarningsPerSummary caps the warnings of one summary shown in full
	// (0: all); the others are counted with their positions.
	WarningsPerSummary int
}

// WriteTextOptions is WriteText with caps: errors beyond MaxErrors and
// warnings beyond WarningsPerSummary of the same summary are counted, not
// printed.
func WriteTextOptions(w io.Writer, ds Diagnostics, src Sources, o TextOptions) {
	var shown Diagnostics
	errs, hiddenErrs := 0, 0
	perSummary := map[string]int{}
	hidden := map[string][]string{} // warning summary → positions not shown
	var hiddenOrder []string
	for _, d := range ds {
		if d.Severity != Warning {
			errs++
			if o.MaxErrors > 0 && errs > o.MaxErrors {
				hiddenErrs++
				continue
			}
			shown = append(shown, d)
			continue
		}
		perSummary[d.Summary]++
		if o.WarningsPerSummary > 0 && perSummary[d.Summary] > o.WarningsPerSummary {
			if _, ok := hidden[d.Summary]; !ok {
				hiddenOrder = append(hiddenOrder, d.Summary)
			}
			where := "(no position)"
			if d.Subject != nil && d.Subject.Filename != "" {
				where = fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)
			}
			hidden[d.Summary] = append(hidden[d.Summary], where)
			continue
		}
		shown = append(shown, d)
	}
	writeText(w, shown, src)
	for _, s := range hiddenOrder {
		at := hidden[s]
		list := strings.Join(at[:min(len(at), 5)], ", ")
		if len(at) > 5 {
			list += fmt.Sprintf(" … (%d more)", len(at)-5)
		}
		fmt.Fprintf(w, "\nwarning: %s: %d more like this, at %s\n", s, len(at), list)
	}
	if hiddenErrs > 0 {
		word := "errors"
		if hiddenErrs == 1 {
			word = "error"
		}
		fmt.Fprintf(w, "\n%d more %s (%d in all)", hiddenErrs, word, errs)
		if o.MoreHint != "" {
			fmt.Fprintf(w, "; %s", o.MoreHint)
		}
		fmt.Fprintln(w)
	}
}

func writeText(w io.Writer, ds Diagnostics, src Sources) {
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		label := "Error"
		if d.Severity == Warning {
			label = "Warning"
		}
		if d.Subject != nil && d.Subject.Filename != "" {
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, strings.ToLower(label), d.Summary)
			if src != nil {
				writeSnippet(w, d.Subject, src(d.Subject.Filename))
			}
		} else {
			fmt.Fprintf(w, "%s: %s\n", strings.ToLower(label), d.Summary)
		}
		if d.Detail != "" {
			for _, line := range strings.Split(d.Detail, "\n") {
				fmt.Fprintf(w, "  %s\n", line)
			}
		}
	}
}

func writeSnippet(w io.Writer, r *Range, content []byte) {
	if content == nil || r.Start.Line < 1 {
		return
	}
	lines := bytes.Split(content, []byte("\n"))
	if r.Start.Line > len(lines) {
		return
	}
	line := strings.TrimRight(string(lines[r.Start.Line-1]), "\r")
	if len(line) > 200 {
		return
	}
	num := fmt.Sprintf("%4d", r.Start.Line)
	fmt.Fprintf(w, "%s | %s\n", num, strings.ReplaceAll(line, "\t", "    "))
	col := r.Start.Column
	if col < 1 {
		col = 1
	}
	prefix := line[:min(col-1, len(line))]
	pad := len(strings.ReplaceAll(prefix, "\t", "    "))
	width := 1
	if r.End.Line == r.Start.Line && r.End.Column > col {
		width = r.End.Column - col
	}
	fmt.Fprintf(w, "%s | %s%s\n", strings.Repeat(" ", len(num)), strings.Repeat(" ", pad), strings.Repeat("^", width))
}

// JSONFormatVersion versions the machine-readable diagnostics.
const JSONFormatVersion = 1

// WriteJSON renders {"format_version":1,"valid":bool,"error_count":n,
// "warning_count":n,"diagnostics":[…]}.
func WriteJSON(w io.Writer, ds Diagnostics) error {
	type out struct {
		FormatVersion int          `json:"format_version"`
		Valid         bool         `json:"valid"`
		ErrorCount    int          `json:"error_count"`
		WarningCount  int          `json:"warning_count"`
		Diagnostics   []Diagnostic `json:"diagnostics"`
	}
	o := out{FormatVersion: JSONFormatVersion, Valid: !ds.HasErrors(), Diagnostics: ds}
	if o.Diagnostics == nil {
		o.Diagnostics = []Diagnostic{}
	}
	for _, d := range ds {
		if d.Severity == Error {
			o.ErrorCount++
		} else {
			o.WarningCount++
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(o)
}
