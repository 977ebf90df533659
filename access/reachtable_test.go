package access

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/b24perm/b24perm/gen"
)

// TestReachTableDifferential: a resolver answering from EncodeReach's
// table reaches, for every user of random portals and the m
// organization, exactly the CRM roles through exactly the subjects that
// the reference (every subject the user holds, in order) gives, and never
// computes them itself.
func TestReachTableDifferential(t *testing.T) {
	checked := 0
	for gi, g := range reachGraphs() {
		b := New(g, g.Directory).EncodeReach()
		ref, r := New(g, g.Directory), New(g, g.Directory)
		if err := r.UseReach(b); err != nil {
			t.Fatalf("graph %d: %v", gi, err)
		}
		for i := range g.Directory.Users {
			u := &g.Directory.Users[i]
			want := ref.reachRef(u, kindCRM)
			if got := r.reach(u, kindCRM); !sameReach(got, want) {
				t.Fatalf("graph %d user %d: reach from the table\n%v\nwant\n%v", gi, u.ID, got, want)
			}
			if got := r.reach(u, kindCRM); !sameReach(got, want) {
				t.Fatalf("graph %d user %d: reach asked again\n%v\nwant\n%v", gi, u.ID, got, want)
			}
			checked++
		}
		if len(r.reached) != 0 {
			t.Fatalf("graph %d: %d reaches computed beside the table", gi, len(r.reached))
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d users checked", checked)
	}
}

// TestReachTableRefused: a table that does not fit its graph (truncated,
// grown, a role or string out of range, users out of order) is refused
// and the resolver computes.
func TestReachTableRefused(t *testing.T) {
	g := gen.Generate(gen.Sizes["m"], 5)
	b := New(g, g.Directory).EncodeReach()
	le := binary.LittleEndian
	nu, ne := le.Uint32(b), le.Uint32(b[4:])
	if nu < 2 || ne < 1 {
		t.Fatalf("table of %d users and %d entries", nu, ne)
	}
	ents := 12 + 12*int(nu)
	damaged := map[string][]byte{
		"empty":     nil,
		"truncated": b[:len(b)-1],
		"grown":     append(append([]byte(nil), b...), 'x'),
	}
	set := func(name string, off int, v uint32) {
		c := append([]byte(nil), b...)
		le.PutUint32(c[off:], v)
		damaged[name] = c
	}
	set("role out of range", ents, uint32(len(g.CRMRoles)))
	set("string out of range", ents+4, 1<<30)
	set("entries end past the entries", 12+8*int(nu), ne+1)
	c := append([]byte(nil), b...)
	copy(c[12:20], b[20:28]) // user 0's ID is user 1's
	damaged["users out of order"] = c
	for name, d := range damaged {
		r := New(g, g.Directory)
		if err := r.UseReach(d); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if r.crmReach != nil {
			t.Errorf("%s: kept", name)
		}
	}
}

// TestReachTableDamagedAtRandom: a table damaged at random is refused or
// answers every user without a panic.
func TestReachTableDamagedAtRandom(t *testing.T) {
	g := genPortalFor(3).g
	b := New(g, g.Directory).EncodeReach()
	rnd := rand.New(rand.NewPCG(5, 9))
	for range 5000 {
		d := bytes.Clone(b)
		for range 1 + rnd.IntN(3) {
			i := rnd.IntN(len(d))
			switch rnd.IntN(3) {
			case 0:
				d[i] = byte(rnd.IntN(256))
			case 1:
				d = append(d[:i:i], d[i+1:]...)
			default:
				d = append(d[:i:i], append([]byte{byte(rnd.IntN(256))}, d[i:]...)...)
			}
		}
		r := New(g, g.Directory)
		if r.UseReach(d) != nil {
			continue
		}
		for i := range g.Directory.Users {
			for _, v := range r.reach(&g.Directory.Users[i], kindCRM) {
				if v.role < 0 || v.role >= len(g.CRMRoles) {
					t.Fatalf("role %d of %d", v.role, len(g.CRMRoles))
				}
			}
		}
	}
}
