package state_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/state"
)

// xlContents is a state with the content of every XL CRM, telephony and
// open-channel role and field rule (what a cloud state records as
// confirmed: ~1,300 contents, ~6 MB).
func xlContents(tb testing.TB) *state.State {
	st := state.New()
	for a, r := range gen.Generate(gen.Sizes["xl"], 1).Resources() {
		switch a.Kind {
		case graph.KindCRMRole, graph.KindTelephony, graph.KindOpenline, graph.KindFieldRule:
			c := r
			st.Resources[a.String()] = state.Resource{ID: 1, Name: r.Name(), Kind: string(a.Kind), Fingerprint: r.Fingerprint(), Confirmed: true, Content: &c}
		}
	}
	if len(st.Resources) < 1000 {
		tb.Fatalf("%d contents", len(st.Resources))
	}
	return st
}

// Re-encoding a state whose contents did not change gives the same bytes,
// and a replaced content is encoded anew (the encoded contents are kept
// per content, not per address).
func TestEncodeContentsReplaced(t *testing.T) {
	st := xlContents(t)
	first := st.Encode()
	if !bytes.Equal(first, st.Encode()) {
		t.Fatal("a second encoding differs")
	}
	var addr string
	for _, a := range st.Addresses() {
		if st.Resources[a].Content.CRMRole != nil {
			addr = a
			break
		}
	}
	r := st.Resources[addr]
	c := *r.Content
	role := *c.CRMRole
	role.Name = "Renamed role"
	c.CRMRole = &role
	r.Content = &c
	st.Resources[addr] = r
	again := st.Encode()
	var decoded struct {
		Resources map[string]struct {
			Content json.RawMessage `json:"content"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(again, &decoded); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(decoded.Resources[addr].Content, []byte(`"Renamed role"`)) {
		t.Fatalf("the replaced content was not encoded anew: %.200s", decoded.Resources[addr].Content)
	}
}

// BenchmarkEncodeXLContents: one encoding of a state with ~1,300
// confirmed contents, as every state save does.
func BenchmarkEncodeXLContents(b *testing.B) {
	st := xlContents(b)
	st.Encode()
	b.ReportAllocs()
	for b.Loop() {
		b.SetBytes(int64(len(st.Encode())))
	}
}

// A save re-encodes only contents it has not encoded before: saving a
// state of ~1,300 unchanged contents again allocates a few buffers, not
// one per content.
func TestEncodeReusesContents(t *testing.T) {
	st := xlContents(t)
	st.Encode()
	if n := testing.AllocsPerRun(3, func() { st.Encode() }); n > 50 {
		t.Errorf("%.0f allocations per encoding of %d unchanged contents, want ≤ 50", n, len(st.Resources))
	}
}

// BenchmarkSaveXLContents: one FileStore save (encode, write, fsync,
// backup) of a state with ~1,300 confirmed contents, as a
// non-transactional apply does after every change it cannot batch (a
// pipeline over REST).
func BenchmarkSaveXLContents(b *testing.B) {
	st := xlContents(b)
	fs := state.NewFileStore(b.TempDir() + "/state.json")
	if err := fs.Save(st); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := fs.Save(st); err != nil {
			b.Fatal(err)
		}
	}
}
