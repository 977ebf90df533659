package bitrix

import (
	"regexp"
	"strings"
)

// roleGroup tells whether a b_crm_role.GROUP_CODE puts a role in another
// role group than the CRM user roles (whose GROUP_CODE is NULL or ”),
// and which. The codes are Bitrix's own: crm/lib/security/role/
// groupcodegenerator.php (GroupCodeGenerator: getCrmFormGroupCode
// 'CRM_WEBFORM', getWidgetGroupCode 'CRM_BUTTON', getContractorGroupCode
// 'CONTRACTOR', getAutomatedSolutionListCode 'AUTOMATED_SOLUTION_LIST',
// AUTOMATED_SOLUTION_GROUP_CODE_PREFIX 'AUTOMATED_SOLUTION_' + the
// solution's ID), and RolePermission::getRoleIdsByGroupCode
// (crm/lib/security/role/rolepermission.php) takes NULL and ” as the CRM
// group; yuliai/bitrix-modules @a3a2a579ba9fdb636ede47f2d8ca02f9c8a66dc9.
// Any other non-empty code is another group too.
func roleGroup(code string) (string, bool) {
	switch {
	case code == "":
		return "", false
	case code == "CRM_WEBFORM":
		return "CRM forms role", true
	case code == "CRM_BUTTON":
		return "website widgets role", true
	case code == "CONTRACTOR":
		return "contractors role", true
	case code == "AUTOMATED_SOLUTION_LIST":
		return "automated solutions list role", true
	case strings.HasPrefix(code, "AUTOMATED_SOLUTION_"):
		return "automated solution role", true
	}
	return "role of another role group", true
}

// unmanagedEntity tells whether a b_crm_role_perms.ENTITY is a
// permission entity Bitrix writes that the policy language does not
// manage, and what it is. The entities are those of
// crm/lib/security/role/manage/entity/ (yuliai/bitrix-modules
// @a3a2a579ba9fdb636ede47f2d8ca02f9c8a66dc9): order.php 'ORDER',
// copilotcallassessment.php 'CCA', repeatsale.php 'RS',
// automatedsolutionlist.php 'AUTOMATED_SOLUTION',
// automatedsolutionconfig.php 'AS_CONFIG_' + solution ID,
// webformconfig.php 'WEBFORM_CONFIG', buttonconfig.php 'BUTTON_CONFIG',
// contractorconfig.php 'CONTRACTOR_CONFIG', and contractor.php: the
// catalog contractor categories of contacts and companies, named by
// PermissionEntityTypeHelper::getPermissionEntityTypeForCategory
// (crm/lib/category/permissionentitytypehelper.php) 'CONTACT_C<id>',
// 'COMPANY_C<id>'. The managed ones are graph's CRM entities (LEAD, DEAL,
// CONTACT, COMPANY, QUOTE, INVOICE, SMART_INVOICE, DYNAMIC_<id>, CONFIG,
// SALETARGET, WEBFORM, BUTTON, EXCLUSION, with their _C<id> categories).
func unmanagedEntity(entity string) (string, bool) {
	switch entity {
	case "ORDER":
		return "store orders", true
	case "CCA":
		return "CoPilot call assessment", true
	case "RS":
		return "repeat sales", true
	case "AUTOMATED_SOLUTION":
		return "automated solutions list", true
	case "WEBFORM_CONFIG":
		return "CRM forms settings", true
	case "BUTTON_CONFIG":
		return "website widgets settings", true
	case "CONTRACTOR_CONFIG":
		return "contractors settings", true
	}
	switch {
	case (strings.HasPrefix(entity, "CONTACT_C") || strings.HasPrefix(entity, "COMPANY_C")) && contractorEntity.MatchString(entity):
		return "contractor category", true
	case strings.HasPrefix(entity, "AS_CONFIG_") && asConfigEntity.MatchString(entity):
		return "automated solution settings", true
	}
	return "", false
}

var (
	contractorEntity = regexp.MustCompile(`^(CONTACT|COMPANY)_C\d+$`)
	asConfigEntity   = regexp.MustCompile(`^AS_CONFIG_\d+$`)
)

// accessCodeForms are the access-code forms Bitrix stores: the patterns
// of Bitrix\Main\Access\AccessCode (main/lib/access/accesscode.php,
// yuliai/bitrix-modules @a3a2a579ba9fdb636ede47f2d8ca02f9c8a66dc9) — D,
// DR, IU, G, U, SG[_AEK], SU[_M], CHAT, AD, AE, AT, ATD, ATE, ATT, SND,
// SNDR, SNT, SNTR — plus AU (all authorized, CUser::GetAccessCodes) and
// CR (author, disk and iblock rights).
var accessCodeForms = regexp.MustCompile(`^(?:(?:D|DR|IU|G|U|CHAT|SND|SNDR|SNT|SNTR)\d+|SG\d+(?:_[AEK])?|SU\d+(?:_M)?|(?:AD|AE|AT|ATD|ATE|ATT)\d*|AU|CR)$`)

// knownAccessCode reports whether code has a form Bitrix stores.
func knownAccessCode(code string) bool { return accessCodeForms.MatchString(code) }
