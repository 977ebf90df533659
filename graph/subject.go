package graph

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Subject kinds as they appear in canonical subject strings
// ("kind:ref"). Each maps to one Bitrix access code.
const (
	SubjUser          = "user"            // U<id>; ref is an e-mail or a numeric ID
	SubjDepartment    = "department"      // D<id>; ref is a path "Company/Sales" or "#<id>"
	SubjDepartmentAll = "department_tree" // DR<id>: the department and its subdepartments
	SubjGroup         = "group"           // G<id>; "employees" is every portal user (G2)
	SubjWGOwner       = "workgroup_owner" // SG<id>_A
	SubjWGModerators  = "workgroup_moderators"
	SubjWGMembers     = "workgroup_members"
	SubjCode          = "code" // a raw access code, for what has no name
)

// Subject is a parsed canonical subject string.
type Subject struct {
	Kind string
	Ref  string
}

func (s Subject) String() string { return s.Kind + ":" + s.Ref }

// ParseSubject parses "kind:ref".
func ParseSubject(s string) (Subject, error) {
	k, ref, ok := strings.Cut(s, ":")
	if !ok || ref == "" {
		return Subject{}, fmt.Errorf("invalid subject %q", s)
	}
	switch k {
	case SubjUser, SubjDepartment, SubjDepartmentAll, SubjGroup, SubjWGOwner, SubjWGModerators, SubjWGMembers, SubjCode:
		return Subject{Kind: k, Ref: ref}, nil
	}
	return Subject{}, fmt.Errorf("invalid subject %q: unknown kind %q", s, k)
}

// Label renders a subject for humans.
func (s Subject) Label() string {
	switch s.Kind {
	case SubjUser:
		return "user " + s.Ref
	case SubjDepartment:
		return fmt.Sprintf("department %q", s.Ref)
	case SubjDepartmentAll:
		return fmt.Sprintf("department %q (with subdepartments)", s.Ref)
	case SubjGroup:
		return fmt.Sprintf("group %q", s.Ref)
	case SubjWGOwner:
		return fmt.Sprintf("owner of workgroup %q", s.Ref)
	case SubjWGModerators:
		return fmt.Sprintf("moderators of workgroup %q", s.Ref)
	case SubjWGMembers:
		return fmt.Sprintf("members of workgroup %q", s.Ref)
	}
	return "access code " + s.Ref
}

// Directory is the portal's people and structure: what subjects resolve
// against and what the access resolver walks.
type Directory struct {
	Users       []User       `json:"users"`
	Departments []Department `json:"departments"`
	Groups      []Group      `json:"groups,omitempty"`
	// TelephonyLines are the portal's phone lines (LINE_ID → name), as
	// far as voximplant.line.get exposes them; read only.
	TelephonyLines []TelephonyLine `json:"telephony_lines,omitempty"`
	// WorkWithClosedGroups is the socialnetwork option
	// work_with_closed_groups (default N): in an archived group every
	// operation that is not a viewing one is then allowed to the owner
	// (and portal administrators) instead of to nobody. A portal setting
	// b24perm reads and does not manage.
	WorkWithClosedGroups bool `json:"work_with_closed_groups,omitempty"`
}

// TelephonyLine is a rented number, SIP connection or external line.
type TelephonyLine struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// User is a portal user.
type User struct {
	ID          int64   `json:"id"`
	Email       string  `json:"email"`
	Name        string  `json:"name"`
	Departments []int64 `json:"departments,omitempty"`
	Groups      []int64 `json:"groups,omitempty"`
	Admin       bool    `json:"admin,omitempty"`
	Inactive    bool    `json:"inactive,omitempty"`
	// Extranet marks an extranet (external) user: a member of the
	// extranet user group (option extranet/extranet_group,
	// extranet/classes/general/extranet.php GetExtranetUserGroupID;
	// intranet/lib/User.php isExtranet), USER_TYPE "extranet" in
	// user.get. Not an intranet employee: a workgroup operation open to
	// "employee_members" (J) does not admit them, and they do not see
	// intranet workgroups they are not members of.
	Extranet bool `json:"extranet,omitempty"`
}

// Intranet reports whether u is an intranet employee as socialnetwork
// checks it (Integration\Intranet\User::isIntranet → intranet User::isIntranet:
// an administrator, or an employee of the company structure).
func (u *User) Intranet() bool {
	return !u.Extranet && (u.Admin || len(u.Departments) > 0)
}

// QueueOperator reports whether Bitrix keeps u in an open-channel queue:
// QueueManager::update drops every queue entry, and every user of a
// department entry, that QueueManager::isValidUser refuses — inactive
// users, and extranet ones in im's sense (Im\User::isExtranet,
// CIMContactList::IsExtranet: not an employee of the company structure,
// HumanResources UserService::isEmployee), that is users without a
// department (imopenlines/lib/queuemanager.php,
// im/classes/general/im_contact_list.php @ a3a2a579ba9f). Bots are valid
// there, but they are not users of the directory. Deactivating a user
// removes them from every queue (Queue\Event::onUserUpdate →
// onUserDelete), so they do not come back when reactivated.
func (u *User) QueueOperator() bool {
	return u != nil && !u.Inactive && len(u.Departments) > 0
}

// Department is a node of the company structure.
type Department struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Parent int64  `json:"parent,omitempty"`
	// Head is the user heading the department (UF_HEAD), 0 if none.
	Head int64 `json:"head,omitempty"`
}

// Group is a user group (G<id>).
type Group struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// EmployeesGroupID is Bitrix's "all users" group (G2).
const EmployeesGroupID = 2

// Index is a lookup structure over a Directory and the workgroups of a
// graph; build it once per run.
type Index struct {
	Dir      *Directory
	UserByID map[int64]*User
	// usersByEmail and usersByFoldedEmail list the users with an e-mail,
	// exactly and lower-cased: Bitrix allows e-mails that differ only in
	// case, and each may belong to another person.
	usersByEmail, usersByFoldedEmail map[string][]*User
	DeptByID                         map[int64]*Department
	DeptByPath                       map[string]*Department
	DeptPath                         map[int64]string
	GroupByName                      map[string]*Group
	GroupByID                        map[int64]*Group
	// WorkgroupIDs maps workgroup key → live ID (from the live graph).
	WorkgroupIDs  map[string]int64
	WorkgroupKeys map[int64]string
	// ambiguous lists department paths that name several departments.
	ambiguous map[string][]int64
	// headOf, deptMembers and deptChildren serve IntranetCodes.
	headOf, deptMembers, deptChildren map[int64][]int64
}

// NewIndex indexes d (which may be nil) and the workgroups of live.
func NewIndex(d *Directory, workgroups []Workgroup) *Index {
	if d == nil {
		d = &Directory{}
	}
	// Sized up front: an XL directory has 10,000 users.
	nu, nd := len(d.Users), len(d.Departments)
	ix := &Index{Dir: d, UserByID: make(map[int64]*User, nu), usersByEmail: make(map[string][]*User, nu), usersByFoldedEmail: make(map[string][]*User, nu),
		DeptByID: make(map[int64]*Department, nd), DeptByPath: make(map[string]*Department, nd), DeptPath: make(map[int64]string, nd),
		GroupByName: map[string]*Group{}, GroupByID: map[int64]*Group{},
		WorkgroupIDs: make(map[string]int64, len(workgroups)), WorkgroupKeys: make(map[int64]string, len(workgroups)), ambiguous: map[string][]int64{}}
	for i := range d.Users {
		u := &d.Users[i]
		ix.UserByID[u.ID] = u
		if u.Email != "" {
			ix.usersByEmail[u.Email] = append(ix.usersByEmail[u.Email], u)
			f := strings.ToLower(u.Email)
			ix.usersByFoldedEmail[f] = append(ix.usersByFoldedEmail[f], u)
		}
	}
	for i := range d.Departments {
		ix.DeptByID[d.Departments[i].ID] = &d.Departments[i]
	}
	for id := range ix.DeptByID {
		p := ix.path(id, 0)
		ix.DeptPath[id] = p
		if other, dup := ix.DeptByPath[p]; dup {
			ix.ambiguous[p] = append(ix.ambiguous[p], other.ID, id)
		}
		ix.DeptByPath[p] = ix.DeptByID[id]
	}
	for i := range d.Groups {
		g := &d.Groups[i]
		ix.GroupByName[strings.ToLower(g.Name)] = g
		ix.GroupByID[g.ID] = g
	}
	if _, ok := ix.GroupByName["employees"]; !ok {
		g := &Group{ID: EmployeesGroupID, Name: "employees"}
		ix.GroupByName["employees"] = g
		if _, ok := ix.GroupByID[EmployeesGroupID]; !ok {
			ix.GroupByID[EmployeesGroupID] = g
		}
	}
	for _, w := range workgroups {
		if w.ID != 0 {
			ix.WorkgroupIDs[w.Key] = w.ID
			ix.WorkgroupKeys[w.ID] = w.Key
		}
	}
	ix.buildHeads()
	return ix
}

func (ix *Index) path(id int64, depth int) string {
	d := ix.DeptByID[id]
	if d == nil {
		return "#" + strconv.FormatInt(id, 10)
	}
	if d.Parent == 0 || depth > 64 || ix.DeptByID[d.Parent] == nil {
		return d.Name
	}
	return ix.path(d.Parent, depth+1) + "/" + d.Name
}

// Ancestors returns id and every parent department ID, nearest first.
func (ix *Index) Ancestors(id int64) []int64 {
	var out []int64
	for seen := 0; id != 0 && seen < 64; seen++ {
		out = append(out, id)
		d := ix.DeptByID[id]
		if d == nil {
			break
		}
		id = d.Parent
	}
	return out
}

// ErrAmbiguousUser is wrapped by the error for an e-mail that names
// several users.
var ErrAmbiguousUser = errors.New("ambiguous user")

// LookupUser finds a user by e-mail or numeric ID; an e-mail that names
// several users (see ResolveUser) finds none.
func (ix *Index) LookupUser(ref string) (*User, bool) {
	u, err := ix.ResolveUser(ref)
	return u, err == nil
}

// ResolveUser finds a user by numeric ID ("42" or "#42") or e-mail: the
// exact e-mail first, then a case-insensitive match if it is the only one.
// An e-mail that several users hold (exactly, or only case-insensitively
// when none holds it exactly) is an error naming them all: writing access
// for the wrong one of two people is worse than refusing.
func (ix *Index) ResolveUser(ref string) (*User, error) {
	if id, err := strconv.ParseInt(strings.TrimPrefix(ref, "#"), 10, 64); err == nil {
		if u, ok := ix.UserByID[id]; ok {
			return u, nil
		}
		return nil, fmt.Errorf("user %q does not exist on the portal", ref)
	}
	cands := ix.usersByEmail[ref]
	if len(cands) == 0 {
		cands = ix.usersByFoldedEmail[strings.ToLower(ref)]
	}
	switch len(cands) {
	case 0:
		return nil, fmt.Errorf("user %q does not exist on the portal", ref)
	case 1:
		return cands[0], nil
	}
	cands = slices.Clone(cands)
	slices.SortFunc(cands, func(a, b *User) int { return cmp.Compare(a.ID, b.ID) })
	var names []string
	for _, u := range cands {
		names = append(names, fmt.Sprintf("#%d %s", u.ID, u.Email))
	}
	return nil, fmt.Errorf("%w: e-mail %q matches %d users (%s): write the e-mail exactly as the portal has it, or the user's ID", ErrAmbiguousUser, ref, len(cands), strings.Join(names, ", "))
}

// userRef is the preferred way to name u in a policy: the lower-cased
// e-mail when no other user's e-mail differs from it only in case, else
// the exact e-mail when it is unique, else the ID.
func (ix *Index) userRef(u *User) string {
	if u.Email == "" {
		return strconv.FormatInt(u.ID, 10)
	}
	if len(ix.usersByFoldedEmail[strings.ToLower(u.Email)]) == 1 {
		return strings.ToLower(u.Email)
	}
	if len(ix.usersByEmail[u.Email]) == 1 {
		return u.Email
	}
	return strconv.FormatInt(u.ID, 10)
}

// LookupDepartment finds a department by path or "#id".
func (ix *Index) LookupDepartment(ref string) (*Department, bool) {
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, false
		}
		d, ok := ix.DeptByID[n]
		return d, ok
	}
	d, ok := ix.DeptByPath[strings.Trim(ref, "/")]
	return d, ok
}

// Code resolves a subject to its Bitrix access code.
func (ix *Index) Code(s Subject) (string, error) {
	switch s.Kind {
	case SubjUser:
		u, err := ix.ResolveUser(s.Ref)
		if err != nil {
			return "", err
		}
		return "U" + strconv.FormatInt(u.ID, 10), nil
	case SubjDepartment, SubjDepartmentAll:
		if ids, amb := ix.ambiguous[strings.Trim(s.Ref, "/")]; amb {
			ids = SortedSet64(ids)
			var refs []string
			for _, id := range ids {
				refs = append(refs, "#"+strconv.FormatInt(id, 10))
			}
			return "", fmt.Errorf("department path %q names %d departments (%s): write the department as \"#<id>\"", s.Ref, len(ids), strings.Join(refs, ", "))
		}
		d, ok := ix.LookupDepartment(s.Ref)
		if !ok {
			return "", fmt.Errorf("department %q does not exist on the portal%s", s.Ref, ix.deptHint(s.Ref))
		}
		p := "D"
		if s.Kind == SubjDepartmentAll {
			p = "DR"
		}
		return p + strconv.FormatInt(d.ID, 10), nil
	case SubjGroup:
		if id, err := strconv.ParseInt(strings.TrimPrefix(s.Ref, "#"), 10, 64); err == nil {
			return "G" + strconv.FormatInt(id, 10), nil
		}
		g, ok := ix.GroupByName[strings.ToLower(s.Ref)]
		if !ok {
			return "", fmt.Errorf("user group %q does not exist on the portal", s.Ref)
		}
		return "G" + strconv.FormatInt(g.ID, 10), nil
	case SubjWGOwner, SubjWGModerators, SubjWGMembers:
		id, ok := ix.WorkgroupIDs[s.Ref]
		if !ok {
			return "", fmt.Errorf("workgroup %q does not exist on the portal yet", s.Ref)
		}
		suffix := map[string]string{SubjWGOwner: "_A", SubjWGModerators: "_E", SubjWGMembers: "_K"}[s.Kind]
		return "SG" + strconv.FormatInt(id, 10) + suffix, nil
	case SubjCode:
		return s.Ref, nil
	}
	return "", fmt.Errorf("unknown subject kind %q", s.Kind)
}

func (ix *Index) deptHint(ref string) string {
	last := ref
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		last = ref[i+1:]
	}
	var cands []string
	for p := range ix.DeptByPath {
		if strings.HasSuffix(p, "/"+last) || p == last {
			cands = append(cands, p)
		}
	}
	sort.Strings(cands)
	if len(cands) == 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", cands[0])
}

// SubjectForCode maps an access code back to the preferred canonical
// subject (e-mail for users, path for departments), or code:<code>.
func (ix *Index) SubjectForCode(code string) Subject {
	num := func(s string) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	switch {
	case strings.HasPrefix(code, "U"):
		if id, ok := num(code[1:]); ok {
			if u, ok := ix.UserByID[id]; ok {
				return Subject{SubjUser, ix.userRef(u)}
			}
			return Subject{SubjUser, code[1:]}
		}
	case strings.HasPrefix(code, "DR"):
		if id, ok := num(code[2:]); ok {
			if p, ok := ix.DeptPath[id]; ok {
				return Subject{SubjDepartmentAll, ix.DeptRef(id, p)}
			}
		}
	case strings.HasPrefix(code, "D"):
		if id, ok := num(code[1:]); ok {
			if p, ok := ix.DeptPath[id]; ok {
				return Subject{SubjDepartment, ix.DeptRef(id, p)}
			}
		}
	case strings.HasPrefix(code, "G"):
		if id, ok := num(code[1:]); ok {
			if g, ok := ix.GroupByID[id]; ok {
				return Subject{SubjGroup, strings.ToLower(g.Name)}
			}
		}
	case strings.HasPrefix(code, "SG"):
		rest := code[2:]
		i := strings.IndexByte(rest, '_')
		if i > 0 {
			if id, ok := num(rest[:i]); ok {
				if key, ok := ix.WorkgroupKeys[id]; ok {
					switch rest[i:] {
					case "_A":
						return Subject{SubjWGOwner, key}
					case "_E":
						return Subject{SubjWGModerators, key}
					case "_K":
						return Subject{SubjWGMembers, key}
					}
				}
			}
		}
	}
	return Subject{SubjCode, code}
}

// Canonical rewrites a subject string to its preferred form through the
// directory (so "user:42" and "user:Anna@X.com" compare equal).
func (ix *Index) Canonical(s string) (string, error) {
	sub, err := ParseSubject(s)
	if err != nil {
		return "", err
	}
	code, err := ix.Code(sub)
	if err != nil {
		return "", err
	}
	return ix.SubjectForCode(code).String(), nil
}

// UserLabel is "Name <email>" or the best available.
func (u *User) Label() string {
	if u.Name != "" {
		return u.Name
	}
	if u.Email != "" {
		return u.Email
	}
	return "user #" + strconv.FormatInt(u.ID, 10)
}

// SortedSet64 returns a sorted, de-duplicated copy of in.
func SortedSet64(in []int64) []int64 { return sortedSet(in) }

// DeptRef names a department by path, or by "#id" when the path is not
// unique.
func (ix *Index) DeptRef(id int64, path string) string {
	if _, amb := ix.ambiguous[path]; amb {
		return "#" + strconv.FormatInt(id, 10)
	}
	return path
}

// Codes resolves subject strings to a sorted, de-duplicated set of access
// codes, as the portal stores role assignments.
func (ix *Index) Codes(subjects []string) ([]string, error) {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		sub, err := ParseSubject(s)
		if err != nil {
			return nil, err
		}
		c, err := ix.Code(sub)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// UserID resolves a user subject ("user:anna@example.com") to its ID.
func (ix *Index) UserID(subject string) (int64, error) {
	sub, err := ParseSubject(subject)
	if err != nil {
		return 0, err
	}
	if sub.Kind != SubjUser {
		return 0, fmt.Errorf("%s is not a user", subject)
	}
	u, err := ix.ResolveUser(sub.Ref)
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}

// QueueEntry resolves an open-channel queue subject to Bitrix's queue
// entry: ENTITY_TYPE "user" or "department" and ENTITY_ID. Other
// subjects cannot be in a queue.
func (ix *Index) QueueEntry(subject string) (entityType string, id int64, err error) {
	sub, err := ParseSubject(subject)
	if err != nil {
		return "", 0, err
	}
	code, err := ix.Code(sub)
	if err != nil {
		return "", 0, err
	}
	switch {
	case strings.HasPrefix(code, "U"):
		entityType = "user"
	case strings.HasPrefix(code, "D") && !strings.HasPrefix(code, "DR"):
		entityType = "department"
	default:
		return "", 0, fmt.Errorf("%s cannot be in an open-channel queue (users and departments only)", subject)
	}
	id, err = strconv.ParseInt(code[1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%s: unexpected access code %q", subject, code)
	}
	return entityType, id, nil
}

// accessCodePatterns are the access-code formats Bitrix accepts
// (Bitrix\Main\Access\AccessCode::$map, main/lib/access/accesscode.php,
// yuliai/bitrix-modules @a3a2a579), plus AU and CR, which CAccess knows
// but AccessCode does not, and UA, the entity selector's "all users"
// (main/lib/ui/entityselector/converter.php) (bitrix-permissions.md
// §1.1-1.2).
var accessCodePatterns = []*regexp.Regexp{
	regexp.MustCompile(`^D\d+$`), regexp.MustCompile(`^DR\d+$`), regexp.MustCompile(`^IU\d+$`),
	regexp.MustCompile(`^G\d+$`), regexp.MustCompile(`^U\d+$`), regexp.MustCompile(`^SG\d+(_[AEK])?$`),
	regexp.MustCompile(`^SU\d+(_M)?$`), regexp.MustCompile(`^CHAT\d+$`),
	regexp.MustCompile(`^AD\d*$`), regexp.MustCompile(`^AE\d*$`), regexp.MustCompile(`^AT\d*$`),
	regexp.MustCompile(`^ATD\d*$`), regexp.MustCompile(`^ATE\d*$`), regexp.MustCompile(`^ATT\d*$`),
	regexp.MustCompile(`^SND\d+$`), regexp.MustCompile(`^SNDR\d+$`), regexp.MustCompile(`^SNT\d+$`), regexp.MustCompile(`^SNTR\d+$`),
	regexp.MustCompile(`^(AU|CR|UA)$`),
}

// ValidAccessCode reports whether code has a Bitrix access-code format.
func ValidAccessCode(code string) bool {
	for _, re := range accessCodePatterns {
		if re.MatchString(code) {
			return true
		}
	}
	return false
}

var bareWorkgroupCode = regexp.MustCompile(`^SG\d+$`)

// CodeMatchesNobody explains why a role assigned to code reaches no user
// in CRM, telephony and open channels, or returns "": AU is added only to
// the session user and never stored in b_user_access, CR is resolved ad
// hoc by Drive and iblocks, and a bare SG<id> is a valid format that no
// provider emits (members hold SG<id>_K, moderators _E, the owner _A)
// (bitrix-permissions.md §1.1, §1.2).
func CodeMatchesNobody(code string) string {
	switch {
	case code == "AU":
		return "AU (all authorized users) is not stored in b_user_access, so CRM, telephony and open-channel roles on it match nobody; use group employees (G2), AE0 or the root department with subdepartments"
	case code == "UA":
		return "UA is the entity selector's \"all users\" alias, saved as AU and never held; CRM, telephony and open-channel roles on it match nobody; use group employees (G2), AE0 or the root department with subdepartments"
	case code == "CR":
		return "CR (author) is resolved only by Drive and iblocks; CRM, telephony and open-channel roles on it match nobody"
	case bareWorkgroupCode.MatchString(code):
		return fmt.Sprintf("%s (a workgroup without _A, _E or _K) is never held by anyone; use %s_K for members, %s_E for moderators or %s_A for the owner", code, code, code, code)
	}
	return ""
}
