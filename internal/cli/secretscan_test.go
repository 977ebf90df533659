package cli_test

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

	// A working password with every character a URL needs percent-encoded
	// (and a quote and a space for the keyword form): two secrets around
	// them, so that a leak of either half, raw or encoded, is caught.
	spPre, spPost := secret("SPECIALPRE"), secret("SPECIALPOST")
	special := spPre + "/ #%@?:&='" + spPost
	mySpecialUser := "b24scsp_" + hex.EncodeToString(randBytes(4))
	for _, host := range []string{"%", "localhost", "127.0.0.1"} {
		mustExec(t, myDSN, fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", mySpecialUser, host, strings.ReplaceAll(special, "'", "''")))
		mustExec(t, myDSN, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", db, mySpecialUser, host))
		t.Cleanup(func() { dbtest.Exec(myDSN, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", mySpecialUser, host)) })
	}
	mySpecialDSN := strings.Replace(myDSN, "mysql://root@", "mysql://"+mySpecialUser+":"+percentAll(special)+"@", 1)
	pgSpecialDSN := strings.Replace(pgDSN, "postgres@", "postgres:"+percentAll(special)+"@", 1)
	pgSpecialQueryDSN := pgDSN + "&password=" + percentAll(special)
	if !strings.Contains(pgDSN, "?") {
		pgSpecialQueryDSN = pgDSN + "?password=" + percentAll(special)
	}
	// The keyword/value form (pgstate accepts it for --state), the
	// password quoted as libpq wants it.
	pgu, err := url.Parse(pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	pgKeywordDSN := fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable password='%s'", pgu.Hostname(), pgu.Port(), pgu.User.Username(),
		strings.TrimPrefix(pgu.Path, "/"), strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(special))

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

	// Every request body sent to GitHub is kept: the comment is updated in
	// place, so its last body alone would hide what earlier runs posted.
	fake := newFakeGitHub()
	fake.pr(7, "")
	var ghMu sync.Mutex
	var ghBodies []string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ghMu.Lock()
		ghBodies = append(ghBodies, r.Method+" "+r.URL.String()+" "+string(b))
		ghMu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(gh.Close)

	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	t.Chdir(dir)

	// Lock files and lock rows exist only while a command holds them:
	// they are read all along the scan.
	var lockMu sync.Mutex
	locksSeen := map[string]bool{}
	stopLocks := make(chan struct{})
	locksDone := make(chan struct{})
	lockDB, err := sql.Open("pgx", pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer lockDB.Close()
	go func() {
		defer close(locksDone)
		for {
			select {
			case <-stopLocks:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var seen []string
			if m, _ := filepath.Glob(filepath.Join(dir, "*.lock")); len(m) > 0 {
				for _, f := range m {
					if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
						seen = append(seen, "file "+filepath.Base(f)+" "+string(b))
					}
				}
			}
			if rows, err := lockDB.Query("SELECT name || ' ' || info::text FROM b24perm_lock"); err == nil {
				for rows.Next() {
					var v string
					rows.Scan(&v)
					seen = append(seen, "row "+v)
				}
				rows.Close()
			}
			lockMu.Lock()
			for _, v := range seen {
				locksSeen[v] = true
			}
			lockMu.Unlock()
		}
	}()
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
		{"mysql special", mySpecialDSN, "", nil},
		{"pg special userinfo", pgSpecialDSN, pgSpecialDSN, nil},
		{"pg special query", pgSpecialQueryDSN, pgSpecialQueryDSN, nil},
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
			run(b.env, with("plan", "--compact", "--detailed-exitcode", "policies")...)
			run(b.env, with("plan", "--no-access", "-out", plan, "policies")...)
			run(b.env, with("apply", "--no-access", "--progress", plan)...)
			run(b.env, with("apply", "--no-access", "policies")...) // answers "no"
			run(b.env, with("apply", "--no-access", "--auto-approve", "--confirm-manual", "policies")...)
			for _, format := range []string{"text", "json", "markdown"} {
				run(b.env, with("drift", "--no-access", "--format", format, "policies")...)
			}
			run(b.env, with("plan", "--help")...)
			run(b.env, "state", "list", "--state", state)
			run(b.env, "state", "show", "workgroup.board", "--state", state)
			run(b.env, "force-unlock", "0123456789abcdef", "--state", state)
			run(b.env, append([]string{"import", "--force", "--out", fmt.Sprintf("imported%d", i)}, live...)...)
			for _, format := range []string{"text", "json", "sarif"} {
				run(b.env, append([]string{"lint", "--format", format, "policies"}, backendFlag...)...)
			}
			for _, format := range []string{"text", "json"} {
				for _, roles := range []string{"policy", "live"} {
					q := []string{"--format", format, "--roles", roles}
					run(b.env, append(append([]string{"access", "--user", "anna@example.com", "--policy", "policies"}, q...), backendFlag...)...)
					run(b.env, append(append([]string{"who-can", "deal", "read", "--live", "--policy", "policies"}, q...), backendFlag...)...)
					run(b.env, append(append([]string{"explain", "--user", "anna@example.com", "deal", "read", "policies"}, q...), backendFlag...)...)
					run(b.env, append(append([]string{"test", "policies"}, q...), backendFlag...)...)
				}
			}
			run(b.env, append([]string{"graph", "--roles", "live", "--user", "anna@example.com", "policies"}, backendFlag...)...)
			run(b.env, append([]string{"verify", "--as", "anna@example.com=" + hookURL, "policies"}, live[2:]...)...)
			env := map[string]string{"GITHUB_TOKEN": "ghs_x", "GITHUB_REPOSITORY": "acme/perms", "GITHUB_EVENT_PATH": "event.json",
				"GITHUB_API_URL": gh.URL, "GITHUB_STEP_SUMMARY": "summary.md", "GITHUB_RUN_ID": "42", "GITHUB_SHA": strings.Repeat("a", 40)}
			for k, v := range b.env {
				env[k] = v
			}
			run(env, with("ci", "github", "-o", fmt.Sprintf("ciplan%d.json", i), "policies")...)
			run(env, with("ci", "github", "--dry-run", "policies")...)
			art := fmt.Sprintf("artifact%d", i)
			run(env, with("ci", "github", "--write-artifact", art, "policies")...)
			fake.pr(7, strings.Repeat("a", 40))
			run(env, "ci", "github-post", "--head-sha", strings.Repeat("a", 40), art)
			run(b.env, with("plan", "--format", "json", "-out", fmt.Sprintf("reviewed%d.bin", i), "policies")...)
			run(b.env, "ci", "same-plan", fmt.Sprintf("ciplan%d.json", i), fmt.Sprintf("ciplan%d.json", i))
			run(b.env, "state", "rm", "workgroup.board", "--state", state)
			run(b.env, with("apply", "--no-access", "--auto-approve", "policies")...)
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
	// A keyword/value DSN that would work (--state refuses that form, as
	// --live does) and one in a URL b24perm does not take for the state.
	specs = append(specs, pgKeywordDSN, myUserDSN, "webhook:"+hookURL)
	// The runs with a bad --state name the demo portal as their backend:
	// it is no longer an implicit fallback (issue 14 #1), and without one
	// they would fail before the state is opened.
	demo := map[string]string{"B24PERM_LIVE": "demo"}
	for _, live := range specs {
		run(nil, "plan", "--no-access", "--progress", "--live", live, "policies")
		run(demo, "plan", "--no-access", "--state", live, "policies")
		run(demo, "apply", "--no-access", "--auto-approve", "--state", live, "policies")
		run(demo, "state", "list", "--state", live)
		run(demo, "state", "rm", "crm_role.manager", "--state", live)
		run(demo, "force-unlock", "0123456789abcdef", "--state", live)
		run(demo, "import", "--force", "--out", "bad", "--state", live)
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
	// The PR comments (every body sent, labels too), the lock files and
	// rows seen while held, and the team state and lock in PostgreSQL.
	posted := 0
	for _, body := range ghBodies {
		if strings.Contains(body, "b24perm") && (strings.HasPrefix(body, "POST") || strings.HasPrefix(body, "PATCH")) {
			posted++
		}
		for _, s := range secrets {
			if i := strings.Index(body, s); i >= 0 {
				t.Errorf("a request to GitHub holds a secret: …%s…", context([]byte(body), i))
			}
		}
	}
	if posted < len(backends) {
		t.Errorf("only %d comment bodies were sent to GitHub: the scan did not cover the PR comment", posted)
	}
	close(stopLocks)
	<-locksDone
	fileLocks, rowLocks := 0, 0
	for v := range locksSeen {
		if strings.HasPrefix(v, "file ") {
			fileLocks++
		} else {
			rowLocks++
		}
		for _, s := range secrets {
			if i := strings.Index(v, s); i >= 0 {
				t.Errorf("a state lock holds a secret: …%s…", context([]byte(v), i))
			}
		}
	}
	if fileLocks == 0 || rowLocks == 0 {
		t.Errorf("lock files seen: %d, lock rows seen: %d: the scan did not cover the locks", fileLocks, rowLocks)
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
	for _, want := range []string{"Apply complete!", "Created the b24perm comment", "Updated the b24perm comment on pull request #7", "crm_role.manager", "Removed workgroup.board"} {
		if !strings.Contains(transcript.String(), want) {
			t.Errorf("no %q in any output: the scan did not exercise it", want)
		}
	}
	if t.Failed() || os.Getenv("B24PERM_SCAN_LOG") != "" {
		os.WriteFile(filepath.Join(os.TempDir(), "b24perm-secretscan.log"), transcript.Bytes(), 0o600)
		t.Logf("transcript: %s", filepath.Join(os.TempDir(), "b24perm-secretscan.log"))
	}
}

// percentAll percent-encodes every byte but letters and digits: a
// password as a careful user writes it into a URL.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
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
