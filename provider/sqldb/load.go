package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/provider/bitrix"
)

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

var missingTable = regexp.MustCompile(`(?i)(?:table|relation) ["'` + "`" + `]?(?:[a-z0-9_]+\.)?([a-z0-9_]+)["'` + "`" + `]? (?:doesn't|does not) exist`)
var missingColumn = regexp.MustCompile(`(?i)(?:unknown column|column) ['"]?([a-z0-9_."]+)['"]?`)

// query runs a read and maps schema errors to messages that name the
// missing table or column.
func (p *Provider) query(ctx context.Context, db queryer, q string, args ...any) (*sql.Rows, error) {
	rows, err := db.QueryContext(ctx, p.q(q), args...)
	if err != nil {
		if m := missingTable.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s has no table %s: is this a Bitrix24 database of a supported version? (`b24perm sim db-init --dsn …` creates a demo one)", p.dsn, m[1])
		}
		if strings.Contains(strings.ToLower(err.Error()), "column") {
			if m := missingColumn.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("%s: column %s is missing: unsupported Bitrix24 version (%v)", p.dsn, m[1], err)
			}
		}
		return nil, fmt.Errorf("%s: %v", p.dsn, err)
	}
	return rows, nil
}

func (p *Provider) each(ctx context.Context, db queryer, q string, fn func(scan func(...any) error) error, args ...any) error {
	rows, err := p.query(ctx, db, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// externalUserTypes are the b_user.EXTERNAL_AUTH_ID values of users who
// are not employees (Bitrix's REAL_USER / IS_REAL_USER expression):
// yuliai/bitrix-modules main/lib/UserTable.php getExternalUserTypes() @
// a3a2a579ba9f. Other values (LDAP#…, socservices) are real users.
var externalUserTypes = map[string]bool{
	"bot": true, "email": true, "__controller": true, "replica": true, "imconnector": true,
	"sale": true, "saleanonymous": true, "shop": true, "call": true, "document_editor": true,
	"calendar_sharing": true, "im_guest": true, "rest_system": true,
}

// Options b24perm reads from b_option.
const (
	optStructureModule, optStructureName = "intranet", "iblock_structure"
	optDealCategoryModule, optDealName   = "crm", "default_deal_category_name"
	optExtranetModule, optExtranetGroup  = "extranet", "extranet_group"
	optSonetModule, optClosedGroups      = "socialnetwork", "work_with_closed_groups"
	// defaultDealCategoryName is what Bitrix shows for the default deal
	// pipeline while the option is unset (crm/lib/category/dealcategory.php
	// getDefaultCategoryName falls back to the CRM_DEAL_CATEGORY_DEFAULT
	// phrase, "General" in English).
	defaultDealCategoryName = "General"
)

// structure says where the company structure of a database lives.
type structure struct {
	iblockID    int64 // option intranet/iblock_structure
	deptFieldID int64 // b_user_field ID of USER.UF_DEPARTMENT
	headTable   string
	dealNameSet bool
	hrStructure bool
	fieldRules  bool
	ufPerms     bool // b_user_field_permission exists
	// smart: b_crm_dynamic_type and b_crm_item_category exist (crm 21+).
	smart bool
	// legacyNative are the b24perm_field_rule rows with NATIVE 'Y'.
	legacyNative []legacyNative
	// userFields maps "ENTITY_ID/FIELD_NAME" of b_user_field to its ID
	// and back.
	userFields   map[string]int64
	fieldNames   map[int64]string
	warnings     []string
	defaultDeal  string
	headFieldSet bool
}

// findStructure reads the options and user fields that say where users'
// departments, the structure and the heads are stored.
func (p *Provider) findStructure(ctx context.Context, db queryer) (*structure, error) {
	st := &structure{}
	opts := map[string]string{}
	if err := p.each(ctx, db, "SELECT MODULE_ID, NAME, VALUE FROM b_option WHERE (MODULE_ID = ? AND NAME = ?) OR (MODULE_ID = ? AND NAME = ?)", func(scan func(...any) error) error {
		var m, n string
		var v sql.NullString
		if err := scan(&m, &n, &v); err != nil {
			return err
		}
		opts[m+"/"+n] = v.String
		return nil
	}, optStructureModule, optStructureName, optDealCategoryModule, optDealName); err != nil {
		return nil, err
	}
	v, ok := opts[optStructureModule+"/"+optStructureName]
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%s: cannot find the company structure: option %s/%s (table b_option, MODULE_ID '%s', NAME '%s') is not set; it names the information block of the departments (set by the intranet module)",
			p.dsn, optStructureModule, optStructureName, optStructureModule, optStructureName)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || id <= 0 {
		return nil, fmt.Errorf("%s: option %s/%s in b_option is %q, not an information block ID", p.dsn, optStructureModule, optStructureName, v)
	}
	st.iblockID = id
	if n, ok := opts[optDealCategoryModule+"/"+optDealName]; ok && n != "" {
		st.defaultDeal, st.dealNameSet = n, true
	} else {
		st.defaultDeal = defaultDealCategoryName
		st.warnings = append(st.warnings, fmt.Sprintf("option %s/%s (b_option) is not set: the default deal pipeline is named %q, as Bitrix shows it then", optDealCategoryModule, optDealName, defaultDealCategoryName))
	}
	if err := p.each(ctx, db, "SELECT ID FROM b_user_field WHERE ENTITY_ID = 'USER' AND FIELD_NAME = 'UF_DEPARTMENT'", func(scan func(...any) error) error {
		return scan(&st.deptFieldID)
	}); err != nil {
		return nil, err
	}
	if st.deptFieldID == 0 {
		return nil, fmt.Errorf("%s: cannot find users' departments: b_user_field has no row with ENTITY_ID 'USER' and FIELD_NAME 'UF_DEPARTMENT' (the intranet module creates it)", p.dsn)
	}
	// Department heads: the UF_HEAD user field of the structure's
	// sections, stored in b_uts_iblock_<N>_section (one row per section,
	// VALUE_ID = section ID; main/classes/general/usertypesql.php names
	// the table b_uts_ + the lower-cased ENTITY_ID).
	entity := fmt.Sprintf("IBLOCK_%d_SECTION", id)
	if err := p.each(ctx, db, "SELECT COUNT(*) FROM b_user_field WHERE ENTITY_ID = ? AND FIELD_NAME = 'UF_HEAD'", func(scan func(...any) error) error {
		var n int
		err := scan(&n)
		st.headFieldSet = n > 0
		return err
	}, entity); err != nil {
		return nil, err
	}
	table := "b_uts_" + strings.ToLower(entity)
	switch has, err := p.hasTable(ctx, db, table); {
	case err != nil:
		return nil, err
	case !st.headFieldSet:
		st.warnings = append(st.warnings, fmt.Sprintf("department heads are not read: b_user_field has no UF_HEAD field of %s", entity))
	case !has:
		st.warnings = append(st.warnings, fmt.Sprintf("department heads are not read: table %s (the values of %s.UF_HEAD) does not exist", table, entity))
	default:
		st.headTable = table
	}
	has, err := p.hasTable(ctx, db, "b_hr_structure_node")
	if err != nil {
		return nil, err
	}
	if has {
		st.hrStructure = true
		st.warnings = append(st.warnings, fmt.Sprintf("this portal also has the newer company structure (humanresources, tables b_hr_structure_node*); b24perm reads the departments of the information-block structure %d (option %s/%s) and UF_DEPARTMENT, which Bitrix keeps in sync with it", id, optStructureModule, optStructureName))
	}
	if st.fieldRules, err = p.hasTable(ctx, db, fieldRuleTable); err != nil {
		return nil, err
	}
	if st.ufPerms, err = p.hasTable(ctx, db, "b_user_field_permission"); err != nil {
		return nil, err
	}
	st.smart = true
	for _, t := range []string{"b_crm_dynamic_type", "b_crm_item_category"} {
		has, err := p.hasTable(ctx, db, t)
		if err != nil {
			return nil, err
		}
		if !has {
			st.smart = false
			st.warnings = append(st.warnings, fmt.Sprintf("smart processes are not read: table %s does not exist (a crm module older than smart processes)", t))
			break
		}
	}
	st.userFields, st.fieldNames = map[string]int64{}, map[int64]string{}
	if err := p.each(ctx, db, "SELECT ID, ENTITY_ID, FIELD_NAME FROM b_user_field WHERE ENTITY_ID LIKE 'CRM\\_%'", func(scan func(...any) error) error {
		var id int64
		var ent, name sql.NullString
		if err := scan(&id, &ent, &name); err != nil {
			return err
		}
		st.userFields[ent.String+"/"+name.String], st.fieldNames[id] = id, name.String
		return nil
	}); err != nil {
		return nil, err
	}
	return st, nil
}

// managedStatus restricts b_crm_status to the stages b24perm models on a
// database: lead statuses, deal stages, and the stages of smart processes
// and smart invoices, whose ENTITY_ID is the factory's entity name +
// "_STAGE_" + category (Factory\Dynamic::getStagesEntityId,
// crm/lib/Service/Factory/Dynamic.php: DYNAMIC_128_STAGE_5,
// SMART_INVOICE_STAGE_7). Dictionaries such as SOURCE are not read, so
// they are never written.
const managedStatus = "(ENTITY_ID = 'STATUS' OR ENTITY_ID = 'DEAL_STAGE' OR ENTITY_ID LIKE 'DEAL\\_STAGE\\_%' OR ENTITY_ID LIKE 'DYNAMIC\\_%\\_STAGE\\_%' OR ENTITY_ID LIKE 'SMART\\_INVOICE\\_STAGE\\_%')"

// Smart processes are the b_crm_dynamic_type rows from entity type 128 on
// (CCrmOwnerType::DynamicTypeStart, crm/classes/general/crm_owner_type.php)
// that are initialized: DynamicTypesMap::getTypesCollection
// (crm/lib/Service/DynamicTypesMap.php) loads only IS_INITIALIZED 'Y', a
// type still being created has 'N'. Smart invoices (entity type 31) are a
// dynamic type too; only their pipelines are modeled. Other rows of
// b_crm_item_category (contact and company categories, smart documents)
// are not read.
const (
	dynamicTypeStart = 128
	smartTypeFilter  = "ENTITY_TYPE_ID >= 128 AND IS_INITIALIZED = 'Y'"
)

// load reads the portal's tables into the one portal model. lock locks the
// rows b24perm writes (the caller is in a transaction).
func (p *Provider) load(ctx context.Context, db queryer, lock bool) (*bitrix.Portal, *structure, error) {
	forUpdate := ""
	if lock {
		forUpdate = " FOR UPDATE"
	}
	st, err := p.findStructure(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	pt := &bitrix.Portal{Format: bitrix.FormatName, FormatVersion: bitrix.FormatVersion, Portal: p.dsn, Counters: map[string]int64{}}
	nullStr := func(s sql.NullString) string { return s.String }
	// The options the permission model reads (bitrix.Read): which user
	// group holds extranet users, and whether owners act in archived groups.
	if err := p.each(ctx, db, "SELECT MODULE_ID, NAME, VALUE FROM b_option WHERE (MODULE_ID = ? AND NAME = ?) OR (MODULE_ID = ? AND NAME = ?) ORDER BY MODULE_ID, NAME", func(scan func(...any) error) error {
		var o bitrix.Option
		var v sql.NullString
		if err := scan(&o.ModuleID, &o.Name, &v); err != nil {
			return err
		}
		o.Value = v.String
		pt.Options = append(pt.Options, o)
		return nil
	}, optExtranetModule, optExtranetGroup, optSonetModule, optClosedGroups); err != nil {
		return nil, nil, err
	}
	// Directory.
	userIdx := map[int64]int{}
	if err := p.each(ctx, db, "SELECT ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID FROM b_user ORDER BY ID", func(scan func(...any) error) error {
		var u bitrix.User
		var email, name, last, active, external sql.NullString
		if err := scan(&u.ID, &email, &name, &last, &active, &external); err != nil {
			return err
		}
		if externalUserTypes[external.String] {
			return nil // a bot, e-mail, open-channel, replica … user: not an employee
		}
		u.Email, u.Name, u.LastName, u.Active = email.String, name.String, last.String, active.String
		userIdx[u.ID] = len(pt.Users)
		pt.Users = append(pt.Users, u)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT USER_ID, GROUP_ID FROM b_user_group ORDER BY USER_ID, GROUP_ID", func(scan func(...any) error) error {
		var uid, gid int64
		if err := scan(&uid, &gid); err != nil {
			return err
		}
		if i, ok := userIdx[uid]; ok {
			pt.Users[i].Groups = append(pt.Users[i].Groups, gid)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT VALUE_ID, VALUE_INT FROM b_utm_user WHERE FIELD_ID = ? ORDER BY ID", func(scan func(...any) error) error {
		var uid int64
		var dept sql.NullInt64
		if err := scan(&uid, &dept); err != nil {
			return err
		}
		if i, ok := userIdx[uid]; ok && dept.Valid {
			pt.Users[i].UFDepartment = append(pt.Users[i].UFDepartment, dept.Int64)
		}
		return nil
	}, st.deptFieldID); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, NAME FROM b_group ORDER BY ID", func(scan func(...any) error) error {
		var g bitrix.Group
		if err := scan(&g.ID, &g.Name); err != nil {
			return err
		}
		pt.Groups = append(pt.Groups, g)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	deptIdx := map[int64]int{}
	if err := p.each(ctx, db, "SELECT ID, IBLOCK_SECTION_ID, NAME FROM b_iblock_section WHERE IBLOCK_ID = ? ORDER BY ID", func(scan func(...any) error) error {
		var d bitrix.Department
		var parent sql.NullInt64
		if err := scan(&d.ID, &parent, &d.Name); err != nil {
			return err
		}
		d.Parent = parent.Int64
		deptIdx[d.ID] = len(pt.Departments)
		pt.Departments = append(pt.Departments, d)
		return nil
	}, st.iblockID); err != nil {
		return nil, nil, err
	}
	if st.headTable != "" {
		if err := p.each(ctx, db, "SELECT VALUE_ID, UF_HEAD FROM "+st.headTable, func(scan func(...any) error) error {
			var sid int64
			var head sql.NullInt64
			if err := scan(&sid, &head); err != nil {
				return err
			}
			if i, ok := deptIdx[sid]; ok && head.Valid {
				pt.Departments[i].Head = head.Int64
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	// Pipelines and stages: deal categories live in b_crm_deal_category,
	// the default one (ID 0) only in the option naming it.
	pt.Categories = append(pt.Categories, bitrix.Category{ID: 0, EntityTypeID: bitrix.EntityTypeDeal, Name: st.defaultDeal, IsDefault: "Y"})
	if err := p.each(ctx, db, "SELECT ID, NAME, SORT FROM b_crm_deal_category ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		c := bitrix.Category{EntityTypeID: bitrix.EntityTypeDeal, IsDefault: "N"}
		if err := scan(&c.ID, &c.Name, &c.Sort); err != nil {
			return err
		}
		pt.Categories = append(pt.Categories, c)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if st.smart {
		// IS_SET_OPEN_PERMISSIONS, CUSTOM_SECTION_ID, IS_AUTOMATION_ENABLED
		// and IS_STAGES_ENABLED decide which rows a new category gives the
		// roles (bitrix/defaults.go; TypeTable::getMap,
		// crm/lib/Model/Dynamic/TypeTable.php).
		if err := p.each(ctx, db, "SELECT ID, ENTITY_TYPE_ID, TITLE, IS_SET_OPEN_PERMISSIONS, CUSTOM_SECTION_ID, IS_AUTOMATION_ENABLED, IS_STAGES_ENABLED FROM b_crm_dynamic_type WHERE "+smartTypeFilter+" ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var t bitrix.SmartType
			var open, automation, stages sql.NullString
			var section sql.NullInt64
			if err := scan(&t.ID, &t.EntityTypeID, &t.Title, &open, &section, &automation, &stages); err != nil {
				return err
			}
			t.IsSetOpenPermissions, t.CustomSectionID = strings.TrimSpace(open.String), section.Int64
			t.IsAutomationEnabled, t.IsStagesEnabled = strings.TrimSpace(automation.String), strings.TrimSpace(stages.String)
			pt.SmartTypes = append(pt.SmartTypes, t)
			return nil
		}); err != nil {
			return nil, nil, err
		}
		if err := p.each(ctx, db, "SELECT ID, ENTITY_TYPE_ID, NAME, SORT, IS_DEFAULT FROM b_crm_item_category WHERE ENTITY_TYPE_ID = ? OR ENTITY_TYPE_ID IN (SELECT ENTITY_TYPE_ID FROM b_crm_dynamic_type WHERE "+smartTypeFilter+") ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var c bitrix.Category
			if err := scan(&c.ID, &c.EntityTypeID, &c.Name, &c.Sort, &c.IsDefault); err != nil {
				return err
			}
			pt.Categories = append(pt.Categories, c)
			return nil
		}, bitrix.EntityTypeSmartInvoice); err != nil {
			return nil, nil, err
		}
	}
	if err := p.each(ctx, db, "SELECT ID, ENTITY_ID, STATUS_ID, NAME, SORT, SEMANTICS FROM b_crm_status WHERE "+managedStatus+" ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var s bitrix.Status
		var sem sql.NullString
		if err := scan(&s.ID, &s.EntityID, &s.StatusID, &s.Name, &s.Sort, &sem); err != nil {
			return err
		}
		s.Semantics = sem.String
		pt.Statuses = append(pt.Statuses, s)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	// CRM roles.
	if err := p.each(ctx, db, "SELECT ID, NAME, IS_SYSTEM, CODE, GROUP_CODE FROM b_crm_role ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var r bitrix.Role
		var code, group sql.NullString
		if err := scan(&r.ID, &r.Name, &r.IsSystem, &code, &group); err != nil {
			return err
		}
		r.Code, r.GroupCode = code.String, group.String
		pt.Roles = append(pt.Roles, r)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, ROLE_ID, ENTITY, FIELD, FIELD_VALUE, PERM_TYPE, ATTR, SETTINGS FROM b_crm_role_perms ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var r bitrix.RolePerm
		// FIELD and ATTR are nullable in Bitrix's table (FIELD defaults to
		// '-', ATTR to ''); the current access-rights UI stores SETTINGS
		// rows with ATTR NULL.
		var field, fv, attr, settings sql.NullString
		if err := scan(&r.ID, &r.RoleID, &r.Entity, &field, &fv, &r.PermType, &attr, &settings); err != nil {
			return err
		}
		r.Field = field.String
		if !field.Valid {
			r.Field = "-"
		}
		r.FieldValue, r.Attr = fv.String, attr.String
		if settings.Valid {
			r.Settings = json.RawMessage(settings.String)
		}
		pt.RolePerms = append(pt.RolePerms, r)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, ROLE_ID, RELATION FROM b_crm_role_relation ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var r bitrix.RoleRelation
		if err := scan(&r.ID, &r.RoleID, &r.Relation); err != nil {
			return err
		}
		pt.RoleRelations = append(pt.RoleRelations, r)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	// Telephony and open-channel roles.
	for _, t := range []struct {
		prefix string
		roles  *[]bitrix.SimpleRole
		perms  *[]bitrix.SimplePermission
		access *[]bitrix.RoleAccess
		xml    bool
	}{{"b_voximplant_role", &pt.VoxRoles, &pt.VoxPerms, &pt.VoxAccess, false}, {"b_imopenlines_role", &pt.OLRoles, &pt.OLPerms, &pt.OLAccess, true}} {
		cols := "ID, NAME"
		if t.xml {
			cols += ", XML_ID"
		}
		if err := p.each(ctx, db, "SELECT "+cols+" FROM "+t.prefix+" ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var r bitrix.SimpleRole
			var xml sql.NullString
			dst := []any{&r.ID, &r.Name}
			if t.xml {
				dst = append(dst, &xml)
			}
			if err := scan(dst...); err != nil {
				return err
			}
			r.XMLID = xml.String
			*t.roles = append(*t.roles, r)
			return nil
		}); err != nil {
			return nil, nil, err
		}
		if err := p.each(ctx, db, "SELECT ID, ROLE_ID, ENTITY, ACTION, PERMISSION FROM "+t.prefix+"_permission ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var r bitrix.SimplePermission
			var perm sql.NullString
			if err := scan(&r.ID, &r.RoleID, &r.Entity, &r.Action, &perm); err != nil {
				return err
			}
			r.Permission = perm.String
			*t.perms = append(*t.perms, r)
			return nil
		}); err != nil {
			return nil, nil, err
		}
		if err := p.each(ctx, db, "SELECT ID, ROLE_ID, ACCESS_CODE FROM "+t.prefix+"_access ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var r bitrix.RoleAccess
			if err := scan(&r.ID, &r.RoleID, &r.AccessCode); err != nil {
				return err
			}
			*t.access = append(*t.access, r)
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	// Workgroups.
	if err := p.each(ctx, db, "SELECT ID, NAME, VISIBLE, OPENED, CLOSED, OWNER_ID, INITIATE_PERMS, SITE_ID, NUMBER_OF_MEMBERS, NUMBER_OF_MODERATORS FROM b_sonet_group ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var g bitrix.SonetGroup
		if err := scan(&g.ID, &g.Name, &g.Visible, &g.Opened, &g.Closed, &g.OwnerID, &g.InitiatePerms, &g.SiteID, &g.NumberOfMembers, &g.NumberOfModerators); err != nil {
			return err
		}
		pt.SonetGroups = append(pt.SonetGroups, g)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, GROUP_ID, USER_ID, ROLE, INITIATED_BY_TYPE FROM b_sonet_user2group ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var u bitrix.User2Group
		if err := scan(&u.ID, &u.GroupID, &u.UserID, &u.Role, &u.InitiatedByType); err != nil {
			return err
		}
		pt.User2Group = append(pt.User2Group, u)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, ENTITY_TYPE, ENTITY_ID, FEATURE, ACTIVE FROM b_sonet_features ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var f bitrix.Feature
		if err := scan(&f.ID, &f.EntityType, &f.EntityID, &f.Feature, &f.Active); err != nil {
			return err
		}
		pt.Features = append(pt.Features, f)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, FEATURE_ID, OPERATION_ID, ROLE FROM b_sonet_features2perms ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var f bitrix.FeaturePerm
		if err := scan(&f.ID, &f.FeatureID, &f.OperationID, &f.Role); err != nil {
			return err
		}
		pt.FeaturePerms = append(pt.FeaturePerms, f)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	// Open channels and their configured queues.
	if err := p.each(ctx, db, "SELECT ID, ACTIVE, LINE_NAME, QUEUE_TYPE FROM b_imopenlines_config ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var c bitrix.OLConfig
		var name, qt sql.NullString
		if err := scan(&c.ID, &c.Active, &name, &qt); err != nil {
			return err
		}
		c.LineName, c.QueueType = nullStr(name), nullStr(qt)
		pt.OLConfigs = append(pt.OLConfigs, c)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, SORT, CONFIG_ID, ENTITY_ID, ENTITY_TYPE FROM b_imopenlines_config_queue ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var q bitrix.OLQueue
		var sort sql.NullInt64
		if err := scan(&q.ID, &sort, &q.ConfigID, &q.EntityID, &q.EntityType); err != nil {
			return err
		}
		q.Sort = sort.Int64
		pt.OLQueue = append(pt.OLQueue, q)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := p.each(ctx, db, "SELECT ID, SORT, CONFIG_ID, USER_ID, DEPARTMENT_ID FROM b_imopenlines_queue ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
		var q bitrix.OLOperator
		var sort, dept sql.NullInt64
		if err := scan(&q.ID, &sort, &q.ConfigID, &q.UserID, &dept); err != nil {
			return err
		}
		q.Sort, q.DepartmentID = sort.Int64, dept.Int64
		pt.OLOperators = append(pt.OLOperators, q)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	// Field rules live in b24perm's own table, which a real portal need
	// not have: without it field rules are unsupported, the rest works.
	if st.fieldRules {
		if err := p.each(ctx, db, "SELECT ID, NATIVE, ENTITY, CATEGORY_ID, FIELD, STAGES, VIEW_CODES, EDIT_CODES FROM b24perm_field_rule ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var f bitrix.FieldRule
			var native string
			var cat int64
			var stages, view, edit sql.NullString
			if err := scan(&f.ID, &native, &f.Entity, &cat, &f.Field, &stages, &view, &edit); err != nil {
				return err
			}
			if native == "Y" {
				// How b24perm stored a native custom-field visibility rule
				// before the portal model: in its own table only, where
				// Bitrix never saw it. It is not read as in force; the
				// apply that writes the field's b_user_field_permission
				// rows deletes it (writer.diffs).
				l := legacyNative{id: f.ID, entityTypeID: legacyEntityTypeID(f.Entity), field: f.Field}
				st.legacyNative = append(st.legacyNative, l)
				st.warnings = append(st.warnings, fmt.Sprintf("b24perm_field_rule row %d (NATIVE 'Y', %s %s) is a native custom-field visibility rule as older b24perm versions stored it, in b24perm's own table only: Bitrix never enforced it, so it is not read as in force (native visibility lives in b_user_field_permission). Declare it in the policy as a native field rule: the apply that writes it to b_user_field_permission deletes this row", f.ID, f.Entity, f.Field))
				return nil
			}
			if cat >= 0 {
				c := cat
				f.Category = &c
			}
			f.Stages, f.View, f.Edit = split(stages.String), split(view.String), split(edit.String)
			pt.FieldRules = append(pt.FieldRules, f)
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	if st.ufPerms {
		if err := p.each(ctx, db, "SELECT ID, ENTITY_TYPE_ID, USER_FIELD_ID, ACCESS_CODE, PERMISSION_ID, VALUE FROM b_user_field_permission ORDER BY ID"+forUpdate, func(scan func(...any) error) error {
			var u bitrix.UFPermission
			var perm string
			if err := scan(&u.ID, &u.EntityTypeID, &u.UserFieldID, &u.AccessCode, &perm, &u.Value); err != nil {
				return err
			}
			u.PermissionID, _ = strconv.ParseInt(perm, 10, 64)
			u.Field = st.fieldNames[u.UserFieldID]
			pt.UFPerms = append(pt.UFPerms, u)
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	return pt, st, nil
}

// legacyNative is a b24perm_field_rule row with NATIVE 'Y'.
type legacyNative struct {
	id           int64
	entityTypeID int64 // 0: unknown entity
	field        string
}

// legacyEntityTypeID reads the ENTITY of an old native rule: the stored
// entity of older b24perm versions ("deal", "dynamic_128") or a Bitrix
// base ("DEAL", "DYNAMIC_128").
func legacyEntityTypeID(entity string) int64 {
	e := strings.ToUpper(entity)
	switch e {
	case "LEAD":
		return 1
	case "DEAL":
		return 2
	case "CONTACT":
		return 3
	case "COMPANY":
		return 4
	case "QUOTE":
		return 7
	case "SMART_INVOICE":
		return bitrix.EntityTypeSmartInvoice
	}
	if n, ok := strings.CutPrefix(e, "DYNAMIC_"); ok {
		if id, err := strconv.ParseInt(n, 10, 64); err == nil {
			return id
		}
	}
	return 0
}

// userFieldEntity is b_user_field.ENTITY_ID of a CRM entity type's custom
// fields (CRM_DEAL …; smart processes CRM_<entityTypeId>).
func userFieldEntity(etid int64) string {
	switch etid {
	case 1:
		return "CRM_LEAD"
	case 2:
		return "CRM_DEAL"
	case 3:
		return "CRM_CONTACT"
	case 4:
		return "CRM_COMPANY"
	case 7:
		return "CRM_QUOTE"
	case 31:
		return "CRM_SMART_INVOICE"
	}
	return "CRM_" + strconv.FormatInt(etid, 10)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

const fieldRuleTable = "b24perm_field_rule"

// hasTable reports whether the connected database's current schema has
// the table. The probe does not fail a query, so it is safe inside the
// apply transaction on PostgreSQL.
func (p *Provider) hasTable(ctx context.Context, db queryer, table string) (bool, error) {
	schema := "DATABASE()"
	if p.dialect == "postgres" {
		schema = "current_schema()"
	}
	rows, err := p.query(ctx, db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "+schema+" AND LOWER(table_name) = ?", table)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, err
		}
	}
	return n > 0, rows.Err()
}
