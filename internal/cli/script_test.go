package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/cli"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/planfile"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/rogpeppe/go-internal/lockedfile"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"b24perm": func() { os.Exit(cli.Main()) },
	})
}

// portalLocks holds the lock-portal locks by path.
var portalLocks sync.Map

// TestScript runs the CLI scripts in testdata/script. B24PERM_UPDATE=1
// rewrites their golden sections.
func TestScript(t *testing.T) {
	root, _ := filepath.Abs("../../")
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       os.Getenv("B24PERM_UPDATE") != "",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// workflow-step FILE STEP runs a step of a workflow or of
			// action.yml as GitHub would (see workflowStep).
			"workflow-step": workflowStep(root),
			// github-fake start|pr N SHA [fork]|merge N SHA|artifact NAME SHA
			// FILE...|public|read-only|rate-limit N serves the fake GitHub API (see
			// fakeGitHub) for this script: start sets $GITHUB_API_URL and
			// keeps the state in $WORK/github; pr opens pull request N (or
			// moves its head) at SHA, from a fork if asked; merge records
			// SHA as its merge commit and closes it; artifact records FILEs
			// as the artifact NAME of a run at SHA; public makes the
			// repository public (GET /repos/acme/perms).
			"github-fake": githubFakeCmd,
			// portal-edit PATH ROLE NEWNAME renames a CRM role in a local
			// portal file, as an administrator clicking in the UI would.
			// cp-policies copies the repository's example policies here.
			"cp-policies": func(ts *testscript.TestScript, neg bool, args []string) {
				src := filepath.Join(ts.Getenv("B24PERM_REPO"), "policies")
				entries, err := os.ReadDir(src)
				ts.Check(err)
				ts.Check(os.MkdirAll(ts.MkAbs("policies"), 0o755))
				for _, e := range entries {
					b, err := os.ReadFile(filepath.Join(src, e.Name()))
					ts.Check(err)
					ts.Check(os.WriteFile(ts.MkAbs(filepath.Join("policies", e.Name())), b, 0o644))
				}
			},
			// nest FILE HEAD OPEN N writes HEAD followed by N copies of
			// OPEN: deeply nested input without a huge txtar.
			"nest": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 4 {
					ts.Fatalf("usage: nest FILE HEAD OPEN N")
				}
				var n int
				_, err := fmt.Sscan(args[3], &n)
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(args[1]+strings.Repeat(args[2], n)+"\n"), 0o644))
			},
			// replace FILE OLD NEW edits a file in place.
			"replace": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: replace FILE OLD NEW")
				}
				path := ts.MkAbs(args[0])
				b, err := os.ReadFile(path)
				ts.Check(err)
				if !strings.Contains(string(b), args[1]) {
					ts.Fatalf("%s does not contain %q", args[0], args[1])
				}
				ts.Check(os.WriteFile(path, []byte(strings.Replace(string(b), args[1], args[2], 1)), 0o644))
			},
			// damage-cache DIR flips a byte near the end of every graph
			// cache entry in DIR, as a disk error or a crash might.
			"damage-cache": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: damage-cache DIR")
				}
				m, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "graph-*.snap"))
				ts.Check(err)
				if len(m) == 0 {
					ts.Fatalf("no cache entries in %s", args[0])
				}
				for _, p := range m {
					b, err := os.ReadFile(p)
					ts.Check(err)
					b[len(b)-10] ^= 0x40
					ts.Check(os.WriteFile(p, b, 0o644))
				}
			},
			// db-create mysql|postgres creates a fresh database on the real
			// server and sets $DSN to it.
			"db-create": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: db-create mysql|postgres")
				}
				dsn, cleanup, err := dbtest.Create(args[0])
				if err != nil {
					ts.Fatalf("%v", err)
				}
				ts.Defer(cleanup)
				ts.Setenv("DSN", dsn)
			},
			// db-drop DSN drops a database made by db-create (its cleanup
			// then finds nothing to drop).
			"db-drop": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: db-drop DSN")
				}
				ts.Check(dbtest.Drop(args[0]))
			},
			// sql DSN STATEMENT runs a statement, as an administrator clicking
			// in the Bitrix UI would change rows.
			"sql": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: sql DSN STATEMENT")
				}
				ts.Check(dbtest.Exec(args[0], args[1]))
			},
			// wait-file FILE VAR waits for FILE (up to 10 s) and sets $VAR
			// to its content.
			"wait-file": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: wait-file FILE VAR")
				}
				for i := 0; i < 200; i++ {
					if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && len(b) > 0 {
						ts.Setenv(args[1], string(b))
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				ts.Fatalf("%s did not appear", args[0])
			},
			// lock-state STATEFILE ID PID|self writes the state's lock file
			// as an apply by ivan on this host would (self: this test
			// process, which is alive while the script runs).
			"lock-state": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: lock-state STATEFILE ID PID|self")
				}
				pid := os.Getpid()
				if args[2] != "self" {
					_, err := fmt.Sscan(args[2], &pid)
					ts.Check(err)
				}
				host, _ := os.Hostname()
				b, _ := json.Marshal(map[string]any{"id": args[1], "operation": "apply", "who": "ivan@" + host, "pid": pid, "host": host, "created": "2026-11-24T10:00:00Z"})
				ts.Check(os.WriteFile(ts.MkAbs(args[0])+".lock", b, 0o644))
				if args[2] == "self" {
					// A live holder holds the OS lock on the lock file
					// (go-internal/lockedfile), as b24perm does.
					fh, err := lockedfile.Open(ts.MkAbs(args[0]) + ".lock")
					ts.Check(err)
					ts.Defer(func() { fh.Close() })
				}
			},
			// portal-perm PATH ROLE ENTITY PERM_TYPE ATTR sets the ATTR of a
			// role's pipeline-level row in b_crm_role_perms (ENTITY as Bitrix
			// writes it: DEAL, DEAL_C1 …), as an edit in the UI would.
			"portal-perm": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 5 {
					ts.Fatalf("usage: portal-perm PATH ROLE ENTITY PERM_TYPE ATTR")
				}
				path := ts.MkAbs(args[0])
				p, err := local.LoadTables(path)
				ts.Check(err)
				b, err := json.Marshal(p)
				ts.Check(err)
				var m map[string]any
				ts.Check(json.Unmarshal(b, &m))
				var roleID any
				for _, r := range m["b_crm_role"].([]any) {
					if r := r.(map[string]any); r["NAME"] == args[1] {
						roleID = r["ID"]
					}
				}
				if roleID == nil {
					ts.Fatalf("no role %q", args[1])
				}
				found := false
				for _, r := range m["b_crm_role_perms"].([]any) {
					r := r.(map[string]any)
					if r["ROLE_ID"] == roleID && r["ENTITY"] == args[2] && r["FIELD"] == "-" && r["PERM_TYPE"] == args[3] {
						r["ATTR"], r["SETTINGS"], found = args[4], nil, true
					}
				}
				if !found {
					ts.Fatalf("role %q has no %s %s row", args[1], args[2], args[3])
				}
				b, err = json.Marshal(m)
				ts.Check(err)
				p, err = bitrix.Decode(b, path)
				ts.Check(err)
				ts.Check(local.SaveTables(path, p))
			},
			// portal-add-row PATH TABLE JSON appends a row to a table of a
			// local portal file, as a Bitrix module or an older b24perm
			// would have written it.
			"portal-add-row": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: portal-add-row PATH TABLE JSON")
				}
				path := ts.MkAbs(args[0])
				p, err := local.LoadTables(path)
				ts.Check(err)
				b, err := json.Marshal(p)
				ts.Check(err)
				var m map[string]any
				ts.Check(json.Unmarshal(b, &m))
				var row any
				ts.Check(json.Unmarshal([]byte(args[2]), &row))
				rows, _ := m[args[1]].([]any)
				m[args[1]] = append(rows, row)
				b, err = json.Marshal(m)
				ts.Check(err)
				p, err = bitrix.Decode(b, path)
				ts.Check(err)
				ts.Check(local.SaveTables(path, p))
			},
			// exits N PROG ARGS... runs PROG like exec and requires exit
			// status N (exec only tells zero from non-zero).
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 || neg {
					ts.Fatalf("usage: exits N PROG [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("%v", err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("exit status %d, want %d", got, want)
				}
			},
			// at-prompt SRC DST PROG ARGS... runs PROG (b24perm apply) with
			// a pipe for stdin; when it asks for confirmation, copies SRC
			// over DST (an administrator or another apply changing the
			// portal meanwhile), then answers "yes". Like exec, its output
			// is kept for stdout/stderr, and ! expects it to fail.
			"at-prompt": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 3 {
					ts.Fatalf("usage: at-prompt SRC DST PROG [ARGS...]")
				}
				atPrompt(ts, neg, args[2:], func() {
					b, err := os.ReadFile(ts.MkAbs(args[0]))
					ts.Check(err)
					ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
				})
			},
			// at-prompt-sql DSN STATEMENT PROG ARGS... is at-prompt for a
			// database backend: when PROG asks for confirmation, it runs
			// STATEMENT (an administrator clicking in the Bitrix UI
			// meanwhile), then answers "yes".
			"at-prompt-sql": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 3 {
					ts.Fatalf("usage: at-prompt-sql DSN STATEMENT PROG [ARGS...]")
				}
				atPrompt(ts, neg, args[2:], func() { ts.Check(dbtest.Exec(args[0], args[1])) })
			},
			// lock-portal PATH holds the write lock of the local portal at
			// PATH, as an apply in another process would, until
			// unlock-portal PATH or the end of the script.
			"lock-portal": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: lock-portal PATH")
				}
				fh, err := lockedfile.OpenFile(ts.MkAbs(args[0])+".lock", os.O_RDWR|os.O_CREATE, 0o644)
				ts.Check(err)
				portalLocks.Store(ts.MkAbs(args[0]), fh)
				ts.Defer(func() { fh.Close() })
			},
			"unlock-portal": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: unlock-portal PATH")
				}
				fh, ok := portalLocks.LoadAndDelete(ts.MkAbs(args[0]))
				if !ok {
					ts.Fatalf("%s is not locked by this script", args[0])
				}
				ts.Check(fh.(*lockedfile.File).Close())
			},
			// portal-row PATH TABLE ID FIELD JSON sets FIELD of row ID of
			// TABLE in a local portal file (bitrix table model) to the JSON
			// value, as a direct database edit would.
			"portal-row": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 5 {
					ts.Fatalf("usage: portal-row PATH TABLE ID FIELD JSON")
				}
				path := ts.MkAbs(args[0])
				b, err := os.ReadFile(path)
				ts.Check(err)
				dec := json.NewDecoder(strings.NewReader(string(b)))
				dec.UseNumber()
				var doc map[string]any
				ts.Check(dec.Decode(&doc))
				rows, _ := doc[args[1]].([]any)
				var val any
				vd := json.NewDecoder(strings.NewReader(args[4]))
				vd.UseNumber()
				ts.Check(vd.Decode(&val))
				found := false
				for _, r := range rows {
					if m, ok := r.(map[string]any); ok && fmt.Sprint(m["ID"]) == args[2] {
						m[args[3]], found = val, true
					}
				}
				if !found {
					ts.Fatalf("no row %s in %s", args[2], args[1])
				}
				out, err := json.MarshalIndent(doc, "", " ")
				ts.Check(err)
				ts.Check(os.WriteFile(path, out, 0o644))
			},
			// plan-resum FILE recomputes a saved plan's checksum after a
			// hand edit, as an attacker who read planfile's source would.
			"plan-resum": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: plan-resum FILE")
				}
				path := ts.MkAbs(args[0])
				b, err := os.ReadFile(path)
				ts.Check(err)
				var f planfile.File
				ts.Check(json.Unmarshal(b, &f))
				var p plan.Plan
				ts.Check(json.Unmarshal(f.Plan, &p))
				canon, err := json.Marshal(&p)
				ts.Check(err)
				body, err := json.Marshal(struct {
					planfile.Header
					Plan json.RawMessage `json:"plan"`
				}{f.Header, canon})
				ts.Check(err)
				sum := sha256.Sum256(body)
				f.Plan, f.Checksum = canon, "sha256:"+hex.EncodeToString(sum[:])
				out, err := json.MarshalIndent(f, "", " ")
				ts.Check(err)
				ts.Check(os.WriteFile(path, out, 0o644))
			},
			"portal-edit": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: portal-edit PATH ROLE NEWNAME")
				}
				path := ts.MkAbs(args[0])
				p, err := local.LoadTables(path)
				ts.Check(err)
				found := false
				for i := range p.Roles {
					if p.Roles[i].Name == args[1] {
						p.Roles[i].Name = args[2]
						found = true
					}
				}
				if !found {
					ts.Fatalf("no role %q", args[1])
				}
				ts.Check(local.SaveTables(path, p))
			},
		},
		// [mysql] and [postgres] hold when the server is reachable, or
		// always under B24PERM_REQUIRE_DB=1, so that CI fails rather than
		// skips.
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "mysql", "postgres":
				if os.Getenv("B24PERM_REQUIRE_DB") == "1" {
					return true, nil
				}
				_, cleanup, err := dbtest.Create(cond)
				if err != nil {
					return false, nil
				}
				cleanup()
				return true, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			env.Setenv("B24PERM_REPO", root)
			// Each script its own graph cache: scripts run in parallel, and
			// as root the default (HOME=/no-home) would be one shared dir.
			env.Setenv("B24PERM_CACHE_DIR", filepath.Join(env.WorkDir, ".b24perm-cache"))
			return nil
		},
	})
}

// atPrompt runs args[0] (b24perm apply) with a pipe for stdin; when it
// asks for confirmation, it calls edit, then answers "yes". Like exec, its
// output is kept for stdout/stderr, and neg expects it to fail.
func atPrompt(ts *testscript.TestScript, neg bool, args []string, edit func()) {
	bin, err := exec.LookPath(args[0])
	ts.Check(err)
	cmd := exec.Command(bin, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+ts.Getenv("HOME"), "B24PERM_CACHE_DIR="+ts.Getenv("B24PERM_CACHE_DIR"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	ts.Check(err)
	outPipe, err := cmd.StdoutPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	var out strings.Builder
	buf := make([]byte, 4096)
	prompted := false
	for {
		n, rerr := outPipe.Read(buf)
		out.Write(buf[:n])
		if !prompted && strings.Contains(out.String(), "Enter a value: ") {
			prompted = true
			edit()
			_, err = io.WriteString(in, "yes\n")
			ts.Check(err)
			in.Close()
		}
		if rerr != nil {
			break
		}
	}
	werr := cmd.Wait()
	fmt.Fprint(ts.Stdout(), out.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	if !prompted {
		ts.Fatalf("%s never asked for confirmation", args[0])
	}
	if neg != (werr != nil) {
		ts.Fatalf("unexpected exit: %v (negated: %v)", werr, neg)
	}
}
