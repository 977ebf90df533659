package cli

import (
	"bytes"
	"fmt"
	"github.com/b24perm/b24perm/compiler"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"github.com/b24perm/b24perm/diag"
	"github.com/rogpeppe/go-internal/diff"
	"github.com/spf13/cobra"
)

func newFmtCmd(c *Command) *cobra.Command {
	var check, showDiff, simplify bool
	cmd := &cobra.Command{
		Use:   "fmt [dir|file.cue]...",
		Short: "Format CUE policy files exactly as cue fmt does",
		Long: `Fmt rewrites *.cue files in canonical CUE format (default: the current
directory), byte for byte as cue fmt v0.17.1 does. With --check nothing is
written: the files that would change are listed and the exit status is 1.
--diff prints the changes as a unified diff instead of rewriting the files.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := cueFiles(args)
			if err != nil {
				return err
			}
			var opts []format.Option
			if simplify {
				opts = append(opts, format.Simplify())
			}
			var ds diag.Diagnostics
			srcs := map[string][]byte{}
			changed := 0
			for _, f := range files {
				src, err := compiler.ReadPolicyFile(filepath.Dir(f), f)
				if err != nil {
					return err
				}
				srcs[f] = src
				out, err := formatCUE(f, src, opts...)
				if err != nil {
					ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "Syntax error", Detail: cueErrDetail(err),
						Subject: cueErrRange(f, err)})
					continue
				}
				if bytes.Equal(src, out) {
					continue
				}
				changed++
				switch {
				case showDiff:
					fmt.Fprintln(cmd.OutOrStdout(), string(diff.Diff(f+".orig", src, f, out)))
				case check:
					fmt.Fprintln(cmd.OutOrStdout(), f)
				default:
					if err := writeFileKeepMode(f, out); err != nil {
						return err
					}
				}
			}
			if len(ds) > 0 {
				c.printDiags(cmd.ErrOrStderr(), ds.Sort(), srcs, "text")
				return exitCode(ExitError)
			}
			if check && changed > 0 {
				return exitCode(ExitError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "do not write; exit 1 if any file is not formatted")
	cmd.Flags().BoolVarP(&showDiff, "diff", "d", false, "print a unified diff of the changes instead of rewriting the files")
	cmd.Flags().BoolVarP(&simplify, "simplify", "s", false, "simplify output, as cue fmt --simplify")
	return cmd
}

// formatCUE formats one file the way cue fmt's formatFile does: parse with
// comments under the file's own name (so syntax errors carry their
// position), then print the syntax tree.
func formatCUE(name string, src []byte, opts ...format.Option) ([]byte, error) {
	f, err := parser.ParseFile(name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	return format.Node(f, opts...)
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
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
