package cli

import (
	"fmt"
	"io"

	"github.com/b24perm/b24perm/diag"
)

// printDiags renders diagnostics as text (with source snippets) or JSON.
func printDiags(w io.Writer, ds diag.Diagnostics, files map[string][]byte, format string) {
	if format == "json" {
		_ = diag.WriteJSON(w, ds)
		return
	}
	diag.WriteText(w, ds, func(name string) []byte { return files[name] })
}

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
