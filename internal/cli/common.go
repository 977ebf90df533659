package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dsn"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/provider/rest"
	"github.com/b24perm/b24perm/provider/sqldb"
	"github.com/b24perm/b24perm/provider/webhook"
	"github.com/b24perm/b24perm/state"
	"github.com/b24perm/b24perm/state/pgstate"
)

// DefaultLive is the embedded default backend.
const DefaultLive = "local:" + local.DefaultPath

// policy is a compiled policy directory.
type policy struct {
	Dir   string
	Graph *graph.Graph
	Files map[string][]byte
	// warned: the compilation printed diagnostics (warnings).
	warned bool
}

// loadPolicy compiles dir and prints diagnostics to stderr. It returns
// exitCode(1) after printing when the policy has errors.
func (c *Command) loadPolicy(dir string, stderr io.Writer) (*policy, error) {
	if dir == "" {
		dir = "."
	}
	res := c.compile(dir, stderr)
	if len(res.Diags) > 0 {
		c.printDiags(stderr, res.Diags, res.Files, "text")
	}
	if res.Diags.HasErrors() || res.Graph == nil {
		return nil, exitCode(ExitError)
	}
	return &policy{Dir: dir, Graph: res.Graph, Files: res.Files, warned: len(res.Diags) > 0}, nil
}

// compile compiles dir, saying on a terminal which step a long
// compilation is in.
func (c *Command) compile(dir string, stderr io.Writer) compiler.Result {
	var st step
	stop := c.reporter(stderr, c.forceProgress).phase(func() string {
		what := st.text("compiling the policy")
		if c.reading.Load() {
			what += ", and reading the portal"
		}
		return what
	}, "Compiled the policy")
	defer stop()
	return compiler.CompileDir(dir, compiler.Options{Progress: st.set})
}

// liveSpec returns the --live value, B24PERM_LIVE, or the default; "demo"
// names the local demo portal. A B24PERM_LIVE that is set but empty is an
// error: it is what an unset CI secret looks like, and falling back to the
// demo portal there would plan and apply against the wrong portal.
func (c *Command) liveSpec(flag string) (string, error) {
	if flag != "" {
		if flag == "demo" {
			return DefaultLive, nil
		}
		return flag, nil
	}
	if v, set := c.streams.LookupEnv("B24PERM_LIVE"); set {
		switch strings.TrimSpace(v) {
		case "":
			return "", fmt.Errorf("B24PERM_LIVE is set but empty (an unset CI secret?): set it to a backend (webhook:URL, mysql://…, postgres://…, local:PATH, or demo) or unset it; b24perm does not fall back to the demo portal")
		case "demo":
			return DefaultLive, nil
		}
		return v, nil
	}
	if v := c.streams.Getenv("B24PERM_WEBHOOK_URL"); v != "" {
		return "webhook:" + v, nil
	}
	return DefaultLive, nil
}

// demoAsked reports whether the demo portal was named explicitly
// (--live demo or B24PERM_LIVE=demo).
func (c *Command) demoAsked(flag string) bool {
	return flag == "demo" || (flag == "" && strings.TrimSpace(c.streams.Getenv("B24PERM_LIVE")) == "demo")
}

// openLive opens a live backend. The demo portal is never an implicit
// fallback: it is created only when named (--live demo, B24PERM_LIVE=demo,
// or b24perm init); with no backend named and no .b24perm/portal.json, and
// for a local:PATH that does not exist, openLive fails and says how to
// name one. Against the demo portal the first line on stderr says so, so
// that no output made against it passes for a real portal's.
func (c *Command) openLive(flag string, stderr io.Writer) (provider.Provider, error) {
	spec, err := c.liveSpec(flag)
	if err != nil {
		return nil, err
	}
	if path, ok := local.ParseSpec(spec); ok {
		if c.demoAsked(flag) {
			created, err := local.EnsureExists(path)
			if err != nil {
				return nil, err
			}
			if created {
				fmt.Fprintf(stderr, "Created the demo portal at %s (named by --live demo).\n", path)
			}
		} else if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if spec != DefaultLive {
				return nil, fmt.Errorf("no portal file at %s: local:PATH names an existing portal file (b24perm init --live local:%s creates the demo portal there; gen-example --out DIR writes a generated one)", path, path)
			}
			if isCI(c.streams.Getenv("CI")) {
				return nil, fmt.Errorf("no live backend: CI is set and neither --live nor B24PERM_LIVE names one, and %s does not exist; in CI b24perm does not fall back to the demo portal (use --live demo to mean it)", path)
			}
			return nil, fmt.Errorf("no live backend: neither --live nor B24PERM_LIVE names one, and %s does not exist; b24perm does not fall back to the demo portal. Name the portal (--live webhook:https://PORTAL/rest/USER/TOKEN/, mysql://…, postgres://…, local:PATH) or ask for the demo (b24perm init, or --live demo)", path)
		}
		if local.IsDemo(path) {
			fmt.Fprintf(stderr, "Using the demo portal (%s), not a real Bitrix24 portal.\n", path)
		}
		return local.New(path), nil
	}
	if url, ok := webhook.ParseSpec(spec); ok {
		return webhook.New(url, c.restOptions())
	}
	if endpoint, ok := strings.CutPrefix(spec, "oauth:"); ok {
		token := c.streams.Getenv("B24PERM_OAUTH_TOKEN")
		if token == "" {
			return nil, fmt.Errorf("oauth:%s needs the access token in B24PERM_OAUTH_TOKEN (it is never read from the command line, so it stays out of shell history)", endpoint)
		}
		return webhook.NewOAuth(endpoint, token, c.restOptions())
	}
	if sqldb.ParseSpec(spec) {
		p, err := sqldb.Open(context.Background(), spec)
		if err == nil {
			c.closeAtEnd(p)
		}
		return p, err
	}
	kind, _, _ := strings.Cut(spec, ":")
	if kind == "http" || kind == "https" {
		// A webhook URL without its prefix; never echo it, the URL holds
		// the webhook's secret token.
		return nil, fmt.Errorf("a URL needs its kind: for a cloud portal's inbound webhook use --live webhook:https://PORTAL/rest/USER/TOKEN/ (or oauth:https://PORTAL/rest/ with B24PERM_OAUTH_TOKEN)")
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9+.-]{0,20}$`).MatchString(kind) {
		// Not a scheme (a keyword DSN "host=… password=…", say): never
		// echo it, it may hold a password.
		kind = "(not a KIND:… spec)"
	}
	return nil, fmt.Errorf("unknown live backend %q: use webhook:https://PORTAL/rest/USER/TOKEN/, oauth:https://PORTAL/rest/, mysql://USER:PASS@HOST:PORT/DB, postgres://…, local:PATH or demo", kind)
}

// restOptions are the REST client's limits from the global flags; waits
// of a second or more are announced on stderr when it is a terminal (a
// log in CI would only fill up with them; the deadline still bounds them).
func (c *Command) restOptions() rest.Options {
	o := rest.Options{Deadline: c.global.restDeadline, MaxResponse: c.global.restMaxResponse << 20}
	if c.streams.ErrIsTTY {
		w := c.streams.Err
		o.Progress = func(msg string) { fmt.Fprintf(w, "  %s\n", msg) }
	}
	return o
}

// readLive reads the live graph, with Terraform-style progress lines on
// stderr when wanted.
func (c *Command) readLive(ctx context.Context, p provider.Provider, stderr io.Writer, progress bool) (*graph.Graph, error) {
	return c.readLiveTicks(ctx, p, stderr, progress, true)
}

// readLiveTicks is readLive; ticks false leaves the "Still …" lines to
// the caller (plan reads while it compiles, and says both).
func (c *Command) readLiveTicks(ctx context.Context, p provider.Provider, stderr io.Writer, progress, ticks bool) (*graph.Graph, error) {
	stop := c.reporter(stderr, progress).announced(stderr, "Reading live portal ("+p.Describe()+")", "reading the portal", ticks)
	g, err := p.Read(ctx)
	stop(err)
	return g, err
}

// startProgress announces a phase, says every tick that it is still
// running, and prints the outcome. Silent when progress is false.
func (c *Command) startProgress(w io.Writer, progress bool, what, still string) func(error) {
	return c.reporter(w, progress).announced(w, what, still, true)
}

// relPath shows p relative to the working directory when shorter.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return filepath.ToSlash(p)
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(p)
}

// openState opens the state store: a JSON file, or a PostgreSQL database
// for teams (--state postgres://…; B24PERM_STATE_NAME picks the state).
func (c *Command) openState(ctx context.Context, path string) (state.Store, error) {
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		st, err := pgstate.Open(ctx, path, c.streams.Getenv("B24PERM_STATE_NAME"), sqldb.Redact(path))
		if err == nil {
			c.closeAtEnd(st)
		}
		return st, err
	}
	if dsn.NotAPath(path) {
		// Never echo it: a DSN or URL may hold a password or a token, and
		// as a file name it would be shown in errors and written to disk.
		return nil, fmt.Errorf("--state must be a file path or a postgres://USER:PASS@HOST:PORT/DB URL; the value given looks like another URL or a keyword/value DSN (not shown: it may hold a password)")
	}
	return state.NewFileStore(path), nil
}

// isCI reports whether the CI variable says so (CI=true, as GitHub
// Actions, GitLab and most CI systems set it).
func isCI(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// closeAtEnd closes x (a database pool) when the command ends. A process
// would drop its connections on exit anyway; a run inside a longer-lived
// process (the tests run hundreds) must not keep them open.
func (c *Command) closeAtEnd(x io.Closer) {
	c.closersMu.Lock()
	defer c.closersMu.Unlock()
	c.closers = append(c.closers, x)
}

// closeAll closes what closeAtEnd collected, last opened first.
func (c *Command) closeAll() {
	c.closersMu.Lock()
	defer c.closersMu.Unlock()
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i].Close()
	}
	c.closers = nil
}
