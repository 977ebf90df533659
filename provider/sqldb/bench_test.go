package sqldb

import (
	"context"
	"testing"
	"time"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// benchXL seeds the XL organization (10,000 users, 200 roles × 51
// pipelines, ~70,000 permission rows) and measures reading + planning, and
// applying ~10,000 changed cells in one transaction.
func benchXL(b *testing.B, dsn string) {
	ctx := context.Background()
	p, err := Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	portal := bitrix.GenerateXL(1)
	if err := p.InitSchema(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := p.Seed(ctx, portal); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded XL in %v", time.Since(start))
	desired := gen.Generate(gen.Sizes["xl"], 1)
	desired.Directory = nil
	n := 0
	for i := range desired.CRMRoles {
		for j := range desired.CRMRoles[i].Perms {
			if n < 10000 && desired.CRMRoles[i].Perms[j].Level != "all" && desired.CRMRoles[i].Perms[j].Action == "read" || (n < 10000 && desired.CRMRoles[i].Perms[j].Action == "write" && desired.CRMRoles[i].Perms[j].Level != "all") {
				desired.CRMRoles[i].Perms[j].Level = "all"
				n++
			}
		}
	}
	desired.Normalize()
	b.ResetTimer()
	for b.Loop() {
		tl := time.Now()
		if _, _, err := p.load(ctx, p.db, false); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: load alone (SQL + scan into the model) %v", p.Dialect(), time.Since(tl))
		t0 := time.Now()
		live, err := p.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		pl, ds := plan.Diff(desired, live, plan.Options{})
		if ds.HasErrors() {
			b.Fatal(ds.Err())
		}
		readPlan := time.Since(t0)
		cells := 0
		for _, c := range pl.Changes {
			cells += len(c.Attrs)
		}
		t1 := time.Now()
		if err := p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
			b.Fatal(err)
		}
		applied := time.Since(t1)
		for _, ph := range p.phases {
			b.Logf("%s: apply step %s: %v", p.Dialect(), ph.name, ph.d)
		}
		b.Logf("%s: read+plan %v; apply of %d cell changes in %d roles, one transaction: %v", p.Dialect(), readPlan, cells, len(pl.Changes), applied)
		b.ReportMetric(float64(readPlan.Milliseconds()), "read+plan-ms")
		b.ReportMetric(float64(applied.Milliseconds()), "apply-ms")
		b.ReportMetric(float64(cells), "cells")
		b.StopTimer()
		// Restore the original permissions for the next iteration.
		orig := gen.Generate(gen.Sizes["xl"], 1)
		orig.Directory = nil
		live, _ = p.Read(ctx)
		back, _ := plan.Diff(orig, live, plan.Options{})
		if err := p.Apply(ctx, provider.ApplyRequest{Changes: back.Changes, IDs: back.LiveIDs}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkXLMySQL(b *testing.B)    { benchXL(b, dbtest.MySQL(b)) }
func BenchmarkXLPostgres(b *testing.B) { benchXL(b, dbtest.Postgres(b)) }
