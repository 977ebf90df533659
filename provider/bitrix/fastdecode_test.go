package bitrix

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/internal/cputime"
)

// demoFile is the embedded demo portal of the local backend.
func demoFile(t testing.TB) []byte {
	b, err := os.ReadFile("../local/demo/portal.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameDecode checks that Decode (the fast path, or its fallback) gives
// exactly what encoding/json gives: the same portal or the same error.
func sameDecode(t *testing.T, what string, b []byte) {
	t.Helper()
	want, werr := decodeJSON(b, "p.json")
	got, gerr := Decode(b, "p.json")
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%s: error %v, encoding/json says %v", what, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: the fast decoder's portal differs from encoding/json's", what)
	}
}

// TestDecodeFastTaken: the files b24perm writes take the fast path, and
// it decodes them as encoding/json does.
func TestDecodeFastTaken(t *testing.T) {
	for name, b := range map[string][]byte{"demo": demoFile(t), "xl": xlOnce()} {
		if _, ok := decodeFast(b); !ok {
			t.Fatalf("%s: not decoded by the fast path", name)
		}
		sameDecode(t, name, b)
	}
}

// TestDecodeFastDifferential: every variant of the demo file, in or out
// of the plain shape, valid or not, decodes as encoding/json decodes it.
func TestDecodeFastDifferential(t *testing.T) {
	base := string(demoFile(t))
	first := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("the demo portal has no %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	all := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("the demo portal has no %q", old)
		}
		return strings.ReplaceAll(base, old, new)
	}
	variants := map[string]string{
		"as is":                   base,
		"lower-case member":       first(`"ID": 1,`, `"id": 1,`),
		"lower-case row member":   first(`"PERM_TYPE"`, `"perm_type"`),
		"unknown row member":      first(`"PERM_TYPE"`, `"X": 1, "PERM_TYPE"`),
		"unknown top member":      first(`"portal"`, `"x": [1, {"a": null}], "portal"`),
		"repeated row member":     first(`"EMAIL"`, `"EMAIL": "a@b", "EMAIL"`),
		"repeated ID":             first(`"ID": 1,`, `"ID": 7, "ID": 1,`),
		"repeated table":          base[:len(base)-2] + `, "b_user": [{"ID": 9}]}` + "\n",
		"escaped string":          first(`"EMAIL": "`, `"EMAIL": "\u0041\n`),
		"bad escape":              first(`"EMAIL": "`, `"EMAIL": "\q`),
		"invalid UTF-8":           first(`"EMAIL": "`, "\"EMAIL\": \"\xff"),
		"UTF-8 name":              first(`"NAME": "`, `"NAME": "Отдел продаж `),
		"control character":       first(`"EMAIL": "`, "\"EMAIL\": \"\x01"),
		"fraction":                first(`"ID": 1,`, `"ID": 1.0,`),
		"exponent":                first(`"ID": 1,`, `"ID": 1e0,`),
		"negative zero":           first(`"ID": 1,`, `"ID": -0,`),
		"leading zero":            first(`"ID": 1,`, `"ID": 01,`),
		"huge":                    first(`"ID": 1,`, `"ID": 99999999999999999999,`),
		"max int64":               first(`"ID": 1,`, `"ID": 9223372036854775807,`),
		"string for number":       first(`"ID": 1,`, `"ID": "1",`),
		"null number":             first(`"ID": 1,`, `"ID": null,`),
		"null string":             first(`"EMAIL": "`, `"EMAIL": null, "X": "`),
		"null list":               first(`"GROUPS": [`, `"GROUPS": null, "Y": [`),
		"null table":              first(`"b_user": [`, `"b_user": null, "z": [`),
		"null known table":        first(`"b_user": [`, `"bitrix24": null, "b_user": [`),
		"null big table":          first(`"b_user": [`, `"b_crm_role_perms": null, "b_user": [`),
		"null row":                first(`"b_user": [`, `"b_user": [null, `),
		"null in list":            first(`"UF_DEPARTMENT": [`, `"UF_DEPARTMENT": [null, `),
		"null settings":           first(`"SETTINGS": [`, `"SETTINGS": null, "Q": [`),
		"settings object":         first(`"SETTINGS": [`, `"SETTINGS": {"a": [1, "]"]}, "Q": [`),
		"settings spaced":         all(`"SETTINGS": ["`, "\"SETTINGS\" :\t[ \r\n \""),
		"settings number":         first(`"SETTINGS": [`, `"SETTINGS": 12, "Q": [`),
		"settings string":         first(`"SETTINGS": [`, `"SETTINGS": "a\"]", "Q": [`),
		"settings invalid":        first(`"SETTINGS": [`, `"SETTINGS": [,`),
		"empty lists":             all(`"GROUPS": [`, `"GROUPS": [], "G2": [`),
		"empty table":             first(`"b_iblock_section": [`, `"b_iblock_section": [], "w": [`),
		"object for list":         first(`"b_user": [`, `"b_user": {}, "z": [`),
		"compact":                 strings.NewReplacer("\n", "", " ", "").Replace(base),
		"tabs and CRLF":           strings.NewReplacer("\n", "\r\n", " ", "\t").Replace(base),
		"trailing data":           base + "{}",
		"trailing bracket":        base + "]",
		"trailing space":          base + " \n\t",
		"truncated":               base[:len(base)/2],
		"empty":                   "",
		"not an object":           "[]",
		"format missing":          first(`"format": "bitrix-tables",`, ``),
		"format bool":             first(`"format": "bitrix-tables"`, `"format": true`),
		"format version too new":  first(`"format_version": 1`, `"format_version": 2`),
		"counters lower case key": first(`"counters": {`, `"counters": {"X": 5, `),
		"true for string":         first(`"ACTIVE": "Y"`, `"ACTIVE": true`),
		"missing colon":           first(`"ACTIVE": "Y"`, `"ACTIVE" "Y"`),
		"missing comma":           first(`"ACTIVE": "Y",`, `"ACTIVE": "Y"`),
		"trailing comma":          first(`"ACTIVE": "Y",`, `"ACTIVE": "Y",,`),
		"row trailing comma":      first(`"b_user": [`, `"b_user": [{"ID": 99},`),
	}
	for what, v := range variants {
		sameDecode(t, what, []byte(v))
	}
}

// FuzzDecodeFast: any input decodes as encoding/json decodes it.
func FuzzDecodeFast(f *testing.F) {
	f.Add(demoFile(f))
	f.Add([]byte(`{"format":"bitrix-tables","b_crm_role_perms":[{"ID":1,"SETTINGS":["ALL"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameDecode(t, "fuzz", b)
	})
}

// BenchmarkDecodeXL decodes the XL portal file with the fast path and
// with encoding/json alone.
func BenchmarkDecodeXL(b *testing.B) {
	data := xlOnce()
	for _, c := range []struct {
		name   string
		decode func([]byte, string) (*Portal, error)
	}{{"fast", Decode}, {"json", decodeJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			cpu0 := cputime.Process()
			for b.Loop() {
				if _, err := c.decode(data, "xl.json"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// TestPlainSettings: the SETTINGS fast path decodes what json.Unmarshal
// decodes, and leaves everything else to it.
func TestPlainSettings(t *testing.T) {
	for _, in := range []string{`[]`, `["ALL"]`, `["0"]`, ` [ "SELF" , "OPEN" ] `, `["INHERIT"]`, `["C3:WON","C3:NEW"]`,
		`["a\"b"]`, `["\u0041"]`, `["é"]`, `[1]`, `["A",]`, `["A"`, `["A"]x`, `[,]`, `["A" "B"]`, `{}`, `"ALL"`, `[null]`, "[\"\x01\"]", `[[]]`} {
		var want []string
		werr := json.Unmarshal([]byte(in), &want)
		got, ok := plainSettings(nil, []byte(in))
		if !ok {
			continue
		}
		if werr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast path %q, json.Unmarshal %q (%v)", in, got, want, werr)
		}
	}
	for _, in := range []string{`[]`, `["ALL"]`, ` [ "SELF" , "OPEN" ] `, `["C3:WON","C3:NEW"]`} {
		if _, ok := plainSettings(nil, []byte(in)); !ok {
			t.Errorf("%s: not taken by the fast path", in)
		}
	}
}

// TestDecodeFastColumns: the hand-written row decoders know every column
// of their tables, so that a column added to one of these structs is not
// silently sent to encoding/json (correct, but 3-4x slower) on every read.
func TestDecodeFastColumns(t *testing.T) {
	s := &fastScanner{intern: map[string]string{}}
	for _, c := range []struct {
		row any
		dec func(key []byte) int
	}{
		{User{}, func(k []byte) int { return s.user(&User{}, k) }},
		{Department{}, func(k []byte) int { return s.department(&Department{}, k) }},
		{Status{}, func(k []byte) int { return s.status(&Status{}, k) }},
		{RolePerm{}, func(k []byte) int { return s.rolePerm(&RolePerm{}, k) }},
		{User2Group{}, func(k []byte) int { return s.user2group(&User2Group{}, k) }},
		{OLOperator{}, func(k []byte) int { return s.olOperator(&OLOperator{}, k) }},
	} {
		rt := reflect.TypeOf(c.row)
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			value := `"x"`
			switch {
			case f.Type == reflect.TypeOf(json.RawMessage(nil)):
				value = `["ALL"]`
			case f.Type.Kind() == reflect.Slice:
				value = `[1]`
			case f.Type.Kind() == reflect.Int64 || f.Type.Kind() == reflect.Int:
				value = `1`
			}
			s.b, s.i = []byte(value), 0
			if c.dec([]byte(name)) < 0 {
				t.Errorf("%s.%s (%s): not decoded by the fast path; add it to fastdecode.go", rt.Name(), f.Name, name)
			}
		}
	}
}
