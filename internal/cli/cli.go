// Package cli is the b24perm command line: it parses flags, calls the
// engine packages and prints. It is the only package that prints, reads
// the environment or decides exit codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/b24perm/b24perm/provider/rest"
	"github.com/spf13/cobra"
)

// Exit codes (the CLI contract).
const (
	ExitOK       = 0
	ExitError    = 1
	ExitChanges  = 2 // with --detailed-exitcode
	ExitWidening = 3 // with --fail-on-widening
)

// ExitError carries an exit code through cobra. A nil Err means the
// command already printed what the user needs to see.
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// exitCode returns an error that makes Main exit with code after the
// command already printed its output.
func exitCode(code int) error { return &exitError{Code: code} }

// Streams are the process's standard streams; tests substitute buffers.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	// InIsTTY / OutIsTTY report whether the streams are terminals.
	InIsTTY, OutIsTTY, ErrIsTTY bool
	// Getenv reads the environment (os.Getenv in production).
	Getenv func(string) string
	// LookupEnv tells a variable set but empty from an unset one
	// (os.LookupEnv in production; derived from Getenv when nil).
	LookupEnv func(string) (string, bool)
}

// Command is one run of the CLI: the cobra tree plus per-run state.
type Command struct {
	root    *cobra.Command
	streams Streams
	global  globalFlags
	// legacyLive is set when a question command used the old boolean
	// --live (now --roles live).
	legacyLive bool
	// forceProgress is --progress: progress lines also when stderr is
	// not a terminal. reading is set while plan reads the portal.
	forceProgress bool
	reading       atomic.Bool
	// closers are closed when Run ends (closeAtEnd).
	closersMu sync.Mutex
	closers   []io.Closer
}

type globalFlags struct {
	color      string
	chdir      string
	noColor    bool
	allErrors  bool
	cpuprofile string
	// restDeadline bounds all REST calls of a run; restMaxResponse is
	// the largest REST answer accepted, in MiB.
	restDeadline    time.Duration
	restMaxResponse int64
}

// New builds a fresh command tree; no state is shared between calls.
func New(args []string, s Streams) *Command {
	if s.Getenv == nil {
		s.Getenv = func(string) string { return "" }
	}
	if s.LookupEnv == nil {
		get := s.Getenv
		s.LookupEnv = func(k string) (string, bool) { v := get(k); return v, v != "" }
	}
	c := &Command{streams: s}
	root := &cobra.Command{
		Use:           "b24perm",
		Short:         "Bitrix24 access permissions as code: validate, plan, apply, and see who gains access",
		SilenceErrors: true,
		SilenceUsage:  true,
		Long: `b24perm manages Bitrix24 access permissions as code.

Declare CRM roles, telephony and open-channel roles, workgroups and field rules
in CUE (or HCL); b24perm validates them, plans the change against the live
portal like terraform plan, applies it safely, and shows who gains and who
loses which access.`,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.PersistentFlags().StringVar(&c.global.color, "color", "auto", "colorize output: auto, always or never")
	root.PersistentFlags().BoolVar(&c.global.noColor, "no-color", false, "no colors (the same as --color never)")
	root.PersistentFlags().BoolVar(&c.forceProgress, "progress", false, "print progress lines on stderr even when it is not a terminal")
	root.PersistentFlags().BoolVarP(&c.global.allErrors, "all-errors", "E", false, "print every error (by default the first 10, as cue does)")
	root.PersistentFlags().StringVarP(&c.global.chdir, "chdir", "C", "", "switch to this directory before doing anything")
	root.PersistentFlags().StringVar(&c.global.cpuprofile, "cpuprofile", "", "write a CPU profile to this file")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentFlags().DurationVar(&c.global.restDeadline, "rest-deadline", 10*time.Minute, "overall time limit for the REST calls to a cloud portal (webhook:, oauth:)")
	root.PersistentFlags().Int64Var(&c.global.restMaxResponse, "rest-max-response", rest.DefaultMaxResponse>>20, "largest REST answer accepted, in MiB")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if c.global.chdir != "" {
			if err := os.Chdir(c.global.chdir); err != nil {
				return fmt.Errorf("--chdir: %w", err)
			}
		}
		if c.global.restDeadline <= 0 {
			return fmt.Errorf("--rest-deadline must be positive, not %v", c.global.restDeadline)
		}
		if c.global.restMaxResponse <= 0 {
			return fmt.Errorf("--rest-max-response must be a positive number of MiB, not %d", c.global.restMaxResponse)
		}
		if c.global.noColor {
			c.global.color = "never"
		}
		if c.legacyLive {
			fmt.Fprintln(c.streams.Err, "Note: --live without a backend is deprecated: it is --roles live now (--live BACKEND names the backend, as on plan).")
		}
		switch c.global.color {
		case "auto", "always", "never":
		default:
			return fmt.Errorf("--color must be auto, always or never, not %q", c.global.color)
		}
		return nil
	}
	for _, mk := range commands {
		if sub := mk(c); sub != nil {
			root.AddCommand(sub)
		}
	}
	args, c.legacyLive = legacyLiveFlag(terraformFlags(args))
	root.SetArgs(args)
	c.root = root
	return c
}

// commands lists the subcommand constructors; each lives in its own file.
var commands = []func(*Command) *cobra.Command{
	newVersionCmd,
	newValidateCmd,
	newCompileCmd,
	newSchemaCmd,
	newFmtCmd,
	newInitCmd,
	newPlanCmd,
	newApplyCmd,
	newDriftCmd,
	newStateCmd,
	newForceUnlockCmd,
	newImportCmd,
	newGenExampleCmd,
	newWhoCanCmd,
	newExplainCmd,
	newAccessCmd,
	newTestCmd,
	newLintCmd,
	newDiffCmd,
	newGraphCmd,
	newSimCmd,
	newCICmd,
	newVerifyCmd,
}

// Run executes the command and returns the process exit code, printing any
// error once.
func (c *Command) Run() int {
	if i := slices.Index(os.Args, "--cpuprofile"); i > 0 && i+1 < len(os.Args) {
		if f, err := os.Create(os.Args[i+1]); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	err := c.root.Execute()
	c.closeAll()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(c.streams.Err, "Error: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(c.streams.Err, "Error: %v\n", err)
	return ExitError
}

// Main runs the CLI with the process's streams and environment.
func Main() int {
	// The garbage collector keeps its default (GOGC=100). GOGC=400 was
	// slower once the post-compile steps allocated less: every page of a
	// larger heap is a page fault, and faults are dear on the virtual
	// machines CI runs on. Plan of XL with 1% changed, user+sys: 2.2-2.5 s
	// at 100, 2.6-3.2 s at 400 (RSS 190 vs 373 MB); at 4x XL 8.4 vs 11.8 s
	// (RSS 0.72 vs 1.42 GB); a cached who-can 0.37 vs 0.42 s.
	s := Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, LookupEnv: os.LookupEnv}
	s.InIsTTY = isTerminal(os.Stdin)
	s.OutIsTTY = isTerminal(os.Stdout)
	s.ErrIsTTY = isTerminal(os.Stderr)
	return New(os.Args[1:], s).Run()
}

// Color reports whether stdout output should be colorized.
func (c *Command) Color() bool {
	switch c.global.color {
	case "always":
		return true
	case "never":
		return false
	}
	if c.streams.Getenv("NO_COLOR") != "" || c.streams.Getenv("TERM") == "dumb" {
		return false
	}
	return c.streams.OutIsTTY
}

// terraformFlags accepts Terraform's single-dash spelling of long flags
// (-no-color, -input=false, -lock=false, -lock-timeout=5s, -out=, -target=,
// -exclude=, -detailed-exitcode, -auto-approve …) by rewriting them to the
// double-dash form before cobra sees them (cobra would read -no-color as
// the shorthands -n -o …).
func terraformFlags(args []string) []string {
	long := []string{"out", "target", "exclude", "auto-approve", "detailed-exitcode", "state", "live", "format", "chdir",
		"no-color", "input", "lock", "lock-timeout"}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a[1:], "=")
			if slices.Contains(long, name) {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// questionCommands took a boolean --live (answer from the portal's roles)
// before --live named the backend everywhere.
var questionCommands = []string{"who-can", "explain", "access", "graph", "test"}

// legacyLiveFlag rewrites the old boolean --live of a question command to
// --roles live. --live followed by a backend (a KIND:… spec, demo, or
// what looks like a keyword DSN) stays: a backend spec has a colon.
func legacyLiveFlag(args []string) ([]string, bool) {
	at := -1
	for i, a := range args {
		if a == "--" {
			break
		}
		if slices.Contains(questionCommands, a) {
			at = i
			break
		}
	}
	if at < 0 {
		return args, false
	}
	out := slices.Clone(args[:at+1])
	used := false
	for i := at + 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...), used
		case a == "--live=true" || a == "--live=false":
			used = true
			if a == "--live=true" {
				out = append(out, "--roles=live")
			}
			continue
		case a == "--live":
			next := ""
			if i+1 < len(args) {
				next = args[i+1]
			}
			// A keyword DSN ("host=… dbname=…") is meant as a backend
			// too: it then gets the unknown-backend error, not a
			// positional argument's.
			if next == "demo" || strings.Contains(next, ":") || strings.Contains(next, "=") {
				break
			}
			used = true
			out = append(out, "--roles=live")
			continue
		}
		out = append(out, a)
	}
	return out, used
}
