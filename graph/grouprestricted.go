package graph

// GroupRestricted lists, per feature and operation, the minimal member
// roles Bitrix refuses: the blog's posting, moderating and full-access
// operations may not be given to everyone (SONET_ROLES_ALL, "N"), as
// CSocNetAllowed's "restricted" entries say
// (socialnetwork/classes/general/functions.php, yuliai/bitrix-modules
// @a3a2a579; bitrix-permissions.md §7).
var GroupRestricted = map[string]map[string][]string{
	"blog": {
		"write_post":       {"everyone"},
		"premoderate_post": {"everyone"},
		"moderate_post":    {"everyone"},
		"full_post":        {"everyone"},
		"moderate_comment": {"everyone"},
		"full_comment":     {"everyone"},
	},
}
