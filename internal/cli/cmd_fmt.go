package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue/format"
	"github.com/b24perm/b24perm/diag"
	"github.com/sergi/go-diff/diffmatchpatch"
	"github.com/spf13/cobra"
)

func newFmtCmd(c *Command) *cobra.Command {
	var check, showDiff bool
	cmd := &cobra.Command{
		Use:   "fmt [dir|file.cue]...",
		Short: "Format CUE policy files like cue fmt",
		Long: `Fmt rewrites *.cue files in canonical CUE format (default: the current
directory). With --check nothing is written: the files that would change are
listed and the exit status is 1. --diff prints the changes as a unified diff.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := cueFiles(args)
			if err != nil {
				return err
			}
			var ds diag.Diagnostics
			srcs := map[string][]byte{}
			changed := 0
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				srcs[f] = src
				out, err := format.Source(src, format.Simplify())
				if err != nil {
					ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Syntax error", Detail: cueErrDetail(err),
						Subject: cueErrRange(f, err)})
					continue
				}
				if bytes.Equal(src, out) {
					continue
				}
				changed++
				if showDiff {
					writeUnifiedDiff(cmd.OutOrStdout(), f, string(src), string(out))
				}
				if check {
					if !showDiff {
						fmt.Fprintln(cmd.OutOrStdout(), f)
					}
					continue
				}
				if err := writeFileKeepMode(f, out); err != nil {
					return err
				}
			}
			if len(ds) > 0 {
				printDiags(cmd.ErrOrStderr(), ds.Sort(), srcs, "text")
				return exitCode(ExitError)
			}
			if check && changed > 0 {
				return exitCode(ExitError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "do not write; exit 1 if any file is not formatted")
	cmd.Flags().BoolVar(&showDiff, "diff", false, "print a unified diff of the changes")
	return cmd
}

func cueFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		args = []string{"."}
	}
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".cue") && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.ToSlash(filepath.Join(a, e.Name())))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func writeFileKeepMode(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".b24perm-fmt"
	if err := os.WriteFile(tmp, data, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeUnifiedDiff prints a line diff with 3 lines of context.
func writeUnifiedDiff(w io.Writer, name, a, b string) {
	dmp := diffmatchpatch.New()
	c1, c2, lines := dmp.DiffLinesToChars(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(c1, c2, false), lines)
	type line struct {
		op   byte
		text string
	}
	var all []line
	for _, d := range diffs {
		op := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffInsert:
			op = '+'
		case diffmatchpatch.DiffDelete:
			op = '-'
		}
		for _, l := range strings.SplitAfter(d.Text, "\n") {
			if l != "" {
				all = append(all, line{op, strings.TrimSuffix(l, "\n")})
			}
		}
	}
	fmt.Fprintf(w, "--- %s\n+++ %s (formatted)\n", name, name)
	const ctx = 3
	oldLine, newLine := 1, 1
	for i := 0; i < len(all); {
		if all[i].op == ' ' {
			i++
			oldLine++
			newLine++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(all) {
			if all[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(all) && all[run].op == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(all) {
				end = min(end+ctx, len(all))
				break
			}
			end = run
		}
		os, ns := oldLine-(i-start), newLine-(i-start)
		oc, nc := 0, 0
		for _, l := range all[start:end] {
			if l.op != '+' {
				oc++
			}
			if l.op != '-' {
				nc++
			}
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", os, oc, ns, nc)
		for _, l := range all[start:end] {
			fmt.Fprintf(w, "%c%s\n", l.op, l.text)
		}
		for _, l := range all[i:end] {
			if l.op != '+' {
				oldLine++
			}
			if l.op != '-' {
				newLine++
			}
		}
		i = end
	}
}
