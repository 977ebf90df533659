package access

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// ChannelUsers returns the users who receive the chats of the open
// channel c: the operators its queue reaches while it is active, as
// b_imopenlines_queue lists them. A department entry covers its
// subdepartments, as Bitrix recomputes a parent department's queues when a
// child department changes. Only active employees are operators
// (graph.User.QueueOperator).
func (r *Resolver) ChannelUsers(c *graph.OpenChannel) map[int64]*graph.User {
	out := map[int64]*graph.User{}
	if c == nil || c.Inactive {
		return out
	}
	for _, s := range c.Queue {
		for _, u := range r.queueUsers(s) {
			if u.QueueOperator() {
				out[u.ID] = u
			}
		}
	}
	return out
}

// queueUsers lists the users a queue entry reaches: the user it names, or
// everyone in the department and below it except the heads of those
// departments, whom StructureService::getDepartmentUserIds leaves out
// (imopenlines/lib/integrations/humanresources/structureservice.php).
// Unlike usersOf, which answers "who may be affected" and so reaches
// everyone when unsure, an entry that names nobody on the portal reaches
// nobody.
func (r *Resolver) queueUsers(s string) []*graph.User {
	sub, err := graph.ParseSubject(s)
	if err != nil {
		return nil
	}
	switch sub.Kind {
	case graph.SubjUser:
		if u, ok := r.ix.LookupUser(sub.Ref); ok {
			return []*graph.User{u}
		}
	case graph.SubjDepartment, graph.SubjDepartmentAll:
		if d, ok := r.ix.LookupDepartment(sub.Ref); ok {
			heads := map[int64]bool{}
			for _, x := range r.ix.Dir.Departments {
				if x.Head != 0 && slices.Contains(r.ix.Ancestors(x.ID), d.ID) {
					heads[x.Head] = true
				}
			}
			users := r.usersOf(graph.SubjDepartmentAll + ":#" + strconv.FormatInt(d.ID, 10))
			return slices.DeleteFunc(slices.Clone(users), func(u *graph.User) bool { return heads[u.ID] })
		}
	}
	return nil
}

// channelDelta adds, for every open channel that differs, the users who
// start or stop receiving its chats: a queue decides who reads a
// channel's customer conversations.
func channelDelta(rb, ra *Resolver, before, after []graph.OpenChannel, add func(*graph.User, CellChange)) {
	index := func(cs []graph.OpenChannel) map[string]*graph.OpenChannel {
		m := map[string]*graph.OpenChannel{}
		for i := range cs {
			m[cs[i].Key] = &cs[i]
		}
		return m
	}
	bm, am := index(before), index(after)
	for _, k := range unionKeys(bm, am) {
		b, a := bm[k], am[k]
		if b != nil && a != nil && b.Inactive == a.Inactive && slices.Equal(b.Queue, a.Queue) {
			continue
		}
		name := k
		for _, c := range []*graph.OpenChannel{b, a} {
			if c != nil {
				name = c.Name
			}
		}
		bu, au := rb.ChannelUsers(b), ra.ChannelUsers(a)
		var users []*graph.User
		for id, u := range au {
			if bu[id] == nil {
				users = append(users, u)
			}
		}
		for id, u := range bu {
			if au[id] == nil {
				users = append(users, u)
			}
		}
		slices.SortFunc(users, func(x, y *graph.User) int { return cmp.Compare(x.ID, y.ID) })
		src := ra.pos(nil, graph.Addr{Kind: graph.KindOpenChannel, Key: k}.String())
		for _, u := range users {
			gains := au[u.ID] != nil
			add(u, CellChange{Domain: graph.DomainOpenlines, Label: fmt.Sprintf("open channel %q · receives chats", name), Entity: "channel:" + k,
				Action: "receive_chats", Before: yesNo(!gains), After: yesNo(gains), Widens: gains, Source: src})
		}
	}
}

// Channel answers whether u receives the chats of the open channel key,
// with the queue entry that puts u there. Level is "receives_chats" or
// "none".
func (r *Resolver) Channel(u *graph.User, key string) Result {
	i := slices.IndexFunc(r.g.OpenChannels, func(c graph.OpenChannel) bool { return c.Key == key })
	if i < 0 {
		return Result{Level: "none", Rule: fmt.Sprintf("no open channel %q", key)}
	}
	c := &r.g.OpenChannels[i]
	if c.Inactive {
		return Result{Level: "none", Rule: "the channel is switched off"}
	}
	if u.Inactive {
		return Result{Level: "none", Rule: "the user is inactive"}
	}
	if !u.QueueOperator() {
		return Result{Level: "none", Rule: "the user belongs to no department: Bitrix keeps only employees in a queue"}
	}
	src := r.pos(nil, graph.Addr{Kind: graph.KindOpenChannel, Key: key}.String())
	for _, s := range c.Queue {
		if slices.ContainsFunc(r.queueUsers(s), func(x *graph.User) bool { return x.ID == u.ID }) {
			why := "named in the queue"
			if strings.HasPrefix(s, graph.SubjDepartment+":") {
				why = "in the department, or below it"
			}
			return Result{Level: "receives_chats", Rule: "queue membership",
				Derivation: []Step{{Subject: s, Why: why, Role: graph.Addr{Kind: graph.KindOpenChannel, Key: key}.String(), RoleName: c.Name, Level: "receives_chats", Source: src}}}
		}
	}
	for _, s := range c.Queue {
		if sub, err := graph.ParseSubject(s); err == nil && (sub.Kind == graph.SubjDepartment || sub.Kind == graph.SubjDepartmentAll) &&
			slices.ContainsFunc(r.usersOf(graph.SubjDepartmentAll+":"+sub.Ref), func(x *graph.User) bool { return x.ID == u.ID }) {
			return Result{Level: "none", Rule: "not in the queue: Bitrix leaves the heads of a queued department out (StructureService::getDepartmentUserIds)"}
		}
	}
	return Result{Level: "none", Rule: "not in the queue"}
}
