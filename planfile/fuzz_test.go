package planfile

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
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

// cleanPrefixes are how every refusal of Decode begins: it reads after
// the file's name ("plan.bin is truncated …").
var cleanPrefixes = []string{"is truncated", "is not a b24perm plan file", "was created by a newer b24perm", "is not a valid plan file",
	"has no plan", "holds an invalid plan", "does not match its checksum", "has a header that does not match", "holds an invalid address"}

// FuzzDecode: the saved-plan reader never panics; a refusal is one of its
// sentences, on one line, valid UTF-8 and short (no echo of the file); a
// plan it accepts encodes again to a file it reads as the same plan.
func FuzzDecode(f *testing.F) {
	good, err := Encode(samplePlan())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(bytes.Replace(good, []byte(`"destroy"`), []byte(`"delete"`), 1))
	f.Add(bytes.Replace(good, []byte(`"format_version": 1`), []byte(`"format_version": 99`), 1))
	f.Add([]byte(`{"format_version": 1, "checksum": "sha256:x", "plan": {"changes": [{"address": "crm_role."}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, err := Decode(b)
		if err != nil {
			msg := err.Error()
			ok := false
			for _, pre := range cleanPrefixes {
				ok = ok || strings.HasPrefix(msg, pre)
			}
			if !ok || strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) || len(msg) > 400 {
				t.Fatalf("unclean error for %q: %q", b, msg)
			}
			return
		}
		again, err := Encode(p)
		if err != nil {
			t.Fatalf("an accepted plan does not encode: %v", err)
		}
		_, p2, err := Decode(again)
		if err != nil {
			t.Fatalf("an accepted plan, encoded again, is refused: %v", err)
		}
		j1, _ := json.Marshal(p)
		j2, _ := json.Marshal(p2)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("round trip changed the plan:\n%s\n%s", j1, j2)
		}
	})
}
