package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/cli"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/planfile"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/rogpeppe/go-internal/lockedfile"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"b24perm": func() { os.Exit(cli.Main()) },
	})
}

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
			// portal-perm PATH ROLE ENTITY CATEGORY ACTION LEVEL sets a
			// pipeline-level CRM cell of a role, as an edit in the UI would.
			"portal-perm": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 6 {
					ts.Fatalf("usage: portal-perm PATH ROLE ENTITY CATEGORY ACTION LEVEL")
				}
				path := ts.MkAbs(args[0])
				p, err := local.LoadPortal(path)
				ts.Check(err)
				cat, err := strconv.ParseInt(args[3], 10, 64)
				ts.Check(err)
				found := false
				for i := range p.CRMRoles {
					r := &p.CRMRoles[i]
					if r.Name != args[1] {
						continue
					}
					for j := range r.Perms {
						c := &r.Perms[j]
						if c.Entity == args[2] && c.Category == cat && c.Stage == "" && c.Action == args[4] {
							c.Level, found = args[5], true
						}
					}
					if !found {
						r.Perms = append(r.Perms, local.Perm{Entity: args[2], Category: cat, Action: args[4], Level: args[5]})
						found = true
					}
				}
				if !found {
					ts.Fatalf("no role %q", args[1])
				}
				ts.Check(p.Save(path))
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
				p, err := local.LoadPortal(path)
				ts.Check(err)
				found := false
				for i := range p.CRMRoles {
					if p.CRMRoles[i].Name == args[1] {
						p.CRMRoles[i].Name = args[2]
						found = true
					}
				}
				if !found {
					ts.Fatalf("no role %q", args[1])
				}
				ts.Check(p.Save(path))
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
			return nil
		},
	})
}
