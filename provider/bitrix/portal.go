// Package bitrix models a Bitrix24 portal the way Bitrix stores it: one
// slice of rows per table, with Bitrix's column names as JSON tags, and the
// codec between those rows and the normalized graph.
//
// ToGraph/Read turn rows into the live graph (keys derived from names,
// subjects canonical, both CRM level encodings understood). Portal.Apply
// writes one plan change into the rows exactly as Bitrix's current UI
// would. The embedded local backend stores a Portal as JSON; the
// self-hosted SQL backend can read the same tables into it and diff rows.
//
// Level encodings (bitrix-permissions.md §2.4): a b_crm_role_perms row
// holds either a legacy ATTR letter (empty, A, D, F, O, X) with SETTINGS null, or
// an empty ATTR with a SETTINGS JSON list over SELF DEPARTMENT SUBDEPARTMENTS
// OPEN ALL (["0"] = explicit none). Chain sets read as the usual level
// names; a set the letters cannot express (e.g. SELF+OPEN, possible only
// in the current UI) reads as the "+"-joined level names of its members in
// chain order, e.g. "own+open", and is written back as the same set.
package bitrix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/b24perm/b24perm/graph"
)

// FormatName marks a portal file in this model.
const FormatName = "bitrix-tables"

// FormatVersion of the portal model.
const FormatVersion = 1

// Portal is a whole portal as Bitrix stores it.
type Portal struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	Portal        string `json:"portal"`
	// Counters are the auto-increment values per table: the last ID used.
	Counters map[string]int64 `json:"counters"`

	Users       []User       `json:"b_user"`
	Departments []Department `json:"b_iblock_section"`
	Groups      []Group      `json:"b_group"`

	SmartTypes []SmartType `json:"b_crm_dynamic_type"`
	Categories []Category  `json:"b_crm_item_category"`
	Statuses   []Status    `json:"b_crm_status"`

	Roles         []Role         `json:"b_crm_role"`
	RolePerms     []RolePerm     `json:"b_crm_role_perms"`
	RoleRelations []RoleRelation `json:"b_crm_role_relation"`

	VoxRoles  []SimpleRole       `json:"b_voximplant_role"`
	VoxPerms  []SimplePermission `json:"b_voximplant_role_permission"`
	VoxAccess []RoleAccess       `json:"b_voximplant_role_access"`

	OLRoles  []SimpleRole       `json:"b_imopenlines_role"`
	OLPerms  []SimplePermission `json:"b_imopenlines_role_permission"`
	OLAccess []RoleAccess       `json:"b_imopenlines_role_access"`

	SonetGroups  []SonetGroup   `json:"b_sonet_group"`
	User2Group   []User2Group   `json:"b_sonet_user2group"`
	Features     []Feature      `json:"b_sonet_features"`
	FeaturePerms []FeaturePerm  `json:"b_sonet_features2perms"`
	FieldRules   []FieldRule    `json:"b24perm_field_rule"`
	OLConfigs    []OLConfig     `json:"b_imopenlines_config,omitempty"`
	OLQueue      []OLQueue      `json:"b_imopenlines_config_queue,omitempty"`
	OLOperators  []OLOperator   `json:"b_imopenlines_queue,omitempty"`
	UFPerms      []UFPermission `json:"b_user_field_permission"`
	// Options are the b_option rows the permission model depends on
	// (extranet/extranet_group, socialnetwork/work_with_closed_groups).
	Options []Option `json:"b_option,omitempty"`
	// Bitrix24 is the cloud plan (module bitrix24), nil on a self-hosted
	// portal without it.
	Bitrix24 *Bitrix24Plan `json:"bitrix24,omitempty"`
}

// Bitrix24Plan lists the plan's features (Bitrix\Bitrix24\Feature).
type Bitrix24Plan struct {
	Features []string `json:"features"`
}

// TelephonySecurityOff follows voximplant Helper::canUse(): true (roles
// in force) without the bitrix24 module, else the plan's feature
// voximplant_security (yuliai/bitrix-modules a3a2a579
// voximplant/lib/security/helper.php).
func (p *Portal) TelephonySecurityOff() bool {
	return p.Bitrix24 != nil && !slices.Contains(p.Bitrix24.Features, "voximplant_security")
}

// Option is a b_option row (MODULE_ID, NAME, VALUE).
type Option struct {
	ModuleID string `json:"MODULE_ID"`
	Name     string `json:"NAME"`
	Value    string `json:"VALUE"`
}

// Option returns the value of the module option, or def.
func (p *Portal) Option(module, name, def string) string {
	for _, o := range p.Options {
		if o.ModuleID == module && o.Name == name {
			return o.Value
		}
	}
	return def
}

// User is a b_user row with its departments (UF_DEPARTMENT) and user groups
// (b_user_group). A member of group 1 is a portal administrator.
type User struct {
	ID           int64   `json:"ID"`
	Email        string  `json:"EMAIL"`
	Name         string  `json:"NAME"`
	LastName     string  `json:"LAST_NAME"`
	Active       string  `json:"ACTIVE"`
	UFDepartment []int64 `json:"UF_DEPARTMENT"`
	Groups       []int64 `json:"GROUPS"`
}

// Department is an intranet structure section.
type Department struct {
	ID     int64  `json:"ID"`
	Name   string `json:"NAME"`
	Parent int64  `json:"IBLOCK_SECTION_ID"`
	Head   int64  `json:"UF_HEAD,omitempty"`
}

// Group is a b_group row: G1 administrators, G2 everyone.
type Group struct {
	ID   int64  `json:"ID"`
	Name string `json:"NAME"`
}

// SmartType is a smart-process type (b_crm_dynamic_type).
type SmartType struct {
	ID           int64  `json:"ID"`
	EntityTypeID int64  `json:"ENTITY_TYPE_ID"`
	Title        string `json:"TITLE"`
	// IsSetOpenPermissions is 'Y' (the TypeTable default, also when
	// empty) or 'N': the roles get the maximum or the minimum on a new
	// category of the type (DefaultCategoryPermissions).
	IsSetOpenPermissions string `json:"IS_SET_OPEN_PERMISSIONS,omitempty"`
	// CustomSectionID is the automated solution (digital workplace) the
	// type belongs to, 0 for none: its roles have GROUP_CODE
	// AUTOMATED_SOLUTION_<id> (GroupCodeGenerator).
	CustomSectionID int64 `json:"CUSTOM_SECTION_ID,omitempty"`
	// IsAutomationEnabled and IsStagesEnabled ('Y', also when empty, or
	// 'N') decide whether the type's permission entity has AUTOMATION and
	// TRANSITION (crm/lib/security/role/manage/entity/dynamicitem.php).
	IsAutomationEnabled string `json:"IS_AUTOMATION_ENABLED,omitempty"`
	IsStagesEnabled     string `json:"IS_STAGES_ENABLED,omitempty"`
}

// CRM entity type IDs of the entities with categories.
const (
	EntityTypeLead         = 1
	EntityTypeDeal         = 2
	EntityTypeSmartInvoice = 31
)

// Category is a CRM category (pipeline): deal categories (ID 0 is the
// default one), smart-invoice and smart-process categories.
type Category struct {
	ID           int64  `json:"ID"`
	EntityTypeID int64  `json:"ENTITY_TYPE_ID"`
	Name         string `json:"NAME"`
	Sort         int    `json:"SORT"`
	IsDefault    string `json:"IS_DEFAULT"`
}

// Status is a b_crm_status row: a stage (ENTITY_ID "DEAL_STAGE",
// "DEAL_STAGE_3", "DYNAMIC_128_STAGE_5", "SMART_INVOICE_STAGE_7") or a lead
// status (ENTITY_ID "STATUS").
type Status struct {
	ID        int64  `json:"ID"`
	EntityID  string `json:"ENTITY_ID"`
	StatusID  string `json:"STATUS_ID"`
	Name      string `json:"NAME"`
	Sort      int    `json:"SORT"`
	Semantics string `json:"SEMANTICS,omitempty"`
}

// Role is a b_crm_role row.
type Role struct {
	ID        int64  `json:"ID"`
	Name      string `json:"NAME"`
	IsSystem  string `json:"IS_SYSTEM"`
	Code      string `json:"CODE,omitempty"`
	GroupCode string `json:"GROUP_CODE,omitempty"`
}

// RolePerm is a b_crm_role_perms row. Settings is the raw JSON of the
// SETTINGS column (nil = NULL).
type RolePerm struct {
	ID         int64           `json:"ID"`
	RoleID     int64           `json:"ROLE_ID"`
	Entity     string          `json:"ENTITY"`
	Field      string          `json:"FIELD"`
	FieldValue string          `json:"FIELD_VALUE,omitempty"`
	PermType   string          `json:"PERM_TYPE"`
	Attr       string          `json:"ATTR"`
	Settings   json.RawMessage `json:"SETTINGS"`
}

// RoleRelation is a b_crm_role_relation row.
type RoleRelation struct {
	ID       int64  `json:"ID"`
	RoleID   int64  `json:"ROLE_ID"`
	Relation string `json:"RELATION"`
}

// SimpleRole is a b_voximplant_role / b_imopenlines_role row.
type SimpleRole struct {
	ID    int64  `json:"ID"`
	Name  string `json:"NAME"`
	XMLID string `json:"XML_ID,omitempty"`
}

// SimplePermission is a telephony / open-channel permission row.
type SimplePermission struct {
	ID         int64  `json:"ID"`
	RoleID     int64  `json:"ROLE_ID"`
	Entity     string `json:"ENTITY"`
	Action     string `json:"ACTION"`
	Permission string `json:"PERMISSION"`
}

// RoleAccess is a telephony / open-channel role assignment row.
type RoleAccess struct {
	ID         int64  `json:"ID"`
	RoleID     int64  `json:"ROLE_ID"`
	AccessCode string `json:"ACCESS_CODE"`
}

// SonetGroup is a b_sonet_group row.
type SonetGroup struct {
	ID            int64  `json:"ID"`
	Name          string `json:"NAME"`
	Visible       string `json:"VISIBLE"`
	Opened        string `json:"OPENED"`
	Closed        string `json:"CLOSED"`
	OwnerID       int64  `json:"OWNER_ID"`
	InitiatePerms string `json:"INITIATE_PERMS"`
	// SiteID is the group's site (b_sonet_group.SITE_ID, NOT NULL; Bitrix
	// also writes one b_sonet_group_site row for it). Empty in old files.
	SiteID string `json:"SITE_ID,omitempty"`
	// NumberOfMembers and NumberOfModerators are the counters Bitrix keeps
	// in b_sonet_group (CSocNetGroup::SetStat, socialnetwork/classes/general/group.php):
	// members are roles A, E, K; moderators A and E.
	NumberOfMembers    int64 `json:"NUMBER_OF_MEMBERS,omitempty"`
	NumberOfModerators int64 `json:"NUMBER_OF_MODERATORS,omitempty"`
}

// User2Group is a b_sonet_user2group row: ROLE A owner, E moderator, K
// member (T banned and Z pending are not members; their rows are kept as
// they are unless the policy makes that user a member, when the row's ROLE
// is updated in place: (USER_ID, GROUP_ID) is unique in Bitrix's table).
// INITIATED_BY_TYPE says who started a Z row: U the user asked (the column default,
// empty here), G the
// group invited, S a structure sync.
type User2Group struct {
	ID              int64  `json:"ID"`
	GroupID         int64  `json:"GROUP_ID"`
	UserID          int64  `json:"USER_ID"`
	Role            string `json:"ROLE"`
	InitiatedByType string `json:"INITIATED_BY_TYPE,omitempty"`
}

// Feature is a b_sonet_features row.
type Feature struct {
	ID         int64  `json:"ID"`
	EntityType string `json:"ENTITY_TYPE"`
	EntityID   int64  `json:"ENTITY_ID"`
	Feature    string `json:"FEATURE"`
	Active     string `json:"ACTIVE"`
}

// FeaturePerm is a b_sonet_features2perms row.
type FeaturePerm struct {
	ID          int64  `json:"ID"`
	FeatureID   int64  `json:"FEATURE_ID"`
	OperationID string `json:"OPERATION_ID"`
	Role        string `json:"ROLE"`
}

// OLConfig is a b_imopenlines_config row (the columns b24perm manages).
type OLConfig struct {
	ID        int64  `json:"ID"`
	Active    string `json:"ACTIVE"`
	LineName  string `json:"LINE_NAME"`
	QueueType string `json:"QUEUE_TYPE"`
}

// OLQueue is a b_imopenlines_config_queue row: ENTITY_TYPE "user" or
// "department".
type OLQueue struct {
	ID         int64  `json:"ID"`
	Sort       int64  `json:"SORT"`
	ConfigID   int64  `json:"CONFIG_ID"`
	EntityID   int64  `json:"ENTITY_ID"`
	EntityType string `json:"ENTITY_TYPE"`
}

// OLOperator is a b_imopenlines_queue row: the operators an open channel
// actually distributes chats to, derived from its configured queue by the
// module's QueueManager::update (imopenlines/lib/queuemanager.php): one row
// per user, departments expanded to their active users (sub-departments
// included, heads excluded), SORT the 0-based position, DEPARTMENT_ID the
// department a user came from (0 for a user entry).
type OLOperator struct {
	ID           int64 `json:"ID"`
	Sort         int64 `json:"SORT"`
	ConfigID     int64 `json:"CONFIG_ID"`
	UserID       int64 `json:"USER_ID"`
	DepartmentID int64 `json:"DEPARTMENT_ID"`
}

// FieldRule is a row of the third-party field-permission module's table:
// ENTITY is the CRM type ("DEAL", "LEAD", "DYNAMIC_128"), CATEGORY the
// category ID or null for every category, STAGES status IDs, VIEW/EDIT
// access codes.
type FieldRule struct {
	ID       int64    `json:"ID"`
	Entity   string   `json:"ENTITY"`
	Category *int64   `json:"CATEGORY"`
	Field    string   `json:"FIELD"`
	Stages   []string `json:"STAGES"`
	View     []string `json:"VIEW"`
	Edit     []string `json:"EDIT"`
}

// UFPermission is a b_user_field_permission row (native custom-field
// visibility): PERMISSION_ID 1 = view.
type UFPermission struct {
	ID           int64  `json:"ID"`
	EntityTypeID int64  `json:"ENTITY_TYPE_ID"`
	UserFieldID  int64  `json:"USER_FIELD_ID"`
	Field        string `json:"FIELD"`
	AccessCode   string `json:"ACCESS_CODE"`
	PermissionID int64  `json:"PERMISSION_ID"`
	Value        int64  `json:"VALUE"`
}

// Table names used as counter keys.
const (
	TUser         = "b_user"
	TDepartment   = "b_iblock_section"
	TGroup        = "b_group"
	TSmartType    = "b_crm_dynamic_type"
	TCategory     = "b_crm_item_category"
	TStatus       = "b_crm_status"
	TRole         = "b_crm_role"
	TRolePerm     = "b_crm_role_perms"
	TRoleRelation = "b_crm_role_relation"
	TVoxRole      = "b_voximplant_role"
	TVoxPerm      = "b_voximplant_role_permission"
	TVoxAccess    = "b_voximplant_role_access"
	TOLRole       = "b_imopenlines_role"
	TOLPerm       = "b_imopenlines_role_permission"
	TOLAccess     = "b_imopenlines_role_access"
	TSonetGroup   = "b_sonet_group"
	TUser2Group   = "b_sonet_user2group"
	TFeature      = "b_sonet_features"
	TFeaturePerm  = "b_sonet_features2perms"
	TFieldRule    = "b24perm_field_rule"
	TOLConfig     = "b_imopenlines_config"
	TOLQueue      = "b_imopenlines_config_queue"
	TOLOperator   = "b_imopenlines_queue"
	TUFPerm       = "b_user_field_permission"
)

// NewPortal returns an empty portal with Bitrix's fixed rows: groups G1
// and G2 and the default deal category.
func NewPortal(name string) *Portal {
	p := &Portal{Format: FormatName, FormatVersion: FormatVersion, Portal: name, Counters: map[string]int64{}}
	p.Groups = []Group{{ID: 1, Name: "Administrators"}, {ID: 2, Name: "Employees"}}
	p.Counters[TGroup] = 2
	p.Categories = []Category{{ID: 0, EntityTypeID: EntityTypeDeal, Name: "General", IsDefault: "Y"}}
	return p
}

// NextID allocates the next ID of a table like an auto-increment column:
// above both the counter and every ID present.
func (p *Portal) NextID(table string) int64 {
	if p.Counters == nil {
		p.Counters = map[string]int64{}
	}
	p.Counters[table]++
	return p.Counters[table]
}

// fixCounters raises every counter to at least the largest ID in its
// table, so hand-edited files never get duplicate IDs.
func (p *Portal) fixCounters() {
	if p.Counters == nil {
		p.Counters = map[string]int64{}
	}
	bump := func(t string, id int64) {
		if p.Counters[t] < id {
			p.Counters[t] = id
		}
	}
	for _, r := range p.Users {
		bump(TUser, r.ID)
	}
	for _, r := range p.Departments {
		bump(TDepartment, r.ID)
	}
	for _, r := range p.Groups {
		bump(TGroup, r.ID)
	}
	for _, r := range p.SmartTypes {
		bump(TSmartType, r.ID)
	}
	for _, r := range p.Categories {
		bump(TCategory, r.ID)
	}
	for _, r := range p.Statuses {
		bump(TStatus, r.ID)
	}
	for _, r := range p.Roles {
		bump(TRole, r.ID)
	}
	for _, r := range p.RolePerms {
		bump(TRolePerm, r.ID)
	}
	for _, r := range p.RoleRelations {
		bump(TRoleRelation, r.ID)
	}
	for _, r := range p.VoxRoles {
		bump(TVoxRole, r.ID)
	}
	for _, r := range p.VoxPerms {
		bump(TVoxPerm, r.ID)
	}
	for _, r := range p.VoxAccess {
		bump(TVoxAccess, r.ID)
	}
	for _, r := range p.OLRoles {
		bump(TOLRole, r.ID)
	}
	for _, r := range p.OLPerms {
		bump(TOLPerm, r.ID)
	}
	for _, r := range p.OLAccess {
		bump(TOLAccess, r.ID)
	}
	for _, r := range p.SonetGroups {
		bump(TSonetGroup, r.ID)
	}
	for _, r := range p.User2Group {
		bump(TUser2Group, r.ID)
	}
	for _, r := range p.Features {
		bump(TFeature, r.ID)
	}
	for _, r := range p.FeaturePerms {
		bump(TFeaturePerm, r.ID)
	}
	for _, r := range p.FieldRules {
		bump(TFieldRule, r.ID)
	}
	for _, r := range p.OLConfigs {
		bump(TOLConfig, r.ID)
	}
	for _, r := range p.OLQueue {
		bump(TOLQueue, r.ID)
	}
	for _, r := range p.OLOperators {
		bump(TOLOperator, r.ID)
	}
	for _, r := range p.UFPerms {
		bump(TUFPerm, r.ID)
	}
}

// Decode parses a portal file. name is used in errors, which carry the
// line and column of the problem.
func Decode(b []byte, name string) (*Portal, error) {
	if p, ok := decodeFast(b); ok {
		return p.checked(name)
	}
	return decodeJSON(b, name)
}

// decodeJSON is Decode with encoding/json: the reference decodeFast
// must agree with, and the path for every file it does not take.
func decodeJSON(b []byte, name string) (*Portal, error) {
	var p Portal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s is not a valid portal file: %s", name, JSONErrorAt(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s is not a valid portal file: trailing data after the portal object at offset %d", name, dec.InputOffset())
	}
	return p.checked(name)
}

// checked checks the format of a decoded portal file.
func (p *Portal) checked(name string) (*Portal, error) {
	if p.Format != FormatName {
		return nil, fmt.Errorf("%s is not a %s portal file (format %q)", name, FormatName, p.Format)
	}
	if p.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%s has format_version %d; this b24perm reads up to %d (upgrade b24perm)", name, p.FormatVersion, FormatVersion)
	}
	p.fixCounters()
	return p, nil
}

// Encode renders p as indented JSON with a trailing newline, arrays of
// scalars on one line. Counters are first raised to the largest IDs.
func (p *Portal) Encode() ([]byte, error) {
	p.fixCounters()
	q := *p
	q.RolePerms = nil // encoded by withRolePerms
	w := indenter{perms: p.RolePerms}
	enc := json.NewEncoder(&w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&q); err != nil {
		return nil, err
	}
	return w.out, w.err
}

// indenter receives the Encoder's output, one complete value which
// Encode writes in one piece from its own buffer, puts in the permission
// rows (withRolePerms) unless they are nil, and lays it out
// (indentPortal) at once: copying it into a bytes.Buffer first was half
// of Encode at XL (growing a 15 MB buffer).
type indenter struct {
	perms []RolePerm
	out   []byte
	err   error
}

func (w *indenter) Write(b []byte) (int, error) {
	n := len(b)
	if w.out != nil {
		return 0, errors.New("bitrix: the portal was encoded in more than one piece")
	}
	if w.perms != nil {
		if b, w.err = withRolePerms(b, w.perms); w.err != nil {
			return 0, w.err
		}
	}
	w.out = indentPortal(make([]byte, 0, len(b)*2), b)
	return n, nil
}

// indentPortal lays out src, compact JSON as an Encoder without HTML
// escaping writes it, as the Encoder with SetIndent("", " ") would, but
// with arrays of scalars (SETTINGS, UF_DEPARTMENT, VIEW …) kept on one
// line, so that a row reads as one block in the file. One pass:
// encoding/json's indenting validates everything again, which was a
// quarter of an XL apply.
func indentPortal(dst, src []byte) []byte { return graph.IndentJSON(dst, src, " ", true) }

// IsPortalFile reports whether b looks like a file in this model: its
// "format" member names it (Encode writes it first; a hand-written file
// may have it anywhere). Decode does the real check.
func IsPortalFile(b []byte) bool {
	head := b[:min(len(b), 256)]
	if bytes.Contains(head, []byte(`"format": "`+FormatName+`"`)) || bytes.Contains(head, []byte(`"format":"`+FormatName+`"`)) {
		return true
	}
	return bytes.Contains(b, []byte(`"`+FormatName+`"`))
}

// JSONErrorAt renders a JSON decoding error with line:column and offset.
func JSONErrorAt(b []byte, err error) string {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if err.Error() == "unexpected EOF" {
		off = int64(len(b))
		err = fmt.Errorf("the file is truncated")
	}
	if off < 0 || off > int64(len(b)) {
		return err.Error()
	}
	line := bytes.Count(b[:off], []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Sprintf("line %d, column %d (offset %d): %v", line, col, off, err)
}
