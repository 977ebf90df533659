package access

import (
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// BenchmarkWhoCanXL answers one who-can question over the XL organization
// (10,000 users, 200 roles), resolver construction included.
func BenchmarkWhoCanXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	b.ResetTimer()
	for b.Loop() {
		r := New(g, g.Directory)
		n := 0
		for _, u := range r.Users() {
			if r.crmLevel(u, CRMQuery{Entity: "deal", Pipeline: "pipeline_07", Stage: "stage_03", Action: "read"}) != "none" {
				n++
			}
		}
		if n == 0 {
			b.Fatal("nobody can read")
		}
	}
}

// BenchmarkDeltaXL1Percent is the access delta of a plan that changes 1%
// of the XL organization's CRM cells.
func BenchmarkDeltaXL1Percent(b *testing.B) {
	before := gen.Generate(gen.Sizes["xl"], 1)
	after := gen.Generate(gen.Sizes["xl"], 1)
	changed := 0
	for i := range after.CRMRoles {
		for j := range after.CRMRoles[i].Perms {
			if (i*31+j)%100 == 0 {
				after.CRMRoles[i].Perms[j].Level = "all"
				changed++
			}
		}
	}
	after.Normalize()
	b.ReportMetric(float64(changed), "cells-changed")
	b.ResetTimer()
	for b.Loop() {
		ComputeDelta(before, after, before.Directory, nil)
	}
	_ = graph.DomainCRM
}

// BenchmarkAllMatricesXL computes the full effective matrix of all 10,000
// XL users.
func BenchmarkAllMatricesXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	b.ResetTimer()
	for b.Loop() {
		r := New(g, g.Directory)
		cells := 0
		r.AllMatrices(func(u *graph.User, m []CellLevel) { cells += len(m) })
		b.ReportMetric(float64(cells), "cells")
	}
}

// BenchmarkWhoCanWorkgroupXL answers "who may edit tasks" and "who may
// join" for one XL workgroup over all 10,000 users, resolver included.
func BenchmarkWhoCanWorkgroupXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	key := g.Workgroups[len(g.Workgroups)/2].Key
	b.ResetTimer()
	for b.Loop() {
		r := New(g, g.Directory)
		for _, u := range r.Users() {
			r.Workgroup(u, key, "tasks", "edit_tasks")
			r.JoinResult(u, key)
		}
	}
}

// BenchmarkWhoCanMoveXL answers "who may move a deal from stage A to B"
// over the XL organization, resolver included.
func BenchmarkWhoCanMoveXL(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	b.ResetTimer()
	for b.Loop() {
		r := New(g, g.Directory)
		for _, u := range r.Users() {
			r.Move(u, MoveQuery{Entity: "deal", Pipeline: "pipeline_07", From: "stage_03", To: "stage_04"})
		}
	}
}
