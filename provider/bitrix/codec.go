package bitrix

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// Slug derives a key from a display name: lowercase, runs of other
// characters become "_", trimmed; a key not starting with a letter gets
// "x_" in front (keys must be identifiers).
func Slug(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			under = false
		default:
			if !under && b.Len() > 0 {
				b.WriteByte('_')
				under = true
			}
		}
	}
	s := strings.TrimRight(b.String(), "_")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "x_" + s
	}
	return s
}

// UniqueKey returns Slug(name), or Slug(name)+"_<id>" when taken.
func UniqueKey(used map[string]bool, name string, id int64) string {
	k := Slug(name)
	if used[k] {
		k = k + "_" + strconv.FormatInt(id, 10)
	}
	used[k] = true
	return k
}

// Level sets (SETTINGS members) in chain order.
var chainSet = []string{"SELF", "DEPARTMENT", "SUBDEPARTMENTS", "OPEN", "ALL"}

// attrLevel maps legacy ATTR letters to levels.
var attrLevel = map[string]string{"": "none", "A": "own", "D": "department", "F": "subdepartments", "O": "open", "X": "all"}

// chainLevelSettings is the SETTINGS list of a level: a chain level's
// chain, a non-chain set ("own+open", graph.LevelSet) its members.
func chainLevelSettings(level string) ([]string, error) {
	set, ok := graph.ParseLevel(level)
	if !ok {
		return nil, fmt.Errorf("unknown CRM level %q", level)
	}
	if set == 0 {
		return []string{"0"}, nil
	}
	var out []string
	for i, m := range chainSet {
		if set&(1<<i) != 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// settingsLevel reads a SETTINGS set as a level (graph.LevelSet.Level):
// chain sets as level names, other sets as "own+open". ok is false for
// unknown members.
func settingsLevel(set []string) (level string, inherit bool, ok bool) {
	var s graph.LevelSet
	for _, m := range set {
		switch m {
		case "0", "":
		case "INHERIT":
			return "", true, true
		default:
			i := slices.Index(chainSet, m)
			if i < 0 {
				return "", false, false
			}
			s |= 1 << i
		}
	}
	return s.Level(), false, true
}

// actionForm is how a CRM action's value is stored.
type actionForm int

const (
	formChain      actionForm = iota // SETTINGS list (current UI), letters read too
	formToggle                       // ATTR '' / 'X'
	formTransition                   // SETTINGS ANY / BLOCKED / status IDs
)

func formOf(a graph.CRMAction) actionForm {
	switch {
	case a.Levels == nil:
		return formTransition
	case len(a.Levels) == 2 && a.Levels[0] == "none" && a.Levels[1] == "all":
		return formToggle
	}
	return formChain
}

// entityInfo is a parsed ENTITY value.
type entityInfo struct {
	graphEntity  string // "deal", "smart:<key>" (filled by the caller for dynamic)
	base         string // "DEAL", "DYNAMIC_128"
	entityTypeID int64  // 1, 2, 31, typeId; 0 for entities without categories/stages
	category     int64  // -1 for entities without categories
	desc         graph.CRMEntity
}

// baseEntity returns the Bitrix base name (LEAD, DEAL, DYNAMIC_<t>) and
// the entity type ID of a graph entity.
func baseEntityOf(e graph.CRMEntity, smartTypeID int64) (string, int64) {
	switch e.Bitrix {
	case "DYNAMIC":
		return "DYNAMIC_" + strconv.FormatInt(smartTypeID, 10), smartTypeID
	case "LEAD":
		return "LEAD", EntityTypeLead
	case "DEAL":
		return "DEAL", EntityTypeDeal
	case "SMART_INVOICE":
		return "SMART_INVOICE", EntityTypeSmartInvoice
	}
	return e.Bitrix, 0
}

// permEntity is the ENTITY value for a base and category: "_C<id>" only
// for categories above 0.
func permEntity(base string, category int64) string {
	if category > 0 {
		return base + "_C" + strconv.FormatInt(category, 10)
	}
	return base
}

// splitPermEntity splits "DEAL_C3" into ("DEAL", 3); no suffix gives 0.
func splitPermEntity(e string) (string, int64) {
	if i := strings.LastIndex(e, "_C"); i > 0 {
		if n, err := strconv.ParseInt(e[i+2:], 10, 64); err == nil && n > 0 {
			return e[:i], n
		}
	}
	return e, 0
}

// stageField is the FIELD of stage rows.
func stageField(entityTypeID int64) string {
	if entityTypeID == EntityTypeLead {
		return "STATUS_ID"
	}
	return "STAGE_ID"
}

// StatusEntityID is b_crm_status.ENTITY_ID of a category's stages.
func StatusEntityID(entityTypeID, category int64) string {
	switch entityTypeID {
	case EntityTypeLead:
		return "STATUS"
	case EntityTypeDeal:
		if category > 0 {
			return "DEAL_STAGE_" + strconv.FormatInt(category, 10)
		}
		return "DEAL_STAGE"
	case EntityTypeSmartInvoice:
		return "SMART_INVOICE_STAGE_" + strconv.FormatInt(category, 10)
	}
	return "DYNAMIC_" + strconv.FormatInt(entityTypeID, 10) + "_STAGE_" + strconv.FormatInt(category, 10)
}

// StatusPrefix is the STATUS_ID prefix of a category's stages.
func StatusPrefix(entityTypeID, category int64) string {
	switch entityTypeID {
	case EntityTypeLead:
		return ""
	case EntityTypeDeal:
		if category > 0 {
			return "C" + strconv.FormatInt(category, 10) + ":"
		}
		return ""
	}
	return "DT" + strconv.FormatInt(entityTypeID, 10) + "_" + strconv.FormatInt(category, 10) + ":"
}

// stageKey derives a stage key from a STATUS_ID: lowercase, prefix dropped.
func stageKey(statusID string) string {
	if i := strings.LastIndexByte(statusID, ':'); i >= 0 {
		statusID = statusID[i+1:]
	}
	return strings.ToLower(statusID)
}

// ParseStatusEntityID is the inverse of StatusEntityID.
func ParseStatusEntityID(s string) (entityTypeID, category int64, ok bool) {
	num := func(x string) (int64, bool) {
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	switch {
	case s == "STATUS":
		return EntityTypeLead, 0, true
	case s == "DEAL_STAGE":
		return EntityTypeDeal, 0, true
	case strings.HasPrefix(s, "DEAL_STAGE_"):
		n, ok := num(s[len("DEAL_STAGE_"):])
		return EntityTypeDeal, n, ok
	case strings.HasPrefix(s, "SMART_INVOICE_STAGE_"):
		n, ok := num(s[len("SMART_INVOICE_STAGE_"):])
		return EntityTypeSmartInvoice, n, ok
	case strings.HasPrefix(s, "DYNAMIC_"):
		t, c, found := strings.Cut(s[len("DYNAMIC_"):], "_STAGE_")
		if !found {
			return 0, 0, false
		}
		tn, ok1 := num(t)
		cn, ok2 := num(c)
		return tn, cn, ok1 && ok2
	}
	return 0, 0, false
}

// decodeSettings parses a SETTINGS value: nil/null = absent.
func decodeSettings(raw json.RawMessage) (set []string, present bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	if set, ok := plainSettings(nil, raw); ok {
		return set, true, nil
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, true, err
	}
	return set, true, nil
}

// plainSettings decodes a SETTINGS list of strings without escapes or
// non-ASCII bytes, as json.Unmarshal would, without its reflection (a
// read decodes one per b_crm_role_perms row); ok is false for anything
// else, which json.Unmarshal then decodes.
//
// The list is appended to buf[:0], which callers that do not keep it
// reuse.
func plainSettings(buf []string, raw []byte) (set []string, ok bool) {
	i := 0
	ws := func() {
		for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
			i++
		}
	}
	ws()
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	i++
	if buf == nil {
		buf = make([]string, 0, 4)
	}
	set = buf[:0]
	ws()
	if i < len(raw) && raw[i] == ']' {
		i++
		ws()
		return set, i == len(raw)
	}
	for {
		ws()
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		i++
		start := i
		for i < len(raw) && raw[i] != '"' {
			if c := raw[i]; c == '\\' || c < 0x20 || c >= 0x80 {
				return nil, false
			}
			i++
		}
		if i >= len(raw) {
			return nil, false
		}
		set = append(set, settingsMember(raw[start:i]))
		i++
		ws()
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i++
		case ']':
			i++
			ws()
			return set, i == len(raw)
		default:
			return nil, false
		}
	}
}

// settingsMember returns the usual SETTINGS members without allocating.
func settingsMember(b []byte) string {
	switch string(b) {
	case "SELF":
		return "SELF"
	case "DEPARTMENT":
		return "DEPARTMENT"
	case "SUBDEPARTMENTS":
		return "SUBDEPARTMENTS"
	case "OPEN":
		return "OPEN"
	case "ALL":
		return "ALL"
	case "0":
		return "0"
	case "INHERIT":
		return "INHERIT"
	case "ANY":
		return "ANY"
	case "BLOCKED":
		return "BLOCKED"
	}
	return string(b)
}

// settingsJSON encodes a SETTINGS list.
func settingsJSON(set []string) json.RawMessage {
	if set == nil {
		return json.RawMessage("null")
	}
	// Members of letters, digits, '_', ':' and '-' (all that Bitrix
	// writes) need no escaping: written directly, without encoding/json's
	// reflection, as an apply writes one SETTINGS per cell of every role
	// it updates.
	n := 2
	for _, m := range set {
		n += len(m) + 3
		for i := 0; i < len(m); i++ {
			if c := m[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '-') {
				b, _ := json.Marshal(set)
				return b
			}
		}
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, m := range set {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, m...)
		b = append(b, '"')
	}
	return append(b, ']')
}

// Telephony / open-channel letters.
var simpleLetter = map[string]string{"none": "", "own": "A", "crm_clients": "C", "department": "D", "crm_clients_and_employees": "K", "any": "X"}
var letterSimple = map[string]string{"": "none", "A": "own", "C": "crm_clients", "D": "department", "K": "crm_clients_and_employees", "X": "any"}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}
