package cli_test

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/internal/cli"
	"github.com/b24perm/b24perm/provider/local"
	"github.com/b24perm/b24perm/sim"
)

// onFirstRead runs edit when the command first reads its input (the
// "yes" of the apply prompt), as an administrator working in the portal
// while apply waits.
type onFirstRead struct {
	edit func()
	in   *strings.Reader
}

func (r *onFirstRead) Read(p []byte) (int, error) {
	if r.edit != nil {
		r.edit()
		r.edit = nil
	}
	return r.in.Read(p)
}

// TestCloudApplyRefusesEditDuringPrompt: on the cloud backend (which cannot
// lock Bitrix24) apply re-reads the portal after "yes" and refuses a plan
// whose basis changed while it waited, instead of silently reverting the
// edit (issue 16 #5, every backend).
func TestCloudApplyRefusesEditDuringPrompt(t *testing.T) {
	portal, err := local.DemoTables()
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(portal, sim.Options{Token: "tok"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	dir := t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	t.Chdir(dir)
	env := map[string]string{"B24PERM_LIVE": "webhook:" + srv.URL + "/rest/1/tok/", "NO_COLOR": "1"}
	var renamed string
	in := &onFirstRead{in: strings.NewReader("yes\n"), edit: func() {
		g := &s.Portal().SonetGroups[0]
		g.Name += " (renamed in the UI)"
		renamed = g.Name
	}}
	var out, errb bytes.Buffer
	code := cli.New([]string{"apply", "--no-access", "policies"}, cli.Streams{In: in, InIsTTY: true, Out: &out, Err: &errb,
		Getenv: func(k string) string { return env[k] }}).Run()
	if code == 0 {
		t.Fatalf("apply succeeded although the portal changed during the prompt:\n%s\n%s", out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "Plan is stale") || strings.Contains(out.String(), "complete") {
		t.Fatalf("want a stale refusal and no write:\n%s\n%s", out.String(), errb.String())
	}
	if s.Portal().SonetGroups[0].Name != renamed {
		t.Fatalf("the edit made during the prompt was reverted: %q", s.Portal().SonetGroups[0].Name)
	}
}
