package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
	"github.com/spf13/cobra"
)

func newGraphCmd(c *Command) *cobra.Command {
	var f accessFlags
	var user string
	cmd := &cobra.Command{
		Use:   "graph [--format dot|mermaid] [--user U] [dir]",
		Short: "Draw roles, subjects and assignments (or one user's access) as a DOT or Mermaid graph",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.policyArg(cmd, args, 0); err != nil {
				return err
			}
			r, g, _, err := c.resolver(cmd, &f)
			if err != nil {
				return err
			}
			var edges [][3]string // from, to, label
			nodes := map[string]string{}
			if user != "" {
				u, err := f.names.User(user)
				if err != nil {
					return err
				}
				me := "u" + fmt.Sprint(u.ID)
				nodes[me] = u.Label()
				held := map[string]access.Held{}
				for _, h := range r.UserSubjects(u) {
					if !strings.HasPrefix(h.Subject, "code:") {
						held[h.Subject] = h
					}
				}
				addRoles(g, held, nodes, &edges, me)
			} else {
				for _, role := range g.CRMRoles {
					id := "crm_role." + role.Key
					nodes[id] = "CRM role: " + role.Name
					for _, s := range role.Assign {
						nodes[s] = subjectLabel(s)
						edges = append(edges, [3]string{s, id, ""})
					}
				}
				for _, kind := range []graph.Kind{graph.KindTelephony, graph.KindOpenline} {
					roles := g.TelephonyRoles
					if kind == graph.KindOpenline {
						roles = g.OpenlineRoles
					}
					for _, role := range roles {
						id := string(kind) + "." + role.Key
						nodes[id] = strings.ReplaceAll(string(kind), "_", " ") + ": " + role.Name
						for _, s := range role.Assign {
							nodes[s] = subjectLabel(s)
							edges = append(edges, [3]string{s, id, ""})
						}
					}
				}
			}
			switch f.format {
			case "dot", "text":
				writeDot(cmd.OutOrStdout(), nodes, edges)
			case "mermaid":
				writeMermaid(cmd.OutOrStdout(), nodes, edges)
			default:
				return fmt.Errorf("--format must be dot or mermaid")
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().Lookup("format").DefValue = "dot"
	cmd.Flags().Set("format", "dot")
	cmd.Flags().StringVar(&user, "user", "", "draw one user's path to their roles")
	return cmd
}

func subjectLabel(s string) string {
	sub, err := graph.ParseSubject(s)
	if err != nil {
		return s
	}
	return sub.Label()
}

func addRoles(g *graph.Graph, held map[string]access.Held, nodes map[string]string, edges *[][3]string, me string) {
	for s, h := range held {
		nodes[s] = subjectLabel(s)
		*edges = append(*edges, [3]string{me, s, h.Code})
	}
	for _, role := range g.CRMRoles {
		for _, s := range role.Assign {
			if _, ok := held[s]; ok {
				id := "crm_role." + role.Key
				nodes[id] = "CRM role: " + role.Name
				*edges = append(*edges, [3]string{s, id, ""})
			}
		}
	}
}

func sortedEdges(edges [][3]string) [][3]string {
	sort.Slice(edges, func(i, j int) bool {
		return edges[i][0]+"\x00"+edges[i][1] < edges[j][0]+"\x00"+edges[j][1]
	})
	return edges
}

func writeDot(w io.Writer, nodes map[string]string, edges [][3]string) {
	fmt.Fprintln(w, "digraph b24perm {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];")
	var ids []string
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		shape := "box"
		if strings.Contains(id, "_role.") {
			shape = "ellipse"
		}
		fmt.Fprintf(w, "  %q [label=%q, shape=%s];\n", id, nodes[id], shape)
	}
	for _, e := range sortedEdges(edges) {
		if e[2] != "" {
			fmt.Fprintf(w, "  %q -> %q [label=%q];\n", e[0], e[1], e[2])
		} else {
			fmt.Fprintf(w, "  %q -> %q;\n", e[0], e[1])
		}
	}
	fmt.Fprintln(w, "}")
}

func writeMermaid(w io.Writer, nodes map[string]string, edges [][3]string) {
	fmt.Fprintln(w, "flowchart LR")
	id := map[string]string{}
	var keys []string
	for k := range nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		id[k] = fmt.Sprintf("n%d", i)
		l := strings.ReplaceAll(nodes[k], `"`, "'")
		if strings.Contains(k, "_role.") {
			fmt.Fprintf(w, "  %s([\"%s\"])\n", id[k], l)
		} else {
			fmt.Fprintf(w, "  %s[\"%s\"]\n", id[k], l)
		}
	}
	for _, e := range sortedEdges(edges) {
		if e[2] != "" {
			fmt.Fprintf(w, "  %s -->|%s| %s\n", id[e[0]], e[2], id[e[1]])
		} else {
			fmt.Fprintf(w, "  %s --> %s\n", id[e[0]], id[e[1]])
		}
	}
}
