package cli

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/spf13/cobra"
)

func newTestCmd(c *Command) *cobra.Command {
	var f accessFlags
	var snapshot string
	cmd := &cobra.Command{
		Use:   "test [dir]",
		Short: "Run the policy's permission tests (the tests list)",
		Long: `test evaluates every assertion in the policy's tests list with Bitrix24's
merge rules over the live backend's directory, and prints pass or fail with
the assertion's file:line. Exit status 1 when any assertion fails.
--snapshot FILE records the effective-access matrix of every user the first
time and compares against it afterwards.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.policyArg(cmd, args, 0); err != nil {
				return err
			}
			r, g, _, err := c.resolver(cmd, &f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, t := range g.Tests {
				ok, msg := runTest(r, f.names, t)
				status := "PASS"
				if !ok {
					status = "FAIL"
					failed++
				}
				name := t.Name
				if name == "" {
					name = fmt.Sprintf("%s %s%s %s", t.User+t.NobodyOutside, t.Can, t.Cannot, t.Entity)
				}
				where := ""
				if t.Pos.IsValid() {
					where = fmt.Sprintf("%s:%d: ", path.Clean(t.Pos.File), t.Pos.Line)
				}
				fmt.Fprintf(out, "%s  %s%s\n", status, where, name)
				if !ok {
					fmt.Fprintf(out, "      %s\n", msg)
				}
			}
			if snapshot != "" {
				if err := checkSnapshot(cmd, r, g, snapshot); err != nil {
					fmt.Fprintf(out, "FAIL  snapshot %s: %v\n", snapshot, err)
					failed++
				}
			}
			fmt.Fprintf(out, "\n%d passed, %d failed\n", len(g.Tests)-failed+boolInt(snapshot != "" && failed == 0), failed)
			if failed > 0 {
				return exitCode(ExitError)
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&snapshot, "snapshot", "", "record (first run) or compare the full effective-access matrix")
	return cmd
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runTest evaluates one assertion.
func runTest(r *access.Resolver, names *access.Names, t graph.Test) (bool, string) {
	action := t.Can
	if action == "" {
		action = t.Cannot
	}
	q := access.Question{Entity: t.Entity, Action: action, Pipeline: t.Pipeline, Stage: t.Stage, Field: t.Field, Item: t.Item, To: t.To}
	if err := names.Check(q); err != nil {
		return false, err.Error()
	}
	q = q.Normalize()
	granted := func(res access.Result) bool { return res.Level != "none" && res.Level != "denied" }
	if t.NobodyOutside != "" {
		var offenders []string
		for _, u := range r.Users() {
			// Portal administrators bypass every rule; they are not counted.
			if u.Admin || inDepartmentTree(r, u, t.NobodyOutside) {
				continue
			}
			if granted(evaluate(r, u, q)) {
				offenders = append(offenders, u.Label())
			}
		}
		if len(offenders) > 0 {
			return false, fmt.Sprintf("%s outside %s can %s: %s", plural(len(offenders), "user", "users"), t.NobodyOutside, action, first(offenders, 5))
		}
		return true, ""
	}
	u, err := names.User(t.User)
	if err != nil {
		return false, err.Error()
	}
	res := evaluate(r, u, q)
	if t.Cannot != "" {
		if granted(res) {
			return false, fmt.Sprintf("%s can %s at level %s (%s)", u.Label(), action, res.Level, res.Rule)
		}
		return true, ""
	}
	if !granted(res) {
		return false, fmt.Sprintf("%s cannot %s (%s)", u.Label(), action, res.Rule)
	}
	if t.Level != "" {
		if t.Exactly && res.Level != t.Level {
			return false, fmt.Sprintf("level is %s, expected exactly %s", res.Level, t.Level)
		}
		if !t.Exactly && !atLeast(t.Entity, action, res.Level, t.Level) {
			return false, fmt.Sprintf("level is %s, expected at least %s", res.Level, t.Level)
		}
	}
	return true, ""
}

func inDepartmentTree(r *access.Resolver, u *graph.User, path string) bool {
	for _, h := range r.UserSubjects(u) {
		if h.Subject == graph.SubjDepartmentAll+":"+path {
			return true
		}
	}
	return false
}

func first(s []string, n int) string {
	if len(s) <= n {
		return fmt.Sprint(s)
	}
	return fmt.Sprint(s[:n]) + fmt.Sprintf(" and %d more", len(s)-n)
}

func checkSnapshot(cmd *cobra.Command, r *access.Resolver, g *graph.Graph, file string) error {
	all := map[string]any{}
	r.AllMatrices(func(u *graph.User, m []access.CellLevel) {
		if u.Admin {
			all[u.Email] = "portal administrator: everything"
			return
		}
		all[u.Email] = m
	})
	b, _ := jsonIndent(all)
	old, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return fmt.Errorf("cannot record the snapshot: %v", errors.Unwrap(err))
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Recorded the effective-access snapshot in %s.\n", file)
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Equal(old, b) {
		return fmt.Errorf("effective access differs from the snapshot (delete the file to record a new one)")
	}
	return nil
}

// crmAtLeast reports whether CRM level got grants at least want: levels
// are sets (chain levels, non-chain sets such as own+open, transition
// target lists), so "at least" is set containment.
// atLeast compares levels in the question's own order: telephony and
// open-channel levels by their table, CRM levels (and a move's write
// level) by set inclusion; other answers (workgroups, channels) have no
// order and must be equal.
func atLeast(entity, action, got, want string) bool {
	for prefix, table := range map[string][]graph.SimpleAction{"telephony:": graph.TelephonyActions, "openlines:": graph.OpenlineActions} {
		if ent, ok := strings.CutPrefix(entity, prefix); ok {
			sa, _ := graph.LookupSimple(table, ent, action)
			return sa.Rank(got) >= sa.Rank(want) && sa.Rank(want) >= 0
		}
	}
	if strings.HasPrefix(entity, "workgroup:") || strings.HasPrefix(entity, "channel:") {
		return got == want
	}
	return crmAtLeast(action, got, want)
}

func crmAtLeast(action, got, want string) bool {
	if _, ok := graph.ParseLevel(got); ok || action == "transition" {
		return graph.LevelCovers(action == "transition", got, want)
	}
	return graph.CRMLevelRank(got) >= graph.CRMLevelRank(want)
}
