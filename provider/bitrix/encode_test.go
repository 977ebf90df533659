package bitrix

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// encodeRef is the former Encode: encoding/json's indenting, then arrays
// of scalars put back on one line. indentPortal must write the same bytes.
func encodeRef(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	in := buf.Bytes()
	out := make([]byte, 0, len(in))
	inString, escaped := false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		if c != '[' {
			out = append(out, c)
			continue
		}
		end, str, esc := -1, false, false
	scan:
		for j := i + 1; j < len(in); j++ {
			d := in[j]
			if str {
				switch {
				case esc:
					esc = false
				case d == '\\':
					esc = true
				case d == '"':
					str = false
				}
				continue
			}
			switch d {
			case '"':
				str = true
			case '[', '{':
				break scan
			case ']':
				end = j
				break scan
			}
		}
		if end < 0 {
			out = append(out, c)
			continue
		}
		var cb bytes.Buffer
		if err := json.Compact(&cb, in[i:end+1]); err != nil {
			out = append(out, c)
			continue
		}
		out = append(out, cb.Bytes()...)
		i = end
	}
	return out
}

func compactOf(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return buf.Bytes()
}

func TestIndentPortalMatchesEncodingJSON(t *testing.T) {
	p := GenerateXL(1)
	p.fixCounters()
	if got, want := indentPortal(nil, compactOf(p)), encodeRef(p); !bytes.Equal(got, want) {
		t.Fatal("the XL portal is laid out differently from encoding/json + compactScalarArrays")
	}
	// Random documents: nesting, empty arrays and objects, odd strings.
	rng := rand.New(rand.NewPCG(5, 6))
	words := []string{"", "a", `q"uote`, `b\s`, "[x]", "{y}", "a,b", "k: v", "nl\n", "é", "<&>"}
	var gen func(d int) any
	gen = func(d int) any {
		switch r := rng.IntN(9); {
		case r < 2:
			return words[rng.IntN(len(words))]
		case r == 2:
			return rng.IntN(100) - 50
		case r == 3:
			return nil
		case r == 4:
			return rng.IntN(2) == 0
		case r < 7 && d < 5:
			l := []any{}
			for range rng.IntN(4) {
				l = append(l, gen(d+1))
			}
			return l
		case d < 5:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[words[rng.IntN(len(words))]] = gen(d + 1)
			}
			return m
		}
		return "leaf"
	}
	for i := range 3000 {
		v := gen(0)
		if got, want := indentPortal(nil, compactOf(v)), encodeRef(v); !bytes.Equal(got, want) {
			t.Fatalf("document %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
}

// Encode writes the permission rows itself (withRolePerms): the file must
// be what encoding/json writes, whatever the rows hold.
func TestEncodeRolePermsMatchesEncodingJSON(t *testing.T) {
	ref := func(p *Portal) []byte {
		p.fixCounters()
		return indentPortal(nil, compactOf(p))
	}
	p := GenerateXL(1)
	got, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ref(p)) {
		t.Fatal("the XL portal encodes differently from encoding/json")
	}
	odd := []string{"", "-", "DEAL", `q"uote`, `b\s`, "<&>", "nl\n", "tab\t", "bell\x07", "del\x7f", "é", "\u2028", "\xff", "\u00a0x", "{}", "[1]"}
	settings := []json.RawMessage{nil, json.RawMessage(`["X"]`), json.RawMessage(` [ "SELF" , "OPEN" ] `), json.RawMessage(`"<&>"`), json.RawMessage(`{"a": [1, 2]}`), json.RawMessage(`null`), json.RawMessage(`["\u003c"]`)}
	rng := rand.New(rand.NewPCG(7, 8))
	s := func() string { return odd[rng.IntN(len(odd))] }
	for i := range 200 {
		q := &Portal{Format: FormatName, FormatVersion: FormatVersion, Portal: s()}
		if i%10 != 0 {
			q.RolePerms = []RolePerm{}
		}
		for range rng.IntN(5) {
			q.RolePerms = append(q.RolePerms, RolePerm{ID: rng.Int64N(1 << 40), RoleID: rng.Int64N(100) - 5, Entity: s(), Field: s(), FieldValue: s(), PermType: s(), Attr: s(), Settings: settings[rng.IntN(len(settings))]})
		}
		got, err := q.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if want := ref(q); !bytes.Equal(got, want) {
			t.Fatalf("portal %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
	bad := &Portal{RolePerms: []RolePerm{{Settings: json.RawMessage(`[1,`)}}}
	if _, err := bad.Encode(); err == nil {
		t.Error("invalid SETTINGS encoded")
	}
}

func TestPlainStringArray(t *testing.T) {
	for s, want := range map[string]bool{
		`[]`: true, `["X"]`: true, `["SELF","OPEN"]`: true, `["C3:WON","C3:NEW"]`: true, `[""]`: true, `["a-b_c"]`: true,
		`[ ]`: false, `[`: false, `]`: false, `["X",]`: false, `[,"X"]`: false, `["X" ]`: false, `["X","]`: false, `["X""Y"]`: false,
		`["<"]`: false, `["a b"]`: false, `["\u003c"]`: false, `[1]`: false, `"X"`: false, `["X"],`: false, `[[]]`: false, `["X"`: false,
	} {
		if got := plainStringArray([]byte(s)); got != want {
			t.Errorf("plainStringArray(%s) = %v", s, got)
		}
		if want && !json.Valid([]byte(s)) {
			t.Errorf("%s is not JSON", s)
		}
	}
}

func TestSettingsJSONIsMarshal(t *testing.T) {
	for _, set := range [][]string{nil, {}, {"X"}, {"SELF", "OPEN"}, {"C3:WON", "a-b_0"}, {""}, {"<&>"}, {`q"`}, {"é"}, {"a b", "X"}} {
		want, _ := json.Marshal(set)
		if got := settingsJSON(set); !bytes.Equal(got, want) {
			t.Errorf("settingsJSON(%q) = %s, want %s", set, got, want)
		}
	}
}
