package plan

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// Issue 13 cause 1: IU and AD codes reach the user, his heads, and heads.
func TestUsersOfIntranetCodes(t *testing.T) {
	dir := &graph.Directory{
		Users: []graph.User{{ID: 42, Departments: []int64{7}}, {ID: 43, Departments: []int64{3}}, {ID: 44, Departments: []int64{1}}},
		Departments: []graph.Department{{ID: 1, Name: "Company"}, {ID: 3, Name: "Sales", Parent: 1, Head: 43},
			{ID: 7, Name: "Wholesale", Parent: 3}},
	}
	ix := graph.NewIndex(dir, nil)
	for code, want := range map[string][]int64{"IU42": {42, 43}, "IU43": {43}, "AD3": {43}, "AD0": {43}, "AD7": nil} {
		var got []int64
		for _, u := range UsersOf("code:"+code, ix, nil) {
			got = append(got, u.ID)
		}
		if len(got) != len(want) || (len(got) > 0 && (got[0] != want[0] || got[len(got)-1] != want[len(want)-1])) {
			t.Errorf("%s reaches %v, want %v", code, got, want)
		}
	}
}
