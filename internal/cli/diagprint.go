package cli

import (
	"fmt"
	"io"

	"github.com/b24perm/b24perm/diag"
)

// printDiags renders diagnostics as text (with source snippets) or JSON.
// Text shows the first 10 errors, as cue does, unless -E/--all-errors,
// and at most 3 warnings of one kind in full, then their count and where.
func (c *Command) printDiags(w io.Writer, ds diag.Diagnostics, files map[string][]byte, format string) {
	if format == "json" {
		_ = diag.WriteJSON(w, ds)
		return
	}
	o := diag.TextOptions{MaxErrors: 10, MoreHint: "use -E for all", WarningsPerSummary: 3}
	if c.global.allErrors {
		o = diag.TextOptions{}
	}
	diag.WriteTextOptions(w, ds, func(name string) []byte { return files[name] }, o)
}

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
