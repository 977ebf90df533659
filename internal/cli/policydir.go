package cli

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// subjectRe finds the canonical subjects ("user:…", "department:…") in a
// policy graph's JSON.
var subjectRe = regexp.MustCompile(`"(user|department|department_tree|group):([^"]+)"`)

// policyDirectory makes the directory a policy-vs-policy diff resolves its
// people against when no portal can be read (a fork's pull request gets no
// secrets): one user per e-mail and one department per path the policies
// name, with made-up IDs and no names. It lets the diff show who is added
// or removed, by the references the policies use; it knows nobody else,
// so no access delta is computed from it.
func policyDirectory(graphs ...*graph.Graph) *graph.Directory {
	users := map[string]bool{}
	depts := map[string]bool{}
	groups := map[string]bool{}
	for _, g := range graphs {
		b, _ := json.Marshal(g)
		for _, m := range subjectRe.FindAllStringSubmatch(string(b), -1) {
			ref, _ := strconv.Unquote(`"` + m[2] + `"`)
			switch {
			case strings.HasPrefix(ref, "#"):
				continue // an ID: nothing to make up
			case m[1] == "user":
				users[ref] = true
			case m[1] == "group":
				groups[ref] = true
			default:
				p := strings.Trim(ref, "/")
				for p != "" {
					depts[p] = true
					i := strings.LastIndex(p, "/")
					if i < 0 {
						break
					}
					p = p[:i]
				}
			}
		}
	}
	dir := &graph.Directory{}
	ids := map[string]int64{}
	for i, p := range sortedSet(depts) { // parents sort before children
		id := int64(i + 1)
		ids[p] = id
		name, parent := p, int64(0)
		if j := strings.LastIndex(p, "/"); j >= 0 {
			name, parent = p[j+1:], ids[p[:j]]
		}
		dir.Departments = append(dir.Departments, graph.Department{ID: id, Name: name, Parent: parent})
	}
	// Employees of the company structure (in its first department), so
	// that nothing judges them extranet users.
	var in []int64
	if len(dir.Departments) > 0 {
		in = []int64{dir.Departments[0].ID}
	}
	for i, e := range sortedSet(users) {
		dir.Users = append(dir.Users, graph.User{ID: int64(i + 1), Email: e, Departments: in})
	}
	for i, n := range sortedSet(groups) {
		if n != "employees" {
			dir.Groups = append(dir.Groups, graph.Group{ID: int64(100 + i), Name: n})
		}
	}
	return dir
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
