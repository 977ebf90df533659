package bitrix

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// Rows with arbitrary values never crash Read; each is either read or
// reported, and the valid rows of the same role survive.
func TestReadArbitraryRowsNeverCrash(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	for i := 0; i < 2000; i++ {
		p := tiny()
		row := RolePerm{ID: 100, RoleID: int64(r.IntN(3)),
			Entity:     pick("DEAL", "DEAL_C3", "DEAL_C", "DEAL_C-1", "DEAL_Cx", "LEAD", "LEAD_C3", "DYNAMIC_", "DYNAMIC_x_C1", "DYNAMIC_128_C0", "CONFIG", "", "_C", "SMART_INVOICE_C9", "CONTACT_C2"),
			Field:      pick("-", "", "STAGE_ID", "STATUS_ID", "X"),
			FieldValue: pick("", "NEW", "WON", "C3:WON", "C3:", ":"),
			PermType:   pick("READ", "WRITE", "TRANSITION", "AUTOMATION", "HIDE_SUM", "", "read"),
			Attr:       pick("", "X", "-", "A", "B", " ", "XX"),
		}
		switch r.IntN(6) {
		case 0:
			row.Settings = json.RawMessage(`null`)
		case 1:
			row.Settings = json.RawMessage(pick(`[]`, `["0"]`, `["ALL"]`, `["SELF","OPEN"]`, `["ANY"]`, `["BLOCKED"]`, `["INHERIT"]`, `["C3:WON"]`, `["WON"]`))
		case 2:
			row.Settings = json.RawMessage(pick(`{}`, `1`, `"x"`, `[1]`, `[null]`, `[[]]`, `tru`))
		}
		p.RolePerms = []RolePerm{row, {ID: 101, RoleID: 1, Entity: "CONTACT", Field: "-", PermType: "EXPORT", Attr: "A"}}
		g, an := Read(p)
		if len(g.CRMRoles) != 1 {
			t.Fatalf("row %+v: %d roles", row, len(g.CRMRoles))
		}
		found := false
		for _, c := range g.CRMRoles[0].Perms {
			if c.Entity == "contact" && c.Action == "export" && c.Level == "own" {
				found = true
			}
		}
		if !found {
			t.Fatalf("row %+v: the valid row was lost (anomalies %v)", row, an)
		}
		for _, a := range an {
			if a.Unmanaged && a.Table == TRole && a.ID == 1 && row.RoleID == 1 && row.Entity == "CONTACT_C2" {
				continue // a contractor category: listed as unmanaged
			}
			if a.Table != TRolePerm || a.ID != 100 || a.Problem == "" {
				t.Fatalf("row %+v: unexpected anomaly %v", row, a)
			}
		}
	}
}
