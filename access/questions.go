package access

import (
	"fmt"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// Questions users ask that are not one cell: "may this user move a deal
// from stage A to stage B" and "may this user ask to join this group".

// MoveQuery names a stage change of one item type in one pipeline.
type MoveQuery struct {
	Entity, Pipeline, From, To string
}

// Move answers whether u may move an item of q.Entity from stage q.From
// to q.To, following Item::canChangeStage (yuliai/bitrix-modules a3a2a579
// crm/lib/Service/UserPermissions/EntityPermissions/Item.php) and
// PermissionLevel::getSettingsForStage: an administrator may, and so may
// a CRM administrator (isAdminForEntity; smart processes of a digital
// workplace, whose admins differ, are not modelled); otherwise
// the user needs write on the item where it stands (stage From) and the
// target among the transition targets at From (the union of the roles'
// explicit rows for From, else of their pipeline-level values, §3.2
// TRANSITION), or "any". Level is the write level, i.e. which items at
// stage From the user may move (own, department, …, all), or "none".
func (r *Resolver) Move(u *graph.User, q MoveQuery) Result {
	e, ok := graph.LookupCRMEntity(q.Entity)
	if !ok || !e.Stages {
		return Result{Level: "none", Rule: fmt.Sprintf("%s items have no stages to move between", q.Entity)}
	}
	if q.Pipeline == "" {
		q.Pipeline = graph.DefaultPipeline
	}
	if q.From == "" || q.To == "" {
		return Result{Level: "none", Rule: "a move needs the stage the item is in and the target stage"}
	}
	if p, ok := r.g.PipelineByKey(q.Entity, q.Pipeline); ok && len(p.Stages) > 0 {
		for _, s := range []string{q.From, q.To} {
			if !slices.ContainsFunc(p.Stages, func(x graph.Stage) bool { return x.Key == s }) {
				return Result{Level: "none", Rule: fmt.Sprintf("pipeline %s of %s has no stage %q", q.Pipeline, q.Entity, s)}
			}
		}
	}
	if q.From == q.To {
		return Result{Level: "none", Rule: "the item is already in that stage"}
	}
	if u.Admin {
		return Result{Level: "all", Rule: "portal administrators may move every item to every stage"}
	}
	// Item::canChangeStage asks EntityPermissions\Admin::isAdminForEntity
	// before write and transition: a CRM administrator (CONFIG WRITE in
	// any of his roles, Admin::isCrmAdmin) moves every item anywhere.
	if r.crmAdmin(u) {
		cfg := r.CRM(u, settingsWrite)
		for i := range cfg.Derivation {
			cfg.Derivation[i].Cell = "config write"
		}
		return Result{Level: "all", Derivation: cfg.Derivation,
			Rule: "a CRM administrator (CRM settings write in one of his roles) may move every item to every stage, whatever write and transition say"}
	}
	write := r.CRM(u, CRMQuery{Entity: q.Entity, Pipeline: q.Pipeline, Stage: q.From, Action: "write"})
	if write.Level == "none" {
		write.Rule = fmt.Sprintf("moving needs write on the %s where it stands (stage %s), and the user has none there: %s", q.Entity, q.From, write.Rule)
		return write
	}
	tr := r.CRM(u, CRMQuery{Entity: q.Entity, Pipeline: q.Pipeline, Stage: q.From, Action: "transition"})
	targets := tr.Level
	allowed := targets == graph.TransitionAny || slices.Contains(strings.Split(targets, ","), q.To)
	if !allowed {
		tc := fmt.Sprintf("%s transition from %s", q.Entity, q.From)
		for i := range tr.Derivation {
			tr.Derivation[i].Cell = tc
		}
		for i := range tr.Losers {
			tr.Losers[i].Cell = tc
		}
		return Result{Level: "none", Derivation: tr.Derivation, Losers: tr.Losers,
			Rule: fmt.Sprintf("the transition targets from stage %s are %s, not %s (%s)", q.From, targetsText(targets), q.To, tr.Rule)}
	}
	label := func(steps []Step, cell string) []Step {
		out := slices.Clone(steps)
		for i := range out {
			out[i].Cell = cell
		}
		return out
	}
	wc, tc := fmt.Sprintf("%s write at %s", q.Entity, q.From), fmt.Sprintf("%s transition from %s", q.Entity, q.From)
	res := Result{Level: write.Level, Derivation: append(label(write.Derivation, wc), label(tr.Derivation, tc)...), Losers: append(label(write.Losers, wc), label(tr.Losers, tc)...),
		Rule: fmt.Sprintf("write on the %s at stage %s is %s (%s) and the transition targets from %s are %s", q.Entity, q.From, write.Level, write.Rule, q.From, targetsText(targets))}
	return res
}

func targetsText(t string) string {
	switch t {
	case graph.TransitionAny:
		return "any stage"
	case graph.TransitionBlocked, "":
		return "none"
	}
	return strings.ReplaceAll(t, ",", ", ")
}

// JoinResult is Join as a Result: Level "joins" (becomes a member at
// once), "asks" (sends a request for approval), "accepts_invitation", or
// "none" (already a member, or not allowed).
func (r *Resolver) JoinResult(u *graph.User, key string) Result {
	j := r.Join(u, key)
	lvl := "none"
	if j.Allowed {
		lvl = map[string]string{"joins": "joins", "request": "asks", "accepts_invitation": "accepts_invitation"}[j.Outcome]
	}
	return Result{Level: lvl, Rule: j.Rule}
}
