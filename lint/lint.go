// Package lint finds permission smells the help-desk warns about: roles
// that conflict, redundant stage rows, broad or per-person assignments,
// unused, empty and shadowed roles, unreachable field rules.
package lint

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

// Finding is one lint result.
type Finding struct {
	Rule     string     `json:"rule"`
	Severity string     `json:"severity"` // "warning" or "note"
	Message  string     `json:"message"`
	Address  string     `json:"address,omitempty"`
	Source   *graph.Pos `json:"source,omitempty"`
}

// Rules describes every rule, for SARIF and docs.
var Rules = map[string]string{
	"B24P001": "A user reaches several roles that set different levels on the same permission",
	"B24P002": "Stage permission equal to the inherited level whose removal changes no user's access (use Inherit: many rules slow the CRM down)",
	"B24P003": "Role assigned to everyone (employees, all-employees or the whole company)",
	"B24P004": "Role assigned to several single users of one department, where the department would do",
	"B24P005": "Roles with identical permissions (a role per employee?)",
	"B24P006": "Role assigned to nobody",
	"B24P007": "Role without permissions",
	"B24P008": "Role shadowed by another role that always applies with equal or higher levels",
	"B24P009": "Field rule that nobody can satisfy",
	"B24P010": "Active open channel whose queue reaches no active user",
	"B24P011": "Role assigned to an access code that nobody holds (AU, CR, a bare SG<id>, IU of a user in no department)",
	"B24P012": "Open-channel queue names a user Bitrix leaves out of queues (inactive, or in no department)",
}

// Run lints g over dir; extra are findings produced elsewhere, passed
// through.
func Run(g *graph.Graph, dir *graph.Directory, extra []Finding) []Finding {
	out := slices.Clone(extra)
	r := access.New(g, dir)
	ix := graph.NewIndex(dir, g.Workgroups)
	pos := func(addr string) *graph.Pos {
		if p, ok := g.Source(addr); ok {
			return &p
		}
		return nil
	}
	// Users of each role.
	canonAssign := make([][]string, len(g.CRMRoles))
	usersOf := make([]map[int64]bool, len(g.CRMRoles))
	for i, role := range g.CRMRoles {
		usersOf[i] = map[int64]bool{}
		for _, s := range role.Assign {
			if cs, err := ix.Canonical(s); err == nil {
				s = cs
			}
			canonAssign[i] = append(canonAssign[i], s)
		}
	}
	for _, u := range r.Users() {
		if u.Admin {
			continue
		}
		held := map[string]bool{}
		for _, h := range r.UserSubjects(u) {
			held[h.Subject] = true
		}
		for i := range g.CRMRoles {
			for _, s := range canonAssign[i] {
				if held[s] {
					usersOf[i][u.ID] = true
					break
				}
			}
		}
	}
	for i, role := range g.CRMRoles {
		addr := "crm_role." + role.Key
		if len(role.Assign) == 0 {
			out = append(out, Finding{"B24P006", "warning", fmt.Sprintf("CRM role %q is assigned to nobody", role.Name), addr, pos(addr)})
		}
		if len(role.Perms) == 0 {
			out = append(out, Finding{"B24P007", "warning", fmt.Sprintf("CRM role %q grants nothing", role.Name), addr, pos(addr)})
		}
		var singles []int64
		for _, s := range role.Assign {
			switch {
			case strings.HasPrefix(s, graph.SubjCode+":") && graph.CodeMatchesNobody(strings.TrimPrefix(s, graph.SubjCode+":")) != "":
				// The resolver gives nobody AU, CR or a bare SG<id>.
				out = append(out, Finding{"B24P011", "warning", fmt.Sprintf("CRM role %q is assigned to %s, which matches nobody: %s", role.Name, strings.TrimPrefix(s, graph.SubjCode+":"), graph.CodeMatchesNobody(strings.TrimPrefix(s, graph.SubjCode+":"))), addr, pos(graph.AssignSourceKey(graph.Addr{Kind: graph.KindCRMRole, Key: role.Key}, s))})
			case strings.HasPrefix(s, graph.SubjCode+":IU") && intranetCodeless(ix, strings.TrimPrefix(s, graph.SubjCode+":IU")):
				// The intranet provider gives IU codes only to users in a
				// department; nobody else holds IU of such a user.
				out = append(out, Finding{"B24P011", "warning", fmt.Sprintf("CRM role %q is assigned to %s, which matches nobody: user #%s belongs to no department, and the intranet provider gives IU codes only to users who do", role.Name, strings.TrimPrefix(s, graph.SubjCode+":"), strings.TrimPrefix(s, graph.SubjCode+":IU")), addr, pos(graph.AssignSourceKey(graph.Addr{Kind: graph.KindCRMRole, Key: role.Key}, s))})
			case s == "group:employees" || s == "code:AE0" || s == "code:G2":
				out = append(out, Finding{"B24P003", "warning", fmt.Sprintf("CRM role %q is assigned to every employee (%s): check it is meant for everyone", role.Name, s), addr, pos(graph.AssignSourceKey(graph.Addr{Kind: graph.KindCRMRole, Key: role.Key}, s))})
			case strings.HasPrefix(s, graph.SubjDepartmentAll+":") && !strings.Contains(strings.TrimPrefix(s, graph.SubjDepartmentAll+":"), "/"):
				out = append(out, Finding{"B24P003", "warning", fmt.Sprintf("CRM role %q is assigned to the whole company (%s)", role.Name, s), addr, pos(addr)})
			case strings.HasPrefix(s, graph.SubjUser+":"):
				if u, ok := ix.LookupUser(strings.TrimPrefix(s, graph.SubjUser+":")); ok && len(u.Departments) == 1 {
					singles = append(singles, u.Departments[0])
				}
			}
		}
		slices.Sort(singles)
		for j := 0; j+2 < len(singles); j++ {
			if singles[j] == singles[j+2] {
				out = append(out, Finding{"B24P004", "note", fmt.Sprintf("CRM role %q is assigned to 3 or more users of department %q one by one; assign the department instead", role.Name, ix.DeptPath[singles[j]]), addr, pos(addr)})
				break
			}
		}
		for j, other := range g.CRMRoles {
			if j <= i || len(role.Perms) == 0 {
				continue
			}
			if slices.Equal(role.Perms, other.Perms) {
				out = append(out, Finding{"B24P005", "note", fmt.Sprintf("CRM roles %q and %q grant identical permissions; one role assigned to both audiences is easier to keep right", role.Name, other.Name), addr, pos(addr)})
			}
		}
	}
	out = append(out, redundantStageRows(g, usersOf, pos)...)
	// Shadowed roles and conflicts between roles sharing users.
	for i, a := range g.CRMRoles {
		if len(usersOf[i]) == 0 || len(a.Perms) == 0 {
			continue
		}
		for j, b := range g.CRMRoles {
			if i == j || len(usersOf[j]) == 0 {
				continue
			}
			if subset(usersOf[i], usersOf[j]) && dominated(&a, &b) && !(slices.Equal(a.Perms, b.Perms) && i > j) {
				addr := "crm_role." + a.Key
				out = append(out, Finding{"B24P008", "warning", fmt.Sprintf("CRM role %q never decides anything: every user who has it also has %q with equal or higher levels", a.Name, b.Name), addr, pos(addr)})
				continue
			}
			if j < i {
				continue
			}
			shared := 0
			for id := range usersOf[i] {
				if usersOf[j][id] {
					shared++
				}
			}
			if shared == 0 {
				continue
			}
			if k, la, lb, ok := firstConflict(&a, &b); ok {
				// Levels are sets (chain levels, non-chain sets, transition
				// lists); roles merge by their union (§3.2 step 3).
				var result string
				switch merged := graph.UnionLevels(k.Action == "transition", []string{la, lb}); merged {
				case la:
					result = fmt.Sprintf("the most permissive, %q, wins", a.Name)
				case lb:
					result = fmt.Sprintf("the most permissive, %q, wins", b.Name)
				default:
					result = fmt.Sprintf("they get the union of both, %s", merged)
				}
				addr := "crm_role." + a.Key
				who := fmt.Sprintf("%d users have", shared)
				if shared == 1 {
					who = "1 user has"
				}
				out = append(out, Finding{"B24P001", "note", fmt.Sprintf("%s both %q and %q, which differ on %s (%s vs %s): %s", who, a.Name, b.Name, cellText(k), la, lb, result), addr, pos(addr)})
			}
		}
	}
	for _, set := range []struct {
		kind  graph.Kind
		label string
		roles []graph.SimpleRole
	}{{graph.KindTelephony, "telephony role", g.TelephonyRoles}, {graph.KindOpenline, "open-channel role", g.OpenlineRoles}} {
		for _, role := range set.roles {
			a := graph.Addr{Kind: set.kind, Key: role.Key}
			for _, s := range role.Assign {
				code, isCode := strings.CutPrefix(s, graph.SubjCode+":")
				if why := graph.CodeMatchesNobody(code); isCode && why != "" {
					out = append(out, Finding{"B24P011", "warning", fmt.Sprintf("%s %q is assigned to %s, which matches nobody: %s", set.label, role.Name, code, why), a.String(), pos(graph.AssignSourceKey(a, s))})
				}
			}
		}
	}
	for _, f := range g.FieldRules {
		addr := "field_rule." + f.Key
		reach := 0
		for _, s := range append(slices.Clone(f.View), f.Edit...) {
			if _, err := ix.Canonical(s); err == nil {
				reach++
			}
		}
		if reach == 0 {
			out = append(out, Finding{"B24P009", "warning", fmt.Sprintf("field rule %s (%s.%s) allows nobody: its subjects do not exist on the portal", f.Key, f.Entity, f.Field), addr, pos(addr)})
		}
	}
	for i := range g.OpenChannels {
		c := &g.OpenChannels[i]
		addr := graph.Addr{Kind: graph.KindOpenChannel, Key: c.Key}
		if !c.Inactive && len(r.ChannelUsers(c)) == 0 {
			out = append(out, Finding{"B24P010", "warning", fmt.Sprintf("open channel %q is active but its queue reaches no active user: its chats would wait unanswered", c.Name), addr.String(), pos(addr.String())})
		}
		// QueueManager::update drops such entries (isValidUser,
		// imopenlines/lib/queuemanager.php); the plan leaves them out.
		for _, s := range c.Queue {
			sub, err := graph.ParseSubject(s)
			if err != nil || sub.Kind != graph.SubjUser {
				continue
			}
			if u, ok := ix.LookupUser(sub.Ref); ok && !u.QueueOperator() {
				why := "is inactive"
				if !u.Inactive {
					why = "belongs to no department (an extranet user to open channels)"
				}
				at := pos(graph.AssignSourceKey(addr, s))
				if at == nil {
					at = pos(addr.String())
				}
				out = append(out, Finding{"B24P012", "warning", fmt.Sprintf("open channel %q: queue entry %s %s; Bitrix keeps no such user in a queue, so the entry has no effect: remove it", c.Name, s, why), addr.String(), at})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		pa, pb := posKey(a.Source), posKey(b.Source)
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	return out
}

// intranetCodeless reports whether the user with ID id exists and
// belongs to no department: then nobody holds IU<id>
// (graph.Index.IntranetCodes).
func intranetCodeless(ix *graph.Index, id string) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return false
	}
	u, ok := ix.UserByID[n]
	return ok && len(u.Departments) == 0
}

func posKey(p *graph.Pos) string {
	if p == nil {
		return "~"
	}
	return fmt.Sprintf("%s:%08d:%04d", p.File, p.Line, p.Col)
}

func subset(a, b map[int64]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// dominated: a never changes an answer next to b. Every value of a is
// covered by b's; an explicit stage row of a needs an explicit row of b
// there too (else a's row would make b's inherited value vanish, §3.2
// step 4). Where b has an explicit stage row and a has none, a's inherited
// value does not count.
func dominated(a, b *graph.CRMRole) bool {
	for _, c := range a.Perms {
		lb, explicit := b.Level(c.Key())
		if c.Stage != "" && !explicit {
			return false
		}
		if !graph.LevelCovers(c.Action == "transition", lb, c.Level) {
			return false
		}
	}
	return true
}

func firstConflict(a, b *graph.CRMRole) (graph.CellKey, string, string, bool) {
	for _, c := range a.Perms {
		if c.Stage != "" {
			continue
		}
		lb, _ := b.Level(c.Key())
		if lb != "none" && lb != c.Level {
			return c.Key(), c.Level, lb, true
		}
	}
	return graph.CellKey{}, "", "", false
}

func cellText(k graph.CellKey) string {
	parts := []string{k.Entity}
	if k.Pipeline != "" {
		parts = append(parts, k.Pipeline)
	}
	if k.Stage != "" {
		parts = append(parts, k.Stage)
	}
	return strings.Join(append(parts, k.Action), " · ")
}

// redundantStageRows finds stage rows equal to their role's pipeline-level
// value whose removal changes no user's answer, computed per user over the
// directory with the merge of §3.2 steps 3-4: an explicit stage row beats
// inherited values of every other role, so such a row often matters. Users
// reaching the same roles are computed once.
func redundantStageRows(g *graph.Graph, usersOf []map[int64]bool, pos func(string) *graph.Pos) []Finding {
	rolesOf := map[int64][]int{}
	for j := range usersOf {
		for id := range usersOf[j] {
			rolesOf[id] = append(rolesOf[id], j)
		}
	}
	// answer merges the roles' values at k; without makes role skip's row
	// count as absent (its inherited value applies).
	answer := func(roles []int, k graph.CellKey, skip int) string {
		var explicit, inherited []string
		for _, j := range roles {
			l, e := g.CRMRoles[j].Level(k)
			if j == skip && e {
				l, _ = g.CRMRoles[j].Level(k.Parent())
				e = false
			}
			if e {
				explicit = append(explicit, l)
			} else {
				inherited = append(inherited, l)
			}
		}
		if len(explicit) > 0 {
			return graph.UnionLevels(k.Action == "transition", explicit)
		}
		return graph.UnionLevels(k.Action == "transition", inherited)
	}
	var out []Finding
	for i := range g.CRMRoles {
		role := &g.CRMRoles[i]
		// The distinct role sets of the role's users.
		sets := map[string][]int{}
		for id := range usersOf[i] {
			rs := rolesOf[id]
			slices.Sort(rs)
			sets[fmt.Sprint(rs)] = rs
		}
		for _, c := range role.Perms {
			if c.Stage == "" {
				continue
			}
			if parent, _ := role.Level(c.Key().Parent()); parent != c.Level {
				continue
			}
			changes := false
			for _, rs := range sets {
				if answer(rs, c.Key(), -1) != answer(rs, c.Key(), i) {
					changes = true
					break
				}
			}
			if changes {
				continue
			}
			out = append(out, Finding{"B24P002", "note", fmt.Sprintf("%s · %s · stage %s · %s = %q equals the inherited level, and removing it changes no user's access; remove it to inherit (many rules slow the CRM down)",
				c.Entity, c.Pipeline, c.Stage, c.Action, c.Level), "crm_role." + role.Key, pos(graph.CellSourceKey(role.Key, c))})
		}
	}
	return out
}
