package planfile

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead: any plan file is read or refused cleanly.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format_version": 1, "checksum": "sha256:x", "plan": {"changes": []}}`))
	f.Add([]byte(`{"format_version": 9}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "plan.json")
		os.WriteFile(path, b, 0o644)
		Read(path)
	})
}
