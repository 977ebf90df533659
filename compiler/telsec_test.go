package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/b24perm/b24perm/diag"
)

func TestTelephonySecuritySwitch(t *testing.T) {
	dir := t.TempDir()
	write := func(src string) Result {
		os.WriteFile(filepath.Join(dir, "t.cue"), []byte(src), 0o644)
		return CompileDir(dir, Options{})
	}
	res := write("telephony: security: \"off\"\n")
	if res.Diags.HasErrors() || !res.Graph.TelephonySecurityOff || len(res.Diags) != 0 {
		t.Fatalf("off: %v %v", res.Diags, res.Graph)
	}
	res = write("telephony: security: \"off\"\ntelephony: roles: r: {name: \"R\", permissions: call: perform: \"any\"}\n")
	if res.Diags.HasErrors() || len(res.Diags) != 1 || res.Diags[0].Severity != diag.Warning || res.Diags[0].Summary != "Telephony roles not in force" ||
		res.Diags[0].Subject == nil || res.Diags[0].Subject.Start.Line != 1 {
		t.Errorf("roles while off: %v", res.Diags)
	}
	res = write("telephony: security: \"on\"\n")
	if res.Diags.HasErrors() || res.Graph.TelephonySecurityOff {
		t.Errorf("on: %v", res.Diags)
	}
	if res = write("telephony: security: \"maybe\"\n"); !res.Diags.HasErrors() {
		t.Errorf("an invalid value compiles")
	}
}
