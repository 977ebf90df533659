package bitrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// permsKey is where the Encoder writes b_crm_role_perms when the field is
// nil. A comma followed by an unescaped quote occurs in compact JSON only
// between members or elements, never inside a string, so this names the
// top-level member and nothing else.
const permsKey = `,"b_crm_role_perms":`

// withRolePerms returns the compact encoding b of a copy of p whose
// RolePerms was nil, with p's rows put in place of that null: the bytes
// encoding/json (without HTML escaping) writes for p itself. The rows are
// four fifths of a portal file, and encoding them by reflection was most
// of an XL apply's Encode.
func withRolePerms(b []byte, rows []RolePerm) ([]byte, error) {
	k := bytes.Index(b, []byte(permsKey+"null"))
	if k < 0 {
		return nil, fmt.Errorf("bitrix: no %s member in the encoded portal", permsKey[2:len(permsKey)-2])
	}
	out := make([]byte, 0, len(b)+len(rows)*150)
	out = append(out, b[:k+len(permsKey)]...)
	out = append(out, '[')
	var err error
	for i := range rows {
		if i > 0 {
			out = append(out, ',')
		}
		if out, err = appendRolePerm(out, &rows[i]); err != nil {
			return nil, err
		}
	}
	out = append(out, ']')
	return append(out, b[k+len(permsKey)+len("null"):]...), nil
}

// appendRolePerm appends r as encoding/json encodes a RolePerm: fields in
// order, FIELD_VALUE omitted when empty, SETTINGS compacted (null when
// nil).
func appendRolePerm(dst []byte, r *RolePerm) ([]byte, error) {
	dst = append(dst, `{"ID":`...)
	dst = strconv.AppendInt(dst, r.ID, 10)
	dst = append(dst, `,"ROLE_ID":`...)
	dst = strconv.AppendInt(dst, r.RoleID, 10)
	dst = append(dst, `,"ENTITY":`...)
	dst = appendJSONString(dst, r.Entity)
	dst = append(dst, `,"FIELD":`...)
	dst = appendJSONString(dst, r.Field)
	if r.FieldValue != "" {
		dst = append(dst, `,"FIELD_VALUE":`...)
		dst = appendJSONString(dst, r.FieldValue)
	}
	dst = append(dst, `,"PERM_TYPE":`...)
	dst = appendJSONString(dst, r.PermType)
	dst = append(dst, `,"ATTR":`...)
	dst = appendJSONString(dst, r.Attr)
	dst = append(dst, `,"SETTINGS":`...)
	switch {
	case r.Settings == nil:
		dst = append(dst, "null"...)
	case plainStringArray(r.Settings):
		dst = append(dst, r.Settings...)
	default:
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, r.Settings); err != nil {
			return nil, fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: %w", err)
		}
		dst = buf.Bytes()
	}
	return append(dst, '}'), nil
}

// appendJSONString appends s quoted as encoding/json writes it without
// HTML escaping. Printable ASCII without quote or backslash, all that
// Bitrix writes in these columns, is copied; anything else is left to
// encoding/json, so its escaping rules hold as they are.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(s) // a string always encodes
			return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainStringArray reports whether b is a JSON array of strings of
// letters, digits, '_', ':' and '-' without any space, as SETTINGS almost
// always is (["SELF","OPEN"], ["C3:WON"]): compact, valid, and encoded as
// it is.
func plainStringArray(b []byte) bool {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return false
	}
	if len(b) == 2 {
		return true
	}
	inner := b[1 : len(b)-1]
	for len(inner) > 0 {
		if len(inner) < 2 || inner[0] != '"' {
			return false
		}
		i := 1
		for i < len(inner) && inner[i] != '"' {
			c := inner[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '-') {
				return false
			}
			i++
		}
		if i == len(inner) {
			return false
		}
		inner = inner[i+1:]
		if len(inner) > 0 {
			if inner[0] != ',' || len(inner) == 1 {
				return false
			}
			inner = inner[1:]
		}
	}
	return true
}
