package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/b24perm/b24perm/compiler"
	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/internal/dbtest"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/local"
)

func seeded(t *testing.T, dsn string) *Provider {
	t.Helper()
	ctx := context.Background()
	p, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	demo, err := bitrix.Decode(local.DemoPortal(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.InitSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Seed(ctx, demo); err != nil {
		t.Fatal(err)
	}
	return p
}

func policy(t *testing.T) *graph.Graph {
	t.Helper()
	res := compiler.CompileDir("../../policies", compiler.Options{})
	if res.Graph == nil {
		t.Fatal(res.Diags.Err())
	}
	return res.Graph
}

func applyPlan(t *testing.T, p *Provider, desired *graph.Graph) *plan.Plan {
	t.Helper()
	live, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// As the CLI does (internal/cli diffLive): the plan knows the
	// default rights a new pipeline gives the roles.
	pl, ds := plan.Diff(desired, live, plan.Options{PipelineDefaults: p.PipelineDefaults})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	before := snapshot(t, p)
	if err := p.Apply(context.Background(), provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs}); err != nil {
		t.Fatal(err)
	}
	checkPreserved(t, pl, before, snapshot(t, p))
	return pl
}

func TestPlanApplyConvergeDriftStale(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live.CRMRoles) != 3 || len(live.Directory.Users) != 10 || len(p.Anomalies) != 0 {
			t.Fatalf("seeded portal: %d roles, %d users, anomalies %v", len(live.CRMRoles), len(live.Directory.Users), p.Anomalies)
		}
		desired := policy(t)
		first := applyPlan(t, p, desired)
		if !first.HasChanges() {
			t.Fatal("the demo portal should differ from the policy")
		}
		// Converged.
		live, _ = p.Read(ctx)
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged: %+v", pl.Changes)
		}
		// A UI-style edit made with SQL is drift: Manager now reads all leads.
		if _, err := p.DB().Exec(p.q(`UPDATE b_crm_role_perms SET ATTR = 'X', SETTINGS = NULL WHERE ROLE_ID = 2 AND ENTITY = 'LEAD' AND PERM_TYPE = 'READ'`)); err != nil {
			t.Fatal(err)
		}
		live, _ = p.Read(ctx)
		drift, _ := plan.Diff(desired, live, plan.Options{})
		if len(drift.Changes) != 1 || drift.Changes[0].Attrs[0].Before != "all" || drift.Changes[0].Attrs[0].After != "department" {
			t.Fatalf("drift: %+v", drift.Changes)
		}
		// A concurrent edit between plan (Read) and apply is refused, and
		// nothing is written.
		if _, err := p.DB().Exec(p.q(`UPDATE b_crm_role SET NAME = 'Manager (edited)' WHERE ID = 2`)); err != nil {
			t.Fatal(err)
		}
		err = p.Apply(ctx, provider.ApplyRequest{Changes: drift.Changes, IDs: drift.LiveIDs})
		var stale *StaleError
		if !errors.As(err, &stale) {
			t.Fatalf("concurrent edit not refused: %v", err)
		}
		var name string
		p.DB().QueryRow(p.q("SELECT NAME FROM b_crm_role WHERE ID = 2")).Scan(&name)
		if name != "Manager (edited)" {
			t.Fatalf("the refused apply wrote something: %q", name)
		}
		// Re-plan and apply revert the UI changes.
		applyPlan(t, p, desired)
		live, _ = p.Read(ctx)
		if pl, _ := plan.Diff(desired, live, plan.Options{}); pl.HasChanges() {
			t.Fatalf("revert did not converge: %+v", pl.Changes)
		}
	})
}

func TestBadRowsAreAnomaliesNotCrashes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		for _, q := range []string{
			`INSERT INTO b_crm_role (ID, NAME) VALUES (9, 'Odd')`,
			`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR, SETTINGS) VALUES (9, 'DEAL', '-', 'READ', '', 'not json')`,
			`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR) VALUES (9, 'FOO', '-', 'READ', 'X')`,
			`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR) VALUES (9, 'DEAL', '-', 'WRITE', '-')`,
		} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(p.Anomalies, "\n")
		for _, want := range []string{"SETTINGS is not a JSON list", `unknown ENTITY "FOO"`, `ATTR '-'`} {
			if !strings.Contains(joined, want) {
				t.Errorf("anomalies lack %q:\n%s", want, joined)
			}
		}
		// An anomaly row of a role the plan changes is never deleted.
		if _, err := p.DB().Exec(`INSERT INTO b_crm_role_perms (ID, ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR) VALUES (500, 2, 'QUOTE', '-', 'EXPORT', '-')`); err != nil {
			t.Fatal(err)
		}
		applyPlan(t, p, policy(t))
		var n int
		if err := p.DB().QueryRow(`SELECT COUNT(*) FROM b_crm_role_perms WHERE ID = 500`).Scan(&n); err != nil || n != 1 {
			t.Errorf("the anomaly row of role 2 was deleted by the apply (%d, %v)", n, err)
		}
	})
}

func TestMissingTableWrongPasswordReadOnlyUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		p := seeded(t, dsn)
		// A read-only user: plan works, apply fails clearly and writes nothing.
		u, _ := url.Parse(dsn)
		db := strings.TrimPrefix(u.Path, "/")
		ro := "ro_" + db[len(db)-6:]
		var stmts []string
		if p.Dialect() == "mysql" {
			stmts = []string{"CREATE USER '" + ro + "'@'%' IDENTIFIED BY 'secret-pw'", "GRANT SELECT ON " + db + ".* TO '" + ro + "'@'%'"}
			t.Cleanup(func() { p.DB().Exec("DROP USER '" + ro + "'@'%'") })
		} else {
			stmts = []string{"CREATE ROLE " + ro + " LOGIN PASSWORD 'secret-pw'", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + ro}
			t.Cleanup(func() {
				p.DB().Exec("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM " + ro)
				p.DB().Exec("DROP ROLE " + ro)
			})
		}
		for _, s := range stmts {
			if _, err := p.DB().Exec(s); err != nil {
				t.Fatal(err)
			}
		}
		rou := *u
		rou.User = url.UserPassword(ro, "secret-pw")
		if u.Hostname() == "" {
			t.Skip("unix-socket DSN")
		}
		rop, err := Open(ctx, rou.String())
		if err != nil {
			t.Fatal(err)
		}
		defer rop.Close()
		live, err := rop.Read(ctx)
		if err != nil {
			t.Fatalf("a read-only user must be able to plan: %v", err)
		}
		pl, _ := plan.Diff(policy(t), live, plan.Options{})
		err = rop.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs})
		if err == nil || !strings.Contains(err.Error(), "nothing was written") {
			t.Fatalf("read-only apply: %v", err)
		}
		var n int
		p.DB().QueryRow("SELECT COUNT(*) FROM b_crm_role").Scan(&n)
		if n != 3 {
			t.Fatalf("a failed apply left %d roles", n)
		}
		// A wrong password: the message names the server, never the password.
		bad := *u
		bad.User = url.UserPassword("nobody_"+ro, "wrong-pw-123") // trust auth accepts any password, not an unknown user
		_, err = Open(ctx, bad.String())
		if err == nil || strings.Contains(err.Error(), "wrong-pw-123") || !strings.Contains(err.Error(), "****") {
			t.Fatalf("wrong password: %v", err)
		}
		// A missing table is named.
		if _, err := p.DB().Exec("DROP TABLE b_crm_role_relation"); err != nil {
			t.Fatal(err)
		}
		_, err = p.Read(ctx)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "b_crm_role_relation") {
			t.Fatalf("missing table: %v", err)
		}
	})
}

var _ = sql.ErrNoRows

// Real Bitrix stores SETTINGS rows with ATTR NULL and may leave FIELD NULL
// (its default is '-'): both read as the values they stand for.
func TestNullAttrAndField(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		desired := policy(t)
		applyPlan(t, p, desired)
		// b24perm writes SETTINGS rows as the current UI does: ATTR NULL.
		var n int
		if err := p.DB().QueryRow(`SELECT COUNT(*) FROM b_crm_role_perms WHERE SETTINGS IS NOT NULL AND ATTR IS NOT NULL`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d SETTINGS rows with an ATTR (%v)", n, err)
		}
		if err := p.DB().QueryRow(`SELECT COUNT(*) FROM b_crm_role_perms WHERE SETTINGS IS NOT NULL AND ATTR IS NULL`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("no SETTINGS rows (%v)", err)
		}
		for _, q := range []string{
			`UPDATE b_crm_role_perms SET FIELD = NULL WHERE FIELD = '-'`,
		} {
			res, err := p.DB().Exec(q)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				t.Fatalf("%s changed no row", q)
			}
		}
		// An ATTR NULL row without SETTINGS is the empty letter: no access.
		if _, err := p.DB().Exec(`INSERT INTO b_crm_role_perms (ROLE_ID, ENTITY, FIELD, PERM_TYPE, ATTR, SETTINGS) VALUES (2, 'LEAD', NULL, 'IMPORT', NULL, NULL)`); err != nil {
			t.Fatal(err)
		}
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatalf("reading ATTR/FIELD NULL: %v", err)
		}
		if len(p.Anomalies) != 0 {
			t.Fatalf("anomalies: %v", p.Anomalies)
		}
		pl, _ := plan.Diff(desired, live, plan.Options{})
		for _, c := range pl.Changes {
			t.Errorf("unexpected change: %+v", c)
		}
	})
}

// b24perm_field_rule is b24perm's own table, absent from a real portal:
// reading and everything but field rules work without it; writing a field
// rule fails clearly and writes nothing.
func TestFieldRuleTableOptional(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		ctx := context.Background()
		if _, err := p.DB().Exec("DROP TABLE b24perm_field_rule"); err != nil {
			t.Fatal(err)
		}
		live, err := p.Read(ctx)
		if err != nil {
			t.Fatalf("read without b24perm_field_rule: %v", err)
		}
		msg := p.FieldRulesUnsupported()
		if !strings.Contains(msg, "b24perm_field_rule") {
			t.Fatalf("FieldRulesUnsupported = %q", msg)
		}
		desired := policy(t)
		pl, ds := plan.Diff(desired, live, plan.Options{})
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		var rules, others []plan.Change
		for _, c := range pl.Changes {
			if c.Addr.Kind == graph.KindFieldRule {
				rules = append(rules, c)
			} else {
				others = append(others, c)
			}
		}
		if len(rules) == 0 || len(others) == 0 {
			t.Fatalf("the policy should have field rules and other changes: %d, %d", len(rules), len(others))
		}
		// Writing a field rule: a clear error, nothing written.
		err = p.Apply(ctx, provider.ApplyRequest{Changes: pl.Changes, IDs: pl.LiveIDs})
		if err == nil || !strings.Contains(err.Error(), "b24perm_field_rule") || !strings.Contains(err.Error(), "nothing was written") {
			t.Fatalf("apply of field rules: %v", err)
		}
		if again, _ := p.Read(ctx); again == nil || len(again.CRMRoles) != len(live.CRMRoles) {
			t.Fatal("re-read after the refused apply failed")
		}
		if pl2, _ := plan.Diff(desired, mustRead(t, p), plan.Options{}); len(pl2.Changes) != len(pl.Changes) {
			t.Fatalf("the refused apply wrote something: %d changes left of %d", len(pl2.Changes), len(pl.Changes))
		}
		// Everything else applies and converges.
		if err := p.Apply(ctx, provider.ApplyRequest{Changes: others, IDs: pl.LiveIDs}); err != nil {
			t.Fatal(err)
		}
		after, _ := plan.Diff(desired, mustRead(t, p), plan.Options{})
		for _, c := range after.Changes {
			if c.Addr.Kind != graph.KindFieldRule {
				t.Errorf("not converged: %s", c.Address)
			}
		}
		// With the table back, field rules are supported again.
		ddl := mysqlSchema
		if p.Dialect() == "postgres" {
			ddl = postgresSchema
		}
		for _, stmt := range strings.Split(ddl, ";") {
			if s := strings.TrimSpace(stmt); strings.HasPrefix(s, "CREATE TABLE b24perm_field_rule") {
				if _, err := p.DB().Exec(s); err != nil {
					t.Fatal(err)
				}
			}
		}
		mustRead(t, p)
		if msg := p.FieldRulesUnsupported(); msg != "" {
			t.Fatalf("table recreated, still: %s", msg)
		}
		applyPlan(t, p, desired)
		if pl, _ := plan.Diff(desired, mustRead(t, p), plan.Options{}); pl.HasChanges() {
			t.Fatalf("not converged with the table: %+v", pl.Changes)
		}
	})
}

func mustRead(t *testing.T, p *Provider) *graph.Graph {
	t.Helper()
	g, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// b_user also holds bots, e-mail, open-channel and replica users
// (EXTERNAL_AUTH_ID): they are not users of the permission model. Users of
// other authentication sources (LDAP) are employees.
func TestExternalUsersAreNotEmployees(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		for _, q := range []string{
			`INSERT INTO b_user (LOGIN, PASSWORD, DATE_REGISTER, ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID) VALUES ('login101', '', CURRENT_TIMESTAMP, 101, 'bot@example.com', 'Helper', 'Bot', 'Y', 'bot')`,
			`INSERT INTO b_user (LOGIN, PASSWORD, DATE_REGISTER, ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID) VALUES ('login102', '', CURRENT_TIMESTAMP, 102, 'client@example.org', 'Mail', 'Client', 'Y', 'email')`,
			`INSERT INTO b_user (LOGIN, PASSWORD, DATE_REGISTER, ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID) VALUES ('login103', '', CURRENT_TIMESTAMP, 103, '', 'Telegram', 'Guest', 'Y', 'imconnector')`,
			`INSERT INTO b_user (LOGIN, PASSWORD, DATE_REGISTER, ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID) VALUES ('login104', '', CURRENT_TIMESTAMP, 104, 'r@example.com', 'Replica', 'User', 'Y', 'replica')`,
			`INSERT INTO b_user (LOGIN, PASSWORD, DATE_REGISTER, ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID) VALUES ('login105', '', CURRENT_TIMESTAMP, 105, 'ldap@example.com', 'Ldap', 'Employee', 'Y', 'LDAP#1')`,
			`INSERT INTO b_user (LOGIN, PASSWORD, DATE_REGISTER, ID, EMAIL, NAME, LAST_NAME, ACTIVE, EXTERNAL_AUTH_ID) VALUES ('login106', '', CURRENT_TIMESTAMP, 106, 'plain@example.com', 'Plain', 'Employee', 'Y', '')`,
			`INSERT INTO b_user_group (USER_ID, GROUP_ID) VALUES (101, 1)`,
			`INSERT INTO b_utm_user (VALUE_ID, FIELD_ID, VALUE_INT) VALUES (101, 2, 1)`,
		} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		live, err := p.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]bool{}
		for _, u := range live.Directory.Users {
			got[u.ID] = true
		}
		for _, id := range []int64{101, 102, 103, 104} {
			if got[id] {
				t.Errorf("external user %d is a user of the permission model", id)
			}
		}
		for _, id := range []int64{105, 106} {
			if !got[id] {
				t.Errorf("employee %d is missing", id)
			}
		}
		if len(live.Directory.Users) != 12 {
			t.Errorf("%d users, want the 10 seeded and 2 employees", len(live.Directory.Users))
		}
	})
}

// The options the permission model reads come from b_option like every
// other backend's: extranet users (members of the group named by
// extranet/extranet_group) are not intranet employees, and
// socialnetwork/work_with_closed_groups lets owners act in archived groups.
func TestExtranetAndClosedGroupOptions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		p := seeded(t, dsn)
		live := mustRead(t, p)
		if live.Directory.WorkWithClosedGroups {
			t.Fatal("work_with_closed_groups is on before the option is set")
		}
		for _, q := range []string{
			`INSERT INTO b_group (ID, NAME, ACTIVE, C_SORT, ANONYMOUS, IS_SYSTEM, STRING_ID) VALUES (17, 'Extranet', 'Y', 100, 'N', 'Y', 'EXTRANET')`,
			`INSERT INTO b_user_group (USER_ID, GROUP_ID) VALUES (10, 17)`,
			`INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('extranet', 'extranet_group', '17')`,
			`INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('socialnetwork', 'work_with_closed_groups', 'Y')`,
		} {
			if _, err := p.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		live = mustRead(t, p)
		if !live.Directory.WorkWithClosedGroups {
			t.Error("work_with_closed_groups = Y was not read")
		}
		for _, u := range live.Directory.Users {
			if u.Extranet != (u.ID == 10) {
				t.Errorf("user %d: extranet %v", u.ID, u.Extranet)
			}
		}
	})
}
