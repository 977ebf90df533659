package bitrix

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// What Bitrix writes for the roles when a pipeline (category) is created.
// Sources, yuliai/bitrix-modules 26.250.100:
//   - deal pipelines: crm/lib/category/dealcategory.php DealCategory::add
//     ("Setup default rights"): every non-system role with an empty
//     GROUP_CODE that has no row for the new ENTITY gets
//     RolePreset::getDefaultPermissionSetForEntityByCode(CODE, …).
//   - smart-process, smart-invoice (and smart-document) categories, the
//     default category of a new type included: crm/lib/Model/ItemCategoryTable.php
//     onAfterAdd → crm/lib/Service/Director.php getScenariosForNewCategory →
//     crm/lib/Service/Scenario/DefaultCategoryPermissions.php: every
//     non-system role whose GROUP_CODE equals the type's group code ('' for
//     types outside automated solutions, GroupCodeGenerator::
//     getGroupCodeByEntityTypeId) and that has no row for the new ENTITY
//     gets RolePreset::getMaxPermissionSetForEntity when the type has
//     IS_SET_OPEN_PERMISSIONS='Y' (b_crm_dynamic_type, TypeTable default
//     'Y'), else getMinPermissionSetForEntity; a role with a CODE gets its
//     preset (getDefaultPermissionSetForEntityByCode) either way.
//
// The sets are built per permission of the entity
// (crm/lib/security/role/manage/entity/deal.php, dynamicitem.php:
// READ ADD WRITE DELETE EXPORT IMPORT MYCARDVIEW AUTOMATION HIDE_SUM
// TRANSITION) from the preset values of the permission classes
// (crm/lib/security/role/manage/permissions/*.php) in
// crm/lib/security/role/rolepreset.php, and stored by CCrmRole::Update
// (crm/classes/general/crm_role.php) through RolePermissionComparer and
// RolePermissionTable::appendPermissions, which skips values
// RolePermissionChecker::isPermissionEmpty calls empty (the minimum at
// entity level): the minimum set therefore writes no rows at all.

// dynamicTypeStart is CCrmOwnerType::DynamicTypeStart
// (crm/classes/general/crm_owner_type.php).
const dynamicTypeStart = 128

// presetValue is one permission of a preset: ATTR (null = nil) and
// SETTINGS (empty = NULL). skip means the preset has no value for it.
type presetValue struct {
	attr     *string
	settings []string
	skip     bool
}

func attrOf(s string) presetValue { return presetValue{attr: &s} }

// preset returns the value of one permission (PERM_TYPE) in a preset for
// an entity type. special is RolePreset's "deal or possible dynamic type
// ID" (CCrmOwnerType::isPossibleDynamicTypeId: smart processes, not smart
// invoices) that gets TRANSITION ANY, HIDE_SUM and MYCARDVIEW X.
func preset(name, permType string, special bool) presetValue {
	chain := permType == "READ" || permType == "ADD" || permType == "WRITE" || permType == "DELETE" || permType == "EXPORT" || permType == "IMPORT"
	switch name {
	case "max": // getMaxAttributeValue X (TRANSITION null), getMaxSettingsValue [] (TRANSITION [ANY])
		if permType == "TRANSITION" {
			return presetValue{settings: []string{"ANY"}}
		}
		return attrOf("X")
	case "min": // getMinAttributeValue '' (TRANSITION null), getMinSettingsValue [] (TRANSITION [BLOCKED])
		if permType == "TRANSITION" {
			return presetValue{settings: []string{"BLOCKED"}}
		}
		return attrOf("")
	case "HEAD": // getHeadDefaultAttributeValue X everywhere; TRANSITION settings [ANY]
		v := attrOf("X")
		if permType == "TRANSITION" {
			v.settings = []string{"ANY"}
		}
		return v
	case "DEPUTY": // D; AUTOMATION, HIDE_SUM, MYCARDVIEW X; TRANSITION settings [ANY]
		v := attrOf("D")
		if permType == "AUTOMATION" || permType == "HIDE_SUM" || permType == "MYCARDVIEW" {
			v = attrOf("X")
		}
		if permType == "TRANSITION" {
			v.settings = []string{"ANY"}
		}
		return v
	case "OBSERVER": // only Read overrides getObserverDefaultAttributeValue (A)
		if permType == "READ" {
			return attrOf("A")
		}
		return presetValue{skip: true}
	case "MANAGER": // READ ADD WRITE A, the rest ''; TRANSITION [ANY] for deals and smart processes
		v := attrOf("")
		if permType == "READ" || permType == "ADD" || permType == "WRITE" {
			v = attrOf("A")
		}
		if permType == "TRANSITION" && special {
			v.settings = []string{"ANY"}
		}
		return v
	}
	// getDefaultPermissionSetForEntity: CCrmRole::GetDefaultPermissionSet
	// (READ EXPORT IMPORT ADD WRITE DELETE 'X') merged with
	// getBasePermissionSetForEntity: getDefaultAttribute (null but HIDE_SUM
	// and MYCARDVIEW '', both X when special), getDefaultSettings
	// (TRANSITION [BLOCKED], [ANY] when special); AUTOMATION has neither.
	switch {
	case chain:
		return attrOf("X")
	case permType == "HIDE_SUM" || permType == "MYCARDVIEW":
		if special {
			return attrOf("X")
		}
		return attrOf("")
	case permType == "TRANSITION":
		if special {
			return presetValue{settings: []string{"ANY"}}
		}
		return presetValue{settings: []string{"BLOCKED"}}
	}
	return presetValue{skip: true}
}

// isEmptyPreset is RolePermissionChecker::isPermissionEmpty for an
// entity-level value: no ATTR and no SETTINGS, or the minimum.
func isEmptyPreset(permType string, v presetValue) bool {
	noAttr := v.attr == nil || *v.attr == ""
	if len(v.settings) == 0 {
		// ATTR '' is the minimum of every permission but TRANSITION, whose
		// minimum ATTR is null: '' without SETTINGS is empty as well.
		return noAttr
	}
	return noAttr && (slices.Equal(v.settings, []string{"0"}) || (permType == "TRANSITION" && slices.Equal(v.settings, []string{"BLOCKED"})))
}

// presetFor names the preset a role gets for a new category; open is the
// type's IS_SET_OPEN_PERMISSIONS (not used for deals).
func presetFor(role Role, etid int64, open bool) string {
	switch role.Code {
	case "ADMIN":
		return "max"
	case "HEAD", "DEPUTY", "MANAGER", "OBSERVER":
		return role.Code
	}
	switch {
	case etid == EntityTypeDeal:
		return "default"
	case open:
		return "max"
	}
	return "min"
}

// OpenPermissions reports the IS_SET_OPEN_PERMISSIONS flag of a smart
// type (smart processes and the smart-invoice type); a type without a row
// or without the column read has the TypeTable default, 'Y'.
func (p *Portal) OpenPermissions(etid int64) bool {
	for _, t := range p.SmartTypes {
		if t.EntityTypeID == etid {
			return t.IsSetOpenPermissions != "N"
		}
	}
	return true
}

// groupCodeFor is the GROUP_CODE of the roles a new category of etid
// reaches: empty (the main CRM roles) unless the smart process belongs to an
// automated solution (GroupCodeGenerator::getGroupCodeByEntityTypeId).
func (p *Portal) groupCodeFor(etid int64) string {
	for _, t := range p.SmartTypes {
		if t.EntityTypeID == etid && t.CustomSectionID > 0 {
			return "AUTOMATED_SOLUTION_" + strconv.FormatInt(t.CustomSectionID, 10)
		}
	}
	return ""
}

// defaultRows returns the rows Bitrix stores for role on a new category
// ENTITY ent of entity type etid (ROLE_ID and ID unset).
func (p *Portal) defaultRows(role Role, etid int64, ent string, actions []graph.CRMAction) []RolePerm {
	return defaultRows(role, etid, p.OpenPermissions(etid), ent, p.entityActions(etid, actions))
}

// entityActions are the permissions of a smart type's permission entity:
// AUTOMATION only with automation enabled, TRANSITION only with stages
// (DynamicItem::permissions, crm/lib/security/role/manage/entity/dynamicitem.php;
// DynamicTypesMap::isAutomationEnabled/isStagesEnabled from the type's
// IS_AUTOMATION_ENABLED/IS_STAGES_ENABLED). Deals have all of them
// (deal.php), and so do smart invoices (SmartInvoice::createTypeIfNotExists
// enables both; their type row is not read).
func (p *Portal) entityActions(etid int64, actions []graph.CRMAction) []graph.CRMAction {
	i := slices.IndexFunc(p.SmartTypes, func(t SmartType) bool { return t.EntityTypeID == etid })
	if i < 0 {
		return actions
	}
	t := p.SmartTypes[i]
	return slices.DeleteFunc(slices.Clone(actions), func(a graph.CRMAction) bool {
		return (a.Name == "automation" && t.IsAutomationEnabled == "N") || (a.Name == "transition" && t.IsStagesEnabled == "N")
	})
}

func defaultRows(role Role, etid int64, open bool, ent string, actions []graph.CRMAction) []RolePerm {
	name := presetFor(role, etid, open)
	special := etid == EntityTypeDeal || etid >= dynamicTypeStart
	var rows []RolePerm
	for _, act := range actions {
		pt := strings.ToUpper(act.Name)
		v := preset(name, pt, special)
		if v.skip || isEmptyPreset(pt, v) {
			continue
		}
		row := RolePerm{RoleID: role.ID, Entity: ent, Field: "-", PermType: pt}
		if v.attr != nil {
			row.Attr = *v.attr
		}
		if len(v.settings) > 0 {
			row.Settings = settingsJSON(v.settings)
		}
		rows = append(rows, row)
	}
	return rows
}

// reachesRole reports whether a new category of etid gets default rows for
// role (before the "has rows already" check).
func (p *Portal) reachesRole(role Role, etid int64) bool {
	return role.IsSystem != "Y" && role.GroupCode == p.groupCodeFor(etid)
}

// AddDefaultCategoryPermissions writes what Bitrix writes for the roles
// when category cat of entity type etid has been created (see the top of
// this file): the default set for every role it reaches that has no row
// for the category's ENTITY yet.
func (p *Portal) AddDefaultCategoryPermissions(etid, cat int64) {
	if etid == EntityTypeLead {
		return
	}
	desc, base := categoryDesc(etid)
	ent := permEntity(base, cat)
	has := map[int64]bool{}
	for _, r := range p.RolePerms {
		if r.Entity == ent {
			has[r.RoleID] = true
		}
	}
	for _, role := range p.Roles {
		if !p.reachesRole(role, etid) || has[role.ID] {
			continue
		}
		for _, row := range p.defaultRows(role, etid, ent, desc.Actions) {
			row.ID = p.NextID(TRolePerm)
			p.RolePerms = append(p.RolePerms, row)
		}
	}
}

// categoryDesc returns the graph description and base ENTITY of an entity
// type with categories.
func categoryDesc(etid int64) (graph.CRMEntity, string) {
	switch etid {
	case EntityTypeDeal:
		d, _ := graph.LookupCRMEntity("deal")
		return d, "DEAL"
	case EntityTypeSmartInvoice:
		d, _ := graph.LookupCRMEntity("smart_invoice")
		return d, "SMART_INVOICE"
	}
	d, _ := graph.LookupCRMEntity(graph.SmartProcessPrefix + "x")
	base, _ := baseEntityOf(d, etid)
	return d, base
}

// DefaultCells returns the cells (entity level, without a pipeline) that
// Bitrix gives the live role roleID on a new pipeline of entity (a graph
// entity: "deal", "smart_invoice", "smart:<key>"): what the role holds on
// that pipeline right after it is created. A smart process that does not
// exist yet is taken as created by b24perm (IS_SET_OPEN_PERMISSIONS 'Y').
// It returns nil for a role the new pipeline does not reach.
func (p *Portal) DefaultCells(roleID int64, entity string, smartTypeID int64) []graph.CRMPerm {
	i := slices.IndexFunc(p.Roles, func(r Role) bool { return r.ID == roleID })
	if i < 0 {
		return nil
	}
	desc, ok := graph.LookupCRMEntity(entity)
	if !ok || !desc.Pipelines {
		return nil
	}
	_, etid := baseEntityOf(desc, smartTypeID)
	open, group := p.OpenPermissions(etid), p.groupCodeFor(etid)
	if desc.Bitrix == "DYNAMIC" && !slices.ContainsFunc(p.SmartTypes, func(t SmartType) bool { return t.EntityTypeID == etid }) {
		// A type b24perm creates: crm.type.add without
		// isSetOpenPermissions, outside automated solutions.
		etid, open, group = dynamicTypeStart, true, ""
	}
	role := p.Roles[i]
	if role.IsSystem == "Y" || role.GroupCode != group {
		return nil
	}
	var cells []graph.CRMPerm
	for _, row := range defaultRows(role, etid, open, "", p.entityActions(etid, desc.Actions)) {
		act, _ := desc.Action(strings.ToLower(row.PermType))
		c := graph.CRMPerm{Entity: entity, Action: act.Name}
		switch formOf(act) {
		case formTransition:
			var set []string
			_ = json.Unmarshal(row.Settings, &set)
			c.Level = graph.TransitionBlocked
			if slices.Contains(set, "ANY") {
				c.Level = graph.TransitionAny
			}
		default:
			c.Level = attrLevel[row.Attr]
		}
		if c.Level == "" || c.Level == "none" {
			continue
		}
		cells = append(cells, c)
	}
	return cells
}
