package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// digestRef and fingerprintRef are Digest and Fingerprint as
// encoding/json alone computes them (the definition).
func digestRef(g *graph.Graph) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(g)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func fingerprintRef(r graph.Resource) string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// TestCanonicalJSON: Digest and Fingerprint give encoding/json's hashes
// on generated organizations and on graphs with strings JSON escapes
// (quotes, HTML characters, control characters, U+2028, invalid UTF-8),
// empty and nil lists, IDs, system roles and empty graph parts.
func TestCanonicalJSON(t *testing.T) {
	graphs := []*graph.Graph{{}, {FormatVersion: 1}, gen.Generate(gen.Sizes["m"], 1), gen.Generate(gen.Sizes["xl"], 1)}
	weird := []string{"", "a", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\there", "nl\n", "\x01\x1f", "é ü 日本", "\u2028\u2029", "bad\xffutf8", "\xe2\x80", "x/y:z #1"}
	rnd := rand.New(rand.NewPCG(9, 9))
	pick := func() string { return weird[rnd.IntN(len(weird))] }
	for n := 0; n < 60; n++ {
		g := gen.Generate(gen.Sizes["s"], uint64(n))
		for i := range g.CRMRoles {
			r := &g.CRMRoles[i]
			switch rnd.IntN(6) {
			case 0:
				r.Assign = nil
			case 1:
				r.Assign = []string{}
			case 2:
				r.Assign = append(r.Assign, pick())
			}
			switch rnd.IntN(6) {
			case 0:
				r.Perms = nil
			case 1:
				r.Perms = []graph.CRMPerm{}
			}
			r.Name, r.System = pick()+r.Name, rnd.IntN(3) == 0
			if rnd.IntN(3) == 0 {
				r.ID = int64(rnd.IntN(1000)) - 10
			}
			for j := range r.Perms {
				if rnd.IntN(20) == 0 {
					c := &r.Perms[j]
					c.Entity, c.Pipeline, c.Stage, c.Level = pick(), pick(), pick(), pick()
				}
			}
		}
		switch n % 4 {
		case 0:
			g.CRMRoles = nil
		case 1:
			g.TelephonyRoles, g.OpenlineRoles, g.Workgroups, g.OpenChannels, g.FieldRules, g.Settings, g.Removed, g.Tests = nil, nil, nil, nil, nil, nil, nil, nil
			g.TelephonySecurityOff = false
		case 2:
			g.Directory, g.SmartProcesses, g.Pipelines = nil, nil, nil
		}
		graphs = append(graphs, g)
	}
	for i, g := range graphs {
		if got, want := g.Digest(), digestRef(g); got != want {
			t.Fatalf("graph %d: Digest %s, encoding/json %s", i, got, want)
		}
		// JSON is the indented form of the same bytes.
		var ref bytes.Buffer
		enc := json.NewEncoder(&ref)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(g); err != nil {
			t.Fatal(err)
		}
		if got, err := g.JSON(); err != nil || !bytes.Equal(got, ref.Bytes()) {
			t.Fatalf("graph %d: JSON differs from encoding/json's indented output (%v)", i, err)
		}
		for a, r := range g.Resources() {
			if got, want := r.Fingerprint(), fingerprintRef(r); got != want {
				t.Fatalf("graph %d %v: Fingerprint %s, encoding/json %s", i, a, got, want)
			}
		}
	}
}

// TestCanonicalJSONFields: Graph's JSON fields are graphHead's, then
// crm_roles, then graphTail's (checked through the encoded names: a new
// Graph field must be added to one of them).
func TestCanonicalJSONFields(t *testing.T) {
	var names []string
	gt := reflect.TypeOf(graph.Graph{})
	for i := range gt.NumField() {
		f := gt.Field(i)
		if tag := f.Tag.Get("json"); tag != "-" && f.IsExported() {
			names = append(names, tag)
		}
	}
	want := []string{"format_version", "directory,omitempty", "smart_processes,omitempty", "pipelines,omitempty", "crm_roles,omitempty",
		"telephony_roles,omitempty", "telephony_security_off,omitempty", "openline_roles,omitempty", "workgroups,omitempty", "open_channels,omitempty",
		"field_rules,omitempty", "settings,omitempty", "removed,omitempty", "tests,omitempty"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Graph's JSON fields changed: %q; update graphHead/graphTail in canonjson.go and this list", names)
	}
	// appendCRMRole writes these fields, in this order.
	for rt, want := range map[reflect.Type][]string{
		reflect.TypeOf(graph.CRMRole{}): {"key", "name", "id,omitempty", "system,omitempty", "assign", "permissions"},
		reflect.TypeOf(graph.CRMPerm{}): {"entity", "pipeline,omitempty", "stage,omitempty", "action", "level"},
	} {
		var tags []string
		for i := range rt.NumField() {
			if rt.Field(i).IsExported() {
				tags = append(tags, rt.Field(i).Tag.Get("json"))
			}
		}
		if !reflect.DeepEqual(tags, want) {
			t.Fatalf("%s's JSON fields changed: %q; update appendCRMRole in canonjson.go and this list", rt.Name(), tags)
		}
	}
}
