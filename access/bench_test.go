package access

import (
	"testing"
	"time"

	"github.com/b24perm/b24perm/internal/cputime"

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
	cpu0 := cputime.Process()
	for b.Loop() {
		ComputeDelta(before, after, before.Directory, nil)
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
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

// BenchmarkWhoCanXLPerQuestion is who-can as the CLI asks it (CRM with
// the derivation, every active user) over the XL organization, after
// compile: the resolver is built once and each iteration asks the next
// question (pipeline, stage, action). The first question's cost (codes of
// 10,000 users) is reported separately as first-ms.
func BenchmarkWhoCanXLPerQuestion(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	r := New(g, g.Directory)
	var questions []CRMQuery
	for _, p := range g.Pipelines {
		if p.Entity != "deal" {
			continue
		}
		for _, s := range append([]graph.Stage{{}}, p.Stages...) {
			for _, a := range []string{"read", "write", "transition"} {
				questions = append(questions, CRMQuery{Entity: "deal", Pipeline: p.Key, Stage: s.Key, Action: a})
			}
		}
	}
	// As who-can: the level of every user, the derivation of those who can.
	ask := func(q CRMQuery) int {
		n := 0
		level := r.CRMQuestion(q)
		for _, u := range r.Users() {
			if level(u) == "none" {
				continue
			}
			if res := r.CRM(u, q); res.Level != "none" {
				n++
			}
		}
		return n
	}
	start, cpuStart := time.Now(), cputime.Process()
	ask(questions[0])
	first, firstCPU := time.Since(start), cputime.Process()-cpuStart
	i := 1
	cpu0 := cputime.Process()
	for b.Loop() {
		ask(questions[i%len(questions)])
		i++
	}
	// CPU time per question: wall time is unreliable on a shared machine.
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	b.ReportMetric(float64(firstCPU.Microseconds())/1000, "first-cpu-ms")
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

// BenchmarkWhoCanXLPerKind is who-can per question over the XL
// organization for the question kinds beyond one CRM cell, as the CLI
// answers them (internal/cli evaluate): CRM kinds are prefiltered with
// CRMQuestion (a move by write or CRM settings write), then every user
// left gets the full answer with its derivation. The resolver is built
// and warmed once (the first question's codes of 10,000 users); each
// sub-benchmark reports CPU milliseconds per question.
func BenchmarkWhoCanXLPerKind(b *testing.B) {
	g := gen.Generate(gen.Sizes["xl"], 1)
	r := New(g, g.Directory)
	var pl graph.Pipeline
	for _, p := range g.Pipelines {
		if p.Entity == "deal" && len(p.Stages) >= 2 {
			pl = p
		}
	}
	from, to := pl.Stages[0].Key, pl.Stages[len(pl.Stages)-1].Key
	wg := g.Workgroups[len(g.Workgroups)/2].Key
	users := r.Users()
	r.CRMQuestion(CRMQuery{Entity: "deal", Action: "read"}) // warm
	for _, u := range users {
		r.CRMLevel(u, CRMQuery{Entity: "deal", Action: "read"})
	}
	prefiltered := func(level func(*graph.User) string, answer func(*graph.User) Result) int {
		n := 0
		for _, u := range users {
			if level != nil && level(u) == "none" {
				continue
			}
			if res := answer(u); res.Level != "none" && res.Level != "denied" {
				n++
			}
		}
		return n
	}
	for _, k := range []struct {
		name string
		ask  func() int
	}{
		{"move", func() int {
			write := r.CRMQuestion(CRMQuery{Entity: "deal", Pipeline: pl.Key, Stage: from, Action: "write"})
			settings := r.CRMQuestion(CRMQuery{Entity: "config", Action: "write"})
			return prefiltered(func(u *graph.User) string {
				if l := write(u); l != "none" {
					return l
				}
				return settings(u)
			}, func(u *graph.User) Result {
				return r.Move(u, MoveQuery{Entity: "deal", Pipeline: pl.Key, From: from, To: to})
			})
		}},
		{"activity", func() int {
			level := r.CRMQuestion(CRMQuery{Entity: "deal", Pipeline: pl.Key, Stage: from, Action: "write"})
			return prefiltered(level, func(u *graph.User) Result {
				return r.Activity(u, CRMQuery{Entity: "deal", Pipeline: pl.Key, Stage: from}, "edit")
			})
		}},
		{"telephony", func() int {
			return prefiltered(nil, func(u *graph.User) Result { return r.Simple(u, graph.KindTelephony, "call_record", "listen") })
		}},
		{"openlines", func() int {
			return prefiltered(nil, func(u *graph.User) Result { return r.Simple(u, graph.KindOpenline, "lines", "view") })
		}},
		{"workgroup", func() int {
			return prefiltered(nil, func(u *graph.User) Result { return r.Workgroup(u, wg, "tasks", "edit_tasks") })
		}},
		{"join", func() int {
			return prefiltered(nil, func(u *graph.User) Result { return r.JoinResult(u, wg) })
		}},
	} {
		b.Run(k.name, func(b *testing.B) {
			cpu0 := cputime.Process()
			for b.Loop() {
				k.ask()
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
