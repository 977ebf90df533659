package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

// AccessDelta computes the plan's effective-access delta over dir; src
// (the policy) supplies positions. Objects whose current state is unknown
// (action Verify) are taken as unchanged, since nothing is known to
// compare with, and the delta says so and how many users they reach,
// instead of computing gains or losses from an absence.
func (p *Plan) AccessDelta(dir *graph.Directory, src *graph.Graph) *access.Delta {
	before := p.Before
	var unknown []Change
	for _, cs := range [][]Change{p.Changes, p.Observed} {
		for _, c := range cs {
			if c.After != nil && c.Baseline != nil && c.Baseline.Source == BaselineUnknown {
				unknown = append(unknown, c)
			}
		}
	}
	if len(unknown) > 0 {
		b := *p.Before
		setKinds := map[graph.Kind]bool{}
		var subjects []string
		for _, c := range unknown {
			if !setKinds[c.Addr.Kind] {
				cloneKind(&b, c.Addr.Kind)
				setKinds[c.Addr.Kind] = true
			}
			if c.Action == Verify {
				appendResource(&b, c.Addr, *c.After)
			} else if w := c.After.Workgroup; w != nil {
				// Unknown feature permissions of a workgroup that was
				// read: they are taken as unchanged too.
				for i := range b.Workgroups {
					if b.Workgroups[i].Key == c.Addr.Key {
						b.Workgroups[i].Features = w.Features
					}
				}
				if slices.ContainsFunc(w.Features, func(f graph.FeaturePerm) bool { return f.Role == "everyone" || f.Role == "authorized" }) {
					subjects = append(subjects, "code:G2")
				}
			}
			subjects = append(subjects, reachSubjects(*c.After)...)
		}
		before = b.Normalize()
		d := access.ComputeDelta(before, p.After, dir, src)
		u := &access.Unknown{Users: access.UsersReached(p.After, dir, subjects)}
		for _, c := range unknown {
			u.Objects = append(u.Objects, c.Address)
		}
		if p.Unreadable != nil {
			u.Why = p.Unreadable.Why
		}
		d.Unknown = u
		return d
	}
	return access.ComputeDelta(before, p.After, dir, src)
}

// reachSubjects lists the subjects through which r grants access.
func reachSubjects(r graph.Resource) []string {
	switch {
	case r.CRMRole != nil:
		return r.CRMRole.Assign
	case r.Telephony != nil:
		return r.Telephony.Assign
	case r.Openline != nil:
		return r.Openline.Assign
	case r.FieldRule != nil:
		return append(append([]string{}, r.FieldRule.View...), r.FieldRule.Edit...)
	case r.OpenChannel != nil:
		return r.OpenChannel.Queue
	case r.Workgroup != nil:
		return append(append([]string{r.Workgroup.Owner}, r.Workgroup.Moderators...), r.Workgroup.Members...)
	}
	return nil
}

// cloneKind gives g its own slice of the objects of kind k, so that
// appending does not write into a graph g shares it with.
func cloneKind(g *graph.Graph, k graph.Kind) {
	switch k {
	case graph.KindSmartProcess:
		g.SmartProcesses = slices.Clone(g.SmartProcesses)
	case graph.KindPipeline:
		g.Pipelines = slices.Clone(g.Pipelines)
	case graph.KindCRMRole:
		g.CRMRoles = slices.Clone(g.CRMRoles)
	case graph.KindTelephony:
		g.TelephonyRoles = slices.Clone(g.TelephonyRoles)
	case graph.KindOpenline:
		g.OpenlineRoles = slices.Clone(g.OpenlineRoles)
	case graph.KindWorkgroup:
		g.Workgroups = slices.Clone(g.Workgroups)
	case graph.KindOpenChannel:
		g.OpenChannels = slices.Clone(g.OpenChannels)
	case graph.KindFieldRule:
		g.FieldRules = slices.Clone(g.FieldRules)
	}
}

// UnknownGranting lists, sorted, the objects whose current state is
// unknown (the backend cannot read them and the state does not record
// them) and whose policy grants access to someone: a role or field rule
// with subjects, a channel with a queue, a workgroup's feature
// permissions. Nothing is known to compare them with, so their access may
// widen: `--fail-on-widening` counts them as widening.
func (p *Plan) UnknownGranting() []string {
	var out []string
	for _, cs := range [][]Change{p.Changes, p.Observed} {
		for _, c := range cs {
			if c.After == nil || c.Baseline == nil || c.Baseline.Source != BaselineUnknown {
				continue
			}
			grants := false
			if w := c.After.Workgroup; w != nil {
				grants = len(w.Features) > 0
			} else {
				grants = len(reachSubjects(*c.After)) > 0
			}
			if grants && !slices.Contains(out, c.Address) {
				out = append(out, c.Address)
			}
		}
	}
	slices.Sort(out)
	return out
}

// UnknownWideningNote is the one line `--fail-on-widening` says about
// UnknownGranting ("" for none).
func UnknownWideningNote(addrs []string) string {
	if len(addrs) == 0 {
		return ""
	}
	noun := "objects"
	if len(addrs) == 1 {
		noun = "object"
	}
	return fmt.Sprintf("%d %s could not be read: their access may widen; confirm with apply --confirm-manual (%s)", len(addrs), noun, listSome(addrs, 3))
}

// listSome renders up to n items and how many more.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
