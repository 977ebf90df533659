package graph

import (
	"slices"
	"strconv"
	"strings"
)

// CRM levels in increasing order of permissiveness (Bitrix ATTR letters
// empty < A < D < F < O < X).
var CRMLevels = []string{"none", "own", "department", "subdepartments", "open", "all"}

// Toggle levels (ATTR empty or X).
var ToggleLevels = []string{"none", "all"}

// CRMLevelRank orders CRM levels; unknown levels rank -1.
func CRMLevelRank(l string) int {
	for i, x := range CRMLevels {
		if x == l {
			return i
		}
	}
	return -1
}

// CRMAction describes one CRM permission type.
type CRMAction struct {
	Name   string
	Label  string
	Levels []string // allowed levels; nil means the transition form
	Stages bool     // may be overridden per stage
}

// Transition values besides stage lists.
const (
	TransitionAny     = "any"
	TransitionBlocked = "none"
)

var chainActions = []CRMAction{
	{"read", "Read", CRMLevels, true},
	{"add", "Add", CRMLevels, true},
	{"write", "Edit", CRMLevels, true},
	{"delete", "Delete", CRMLevels, true},
	{"export", "Export", CRMLevels, true},
	{"import", "Import", CRMLevels, true},
}

var itemActions = append(append([]CRMAction{}, chainActions...),
	CRMAction{"automation", "Automation rules", ToggleLevels, false},
	CRMAction{"hide_sum", "Show sums", ToggleLevels, true},
	CRMAction{"mycardview", "Personal card view", ToggleLevels, false},
	CRMAction{"transition", "Change stage", nil, true},
)

// CRMEntity describes one CRM permission entity.
type CRMEntity struct {
	Name      string
	Label     string
	Bitrix    string // ENTITY prefix in b_crm_role_perms
	Pipelines bool   // has categories (DEAL_C3 …)
	Stages    bool   // has stage rows
	Actions   []CRMAction
}

var crmEntities = []CRMEntity{
	{"lead", "Lead", "LEAD", false, true, itemActions},
	{"deal", "Deal", "DEAL", true, true, itemActions},
	{"contact", "Contact", "CONTACT", false, false, withoutStageActions(itemActions)},
	{"company", "Company", "COMPANY", false, false, withoutStageActions(itemActions)},
	{"quote", "Quote", "QUOTE", false, false, itemActions},
	{"invoice", "Invoice (old)", "INVOICE", false, false, chainActions},
	{"smart_invoice", "Invoice", "SMART_INVOICE", true, true, itemActions},
	{"config", "CRM settings", "CONFIG", false, false, []CRMAction{{"write", "Manage settings and permissions", ToggleLevels, false}}},
	{"saletarget", "Sales targets", "SALETARGET", false, false, []CRMAction{{"read", "Read", []string{"none", "own", "department", "subdepartments", "all"}, false}, {"write", "Edit", ToggleLevels, false}}},
	{"webform", "CRM forms", "WEBFORM", false, false, []CRMAction{{"read", "Read", ToggleLevels, false}, {"write", "Edit", ToggleLevels, false}}},
	{"button", "Website widgets", "BUTTON", false, false, []CRMAction{{"read", "Read", ToggleLevels, false}, {"write", "Edit", ToggleLevels, false}}},
	{"exclusion", "Exclusion list", "EXCLUSION", false, false, []CRMAction{{"read", "Read", ToggleLevels, false}, {"write", "Edit", ToggleLevels, false}}},
}

func withoutStageActions(in []CRMAction) []CRMAction {
	var out []CRMAction
	for _, a := range in {
		if a.Name == "transition" || a.Name == "hide_sum" {
			continue
		}
		a.Stages = false
		out = append(out, a)
	}
	return out
}

// SmartProcessPrefix marks smart-process entities: "smart:<key>".
const SmartProcessPrefix = "smart:"

// LookupCRMEntity returns the description of a CRM entity name. Smart
// processes ("smart:<key>") behave like deals: categories and stages.
func LookupCRMEntity(name string) (CRMEntity, bool) {
	if key, ok := strings.CutPrefix(name, SmartProcessPrefix); ok && key != "" {
		return CRMEntity{Name: name, Label: "Smart process " + key, Bitrix: "DYNAMIC", Pipelines: true, Stages: true, Actions: itemActions}, true
	}
	for _, e := range crmEntities {
		if e.Name == name {
			return e, true
		}
	}
	return CRMEntity{}, false
}

// IsItemEntity reports whether e is a CRM item type that activities can
// belong to (it has read, write and delete on records): not the settings
// entities (config, sales targets, forms, widgets, the exclusion list).
func IsItemEntity(e CRMEntity) bool {
	_, r := e.Action("read")
	_, w := e.Action("write")
	_, d := e.Action("delete")
	return r && w && d
}

// CRMEntityNames lists the built-in CRM entity names.
func CRMEntityNames() []string {
	var out []string
	for _, e := range crmEntities {
		out = append(out, e.Name)
	}
	return out
}

// Action returns the named action of e.
func (e CRMEntity) Action(name string) (CRMAction, bool) {
	for _, a := range e.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return CRMAction{}, false
}

// ActionNames lists e's action names.
func (e CRMEntity) ActionNames() []string {
	var out []string
	for _, a := range e.Actions {
		out = append(out, a.Name)
	}
	return out
}

// Allows reports whether level is allowed for a.
func (a CRMAction) Allows(level string) bool {
	if a.Levels == nil {
		return true // transition: checked against stages by the compiler
	}
	for _, l := range a.Levels {
		if l == level {
			return true
		}
	}
	return false
}

// SimpleAction describes a telephony or open-channel permission.
type SimpleAction struct {
	Entity, Action string
	Label          string
	Levels         []string // increasing order
	Admin          bool     // admin-level: flagged in access deltas
	Sensitive      bool
}

// TelephonyActions are the voximplant permissions.
var TelephonyActions = []SimpleAction{
	{"call_detail", "view", "Call statistics · view", []string{"none", "own", "department", "any"}, false, false},
	{"call_record", "listen", "Call recordings · listen", []string{"none", "own", "department", "any"}, false, true},
	{"call_record", "modify", "Call recordings · modify", []string{"none", "own", "department", "any"}, false, true},
	{"call", "perform", "Outbound calls", []string{"none", "crm_clients", "crm_clients_and_employees", "any"}, false, false},
	{"user", "modify", "User telephony settings · modify", []string{"none", "own", "department", "any"}, false, false},
	{"settings", "modify", "Telephony settings · modify", []string{"none", "any"}, true, false},
	{"line", "modify", "Numbers management · modify", []string{"none", "any"}, true, false},
	{"balance", "modify", "Balance · modify", []string{"none", "any"}, true, false},
}

// OpenlineActions are the imopenlines permissions.
var OpenlineActions = []SimpleAction{
	{"lines", "view", "Open channels · view", []string{"none", "own", "department", "any"}, false, false},
	{"lines", "modify", "Open channels · modify", []string{"none", "own", "department", "any"}, true, false},
	{"connectors", "modify", "Connectors · modify", []string{"none", "own", "department", "any"}, true, false},
	{"session", "view", "Statistics · view", []string{"none", "own", "department", "any"}, false, false},
	{"history", "view", "Dialog history · view", []string{"none", "own", "department", "any"}, false, true},
	{"join", "perform", "Join conversation", []string{"none", "own", "department", "any"}, false, false},
	{"vote_head", "perform", "Supervisor rating", []string{"none", "department", "any"}, false, false},
	{"settings", "modify", "Common settings · modify", []string{"none", "any"}, true, false},
	{"quick_answers", "modify", "Canned responses · modify", []string{"none", "any"}, false, false},
	{"soft_pause_list", "view", "Inactive operators · view", []string{"none", "any"}, false, false},
}

// DefaultTelephonyRoles are the roles Bitrix uses instead of the stored
// ones while telephony security is off (Helper::canUse() false: a cloud
// plan without the voximplant_security feature; RoleManager::loadRoles,
// loadPermission and loadRoleAccess then read Helper::getDefaultRoles and
// getDefaultRoleAccess), transcribed from yuliai/bitrix-modules a3a2a579
// voximplant/lib/security/helper.php and rolemanager.php. Only "admin"
// (access code G1) and "manager" (DR<root department>, when the company
// structure has a root) are assigned; "chief" and "department_head" exist
// but no access code reaches them. Missing cells are none; administrators
// have every permission anyway (RoleManager::getUserPermissions).
// rootDept is the company structure's root department, 0 if none.
func DefaultTelephonyRoles(rootDept int64) []SimpleRole {
	perms := func(cells ...string) []SimplePerm {
		var out []SimplePerm
		for i := 0; i+2 < len(cells); i += 3 {
			out = append(out, SimplePerm{Entity: cells[i], Action: cells[i+1], Level: cells[i+2]})
		}
		return out
	}
	admin := SimpleRole{Key: "default_admin", Name: "Administrator (default)", Assign: []string{SubjCode + ":G1"},
		Perms: perms("call_detail", "view", "any", "call", "perform", "any", "call_record", "listen", "any",
			"user", "modify", "any", "settings", "modify", "any", "line", "modify", "any")}
	chief := SimpleRole{Key: "default_chief", Name: "Chief (default)", Assign: []string{},
		Perms: perms("call_detail", "view", "any", "call", "perform", "any", "call_record", "listen", "any")}
	head := SimpleRole{Key: "default_department_head", Name: "Department head (default)", Assign: []string{},
		Perms: perms("call_detail", "view", "department", "call", "perform", "any", "call_record", "listen", "department")}
	manager := SimpleRole{Key: "default_manager", Name: "Manager (default)", Assign: []string{},
		Perms: perms("call_detail", "view", "own", "call", "perform", "any", "call_record", "listen", "own")}
	if rootDept > 0 {
		manager.Assign = []string{SubjCode + ":DR" + strconv.FormatInt(rootDept, 10)}
	}
	return []SimpleRole{admin, chief, head, manager}
}

// RootDepartment is the company structure's root: the department without
// a parent with the lowest ID (0 when there are none).
func (d *Directory) RootDepartment() int64 {
	var root int64
	if d == nil {
		return 0
	}
	for _, x := range d.Departments {
		if x.Parent == 0 && (root == 0 || x.ID < root) {
			root = x.ID
		}
	}
	return root
}

// LookupSimple finds entity/action in table.
func LookupSimple(table []SimpleAction, entity, action string) (SimpleAction, bool) {
	for _, a := range table {
		if a.Entity == entity && a.Action == action {
			return a, true
		}
	}
	return SimpleAction{}, false
}

// Rank returns the position of level in a's order, or -1.
func (a SimpleAction) Rank(level string) int {
	for i, l := range a.Levels {
		if l == level {
			return i
		}
	}
	return -1
}

// Workgroup visibilities and their Bitrix flags (VISIBLE, OPENED).
// "secret_open" is the fourth combination a portal can hold (VISIBLE=N,
// OPENED=Y): not listed to non-members, like secret; no preset of the
// current UI creates it, but the REST API and older versions do.
var Visibilities = map[string][2]bool{
	"public":      {true, true},
	"private":     {true, false},
	"secret":      {false, false},
	"secret_open": {false, true},
}

// VisibilityOf names the visibility of the flags VISIBLE and OPENED.
func VisibilityOf(visible, opened bool) string {
	for name, f := range Visibilities {
		if f == [2]bool{visible, opened} {
			return name
		}
	}
	return "secret"
}

// Listed reports whether a visibility shows the group to non-members
// (VISIBLE = Y).
func Listed(visibility string) bool { return Visibilities[visibility][0] }

// MinOperations are the operations still allowed in an archived group
// (CLOSED = Y): each feature's "minoperation" list in CSocNetAllowed
// (yuliai/bitrix-modules a3a2a579 socialnetwork/classes/general/functions.php:
// forum, photo, calendar, files view; tasks view_all, view; blog
// view_comment, view_post; search none).
var MinOperations = map[string][]string{
	"forum":    {"view"},
	"photo":    {"view"},
	"calendar": {"view"},
	"tasks":    {"view_all", "view"},
	"files":    {"view"},
	"blog":     {"view_comment", "view_post"},
	"search":   {},
}

// IsMinOperation reports whether feature.op works in archived groups.
func IsMinOperation(feature, op string) bool {
	for _, o := range MinOperations[feature] {
		if o == op {
			return true
		}
	}
	return false
}

// SwitchableFeatures are the group features a portal can switch on and
// off (b_sonet_features.FEATURE): those with operations plus chat and
// marketplace, which have none (CSocNetAllowed, functions.php above).
func SwitchableFeatures() []string {
	out := []string{"chat", "marketplace"}
	for f := range GroupFeatures {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// GroupRoles are the minimal member roles of a feature operation, in
// increasing order of permissiveness, with Bitrix letters.
var GroupRoles = []struct{ Name, Letter string }{
	{"nobody", "0"},
	{"owner", "A"},
	{"moderators", "E"},
	{"members", "K"},
	{"employee_members", "J"},
	{"authorized", "L"},
	{"everyone", "N"},
}

// GroupFeatures lists socialnetwork features with their operations and the
// default minimal role of each.
var GroupFeatures = map[string]map[string]string{
	"forum":    {"full": "moderators", "newtopic": "members", "answer": "members", "view": "members"},
	"photo":    {"write": "moderators", "view": "members"},
	"calendar": {"write": "moderators", "view": "members"},
	"tasks": {"view": "members", "view_all": "members", "sort": "members", "create_tasks": "members",
		"edit_tasks": "moderators", "delete_tasks": "moderators", "modify_folders": "moderators", "modify_common_views": "moderators"},
	"files": {"view": "members", "write_limited": "moderators", "write": "moderators"},
	"blog": {"view_post": "members", "premoderate_post": "members", "write_post": "members", "moderate_post": "moderators",
		"full_post": "owner", "view_comment": "members", "premoderate_comment": "members", "write_comment": "members",
		"moderate_comment": "moderators", "full_comment": "moderators"},
	"search": {"view": "members"},
}

// WorkgroupMemberRoles are the subject forms for workgroup members.
var WorkgroupMemberRoles = []string{"owner", "moderators", "all"}

// GroupRoleLetter is the Bitrix letter (b_sonet_features2perms.ROLE) of a
// minimal member role.
func GroupRoleLetter(name string) (string, bool) {
	for _, r := range GroupRoles {
		if r.Name == name {
			return r.Letter, true
		}
	}
	return "", false
}

// GroupRoleName is the inverse of GroupRoleLetter.
func GroupRoleName(letter string) (string, bool) {
	for _, r := range GroupRoles {
		if r.Letter == letter {
			return r.Name, true
		}
	}
	return "", false
}
