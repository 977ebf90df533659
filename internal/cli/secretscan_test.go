package cli_test

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/internal/cli"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/sim"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestSecretScan runs every command and output format with recognizable
// secrets in every credential form b24perm accepts (DSN userinfo, DSN
// ?password=, webhook token in --live and in B24PERM_WEBHOOK_URL, OAuth
// token, and malformed DSNs/URLs that fail to parse or connect), then
// searches stdout, stderr, every file written (saved plans, state,
// backups, lock files, imported policies, the job summary), the posted PR
// comment and the PostgreSQL state tables: zero hits (issue 16 #10-#12).
func TestSecretScan(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every command against real databases")
	}
	var secrets []string
	secret := func(label string) string {
		s := label + "S3cr3t" + strings.ToUpper(hex.EncodeToString(randBytes(3)))
		secrets = append(secrets, s)
		return s
	}
	pgDSN := dbtest.Postgres(t)
	myDSN := dbtest.MySQL(t)

	// Working credentials: PostgreSQL trusts local connections (the
	// password is sent and ignored); MariaDB gets a user with a password.
	pgUser := secret("PGUSERINFO")
	pgQuery := secret("PGQUERY")
	pgUserinfoDSN := strings.Replace(pgDSN, "postgres@", "postgres:"+pgUser+"@", 1)
	pgQueryDSN := pgDSN + "&password=" + pgQuery
	if !strings.Contains(pgDSN, "?") {
		pgQueryDSN = pgDSN + "?password=" + pgQuery
	}
	myPass := secret("MYSQL")
	myUser := "b24scan_" + hex.EncodeToString(randBytes(4))
	db := strings.TrimPrefix(myDSN[strings.LastIndex(myDSN, "/"):], "/")
	for _, host := range []string{"%", "localhost", "127.0.0.1"} {
		mustExec(t, myDSN, fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", myUser, host, myPass))
		mustExec(t, myDSN, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", db, myUser, host))
		t.Cleanup(func() { dbtest.Exec(myDSN, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", myUser, host)) })
	}
	myUserDSN := strings.Replace(myDSN, "mysql://root@", "mysql://"+myUser+":"+myPass+"@", 1)

	// The cloud backend: the REST simulator with a secret webhook token
	// and an OAuth token.
	hook := secret("WEBHOOK")
	oauth := secret("OAUTH")
	portal, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.New(portal, sim.Options{Token: hook}))
	t.Cleanup(srv.Close)
	hookURL := srv.URL + "/rest/1/" + hook + "/"
	oauthPortal, _ := local.DemoTables()
	osrv := httptest.NewServer(sim.New(oauthPortal, sim.Options{Token: oauth}))
	t.Cleanup(osrv.Close)

	fake := newFakeGitHub()
	fake.pr(7, "")
	gh := httptest.NewServer(fake)
	t.Cleanup(gh.Close)

	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	t.Chdir(dir)
	os.WriteFile("event.json", []byte(`{"pull_request": {"number": 7}}`), 0o644)

	var transcript bytes.Buffer
	run := func(env map[string]string, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		e := map[string]string{"NO_COLOR": "1"}
		for k, v := range env {
			e[k] = v
		}
		code := cli.New(args, cli.Streams{In: strings.NewReader("no\n"), Out: &out, Err: &errb, Getenv: func(k string) string { return e[k] },
			LookupEnv: func(k string) (string, bool) { v, ok := e[k]; return v, ok }}).Run()
		fmt.Fprintf(&transcript, "$ %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		for _, s := range secrets {
			for name, b := range map[string][]byte{"stdout": out.Bytes(), "stderr": errb.Bytes()} {
				if i := bytes.Index(b, []byte(s)); i >= 0 {
					t.Errorf("%s of `%s` holds the secret: …%s…", name, strings.Join(args, " "), context(b, i))
				}
			}
		}
	}

	type backend struct {
		name  string
		live  string
		state string // "" = the state file
		env   map[string]string
	}
	backends := []backend{
		{"pg userinfo", pgUserinfoDSN, pgUserinfoDSN, nil},
		{"pg query", pgQueryDSN, pgQueryDSN, nil},
		{"mysql", myUserDSN, "", nil},
		{"webhook flag", "webhook:" + hookURL, "", nil},
		{"webhook env", "", "", map[string]string{"B24PERM_WEBHOOK_URL": hookURL}},
		{"B24PERM_LIVE", "", "", map[string]string{"B24PERM_LIVE": pgQueryDSN}},
		{"oauth", "oauth:" + osrv.URL + "/rest/", "", map[string]string{"B24PERM_OAUTH_TOKEN": oauth}},
	}
	run(nil, "sim", "db-init", "--dsn", pgQueryDSN)
	run(nil, "sim", "db-init", "--dsn", myUserDSN)
	for i, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			stateFile := fmt.Sprintf("state%d.json", i)
			state := b.state
			if state == "" {
				state = stateFile
			}
			live := []string{"--state", state}
			if b.live != "" {
				live = append(live, "--live", b.live)
			}
			backendFlag := []string{}
			if b.live != "" {
				backendFlag = []string{"--backend", b.live}
			}
			plan := fmt.Sprintf("plan%d.bin", i)
			with := func(args ...string) []string { return append(args, live...) }
			run(b.env, with("plan", "--no-access", "--progress", "policies")...)
			run(b.env, with("plan", "--progress", "--format", "json", "policies")...)
			run(b.env, with("plan", "--format", "markdown", "policies")...)
			run(b.env, with("plan", "--no-access", "-out", plan, "policies")...)
			run(b.env, with("apply", "--no-access", "--progress", plan)...)
			run(b.env, with("apply", "--no-access", "policies")...) // answers "no"
			run(b.env, with("apply", "--no-access", "--auto-approve", "--confirm-manual", "policies")...)
			run(b.env, with("drift", "--no-access", "--format", "json", "policies")...)
			run(b.env, with("plan", "--help")...)
			run(b.env, "state", "list", "--state", state)
			run(b.env, "state", "show", "workgroup.board", "--state", state)
			run(b.env, "force-unlock", "0123456789abcdef", "--state", state)
			run(b.env, append([]string{"import", "--force", "--out", fmt.Sprintf("imported%d", i)}, live...)...)
			run(b.env, append([]string{"lint", "policies"}, backendFlag...)...)
			run(b.env, append([]string{"access", "--user", "anna@example.com", "--policy", "policies"}, backendFlag...)...)
			run(b.env, append([]string{"who-can", "deal", "read", "--live", "--policy", "policies"}, backendFlag...)...)
			run(b.env, append([]string{"verify", "--as", "anna@example.com=" + hookURL, "policies"}, live[2:]...)...)
			env := map[string]string{"GITHUB_TOKEN": "ghs_x", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": "event.json",
				"GITHUB_API_URL": gh.URL, "GITHUB_STEP_SUMMARY": "summary.md", "GITHUB_RUN_ID": "42"}
			for k, v := range b.env {
				env[k] = v
			}
			run(env, with("ci", "github", "policies")...)
			run(env, with("ci", "github", "--dry-run", "policies")...)
		})
	}

	// Credentials that do not parse or do not connect: the errors must
	// not echo them.
	// Each password is two secrets around the character that breaks the
	// parse, so that a parse error quoting either piece is caught.
	pre, post := secret("BADPRE"), secret("BADPOST")
	bad := pre + post
	var specs []string
	for _, sep := range []string{"/", "#", " ", "%zz", "?", "@", ""} {
		pw := pre + sep + post
		specs = append(specs, "mysql://u:"+pw+"@127.0.0.1:1/db", "postgres://u:"+pw+"@127.0.0.1:1/db")
	}
	specs = append(specs, "postgres://u@127.0.0.1:1/db?password="+bad, "postgresql://u@127.0.0.1:1/db?sslmode=disable&password="+bad,
		"mysql://u@127.0.0.1:1/db?password="+bad,
		"host=127.0.0.1 port=1 user=u password="+bad+" dbname=db", "host=127.0.0.1 password='"+pre+" "+post+"' dbname=db",
		"webhook:https://p.example/rest/"+bad+"/", "webhook:https://p.example/rest/admin/"+bad+"/", "webhook:http://127.0.0.1:1/rest/1/"+bad+"/",
		"webhook:"+srv.URL+"/rest/1/"+bad+"/", "webhook:"+srv.URL+"/rest/x/"+pre+"/"+post)
	for _, live := range specs {
		run(nil, "plan", "--no-access", "--progress", "--live", live, "policies")
		run(nil, "plan", "--no-access", "--state", live, "policies")
		run(map[string]string{"B24PERM_LIVE": live}, "plan", "--no-access", "policies")
		run(nil, "sim", "db-init", "--dsn", live)
		run(nil, "import", "--out", "bad", "--live", live)
		run(nil, "verify", "--as", "anna@example.com="+strings.TrimPrefix(live, "webhook:"), "--live", "webhook:"+hookURL, "policies")
	}
	run(map[string]string{"B24PERM_OAUTH_TOKEN": bad}, "plan", "--no-access", "--live", "oauth:http://127.0.0.1:1/rest/", "policies")

	// Every file written under the working directory.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, s := range secrets {
			if i := bytes.Index(b, []byte(s)); i >= 0 {
				t.Errorf("%s holds a secret: …%s…", path, context(b, i))
			}
		}
		return nil
	})
	// The PR comments, and the team state and lock in PostgreSQL.
	for id, body := range fake.commentsOn(7) {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("PR comment %d holds a secret", id+1)
			}
		}
	}
	if len(fake.commentsOn(7)) == 0 {
		t.Error("no PR comment was posted: the scan did not cover it")
	}
	pg, err := sql.Open("pgx", pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	for _, q := range []string{"SELECT name || ' ' || data::text FROM b24perm_state", "SELECT name || ' ' || info::text FROM b24perm_lock"} {
		rows, err := pg.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		n := 0
		for rows.Next() {
			var v string
			rows.Scan(&v)
			n++
			for _, s := range secrets {
				if strings.Contains(v, s) {
					t.Errorf("%s: a row holds a secret", q)
				}
			}
		}
		rows.Close()
		if n == 0 && strings.Contains(q, "b24perm_state") {
			t.Error("no state in PostgreSQL: the scan did not cover it")
		}
	}
	// The scan only means something if the commands really ran.
	for _, want := range []string{"Apply complete!", "Created the b24perm comment", "crm_role.manager"} {
		if !strings.Contains(transcript.String(), want) {
			t.Errorf("no %q in any output: the scan did not exercise it", want)
		}
	}
	if t.Failed() {
		os.WriteFile(filepath.Join(os.TempDir(), "b24perm-secretscan.log"), transcript.Bytes(), 0o600)
		t.Logf("transcript: %s", filepath.Join(os.TempDir(), "b24perm-secretscan.log"))
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustExec(t *testing.T, dsn, stmt string) {
	t.Helper()
	if err := dbtest.Exec(dsn, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// context is the text around b[i], on one line.
func context(b []byte, i int) string {
	lo, hi := max(0, i-60), min(len(b), i+60)
	return strings.ReplaceAll(string(b[lo:hi]), "\n", "⏎")
}
