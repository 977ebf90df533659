package graph

import (
	"slices"
	"strconv"
)

// IntranetCodes returns the access codes u holds through the company
// structure beyond D/DR/AE0, sorted: IU<own id>; for a department head
// (UF_HEAD) AD<dept> of each department he heads and AD0, and IU<id> of
// every other user of those departments and of all their subdepartments
// (intranet/classes/general/authproviders.php UpdateCodes,
// main/lib/access/auth/accessauthprovider.php; permissions doc §1.2).
// The intranet provider writes IU codes only for a user who belongs to a
// department (UpdateCodes returns when getNodesByUserId finds none): an
// extranet user, or an employee outside the structure, holds no IU code,
// not even his own; AD codes come from the access provider regardless
// (yuliai/bitrix-modules a3a2a579).
func (ix *Index) IntranetCodes(u *User) []string {
	ix.buildHeads()
	headed := ix.headOf[u.ID]
	if len(u.Departments) == 0 {
		if len(headed) == 0 {
			return nil
		}
		out := []string{"AD0"}
		for _, d := range headed {
			out = append(out, "AD"+strconv.FormatInt(d, 10))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	out := []string{"IU" + strconv.FormatInt(u.ID, 10)}
	if len(headed) == 0 {
		return out
	}
	out = append(out, "AD0")
	subs := map[int64]bool{}
	for _, d := range headed {
		out = append(out, "AD"+strconv.FormatInt(d, 10))
		stack, seen := []int64{d}, map[int64]bool{}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[x] {
				continue
			}
			seen[x] = true
			for _, m := range ix.deptMembers[x] {
				if m != u.ID {
					subs[m] = true
				}
			}
			stack = append(stack, ix.deptChildren[x]...)
		}
	}
	for m := range subs {
		out = append(out, "IU"+strconv.FormatInt(m, 10))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// buildHeads indexes department heads, direct members and children once.
func (ix *Index) buildHeads() {
	if ix.headOf != nil {
		return
	}
	ix.headOf, ix.deptMembers, ix.deptChildren = map[int64][]int64{}, map[int64][]int64{}, map[int64][]int64{}
	for _, d := range ix.Dir.Departments {
		if d.Head != 0 {
			ix.headOf[d.Head] = append(ix.headOf[d.Head], d.ID)
		}
		if d.Parent != 0 && d.Parent != d.ID {
			ix.deptChildren[d.Parent] = append(ix.deptChildren[d.Parent], d.ID)
		}
	}
	for _, u := range ix.Dir.Users {
		for _, d := range u.Departments {
			ix.deptMembers[d] = append(ix.deptMembers[d], u.ID)
		}
	}
}
