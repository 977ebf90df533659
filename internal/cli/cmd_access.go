package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/spf13/cobra"
)

// accessFlags select the graph (policy or live) and the backend whose
// directory resolves users.
type accessFlags struct {
	dir, live       string
	roles           string
	format          string
	pipeline, stage string
	field           string
	// item is the CRM item type activities belong to (default deal).
	item string
	// to is the target stage of a "move" question (from --stage).
	to    string
	names *access.Names
}

func (f *accessFlags) register(cmd *cobra.Command, scope bool) {
	registerLive(cmd, &f.live)
	cmd.Flags().StringVar(&f.roles, "roles", "policy", "whose roles answer: policy (the policy directory) or live (the portal's own)")
	cmd.Flags().StringVar(&f.dir, "policy", "", "policy directory (deprecated: pass it as the last argument)")
	cmd.Flags().MarkHidden("policy")
	cmd.Flags().StringVar(&f.format, "format", "text", "text or json")
	if scope {
		cmd.Flags().StringVar(&f.pipeline, "pipeline", "", "pipeline key (default: the default pipeline)")
		cmd.Flags().StringVar(&f.stage, "stage", "", "stage key")
		cmd.Flags().StringVar(&f.field, "field", "", "field name (answers view/edit of the field)")
		cmd.Flags().StringVar(&f.to, "to", "", "for move questions: the target stage (the item stands in --stage)")
		cmd.Flags().StringVar(&f.item, "item", "deal", "for activity questions: the CRM item type the activities belong to (lead, deal, contact, company, quote, smart_invoice, smart:<key>)")
	}
}

// checkItem rejects an --item that is not a CRM item type, for activity
// questions (activities follow their item's read and write).
func checkItem(entity string, f *accessFlags, g *graph.Graph) error {
	if entity != "activity" && entity != "activities" {
		return nil
	}
	item := f.item
	if item == "" {
		item = "deal"
	}
	e, ok := graph.LookupCRMEntity(item)
	if !ok || !graph.IsItemEntity(e) {
		return fmt.Errorf("--item %q is not a CRM item type; activities belong to lead, deal, contact, company, quote, smart_invoice or smart:<key>", item)
	}
	if key, ok := strings.CutPrefix(item, graph.SmartProcessPrefix); ok && !slices.ContainsFunc(g.SmartProcesses, func(s graph.SmartProcess) bool { return s.Key == key }) {
		return fmt.Errorf("--item %q: no smart process %q", item, key)
	}
	return nil
}

// resolver builds the resolver for the chosen graph. The names of a
// question are checked against the evaluated graph and the live portal.
// With a local portal the compiled graph, the portal's directory and the
// names it contributes come from the graph cache when neither the policy
// nor the portal changed since the last question.
func (c *Command) resolver(cmd *cobra.Command, f *accessFlags) (*access.Resolver, *graph.Graph, string, error) {
	if f.roles != "policy" && f.roles != "live" {
		return nil, nil, "", fmt.Errorf("--roles must be policy or live, not %q", f.roles)
	}
	if f.dir == "" {
		f.dir = "."
	}
	prov, err := c.openLive(f.live, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, "", err
	}
	what := "the policy in " + f.dir
	policyDir := f.dir
	if f.roles == "live" {
		what, policyDir = "the live portal ("+prov.Describe()+")", ""
	}
	var gc *graphCache
	if spec, err := c.liveSpec(f.live); err == nil {
		gc = c.openGraphCache(spec, policyDir, cmd.ErrOrStderr())
	}
	if gc != nil {
		if s, ok := gc.load(); ok {
			// The names and the resolver only read the snapshot: they are
			// built side by side.
			names := make(chan *access.Names, 1)
			go func() {
				if f.roles == "live" {
					names <- access.NewNames(s.Directory, s.Graph)
				} else {
					names <- access.NewNames(s.Directory, s.Graph, s.Names)
				}
			}()
			r := access.New(s.Graph, s.Directory)
			r.SetSources(s.Sources)
			if b, ok := s.Attachments[access.ReachAttachment]; ok {
				if err := r.UseReach(b); err != nil {
					gc.debugf("reach table not used: %v", err)
				}
			}
			f.names = <-names
			return r, s.Graph, what, nil
		}
	}
	live, err := prov.Read(cmd.Context())
	if err != nil {
		return nil, nil, "", err
	}
	if f.roles == "live" {
		r := access.New(live, live.Directory)
		if gc != nil {
			gc.store(graph.Snapshot{Graph: live, Directory: live.Directory, Attachments: reachAttachment(r)})
		}
		f.names = access.NewNames(live.Directory, live)
		return r, live, what, nil
	}
	pol, err := c.loadPolicy(f.dir, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, "", err
	}
	// A policy with warnings is not cached: the warnings are printed on
	// every question.
	r := access.New(pol.Graph, live.Directory)
	if gc != nil && !pol.warned {
		gc.store(graph.Snapshot{Graph: pol.Graph, Names: access.NameSource(live), Directory: live.Directory, Attachments: reachAttachment(r)})
	}
	f.names = access.NewNames(live.Directory, pol.Graph, live)
	return r, pol.Graph, what, nil
}

// reachAttachment is what a cached question keeps beside the graph so
// that the next one need not work out which roles every user reaches.
func reachAttachment(r *access.Resolver) map[string][]byte {
	return map[string][]byte{access.ReachAttachment: r.EncodeReach()}
}

// question reads a question from the arguments and flags, checks its
// names and fills its defaults.
func (f *accessFlags) question(entity, action string) (access.Question, error) {
	q := access.Question{Entity: entity, Action: action, Pipeline: f.pipeline, Stage: f.stage, Field: f.field, Item: f.item, To: f.to}
	if err := f.names.Check(q); err != nil {
		return q, err
	}
	return q.Normalize(), nil
}

// policyArg takes the policy directory from args[i] when given; the
// deprecated --policy flag still works, and both must agree.
func (f *accessFlags) policyArg(cmd *cobra.Command, args []string, i int) error {
	if cmd.Flags().Changed("policy") {
		fmt.Fprintf(cmd.ErrOrStderr(), "Note: --policy is deprecated; pass the policy directory as the last argument (b24perm %s … %s).\n", cmd.Name(), f.dir)
	}
	if len(args) > i {
		if cmd.Flags().Changed("policy") && f.dir != args[i] {
			return fmt.Errorf("two policy directories: %q and --policy %q; pass one", args[i], f.dir)
		}
		f.dir = args[i]
	}
	return nil
}

// registerLive adds --live BACKEND, and the old --backend spelling as a
// hidden alias of it.
func registerLive(cmd *cobra.Command, live *string) {
	cmd.Flags().StringVar(live, "live", "", "live backend: webhook:URL, mysql://…, postgres://…, local:PATH or demo (default $B24PERM_LIVE, else local:.b24perm/portal.json once init made it)")
	cmd.Flags().StringVar(live, "backend", "", "the same as --live (deprecated)")
	cmd.Flags().MarkHidden("backend")
}

func posText(p *graph.Pos) string {
	if p == nil || !p.IsValid() {
		return ""
	}
	return fmt.Sprintf("%s:%d", path.Base(p.File), p.Line)
}

func userJSON(u *graph.User) map[string]any {
	return map[string]any{"id": u.ID, "email": u.Email, "name": u.Name}
}

func newWhoCanCmd(c *Command) *cobra.Command {
	var f accessFlags
	cmd := &cobra.Command{
		Use:   "who-can ENTITY ACTION [dir]",
		Short: "List the users who can do ACTION on ENTITY, with their level and why",
		Long: `who-can answers "who can ACTION this ENTITY" with Bitrix24's own merge rules
(roles merge by the union of their levels — the most permissive wins; an
explicit stage row in any role beats inherited levels).
ENTITY is a CRM entity (deal, lead …), "activity" (answered through --item's
read/write), "telephony:ENTITY", "openlines:ENTITY", "workgroup:KEY"
(ACTION feature.operation, or join: who may join or ask to join) or
"channel:KEY" (ACTION receive_chats: who receives an open channel's chats).
ACTION move with --stage A --to B asks who may move an item from stage A
to stage B (write where it stands and B among the transition targets).
With --field the question is whether users may view/edit that field. The
policy directory (default ".") is the optional last argument; --roles live
answers from the portal's own roles.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.policyArg(cmd, args, 2); err != nil {
				return err
			}
			r, g, what, err := c.resolver(cmd, &f)
			if err != nil {
				return err
			}
			entity, action := args[0], args[1]
			if err := checkItem(entity, &f, g); err != nil {
				return err
			}
			q, err := f.question(entity, action)
			if err != nil {
				return err
			}
			// each calls f with every user who can and his answer, by ID.
			level := crmLevel(r, entity, action, q)
			each := func(f func(*graph.User, access.Result)) {
				for _, u := range r.Users() {
					if level != nil && level(u) == "none" {
						continue // explain only the users who can
					}
					if res := evaluate(r, u, q); res.Level != "none" && res.Level != "denied" {
						f(u, res)
					}
				}
			}
			if f.format == "json" {
				results := []map[string]any{}
				each(func(u *graph.User, res access.Result) {
					results = append(results, map[string]any{"user": userJSON(u), "level": res.Level, "derivation": res.Derivation, "rule": res.Rule})
				})
				query := map[string]string{"entity": entity, "action": action, "pipeline": q.Pipeline, "stage": q.Stage, "field": q.Field}
				if entity == "activity" || entity == "activities" {
					query["item"] = q.Item
				}
				return writeJSON(cmd.OutOrStdout(), map[string]any{"format_version": 1, "query": query, "results": results})
			}
			// Users are grouped by the reason that decided their level as
			// they come: an answer is dropped once its group is known.
			w := &whoGroups{entity: entity, groups: map[whoKey][]*graph.User{}, reasons: map[whoReasonKey]string{}}
			each(w.add)
			order, groups, n := w.order, w.groups, w.n
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Who can %s %s%s (%s):\n", action, entity, scopeText(q), what)
			if n == 0 {
				fmt.Fprintln(out, "  nobody")
				return nil
			}
			for _, k := range order {
				us := groups[k]
				shown := us
				if len(us) > 6 {
					shown = us[:5]
				}
				labels := make([]string, len(shown))
				for i, u := range shown {
					labels[i] = u.Label()
				}
				names := strings.Join(labels, ", ")
				if len(us) > 6 {
					names += fmt.Sprintf(" and %d more", len(us)-5)
				}
				fmt.Fprintf(out, "  %-15s %s\n  %-15s   ↳ %s\n", k.level, names, "", k.reason)
			}
			fmt.Fprintf(out, "%s can.\n", plural(n, "user", "users"))
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func scopeText(q access.Question) string {
	var parts []string
	if q.Entity == "activity" || q.Entity == "activities" {
		parts = append(parts, "of "+q.Item+"s")
	}
	ent := q.Entity
	if ent == "activity" || ent == "activities" {
		ent = q.Item
	}
	// Leads have stages but no pipelines: their "default" pipeline goes
	// without saying.
	if e, ok := graph.LookupCRMEntity(ent); q.Pipeline != "" && !(ok && !e.Pipelines && q.Pipeline == graph.DefaultPipeline) {
		parts = append(parts, "pipeline "+q.Pipeline)
	}
	if q.Stage != "" {
		parts = append(parts, "stage "+q.Stage)
	}
	if q.To != "" {
		parts = append(parts, "to stage "+q.To)
	}
	if q.Field != "" {
		parts = append(parts, "field "+q.Field)
	}
	if len(parts) == 0 {
		return ""
	}
	return " · " + strings.Join(parts, " · ")
}

// evaluate answers one (checked, normalized) question for one user.
func evaluate(r *access.Resolver, u *graph.User, q access.Question) access.Result {
	entity, action := q.Entity, q.Action
	switch {
	case strings.HasPrefix(entity, "telephony:"):
		return r.Simple(u, graph.KindTelephony, strings.TrimPrefix(entity, "telephony:"), action)
	case strings.HasPrefix(entity, "openlines:"):
		return r.Simple(u, graph.KindOpenline, strings.TrimPrefix(entity, "openlines:"), action)
	case strings.HasPrefix(entity, "channel:"):
		if action != "receive_chats" {
			return access.Result{Level: "none", Rule: "an open channel's only action is receive_chats"}
		}
		return r.Channel(u, strings.TrimPrefix(entity, "channel:"))
	case strings.HasPrefix(entity, "workgroup:"):
		if action == "join" {
			return r.JoinResult(u, strings.TrimPrefix(entity, "workgroup:"))
		}
		feature, op, _ := strings.Cut(action, ".")
		return r.Workgroup(u, strings.TrimPrefix(entity, "workgroup:"), feature, op)
	case action == "move":
		return r.Move(u, access.MoveQuery{Entity: entity, Pipeline: q.Pipeline, From: q.Stage, To: q.To})
	case entity == "activity" || entity == "activities":
		return r.Activity(u, access.CRMQuery{Entity: q.Item, Pipeline: q.Pipeline, Stage: q.Stage}, action)
	case q.Field != "":
		item := r.CRM(u, access.CRMQuery{Entity: entity, Pipeline: q.Pipeline, Stage: q.Stage, Action: "read"})
		if item.Level == "none" {
			return access.Result{Level: "denied", Rule: "cannot read the item"}
		}
		mode := "view"
		if action == "edit" || action == "write" {
			mode = "edit"
		}
		return r.Field(u, entity, q.Pipeline, q.Field, q.Stage, mode)
	}
	return r.CRM(u, access.CRMQuery{Entity: entity, Pipeline: q.Pipeline, Stage: q.Stage, Action: action})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newExplainCmd(c *Command) *cobra.Command {
	var f accessFlags
	var user string
	cmd := &cobra.Command{
		Use:   "explain --user USER ENTITY ACTION [dir]",
		Short: "Show how one user gets their level: codes, roles, cells, and the rule that decided",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.policyArg(cmd, args, 2); err != nil {
				return err
			}
			r, g, what, err := c.resolver(cmd, &f)
			if err != nil {
				return err
			}
			if err := checkItem(args[0], &f, g); err != nil {
				return err
			}
			u, err := f.names.User(user)
			if err != nil {
				return err
			}
			q, err := f.question(args[0], args[1])
			if err != nil {
				return err
			}
			res := evaluate(r, u, q)
			if f.format == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"format_version": 1, "user": userJSON(u), "level": res.Level,
					"derivation": res.Derivation, "losers": res.Losers, "rule": res.Rule, "subjects": r.UserSubjects(u)})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s can %s %s%s at level: %s   (%s)\n\n  %s\n", u.Label(), strings.ToUpper(args[1]), args[0], scopeText(q), res.Level, what, u.Label())
			steps := append(append([]access.Step{}, res.Derivation...), res.Losers...)
			for i, s := range steps {
				branch, cont := "├─", "│"
				if i == len(steps)-1 {
					branch, cont = "└─", " "
				}
				mark := ""
				if i >= len(res.Derivation) {
					mark = "   (lost)"
				}
				if strings.HasPrefix(args[0], "channel:") {
					fmt.Fprintf(out, "   %s %s  [%s]\n   %s    → queue of open channel %q  %s\n", branch, s.Subject, s.Why, cont, s.RoleName, posText(s.Source))
					continue
				}
				explicit := "inherited"
				if s.Explicit {
					explicit = "explicit"
				}
				cellName := args[1]
				if args[0] == "activity" || args[0] == "activities" {
					// The cell that decides is the item's read or write.
					cellName = f.item + " write"
					if args[1] == "view" || args[1] == "read" {
						cellName = f.item + " read"
					}
				}
				if s.Cell != "" {
					cellName = s.Cell
				}
				fmt.Fprintf(out, "   %s %s  [%s: %s]\n   %s    → role %q: %s = %s (%s)%s  %s\n", branch, s.Subject, s.Code, s.Why, cont, s.RoleName, cellName, s.Level, explicit, mark, posText(s.Source))
			}
			if len(steps) == 0 {
				if strings.HasPrefix(args[0], "channel:") {
					fmt.Fprintln(out, "   └─ no queue entry reaches them")
				} else if strings.HasPrefix(args[0], "workgroup:") {
					fmt.Fprintln(out, "   └─ workgroups have no roles: the group's settings and the user's relation to it decide")
				} else {
					fmt.Fprintln(out, "   └─ no role applies")
				}
			}
			fmt.Fprintf(out, "  Rule: %s\n", res.Rule)
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&user, "user", "", "e-mail or ID of the user")
	cmd.MarkFlagRequired("user")
	return cmd
}

func newAccessCmd(c *Command) *cobra.Command {
	var f accessFlags
	var user string
	cmd := &cobra.Command{
		Use:   "access --user USER [dir]",
		Short: "Print one user's effective permission matrix",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.policyArg(cmd, args, 0); err != nil {
				return err
			}
			r, g, _, err := c.resolver(cmd, &f)
			if err != nil {
				return err
			}
			u, err := f.names.User(user)
			if err != nil {
				return err
			}
			m := matrix(r, g, u)
			if f.format == "json" {
				m["format_version"] = 1
				m["user"] = userJSON(u)
				return writeJSON(cmd.OutOrStdout(), m)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Effective access of %s <%s>:\n", u.Label(), u.Email)
			for _, sec := range []string{"crm", "telephony", "openlines", "open_channels", "workgroups", "field_rules"} {
				rows := m[sec].([]map[string]string)
				title := map[string]string{"crm": "CRM", "telephony": "Telephony", "openlines": "Open-channel roles", "open_channels": "Open channels (receives chats)",
					"workgroups": "Workgroups (role, or what a non-member sees)", "field_rules": "Field rules"}[sec]
				fmt.Fprintf(out, "\n%s:\n", title)
				if len(rows) == 0 {
					fmt.Fprintln(out, "  (nothing)")
				}
				for _, row := range rows {
					fmt.Fprintf(out, "  %-60s %s\n", row["label"], row["level"])
				}
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&user, "user", "", "e-mail or ID of the user")
	cmd.MarkFlagRequired("user")
	return cmd
}

// matrix lists every cell the graph mentions where u has access.
func matrix(r *access.Resolver, g *graph.Graph, u *graph.User) map[string]any {
	crm := []map[string]string{}
	seen := map[graph.CellKey]bool{}
	for i := range g.CRMRoles {
		for _, c := range g.CRMRoles[i].Cells() {
			k := c.Key()
			if seen[k] {
				continue
			}
			seen[k] = true
		}
	}
	keys := make([]graph.CellKey, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sortCellKeys(keys)
	for _, k := range keys {
		res := r.CRM(u, access.CRMQuery{Entity: k.Entity, Pipeline: k.Pipeline, Stage: k.Stage, Action: k.Action})
		level := res.Level
		if level == "none" {
			// An explicit "none" at a stage is a deny worth seeing: it
			// beats what the user holds at the pipeline level.
			explicit := ""
			for _, d := range res.Derivation {
				if d.Explicit {
					explicit = d.RoleName
					break
				}
			}
			if explicit == "" || k.Stage == "" {
				continue
			}
			level = fmt.Sprintf("none (denied explicitly by role %q)", explicit)
		}
		var parts []string
		for _, p := range []string{k.Entity, k.Pipeline, k.Stage, k.Action} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		label := strings.Join(parts, " · ")
		crm = append(crm, map[string]string{"entity": k.Entity, "pipeline": k.Pipeline, "stage": k.Stage, "action": k.Action, "level": level, "label": label})
	}
	simple := func(kind graph.Kind, table []graph.SimpleAction) []map[string]string {
		out := []map[string]string{}
		for _, a := range table {
			if res := r.Simple(u, kind, a.Entity, a.Action); res.Level != "none" {
				out = append(out, map[string]string{"entity": a.Entity, "action": a.Action, "level": res.Level, "label": a.Label})
			}
		}
		return out
	}
	wgs := []map[string]string{}
	for _, w := range g.Workgroups {
		j := r.Join(u, w.Key)
		rel := map[string]string{"banned": "banned", "requested": "asked to join, pending", "invited": "invited, not accepted"}[j.Relation]
		if !j.See && rel == "" {
			continue
		}
		var parts []string
		role := ""
		switch {
		case j.Outcome == "member":
			// A member's role says it all: owner, moderator or member.
			role = j.Relation
			parts = append(parts, role)
		case j.See:
			parts = append(parts, "sees")
		}
		switch {
		case j.Outcome == "member":
		case j.Allowed && j.Outcome == "request":
			parts = append(parts, "can ask to join")
		case j.Allowed:
			parts = append(parts, "can join")
		}
		if rel != "" {
			parts = append(parts, rel)
		}
		label := fmt.Sprintf("workgroup %q", w.Name)
		if w.Archived {
			label += " (archived)"
		}
		wgs = append(wgs, map[string]string{"workgroup": w.Key, "role": role, "level": strings.Join(parts, ", "), "label": label})
	}
	// Field rules: whether u may view (and, for module rules, edit) each
	// governed field, in the rule's pipeline and stages.
	fields := []map[string]string{}
	for _, f := range g.FieldRules {
		label := "field " + f.Entity + "." + f.Field
		var scope []string
		if f.Pipeline != "" {
			scope = append(scope, "pipeline "+f.Pipeline)
		}
		if len(f.Stages) > 0 {
			scope = append(scope, "stages "+strings.Join(f.Stages, ", "))
		}
		if len(scope) > 0 {
			label += " (" + strings.Join(scope, "; ") + ")"
		}
		stage := ""
		if len(f.Stages) > 0 {
			stage = f.Stages[0]
		}
		pipeline := f.Pipeline
		if pipeline == "" {
			if e, ok := graph.LookupCRMEntity(f.Entity); ok && e.Pipelines {
				pipeline = graph.DefaultPipeline
			}
		}
		item := r.CRM(u, access.CRMQuery{Entity: f.Entity, Pipeline: pipeline, Stage: stage, Action: "read"})
		view := r.Field(u, f.Entity, pipeline, f.Field, stage, "view").Level
		edit := ""
		if !f.Native {
			edit = r.Field(u, f.Entity, pipeline, f.Field, stage, "edit").Level
		}
		lvl := "view " + view
		if edit != "" {
			lvl += ", edit " + edit
		}
		if item.Level == "none" {
			lvl += " (but cannot read the " + f.Entity + ")"
		}
		fields = append(fields, map[string]string{"rule": f.Key, "entity": f.Entity, "pipeline": f.Pipeline, "field": f.Field,
			"view": view, "edit": edit, "level": lvl, "label": label})
	}
	channels := []map[string]string{}
	for i := range g.OpenChannels {
		c := &g.OpenChannels[i]
		if r.ChannelUsers(c)[u.ID] != nil {
			channels = append(channels, map[string]string{"channel": c.Key, "level": "receives chats", "label": fmt.Sprintf("open channel %q", c.Name)})
		}
	}
	return map[string]any{"crm": crm, "telephony": simple(graph.KindTelephony, graph.TelephonyActions),
		"openlines": simple(graph.KindOpenline, graph.OpenlineActions), "open_channels": channels, "workgroups": wgs, "field_rules": fields}
}

func sortCellKeys(keys []graph.CellKey) {
	slices.SortFunc(keys, func(a, b graph.CellKey) int {
		return graph.CompareCRMPerm(graph.CRMPerm{Entity: a.Entity, Pipeline: a.Pipeline, Stage: a.Stage, Action: a.Action},
			graph.CRMPerm{Entity: b.Entity, Pipeline: b.Pipeline, Stage: b.Stage, Action: b.Action})
	})
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", " ") }

// crmLevel returns r's fast CRM level of the question for a user (nil
// when the question is not a plain CRM one): who-can explains only the
// users it does not call "none".
func crmLevel(r *access.Resolver, entity, action string, q access.Question) func(*graph.User) string {
	if _, plainCRM := graph.LookupCRMEntity(entity); !plainCRM || q.Field != "" {
		return nil
	}
	cq := access.CRMQuery{Entity: entity, Pipeline: q.Pipeline, Stage: q.Stage, Action: action}
	if action != "move" {
		return r.CRMQuestion(cq)
	}
	// A move needs write where the item stands, unless the user is a CRM
	// administrator (CRM settings write).
	cq.Action = "write"
	write, settings := r.CRMQuestion(cq), r.CRMQuestion(access.CRMQuery{Entity: "config", Action: "write"})
	return func(u *graph.User) string {
		if l := write(u); l != "none" {
			return l
		}
		return settings(u)
	}
}

// whoKey groups who-can's users: the level and the reason that decided it.
type whoKey struct{ level, reason string }

type whoReasonKey struct {
	role, subject, why string
	src                graph.Pos
}

// whoGroups are who-can's users grouped by whoKey, groups in the order of
// their first user.
type whoGroups struct {
	entity string
	order  []whoKey
	groups map[whoKey][]*graph.User
	// reasons words each of the few hundred reasons that thousands of
	// users share once.
	reasons map[whoReasonKey]string
	n       int
}

func (w *whoGroups) add(u *graph.User, res access.Result) {
	w.n++
	reason := res.Rule
	if len(res.Derivation) > 0 {
		d := res.Derivation[0]
		rk := whoReasonKey{role: d.RoleName, subject: d.Subject, why: d.Why}
		if d.Source != nil {
			rk.src = *d.Source
		}
		var ok bool
		if reason, ok = w.reasons[rk]; !ok {
			reason = fmt.Sprintf("role %q via %s", d.RoleName, graph.Subject{}.Label())
			if s, err := graph.ParseSubject(d.Subject); err == nil {
				reason = fmt.Sprintf("role %q, assigned to %s", d.RoleName, s.Label())
				if strings.HasPrefix(w.entity, "channel:") {
					reason = fmt.Sprintf("queue of %q: %s (%s)", d.RoleName, s.Label(), d.Why)
				}
			}
			if p := posText(d.Source); p != "" {
				reason += "  " + p
			}
			w.reasons[rk] = reason
		}
	}
	k := whoKey{res.Level, reason}
	if _, ok := w.groups[k]; !ok {
		w.order = append(w.order, k)
	}
	w.groups[k] = append(w.groups[k], u)
}
