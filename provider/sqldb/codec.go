package sqldb

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/local"
)

// Storage forms of CRM levels (bitrix-permissions.md §2.4): the legacy
// ATTR letter and the current SETTINGS set. Both are read; the current
// UI's form is written.
var attrLevel = map[string]string{"": "none", "A": "own", "D": "department", "F": "subdepartments", "O": "open", "X": "all"}

var levelSettings = map[string][]string{
	"none":           {"0"},
	"own":            {"SELF"},
	"department":     {"SELF", "DEPARTMENT"},
	"subdepartments": {"SELF", "DEPARTMENT", "SUBDEPARTMENTS"},
	"open":           {"SELF", "DEPARTMENT", "SUBDEPARTMENTS", "OPEN"},
	"all":            {"SELF", "DEPARTMENT", "SUBDEPARTMENTS", "OPEN", "ALL"},
}

var chainActions = map[string]bool{"read": true, "add": true, "write": true, "delete": true, "export": true, "import": true}

// settingsLevel turns a SETTINGS set into a level name
// (graph.LevelSet.Level): chain sets by name, non-chain sets "own+open".
func settingsLevel(set []string) (level string, inherit bool) {
	var ls graph.LevelSet
	for _, m := range set {
		switch m {
		case "INHERIT":
			return "", true
		case "SELF":
			ls |= graph.SetSelf
		case "DEPARTMENT":
			ls |= graph.SetDepartment
		case "SUBDEPARTMENTS":
			ls |= graph.SetSubdepartments
		case "OPEN":
			ls |= graph.SetOpen
		case "ALL":
			ls |= graph.SetAll
		}
	}
	return ls.Level(), false
}

// permRow is one b_crm_role_perms row.
type permRow struct {
	RoleID     int64
	Entity     string
	Field      string
	FieldValue string
	PermType   string
	Attr       string
	Settings   *string
	ID         int64
}

// entityOf splits a stored ENTITY ("DEAL_C3", "DYNAMIC_128_C5", "LEAD")
// into the portal model's entity and category (-1: no categories).
func entityOf(e string) (string, int64, bool) {
	base, cat := e, int64(0)
	if i := strings.LastIndex(e, "_C"); i > 0 {
		if n, err := strconv.ParseInt(e[i+2:], 10, 64); err == nil {
			base, cat = e[:i], n
		}
	}
	if id, ok := strings.CutPrefix(base, "DYNAMIC_"); ok {
		return "dynamic_" + id, cat, true
	}
	name := strings.ToLower(base)
	ent, ok := graph.LookupCRMEntity(name)
	if !ok {
		return "", 0, false
	}
	if !ent.Pipelines && !ent.Stages {
		return name, -1, true
	}
	return name, cat, true
}

// storedEntity is the inverse of entityOf.
func storedEntity(entity string, cat int64) string {
	base := strings.ToUpper(entity)
	if cat > 0 {
		return fmt.Sprintf("%s_C%d", base, cat)
	}
	return base
}

func stageField(entity string) string {
	if entity == "lead" {
		return "STATUS_ID"
	}
	return "STAGE_ID"
}

// rowsToPerm converts a row into a portal cell, or an anomaly.
func rowToPerm(r permRow, statusKey func(entity string, cat int64, statusID string) (string, bool)) (local.Perm, bool, string) {
	entity, cat, ok := entityOf(r.Entity)
	if !ok {
		return local.Perm{}, false, fmt.Sprintf("b_crm_role_perms row %d: unknown ENTITY %q", r.ID, r.Entity)
	}
	action := strings.ToLower(r.PermType)
	p := local.Perm{Entity: entity, Category: cat, Action: action}
	if r.Field != "" && r.Field != "-" {
		key, ok := statusKey(entity, cat, r.FieldValue)
		if !ok {
			return local.Perm{}, false, fmt.Sprintf("b_crm_role_perms row %d: stage %q of %s does not exist", r.ID, r.FieldValue, r.Entity)
		}
		p.Stage = key
	}
	if r.Settings != nil && *r.Settings != "" && *r.Settings != "null" {
		var set []string
		if err := json.Unmarshal([]byte(*r.Settings), &set); err != nil {
			return local.Perm{}, false, fmt.Sprintf("b_crm_role_perms row %d: SETTINGS is not a JSON list: %q", r.ID, *r.Settings)
		}
		if action == "transition" {
			switch {
			case slices.Contains(set, "ANY"):
				p.Level = graph.TransitionAny
			case slices.Contains(set, "BLOCKED") || len(set) == 0:
				p.Level = graph.TransitionBlocked
			case slices.Contains(set, "INHERIT"):
				return local.Perm{}, false, ""
			default:
				var keys []string
				for _, s := range set {
					if k, ok := statusKey(entity, cat, s); ok {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				p.Level = strings.Join(keys, ",")
			}
			return p, true, ""
		}
		level, inherit := settingsLevel(set)
		if inherit {
			return local.Perm{}, false, ""
		}
		p.Level = level
		return p, true, ""
	}
	level, ok := attrLevel[strings.TrimSpace(r.Attr)]
	if !ok {
		return local.Perm{}, false, fmt.Sprintf("b_crm_role_perms row %d: unknown ATTR %q", r.ID, r.Attr)
	}
	p.Level = level
	return p, true, ""
}

// permToRow writes a cell in the current UI's form: SETTINGS sets for the
// chain actions and transitions, letters for toggles; never '-'.
func permToRow(roleID int64, p local.Perm, statusID func(entity string, cat int64, key string) string) permRow {
	r := permRow{RoleID: roleID, Entity: storedEntity(p.Entity, p.Category), Field: "-", PermType: strings.ToUpper(p.Action)}
	if p.Stage != "" {
		r.Field, r.FieldValue = stageField(p.Entity), statusID(p.Entity, p.Category, p.Stage)
	}
	set := func(v []string) {
		b, _ := json.Marshal(v)
		s := string(b)
		r.Settings = &s
	}
	switch {
	case p.Action == "transition":
		switch p.Level {
		case graph.TransitionAny:
			set([]string{"ANY"})
		case graph.TransitionBlocked:
			set([]string{"BLOCKED"})
		default:
			var ids []string
			for _, k := range strings.Split(p.Level, ",") {
				ids = append(ids, statusID(p.Entity, p.Category, k))
			}
			set(ids)
		}
	case chainActions[p.Action] && p.Entity != "config":
		if s, ok := levelSettings[p.Level]; ok {
			set(s)
		} else if ls, ok := graph.ParseLevel(p.Level); ok {
			var parts []string
			for i, m := range []string{"SELF", "DEPARTMENT", "SUBDEPARTMENTS", "OPEN", "ALL"} {
				if ls&(1<<i) != 0 {
					parts = append(parts, m)
				}
			}
			set(parts)
		}
	default:
		if p.Level == "all" {
			r.Attr = "X"
		}
	}
	return r
}

// Telephony and open-channel letters.
var simpleLetter = map[string]string{"none": "", "own": "A", "crm_clients": "C", "department": "D", "crm_clients_and_employees": "K", "any": "X"}

func letterLevel(l string) (string, bool) {
	for k, v := range simpleLetter {
		if v == strings.TrimSpace(l) {
			return k, true
		}
	}
	return "", false
}

// groupRoleLetter is the ROLE letter of a minimal member role; the
// compiler has checked the name, K (members) is Bitrix's default.
func groupRoleLetter(name string) string {
	if l, ok := graph.GroupRoleLetter(name); ok {
		return l
	}
	return "K"
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}
