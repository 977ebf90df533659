package local

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// next allocates the next ID of a table, like an auto-increment column.
func (p *Portal) next(table string, floor int64) int64 {
	if p.NextID[table] < floor {
		p.NextID[table] = floor
	}
	p.NextID[table]++
	return p.NextID[table]
}

func maxID[T any](in []T, id func(T) int64) int64 {
	var m int64
	for _, x := range in {
		m = max(m, id(x))
	}
	return m
}

// applier applies changes to a portal, keeping derived keys current.
type applier struct {
	p   *Portal
	k   *keys
	ix  *graph.Index
	ids map[string]int64
}

func newApplier(p *Portal, ids map[string]int64) *applier {
	a := &applier{p: p, ids: ids}
	a.refresh()
	return a
}

func (a *applier) refresh() {
	a.k = a.p.keys()
	a.ix = a.p.index(a.k)
}

func (a *applier) codes(subjects []string) ([]string, error) { return a.ix.Codes(subjects) }

func (a *applier) userID(subject string) (int64, error) { return a.ix.UserID(subject) }

// category resolves a pipeline key of a (graph) entity to a category ID;
// -1 for "" (entities without categories).
func (a *applier) category(entity, key string) (int64, error) {
	if key == "" {
		return -1, nil
	}
	stored, err := a.p.storedEntity(entity, a.k)
	if err != nil {
		return 0, err
	}
	if key == graph.DefaultPipeline {
		return 0, nil
	}
	if id, ok := a.ids[graph.Addr{Kind: graph.KindPipeline, Key: graph.PipelineKey(entity, key)}.String()]; ok {
		if slices.ContainsFunc(a.p.Pipelines, func(p Pipeline) bool { return p.Entity == stored && p.ID == id }) {
			return id, nil
		}
	}
	if id, ok := a.k.pipelineID[stored][key]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("%s pipeline %q does not exist on the portal", entity, key)
}

func (a *applier) crmRole(r *graph.CRMRole, id int64) (CRMRole, error) {
	rel, err := a.codes(r.Assign)
	if err != nil {
		return CRMRole{}, fmt.Errorf("role %q: %w", r.Name, err)
	}
	out := CRMRole{ID: id, Name: r.Name, Relations: rel}
	for _, c := range r.Perms {
		cat, err := a.category(c.Entity, c.Pipeline)
		if err != nil {
			return CRMRole{}, fmt.Errorf("role %q: %w", r.Name, err)
		}
		ent, err := a.p.storedEntity(c.Entity, a.k)
		if err != nil {
			return CRMRole{}, err
		}
		out.Perms = append(out.Perms, Perm{Entity: ent, Category: cat, Stage: c.Stage, Action: c.Action, Level: c.Level})
	}
	return out, nil
}

func (a *applier) simpleRole(r *graph.SimpleRole, id int64) (SimpleRole, error) {
	acc, err := a.codes(r.Assign)
	if err != nil {
		return SimpleRole{}, fmt.Errorf("role %q: %w", r.Name, err)
	}
	return SimpleRole{ID: id, Name: r.Name, Access: acc, Perms: slices.Clone(r.Perms)}, nil
}

func (a *applier) openChannel(c *graph.OpenChannel, id int64) (OpenChannel, error) {
	q, err := queueEntries(c.Queue, a.ix)
	if err != nil {
		return OpenChannel{}, fmt.Errorf("open channel %q: %w", c.Name, err)
	}
	return OpenChannel{ID: id, Name: c.Name, Active: !c.Inactive, QueueType: c.QueueType, Queue: q}, nil
}

// queueEntries resolves queue subjects (users, departments) to stored
// queue entries, keeping their order.
func queueEntries(subjects []string, ix *graph.Index) ([]QueueEntry, error) {
	var out []QueueEntry
	for _, s := range subjects {
		typ, id, err := ix.QueueEntry(s)
		if err != nil {
			return nil, err
		}
		out = append(out, QueueEntry{Type: typ, ID: id})
	}
	return out, nil
}

func (a *applier) workgroup(w *graph.Workgroup, id int64) (Workgroup, error) {
	flags, ok := graph.Visibilities[w.Visibility]
	if !ok {
		return Workgroup{}, fmt.Errorf("workgroup %q: unknown visibility %q", w.Name, w.Visibility)
	}
	out := Workgroup{ID: id, Name: w.Name, Visible: flags[0], Opened: flags[1], Closed: w.Archived, Features: slices.Clone(w.Features),
		DisabledFeatures: slices.Clone(w.DisabledFeatures)}
	var err error
	if out.Owner, err = a.userID(w.Owner); err != nil {
		return Workgroup{}, fmt.Errorf("workgroup %q owner: %w", w.Name, err)
	}
	for _, m := range w.Moderators {
		uid, err := a.userID(m)
		if err != nil {
			return Workgroup{}, fmt.Errorf("workgroup %q moderator: %w", w.Name, err)
		}
		out.Moderators = append(out.Moderators, uid)
	}
	for _, m := range w.Members {
		uid, err := a.userID(m)
		if err != nil {
			return Workgroup{}, fmt.Errorf("workgroup %q member: %w", w.Name, err)
		}
		out.Members = append(out.Members, uid)
	}
	// Banned users, requests and invitations are never changed by a plan:
	// keep them, except for users now declared members.
	for _, old := range a.p.Workgroups {
		if old.ID != id {
			continue
		}
		member := func(u int64) bool {
			return u == out.Owner || slices.Contains(out.Moderators, u) || slices.Contains(out.Members, u)
		}
		out.Banned = slices.DeleteFunc(slices.Clone(old.Banned), member)
		out.Requests = slices.DeleteFunc(slices.Clone(old.Requests), member)
		out.Invited = slices.DeleteFunc(slices.Clone(old.Invited), member)
	}
	return out, nil
}

func (a *applier) fieldRule(f *graph.FieldRule, id int64) (FieldRule, error) {
	cat := int64(-1)
	if f.Pipeline != "" {
		var err error
		if cat, err = a.category(f.Entity, f.Pipeline); err != nil {
			return FieldRule{}, err
		}
	}
	ent, err := a.p.storedEntity(f.Entity, a.k)
	if err != nil {
		return FieldRule{}, err
	}
	view, err := a.codes(f.View)
	if err != nil {
		return FieldRule{}, fmt.Errorf("field rule %s.%s: %w", f.Entity, f.Field, err)
	}
	edit, err := a.codes(f.Edit)
	if err != nil {
		return FieldRule{}, fmt.Errorf("field rule %s.%s: %w", f.Entity, f.Field, err)
	}
	return FieldRule{ID: id, Native: f.Native, Entity: ent, Category: cat, Field: f.Field, Stages: slices.Clone(f.Stages), View: view, Edit: edit}, nil
}

func statusID(category int64, key string) string {
	id := strings.ToUpper(key)
	if category > 0 {
		return "C" + strconv.FormatInt(category, 10) + ":" + id
	}
	return id
}

func (a *applier) pipeline(pl *graph.Pipeline, id int64, stored string) Pipeline {
	out := Pipeline{ID: id, Entity: stored, Name: pl.Name}
	for _, s := range pl.Stages {
		out.Stages = append(out.Stages, graph.Stage{Key: s.Key, Name: s.Name, StatusID: statusID(id, s.Key)})
	}
	return out
}

func replaceByID[T any](in []T, id int64, getID func(T) int64, v T) ([]T, bool) {
	for i := range in {
		if getID(in[i]) == id {
			in[i] = v
			return in, true
		}
	}
	return in, false
}

func deleteByID[T any](in []T, id int64, getID func(T) int64) ([]T, bool) {
	n := len(in)
	out := slices.DeleteFunc(in, func(x T) bool { return getID(x) == id })
	return out, len(out) != n
}

// Apply applies one resource change exactly as the portal would store it
// and returns the live ID of the resource.
func (a *applier) Apply(ch plan.Change) (int64, error) {
	p := a.p
	notFound := func() (int64, error) {
		return 0, fmt.Errorf("%s (ID %d) no longer exists on the portal", ch.Address, ch.ID)
	}
	res := ch.After
	if ch.Action == plan.Delete {
		res = ch.Before
	}
	if res == nil {
		return 0, fmt.Errorf("%s: change has no resource", ch.Address)
	}
	id := ch.ID
	create := ch.Action == plan.Create || ch.Action == plan.Replace
	if res.Pipeline != nil || res.SmartProcess != nil || res.Workgroup != nil {
		// Keys and the subject index derive from these.
		defer a.refresh()
	}
	switch {
	case res.CRMRole != nil:
		roleID := func(r CRMRole) int64 { return r.ID }
		if ch.Action == plan.Delete {
			var ok bool
			if p.CRMRoles, ok = deleteByID(p.CRMRoles, id, roleID); !ok {
				return notFound()
			}
			return id, nil
		}
		if create {
			if ch.Action == plan.Replace {
				p.CRMRoles, _ = deleteByID(p.CRMRoles, id, roleID)
			}
			id = p.next("crm_role", maxID(p.CRMRoles, roleID))
		}
		r, err := a.crmRole(res.CRMRole, id)
		if err != nil {
			return 0, err
		}
		if create {
			p.CRMRoles = append(p.CRMRoles, r)
		} else {
			for i := range p.CRMRoles {
				if p.CRMRoles[i].ID == id {
					r.System = p.CRMRoles[i].System
				}
			}
			var ok bool
			if p.CRMRoles, ok = replaceByID(p.CRMRoles, id, roleID, r); !ok {
				return notFound()
			}
		}
		return id, nil
	case res.Telephony != nil, res.Openline != nil:
		table, sr, name := &p.TelephonyRoles, res.Telephony, "telephony_role"
		if res.Openline != nil {
			table, sr, name = &p.OpenlineRoles, res.Openline, "openline_role"
		}
		rid := func(r SimpleRole) int64 { return r.ID }
		if ch.Action == plan.Delete {
			var ok bool
			if *table, ok = deleteByID(*table, id, rid); !ok {
				return notFound()
			}
			return id, nil
		}
		if create {
			id = p.next(name, maxID(*table, rid))
		}
		r, err := a.simpleRole(sr, id)
		if err != nil {
			return 0, err
		}
		if create {
			*table = append(*table, r)
		} else {
			var ok bool
			if *table, ok = replaceByID(*table, id, rid, r); !ok {
				return notFound()
			}
		}
		return id, nil
	case res.Workgroup != nil:
		wid := func(w Workgroup) int64 { return w.ID }
		if ch.Action == plan.Delete {
			var ok bool
			if p.Workgroups, ok = deleteByID(p.Workgroups, id, wid); !ok {
				return notFound()
			}
			return id, nil
		}
		if create {
			id = p.next("workgroup", maxID(p.Workgroups, wid))
		}
		w, err := a.workgroup(res.Workgroup, id)
		if err != nil {
			return 0, err
		}
		if create {
			p.Workgroups = append(p.Workgroups, w)
		} else {
			var ok bool
			if p.Workgroups, ok = replaceByID(p.Workgroups, id, wid, w); !ok {
				return notFound()
			}
		}
		return id, nil
	case res.OpenChannel != nil:
		cid := func(c OpenChannel) int64 { return c.ID }
		if ch.Action == plan.Delete {
			var ok bool
			if p.OpenChannels, ok = deleteByID(p.OpenChannels, id, cid); !ok {
				return notFound()
			}
			return id, nil
		}
		if create {
			id = p.next("open_channel", maxID(p.OpenChannels, cid))
		}
		c, err := a.openChannel(res.OpenChannel, id)
		if err != nil {
			return 0, err
		}
		if create {
			p.OpenChannels = append(p.OpenChannels, c)
		} else {
			var ok bool
			if p.OpenChannels, ok = replaceByID(p.OpenChannels, id, cid, c); !ok {
				return notFound()
			}
		}
		return id, nil
	case res.FieldRule != nil:
		fid := func(f FieldRule) int64 { return f.ID }
		if ch.Action == plan.Delete {
			var ok bool
			if p.FieldRules, ok = deleteByID(p.FieldRules, id, fid); !ok {
				return notFound()
			}
			return id, nil
		}
		if create {
			id = p.next("field_rule", maxID(p.FieldRules, fid))
		}
		f, err := a.fieldRule(res.FieldRule, id)
		if err != nil {
			return 0, err
		}
		if create {
			p.FieldRules = append(p.FieldRules, f)
		} else {
			var ok bool
			if p.FieldRules, ok = replaceByID(p.FieldRules, id, fid, f); !ok {
				return notFound()
			}
		}
		return id, nil
	case res.Pipeline != nil:
		return a.applyPipeline(ch, res.Pipeline)
	case res.SmartProcess != nil:
		sid := func(s SmartProcess) int64 { return s.ID }
		if ch.Action == plan.Delete {
			var ok bool
			if p.SmartProcesses, ok = deleteByID(p.SmartProcesses, id, sid); !ok {
				return notFound()
			}
			return id, nil
		}
		if create {
			// Smart-process entity type IDs start at 128 (even numbers above 1030 on new portals).
			id = p.next("crm_type", max(127, maxID(p.SmartProcesses, sid)))
			p.SmartProcesses = append(p.SmartProcesses, SmartProcess{ID: id, Title: res.SmartProcess.Name})
			p.Pipelines = append(p.Pipelines, Pipeline{ID: 0, Entity: "dynamic_" + strconv.FormatInt(id, 10), Name: "Default"})
			return id, nil
		}
		var ok bool
		if p.SmartProcesses, ok = replaceByID(p.SmartProcesses, id, sid, SmartProcess{ID: id, Title: res.SmartProcess.Name}); !ok {
			return notFound()
		}
		return id, nil
	}
	return 0, fmt.Errorf("%s: unsupported resource", ch.Address)
}

func (a *applier) applyPipeline(ch plan.Change, pl *graph.Pipeline) (int64, error) {
	p := a.p
	stored, err := p.storedEntity(pl.Entity, a.k)
	if err != nil {
		return 0, err
	}
	id := ch.ID
	if pl.Key == graph.DefaultPipeline {
		id = 0
	}
	find := func() int {
		return slices.IndexFunc(p.Pipelines, func(x Pipeline) bool { return x.Entity == stored && x.ID == id })
	}
	switch ch.Action {
	case plan.Delete:
		if id == 0 {
			return 0, fmt.Errorf("the default %s pipeline cannot be deleted", pl.Entity)
		}
		i := find()
		if i < 0 {
			return 0, fmt.Errorf("%s (ID %d) no longer exists on the portal", ch.Address, id)
		}
		p.Pipelines = slices.Delete(p.Pipelines, i, i+1)
		// Bitrix erases the category's permission rows with it.
		for r := range p.CRMRoles {
			p.CRMRoles[r].Perms = slices.DeleteFunc(p.CRMRoles[r].Perms, func(c Perm) bool { return c.Entity == stored && c.Category == id })
		}
		p.FieldRules = slices.DeleteFunc(p.FieldRules, func(f FieldRule) bool { return f.Entity == stored && f.Category == id })
		return id, nil
	case plan.Create:
		if id != 0 || pl.Key != graph.DefaultPipeline {
			id = p.next("crm_pipeline", maxID(p.Pipelines, func(x Pipeline) int64 { return x.ID }))
		}
		if find() >= 0 {
			// The default category always exists; creating it is an update.
			break
		}
		p.Pipelines = append(p.Pipelines, a.pipeline(pl, id, stored))
		// As Bitrix's DefaultCategoryPermissions does, every non-system
		// role gets permissions for the new category: here, a copy of its
		// default-category levels (stage rows are not copied).
		for r := range p.CRMRoles {
			role := &p.CRMRoles[r]
			if role.System {
				continue
			}
			for _, c := range slices.Clone(role.Perms) {
				if c.Entity == stored && c.Category == 0 && c.Stage == "" {
					c.Category = id
					role.Perms = append(role.Perms, c)
				}
			}
		}
		return id, nil
	}
	i := find()
	if i < 0 {
		return 0, fmt.Errorf("%s (ID %d) no longer exists on the portal", ch.Address, id)
	}
	old := p.Pipelines[i]
	np := a.pipeline(pl, id, stored)
	// Keep the status IDs of existing stages.
	for s := range np.Stages {
		for _, os := range old.Stages {
			if os.Key == np.Stages[s].Key && os.StatusID != "" {
				np.Stages[s].StatusID = os.StatusID
			}
		}
	}
	p.Pipelines[i] = np
	// Stage rows of removed stages are erased.
	for r := range p.CRMRoles {
		p.CRMRoles[r].Perms = slices.DeleteFunc(p.CRMRoles[r].Perms, func(c Perm) bool {
			return c.Entity == stored && c.Category == id && c.Stage != "" &&
				!slices.ContainsFunc(np.Stages, func(s graph.Stage) bool { return s.Key == c.Stage })
		})
	}
	return id, nil
}
