package bitrix

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// FromGraph builds a portal holding g (which must carry a Directory), as
// if every object had been created in Bitrix's UI, in the order structure
// first: smart processes, pipelines, workgroups, then roles and field
// rules.
func FromGraph(g *graph.Graph, name string) (*Portal, error) {
	if g.Directory == nil {
		return nil, fmt.Errorf("the graph has no directory")
	}
	p := NewPortal(name)
	d := g.Directory
	for _, u := range d.Users {
		first, last, _ := strings.Cut(u.Name, " ")
		active := "Y"
		if u.Inactive {
			active = "N"
		}
		groups := slices.Clone(u.Groups)
		if u.Admin && !slices.Contains(groups, 1) {
			groups = append([]int64{1}, groups...)
		}
		p.Users = append(p.Users, User{ID: u.ID, Email: u.Email, Name: first, LastName: last, Active: active, UFDepartment: slices.Clone(u.Departments), Groups: groups})
	}
	for _, dp := range d.Departments {
		p.Departments = append(p.Departments, Department{ID: dp.ID, Name: dp.Name, Parent: dp.Parent, Head: dp.Head})
	}
	if len(d.Groups) > 0 {
		p.Groups = nil
		for _, gr := range d.Groups {
			p.Groups = append(p.Groups, Group{ID: gr.ID, Name: gr.Name})
		}
	}
	p.fixCounters()
	directoryOptions(p, g)
	a := NewApplier(p, nil)
	res := g.Resources()
	addrs := make([]graph.Addr, 0, len(res))
	for ad := range res {
		addrs = append(addrs, ad)
	}
	order := map[graph.Kind]int{graph.KindSmartProcess: 0, graph.KindPipeline: 1, graph.KindWorkgroup: 2, graph.KindCRMRole: 3,
		graph.KindTelephony: 4, graph.KindOpenline: 5, graph.KindOpenChannel: 6, graph.KindFieldRule: 7}
	// Within a kind, objects that carry IDs are created in ID order with
	// their table's counter raised to just below the ID (keepID), so a
	// graph read from a portal gets the same IDs — except categories, whose
	// one counter also numbers the default categories of smart processes.
	slices.SortFunc(addrs, func(x, y graph.Addr) int {
		return cmp.Or(cmp.Compare(order[x.Kind], order[y.Kind]), cmp.Compare(res[x].ID(), res[y].ID()), cmp.Compare(x.Key, y.Key))
	})
	for _, ad := range addrs {
		r := res[ad]
		keepID(p, ad.Kind, r.ID())
		ch := plan.Change{Addr: ad, Address: ad.String(), Action: plan.Create, After: &r}
		// apply, not Apply: the permission rows deleted are compacted
		// once, below (keepID only moves counters).
		if _, err := a.apply(ch); err != nil {
			return nil, fmt.Errorf("%s: %w", ad, err)
		}
	}
	a.compact()
	if err := nonMembers(p, a, g); err != nil {
		return nil, err
	}
	return p, nil
}

// nonMembers adds the b_sonet_user2group rows of the graph's banned users
// (ROLE T), join requests (Z, INITIATED_BY_TYPE U) and invitations (Z,
// INITIATED_BY_TYPE G), which creating a workgroup does not write.
func nonMembers(p *Portal, a *Applier, g *graph.Graph) error {
	for _, w := range g.Workgroups {
		gid, ok := a.ids[graph.Addr{Kind: graph.KindWorkgroup, Key: w.Key}.String()]
		if !ok {
			continue
		}
		for _, x := range []struct {
			subjects        []string
			role, initiated string
		}{{w.Banned, "T", ""}, {w.Requests, "Z", "U"}, {w.Invited, "Z", "G"}} {
			for _, s := range x.subjects {
				uid, err := a.userID(s)
				if err != nil {
					return fmt.Errorf("workgroup %q: %w", w.Name, err)
				}
				if slices.ContainsFunc(p.User2Group, func(m User2Group) bool { return m.GroupID == gid && m.UserID == uid }) {
					continue
				}
				p.User2Group = append(p.User2Group, User2Group{ID: p.NextID(TUser2Group), GroupID: gid, UserID: uid, Role: x.role, InitiatedByType: x.initiated})
			}
		}
	}
	return nil
}

// directoryOptions stores what the graph says of the portal beyond its
// rows where Read finds it: extranet users as members of the extranet
// module's group (option extranet/extranet_group; a group "Extranet" is
// added when the directory has none), the socialnetwork option
// work_with_closed_groups, and a cloud plan without voximplant_security
// when telephony roles are not in force.
func directoryOptions(p *Portal, g *graph.Graph) {
	var extranet []int
	for i, u := range g.Directory.Users {
		if u.Extranet {
			extranet = append(extranet, i)
		}
	}
	if len(extranet) > 0 {
		gid := int64(0)
		for _, gr := range p.Groups {
			if strings.EqualFold(gr.Name, "extranet") {
				gid = gr.ID
			}
		}
		if gid == 0 {
			gid = p.NextID(TGroup)
			p.Groups = append(p.Groups, Group{ID: gid, Name: "Extranet"})
		}
		p.Options = append(p.Options, Option{ModuleID: "extranet", Name: "extranet_group", Value: strconv.FormatInt(gid, 10)})
		for _, i := range extranet {
			if u := &p.Users[i]; !slices.Contains(u.Groups, gid) {
				u.Groups = append(u.Groups, gid)
			}
		}
	}
	if g.Directory.WorkWithClosedGroups {
		p.Options = append(p.Options, Option{ModuleID: "socialnetwork", Name: "work_with_closed_groups", Value: "Y"})
	}
	if g.TelephonySecurityOff {
		p.Bitrix24 = &Bitrix24Plan{Features: []string{}}
	}
}

// idTable is the table (counter) whose ID a created resource of a kind
// gets; smart processes are numbered by their entity type ID.
var idTable = map[graph.Kind]string{graph.KindCRMRole: TRole, graph.KindTelephony: TVoxRole, graph.KindOpenline: TOLRole,
	graph.KindPipeline: TCategory, graph.KindSmartProcess: "entity_type_id", graph.KindWorkgroup: TSonetGroup,
	graph.KindOpenChannel: TOLConfig, graph.KindFieldRule: TFieldRule}

// keepID raises the counter of the kind's table so that the next row
// created gets id, if no row has taken it yet.
func keepID(p *Portal, k graph.Kind, id int64) {
	t, ok := idTable[k]
	if !ok || id <= 0 {
		return
	}
	if p.Counters[t] < id-1 {
		p.Counters[t] = id - 1
	}
}

// UseLegacyLetters rewrites every n-th chain-level row whose SETTINGS is
// a chain set into the legacy form (ATTR letter, SETTINGS NULL), as old
// portals store them; the graph is unchanged.
func (p *Portal) UseLegacyLetters(n int) {
	if n <= 0 {
		return
	}
	letters := map[string]string{"none": "", "own": "A", "department": "D", "subdepartments": "F", "open": "O", "all": "X"}
	i := 0
	for j := range p.RolePerms {
		r := &p.RolePerms[j]
		if r.Attr != "" || r.PermType == "TRANSITION" {
			continue
		}
		set, present, err := decodeSettings(r.Settings)
		if !present || err != nil {
			continue
		}
		l, inherit, ok := settingsLevel(set)
		letter, chain := letters[l]
		if inherit || !ok || !chain {
			continue
		}
		if i%n == 0 {
			r.Attr, r.Settings = letter, nil
		}
		i++
	}
}

// GenerateXL returns the XL benchmark portal (10,000 users, 1,000
// departments, 200 CRM roles over 50 deal pipelines of 12 stages, 50
// telephony and 50 open-channel roles, 500 workgroups, 1,000 field rules),
// with every third chain row in the legacy letter form. Deterministic for
// a seed.
func GenerateXL(seed int64) *Portal {
	g := gen.Generate(gen.Sizes["xl"], uint64(seed))
	p, err := FromGraph(g, "xl.bitrix24.example")
	if err != nil {
		panic("bitrix: generating the XL portal: " + err.Error())
	}
	p.UseLegacyLetters(3)
	return p
}
