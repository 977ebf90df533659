package planfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

func init() {
	now = func() time.Time { return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) }
}

func samplePlan() *plan.Plan {
	return &plan.Plan{
		FormatVersion: plan.FormatVersion, ToolVersion: "v0.1.0", Backend: "local: .b24perm/portal.json",
		PolicyDir: "policies", PolicyDigest: "sha256:abc", StateLineage: "l-1", StateSerial: 4,
		Fingerprints: map[string]string{"crm_role.manager": "f1", "directory": "d1"},
		LiveIDs:      map[string]int64{"crm_role.manager": 3},
		Changes: []plan.Change{{
			Addr: graph.Addr{Kind: graph.KindCRMRole, Key: "manager"}, Address: "crm_role.manager",
			Action: plan.Update, Domain: "crm", Name: "Manager <&> «Продажи»", ID: 3,
			Attrs: []plan.AttrChange{{Kind: plan.AttrCell, Action: plan.Update, Path: "deal.read", Before: "department", After: "all"}},
		}, {
			Addr: graph.Addr{Kind: graph.KindCRMRole, Key: "finance"}, Address: "crm_role.finance",
			Action: plan.Create, Domain: "crm", Name: "Finance",
		}},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.json")
	p := samplePlan()
	if err := Write(path, p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(p)
	gotJSON, _ := json.Marshal(got)
	if string(wantJSON) != string(gotJSON) {
		t.Fatalf("round trip:\nwant %s\ngot  %s", wantJSON, gotJSON)
	}
	for i := range p.Changes {
		if got.Changes[i].Addr != p.Changes[i].Addr {
			t.Errorf("change %d: addr %v, want %v", i, got.Changes[i].Addr, p.Changes[i].Addr)
		}
	}
	// The header is readable without parsing the plan.
	var f File
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	want := Header{FormatVersion: plan.FormatVersion, ToolVersion: "v0.1.0", CreatedAt: now(), Backend: p.Backend,
		PolicyDir: "policies", PolicyDigest: "sha256:abc", State: StateRef{Lineage: "l-1", Serial: 4}}
	if !reflect.DeepEqual(want, f.Header) {
		t.Errorf("header:\nwant %+v\ngot  %+v", want, f.Header)
	}
	if !strings.HasPrefix(f.Checksum, "sha256:") || len(f.Checksum) != 7+64 {
		t.Errorf("checksum %q", f.Checksum)
	}
	// Writing the same plan twice gives the same bytes.
	path2 := filepath.Join(t.TempDir(), "plan.json")
	Write(path2, p)
	b2, _ := os.ReadFile(path2)
	if string(b) != string(b2) {
		t.Error("plan files are not deterministic")
	}
	// Reformatting (whitespace only) is not an edit.
	var anyv any
	json.Unmarshal(b, &anyv)
	pretty, _ := json.MarshalIndent(anyv, "", "\t")
	os.WriteFile(path, pretty, 0o644)
	if _, err := Read(path); err != nil {
		t.Errorf("reformatted plan: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	good, err := Encode(samplePlan())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		if !strings.Contains(string(good), old) {
			t.Fatalf("no %q in the plan file", old)
		}
		return []byte(strings.Replace(string(good), old, new, 1))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"edited change", edit(`"after": "all"`, `"after": "none"`), "edited or corrupted"},
		{"edited plan field", edit(`"Manager \u003c`, `"Mangler \u003c`), "edited or corrupted"},
		{"edited header", edit(`"serial": 4`, `"serial": 5`), "edited or corrupted"},
		{"edited backend", edit(`"backend": "local: .b24perm/portal.json"`, `"backend": "local: other.json"`), "edited or corrupted"},
		{"removed checksum", edit(`"checksum": "sha256:`, `"checksum": "x`), "edited or corrupted"},
		{"truncated", good[:len(good)/2], "is truncated"},
		{"truncated after the last brace", good[:len(good)-3], "is truncated"},
		{"empty", []byte(""), "not a b24perm plan file"},
		{"not json", []byte("plan: yes"), "not a b24perm plan file"},
		{"other json", []byte(`{"hello": 1}`), "no format_version"},
		{"newer", []byte(`{"format_version": 9, "something": ["new"]}`), "was created by a newer b24perm (plan format 9"},
		{"no plan", []byte(`{"format_version": 1, "checksum": ""}`), "has no plan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			os.WriteFile(path, tc.data, 0o644)
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path) {
				t.Fatalf("error %v, want %q after the path", err, tc.want)
			}
		})
	}
	if _, err := Read(filepath.Join(dir, "missing.json")); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// A header that disagrees with its plan (a hand-made file with a valid
// checksum) is refused too.
func TestHeaderMustMatchPlan(t *testing.T) {
	p := samplePlan()
	raw, _ := json.Marshal(p)
	h := Header{FormatVersion: 1, Backend: p.Backend, PolicyDir: p.PolicyDir, PolicyDigest: "sha256:other", State: StateRef{Lineage: "l-1", Serial: 4}}
	b, _ := body(h, raw)
	data, _ := json.Marshal(File{Header: h, Plan: raw, Checksum: checksum(b)})
	if _, _, err := Decode(data); err == nil || !strings.Contains(err.Error(), "header that does not match") {
		t.Fatalf("mismatched header: %v", err)
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, []byte("x"), 0o644)
	if err := Write(filepath.Join(blocker, "plan.json"), samplePlan()); err == nil {
		t.Fatal("write below a file succeeded")
	}
	// Writing over a directory fails and leaves no temp files.
	target := filepath.Join(dir, "plan.json")
	os.Mkdir(target, 0o755)
	os.WriteFile(filepath.Join(target, "x"), nil, 0o644)
	if err := Write(target, samplePlan()); err == nil {
		t.Fatal("write over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func bigPlan(n int) *plan.Plan {
	p := samplePlan()
	p.Changes = nil
	p.Fingerprints = map[string]string{}
	for i := range n {
		a := fmt.Sprintf("workgroup.g%05d", i)
		p.Fingerprints[a] = "0123456789abcdef01234567"
		p.Changes = append(p.Changes, plan.Change{Addr: graph.Addr{Kind: graph.KindWorkgroup, Key: fmt.Sprintf("g%05d", i)}, Address: a, Action: plan.Update, Name: a,
			Attrs: []plan.AttrChange{{Kind: plan.AttrMember, Action: plan.Create, Path: "members", After: "user:ivan"}}})
	}
	return p
}

// BenchmarkWriteRead5k: saving and reading back a plan with 5,000 changes.
func BenchmarkWriteRead5k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "plan.json")
	p := bigPlan(5000)
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(path, p); err != nil {
			b.Fatal(err)
		}
		if _, err := Read(path); err != nil {
			b.Fatal(err)
		}
	}
}

// A plan path that is a FIFO or a device is refused at once, not read
// forever (issue 16 #14).
func TestReadRefusesNonRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "plan.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
}
