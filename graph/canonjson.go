package graph

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// The canonical JSON of a graph (Digest) and of a CRM role (Fingerprint)
// are the bytes encoding/json writes for them. The CRM cells are most of
// a graph (70,000 at XL), so they are written here without reflection
// and streamed into the hash; everything else still goes through
// encoding/json. TestCanonicalJSON compares both with encoding/json.

// graphHead and graphTail are Graph's JSON fields before and after
// crm_roles, with the same names, types and options (checked by
// TestCanonicalJSONFields).
type graphHead struct {
	FormatVersion  int            `json:"format_version"`
	Directory      *Directory     `json:"directory,omitempty"`
	SmartProcesses []SmartProcess `json:"smart_processes,omitempty"`
	Pipelines      []Pipeline     `json:"pipelines,omitempty"`
}

type graphTail struct {
	TelephonyRoles       []SimpleRole  `json:"telephony_roles,omitempty"`
	TelephonySecurityOff bool          `json:"telephony_security_off,omitempty"`
	OpenlineRoles        []SimpleRole  `json:"openline_roles,omitempty"`
	Workgroups           []Workgroup   `json:"workgroups,omitempty"`
	OpenChannels         []OpenChannel `json:"open_channels,omitempty"`
	FieldRules           []FieldRule   `json:"field_rules,omitempty"`
	Settings             *Settings     `json:"settings,omitempty"`
	Removed              []Removed     `json:"removed,omitempty"`
	Tests                []Test        `json:"tests,omitempty"`
}

// writeCanonical writes what json.NewEncoder(w) with SetEscapeHTML(false)
// writes for g, newline included.
func writeCanonical(w io.Writer, g *Graph) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	head, err := encodeNoHTML(graphHead{g.FormatVersion, g.Directory, g.SmartProcesses, g.Pipelines})
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1]) // without its closing brace
	if len(g.CRMRoles) > 0 {
		bw.WriteString(`,"crm_roles":[`)
		var b []byte
		for i := range g.CRMRoles {
			b = b[:0]
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCRMRole(b, &g.CRMRoles[i], false)
			bw.Write(b)
		}
		bw.WriteByte(']')
	}
	tail, err := encodeNoHTML(graphTail{g.TelephonyRoles, g.TelephonySecurityOff, g.OpenlineRoles, g.Workgroups, g.OpenChannels, g.FieldRules, g.Settings, g.Removed, g.Tests})
	if err != nil {
		return err
	}
	if len(tail) > 2 { // not "{}"
		bw.WriteByte(',')
		bw.Write(tail[1:])
	} else {
		bw.WriteByte('}')
	}
	bw.WriteByte('\n')
	return bw.Flush()
}

// encodeNoHTML is v's JSON as an Encoder without HTML escaping writes
// it, without the newline.
func encodeNoHTML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendCRMRole appends r's JSON as encoding/json writes it (html: with
// its HTML escaping, as json.Marshal does).
func appendCRMRole(b []byte, r *CRMRole, html bool) []byte {
	b = append(b, `{"key":`...)
	b = appendJSONString(b, r.Key, html)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, r.Name, html)
	if r.ID != 0 {
		b = append(b, `,"id":`...)
		b = strconv.AppendInt(b, r.ID, 10)
	}
	if r.System {
		b = append(b, `,"system":true`...)
	}
	b = append(b, `,"assign":`...)
	if r.Assign == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range r.Assign {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s, html)
		}
		b = append(b, ']')
	}
	b = append(b, `,"permissions":`...)
	if perms := r.Cells(); perms == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range perms {
			c := &perms[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"entity":`...)
			b = appendJSONString(b, c.Entity, html)
			if c.Pipeline != "" {
				b = append(b, `,"pipeline":`...)
				b = appendJSONString(b, c.Pipeline, html)
			}
			if c.Stage != "" {
				b = append(b, `,"stage":`...)
				b = appendJSONString(b, c.Stage, html)
			}
			b = append(b, `,"action":`...)
			b = appendJSONString(b, c.Action, html)
			b = append(b, `,"level":`...)
			b = appendJSONString(b, c.Level, html)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as encoding/json quotes it: printable
// ASCII other than '"' and '\\' (and, with html, '<', '>', '&') as is;
// anything else through encoding/json itself.
func appendJSONString(b []byte, s string, html bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || (html && (c == '<' || c == '>' || c == '&')) {
			var q []byte
			if html {
				q, _ = json.Marshal(s)
			} else {
				q, _ = encodeNoHTML(s)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendIndented appends g's canonical JSON indented by two spaces, with
// its final newline: the parts outside the CRM roles through
// encoding/json and indentJSONAt, the roles by appendCRMRoleIndented.
func appendIndented(dst []byte, g *Graph) ([]byte, error) {
	head, err := encodeNoHTML(graphHead{g.FormatVersion, g.Directory, g.SmartProcesses, g.Pipelines})
	if err != nil {
		return nil, err
	}
	tail, err := encodeNoHTML(graphTail{g.TelephonyRoles, g.TelephonySecurityOff, g.OpenlineRoles, g.Workgroups, g.OpenChannels, g.FieldRules, g.Settings, g.Removed, g.Tests})
	if err != nil {
		return nil, err
	}
	if dst == nil {
		// An indented cell takes about 150 bytes; the rest is indented
		// at about twice its compact size.
		cells := 0
		for i := range g.CRMRoles {
			cells += g.CRMRoles[i].NumCells() + len(g.CRMRoles[i].Assign)
		}
		dst = make([]byte, 0, 2*(len(head)+len(tail))+160*cells+256*len(g.CRMRoles)+64)
	}
	// Without its closing brace: one level deep once written.
	dst = indentJSONAt(dst, head[:len(head)-1], "  ", false, 0)
	if len(g.CRMRoles) > 0 {
		dst = append(dst, ",\n  \"crm_roles\": ["...)
		for i := range g.CRMRoles {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, "\n    "...)
			dst = appendCRMRoleIndented(dst, &g.CRMRoles[i])
		}
		dst = append(dst, "\n  ]"...)
	}
	if len(tail) > 2 { // not "{}"
		dst = append(dst, ",\n  "...)
		dst = indentJSONAt(dst, tail[1:], "  ", false, 1)
	} else {
		dst = append(dst, "\n}"...)
	}
	return append(dst, '\n'), nil
}

// appendCRMRoleIndented appends r's JSON as appendCRMRole (without HTML
// escaping) writes it, indented as the third level of a graph (a role of
// crm_roles), the cursor already at the role's indentation.
func appendCRMRoleIndented(b []byte, r *CRMRole) []byte {
	const in3, in4, in5 = "\n      ", "\n        ", "\n          "
	b = append(b, "{"+in3+`"key": `...)
	b = appendJSONString(b, r.Key, false)
	b = append(b, ","+in3+`"name": `...)
	b = appendJSONString(b, r.Name, false)
	if r.ID != 0 {
		b = append(b, ","+in3+`"id": `...)
		b = strconv.AppendInt(b, r.ID, 10)
	}
	if r.System {
		b = append(b, ","+in3+`"system": true`...)
	}
	b = append(b, ","+in3+`"assign": `...)
	switch {
	case r.Assign == nil:
		b = append(b, "null"...)
	case len(r.Assign) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, '[')
		for i, s := range r.Assign {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, in4...)
			b = appendJSONString(b, s, false)
		}
		b = append(b, in3+"]"...)
	}
	b = append(b, ","+in3+`"permissions": `...)
	switch perms := r.Cells(); {
	case perms == nil:
		b = append(b, "null"...)
	case len(perms) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, '[')
		for i := range perms {
			c := &perms[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, in4+"{"+in5+`"entity": `...)
			b = appendJSONString(b, c.Entity, false)
			if c.Pipeline != "" {
				b = append(b, ","+in5+`"pipeline": `...)
				b = appendJSONString(b, c.Pipeline, false)
			}
			if c.Stage != "" {
				b = append(b, ","+in5+`"stage": `...)
				b = appendJSONString(b, c.Stage, false)
			}
			b = append(b, ","+in5+`"action": `...)
			b = appendJSONString(b, c.Action, false)
			b = append(b, ","+in5+`"level": `...)
			b = appendJSONString(b, c.Level, false)
			b = append(b, in4+"}"...)
		}
		b = append(b, in3+"]"...)
	}
	return append(b, "\n    }"...)
}
