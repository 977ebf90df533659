package access

import (
	"testing"

	"github.com/b24perm/b24perm/graph"
)

// With telephony security off (a cloud plan without voximplant_security)
// Bitrix ignores the stored roles and applies its defaults: administrators
// (G1) everything, every employee under the root department "manager" (own
// call statistics and recordings, any calls), nothing else.
func TestTelephonySecurityOffUsesDefaults(t *testing.T) {
	g := &graph.Graph{TelephonyRoles: []graph.SimpleRole{
		{Key: "verifiers", Name: "Call Verifiers", Assign: []string{"user:anna@example.com"}, Perms: []graph.SimplePerm{
			{Entity: "call_record", Action: "listen", Level: "any"}, {Entity: "settings", Action: "modify", Level: "any"}}},
	}}
	dir := exampleDir()
	dir.Users = append(dir.Users, graph.User{ID: 50, Email: "nodept@example.com", Name: "No department"})
	on := New(g.Normalize(), dir)
	anna, _ := on.LookupUser("anna@example.com")
	if got := on.Simple(anna, graph.KindTelephony, "call_record", "listen"); got.Level != "any" {
		t.Fatalf("security on: the role applies: %+v", got)
	}
	g.TelephonySecurityOff = true
	off := New(g.Normalize(), dir)
	anna, _ = off.LookupUser("anna@example.com")
	nodept, _ := off.LookupUser("nodept@example.com")
	admin, _ := off.LookupUser("admin@example.com")
	for _, tc := range []struct {
		u              *graph.User
		entity, action string
		want           string
	}{
		{anna, "call_record", "listen", "own"}, // the role is ignored; default manager
		{anna, "call_detail", "view", "own"},
		{anna, "call", "perform", "any"},
		{anna, "settings", "modify", "none"},
		{anna, "call_record", "modify", "none"},
		{nodept, "call", "perform", "none"}, // outside the structure: no default reaches
		{admin, "balance", "modify", "any"},
	} {
		if got := off.Simple(tc.u, graph.KindTelephony, tc.entity, tc.action); got.Level != tc.want {
			t.Errorf("%s %s.%s = %s (%s), want %s", tc.u.Email, tc.entity, tc.action, got.Level, got.Rule, tc.want)
		}
	}
	if got := off.Simple(anna, graph.KindTelephony, "call", "perform"); len(got.Derivation) != 1 || got.Derivation[0].Role != "telephony_role.default_manager" ||
		got.Derivation[0].Code != "DR1" {
		t.Errorf("derivation %+v", got.Derivation)
	}
	// Changing the stored roles changes nobody's access while security is off.
	g2 := *g
	g2.TelephonyRoles = nil
	if d := ComputeDelta(g.Normalize(), g2.Normalize(), dir, g2.Normalize()); len(d.Groups) != 0 {
		t.Errorf("delta %+v", d.Groups)
	}
}
