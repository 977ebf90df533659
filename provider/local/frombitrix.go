package local

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// FromBitrix converts a portal in the bitrix table model to this package's
// simplified model, keeping IDs, access codes and category IDs. Rows the
// table model reports as anomalies are not carried over.
func FromBitrix(bp *bitrix.Portal) (*Portal, error) {
	g, _ := bitrix.Read(bp)
	ix := graph.NewIndex(g.Directory, g.Workgroups)
	p := &Portal{FormatVersion: FormatVersion, Portal: bp.Portal, NextID: map[string]int64{}, Directory: *g.Directory}
	stored := func(entity string) string {
		if key, ok := strings.CutPrefix(entity, graph.SmartProcessPrefix); ok {
			for _, s := range g.SmartProcesses {
				if s.Key == key {
					return "dynamic_" + strconv.FormatInt(s.EntityTypeID, 10)
				}
			}
		}
		return entity
	}
	category := func(entity, key string) (int64, error) {
		if key == "" {
			return -1, nil
		}
		pl, ok := g.PipelineByKey(entity, key)
		if !ok {
			return 0, fmt.Errorf("%s pipeline %q is not on the portal", entity, key)
		}
		return pl.ID, nil
	}
	codes, userID := ix.Codes, ix.UserID
	for _, s := range g.SmartProcesses {
		p.SmartProcesses = append(p.SmartProcesses, SmartProcess{ID: s.EntityTypeID, Title: s.Name})
	}
	for _, pl := range g.Pipelines {
		p.Pipelines = append(p.Pipelines, Pipeline{ID: pl.ID, Entity: stored(pl.Entity), Name: pl.Name, Stages: slices.Clone(pl.Stages)})
	}
	for _, r := range g.CRMRoles {
		rel, err := codes(r.Assign)
		if err != nil {
			return nil, fmt.Errorf("role %q: %w", r.Name, err)
		}
		cr := CRMRole{ID: r.ID, Name: r.Name, System: r.System, Relations: rel, Perms: []Perm{}}
		for _, c := range r.Perms {
			cat, err := category(c.Entity, c.Pipeline)
			if err != nil {
				return nil, fmt.Errorf("role %q: %w", r.Name, err)
			}
			cr.Perms = append(cr.Perms, Perm{Entity: stored(c.Entity), Category: cat, Stage: c.Stage, Action: c.Action, Level: c.Level})
		}
		p.CRMRoles = append(p.CRMRoles, cr)
	}
	simple := func(in []graph.SimpleRole) ([]SimpleRole, error) {
		out := []SimpleRole{}
		for _, r := range in {
			acc, err := codes(r.Assign)
			if err != nil {
				return nil, fmt.Errorf("role %q: %w", r.Name, err)
			}
			out = append(out, SimpleRole{ID: r.ID, Name: r.Name, Access: acc, Perms: slices.Clone(r.Perms)})
		}
		return out, nil
	}
	var err error
	p.TelephonySecurityOff = g.TelephonySecurityOff
	if p.TelephonyRoles, err = simple(g.TelephonyRoles); err != nil {
		return nil, err
	}
	if p.OpenlineRoles, err = simple(g.OpenlineRoles); err != nil {
		return nil, err
	}
	p.Workgroups = []Workgroup{}
	for _, w := range g.Workgroups {
		flags := graph.Visibilities[w.Visibility]
		lw := Workgroup{ID: w.ID, Name: w.Name, Visible: flags[0], Opened: flags[1], Closed: w.Archived, Features: slices.Clone(w.Features),
			DisabledFeatures: slices.Clone(w.DisabledFeatures)}
		if lw.Owner, err = userID(w.Owner); err != nil {
			return nil, err
		}
		for _, m := range w.Moderators {
			id, err := userID(m)
			if err != nil {
				return nil, err
			}
			lw.Moderators = append(lw.Moderators, id)
		}
		for _, m := range w.Members {
			id, err := userID(m)
			if err != nil {
				return nil, err
			}
			lw.Members = append(lw.Members, id)
		}
		for _, x := range []struct {
			subjects []string
			to       *[]int64
		}{{w.Banned, &lw.Banned}, {w.Requests, &lw.Requests}, {w.Invited, &lw.Invited}} {
			for _, m := range x.subjects {
				id, err := userID(m)
				if err != nil {
					return nil, err
				}
				*x.to = append(*x.to, id)
			}
		}
		p.Workgroups = append(p.Workgroups, lw)
	}
	for _, c := range g.OpenChannels {
		q, err := QueueEntries(c.Queue, ix)
		if err != nil {
			return nil, fmt.Errorf("open channel %q: %w", c.Name, err)
		}
		p.OpenChannels = append(p.OpenChannels, OpenChannel{ID: c.ID, Name: c.Name, Active: !c.Inactive, QueueType: c.QueueType, Queue: q})
	}
	p.FieldRules = []FieldRule{}
	for i, f := range g.FieldRules {
		cat, err := category(f.Entity, f.Pipeline)
		if err != nil {
			return nil, err
		}
		view, err := codes(f.View)
		if err != nil {
			return nil, err
		}
		edit, err := codes(f.Edit)
		if err != nil {
			return nil, err
		}
		p.FieldRules = append(p.FieldRules, FieldRule{ID: int64(i + 1), Native: f.Native, Entity: stored(f.Entity), Category: cat, Field: f.Field,
			Stages: slices.Clone(f.Stages), View: view, Edit: edit})
	}
	return p, nil
}
