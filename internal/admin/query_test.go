package admin_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/admin"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixture struct {
	url  string
	m    *tenancy.Manager
	orgs []tenancy.Organization
}

// setup creates three organizations with 3, 5 and 7 services; the third is deactivated.
func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	pool := tenancytest.Pool(t, url)
	f := &fixture{url: url, m: m}
	for i, name := range []string{"Barbería, \"Juan\"", "Spa Luna", "Cerrada"} {
		org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		tn, err := org.Tenant()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Run(ctx, tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos)
				SELECT 'Servicio ' || g, 30, g * 1000 FROM generate_series(1, %d) g`, 3+2*i))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			_, err := pool.Exec(ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, org.ID)
			if err != nil {
				t.Fatal(err)
			}
		}
		f.orgs = append(f.orgs, org)
	}
	return f
}

func TestQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)

	t.Run("CSVPrefixesOrganizationAndSkipsInactiveTenants", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, "SELECT nombre, precio_centavos FROM citas_servicio ORDER BY id", &out, admin.QueryOptions{Batch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tenants != 2 {
			t.Fatalf("rep.Tenants = %v; want %v", rep.Tenants, 2)
		}
		if rep.Rows != 8 {
			t.Fatalf("rep.Rows = %v; want %v", rep.Rows, 8)
		}
		if rep.Truncated {
			t.Fatal("rep.Truncated is true; want false")
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(recs[0], []string{"organization_id", "organization_name", "nombre", "precio_centavos"}) {
			t.Fatalf("recs[0] = %v; want %v", recs[0], []string{"organization_id", "organization_name", "nombre", "precio_centavos"})
		}
		if !reflect.DeepEqual(recs[1], []string{fmt.Sprint(f.orgs[0].ID), "Barbería, \"Juan\"", "Servicio 1", "1000"}) {
			t.Fatalf("recs[1] = %v; want %v", recs[1], []string{fmt.Sprint(f.orgs[0].ID), "Barbería, \"Juan\"", "Servicio 1", "1000"})
		}
		if !reflect.DeepEqual(recs[8], []string{fmt.Sprint(f.orgs[1].ID), "Spa Luna", "Servicio 5", "5000"}) {
			t.Fatalf("recs[8] = %v; want %v", recs[8], []string{fmt.Sprint(f.orgs[1].ID), "Spa Luna", "Servicio 5", "5000"})
		}
	})

	t.Run("JSONKeepsTypes", func(t *testing.T) {
		var out bytes.Buffer
		_, err := admin.Query(ctx, f.m, "SELECT id, nombre, precio_centavos, is_active, NULL::text AS descripcion, jsonb_build_object('a', 1) AS j FROM citas_servicio WHERE id = 1",
			&out, admin.QueryOptions{Format: admin.JSON})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("len(lines) = %d; want %d: %v", len(lines), 2, lines)
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(row, map[string]any{"organization_id": float64(f.orgs[0].ID), "organization_name": "Barbería, \"Juan\"", "id": float64(1),
			"nombre": "Servicio 1", "precio_centavos": float64(1000), "is_active": true, "descripcion": nil, "j": map[string]any{"a": float64(1)}}) {
			t.Fatalf("row = %v; want %v", row, map[string]any{"organization_id": float64(f.orgs[0].ID), "organization_name": "Barbería, \"Juan\"", "id": float64(1),
				"nombre": "Servicio 1", "precio_centavos": float64(1000), "is_active": true, "descripcion": nil, "j": map[string]any{"a": float64(1)}})
		}
		if !strings.HasPrefix(lines[0], `{"organization_id":`) {
			t.Fatal("columns keep their order")
		}
	})

	t.Run("StopsAtRowCap", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, "SELECT id FROM citas_servicio", &out, admin.QueryOptions{MaxRows: 4, Batch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Truncated {
			t.Fatal("rep.Truncated is false; want true")
		}
		if rep.Rows != 4 {
			t.Fatalf("rep.Rows = %v; want %v", rep.Rows, 4)
		}
		if x := strings.Split(strings.TrimSpace(out.String()), "\n"); len(x) != 5 {
			t.Fatalf("len(x) = %d; want %d: %v", len(x), 5, x)
		}

		rep, err = admin.Query(ctx, f.m, "SELECT id FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{MaxRows: 8})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Truncated {
			t.Fatal("exactly the cap is not truncated")
		}
	})

	t.Run("RefusesWritesEvenThroughAFunction", func(t *testing.T) {
		_, err := admin.Query(ctx, f.m, "DELETE FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{})
		if !errors.Is(err, admin.ErrNotReadOnly) {
			t.Fatalf("got error %v; want %v", err, admin.ErrNotReadOnly)
		}

		// A function the parse cannot see into: the read-only query role stops it.
		conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, o := range f.orgs[:2] {
			_, err = conn.Exec(ctx, `CREATE FUNCTION `+o.SchemaName+`.sneaky() RETURNS int LANGUAGE plpgsql AS $$
				BEGIN DELETE FROM citas_servicio; RETURN 1; END $$`)
			if err != nil {
				t.Fatal(err)
			}
		}
		rep, err := admin.Query(ctx, f.m, "SELECT sneaky()", &bytes.Buffer{}, admin.QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Failed) != 2 {
			t.Fatalf("len(rep.Failed) = %d; want %d: %v", len(rep.Failed), 2, rep.Failed)
		}
		for _, e := range rep.Failed {
			if !admin.IsReadOnlyViolation(e) {
				t.Fatalf("%v", e)
			}
		}
		var out bytes.Buffer
		rep, err = admin.Query(ctx, f.m, "SELECT count(*) AS n FROM citas_servicio", &out, admin.QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s := out.String(); !strings.Contains(s, ",3\n") {
			t.Fatalf("s = %v; want it to contain %v", s, ",3\n")
		}
		if s := out.String(); !strings.Contains(s, ",5\n") {
			t.Fatalf("s = %v; want it to contain %v", s, ",5\n")
		}
	})

	t.Run("CannotReachAnotherTenantsSchema", func(t *testing.T) {
		rep, err := admin.Query(ctx, f.m, "SELECT count(*) FROM "+f.orgs[1].SchemaName+".citas_servicio", &bytes.Buffer{}, admin.QueryOptions{})
		if !errors.Is(err, admin.ErrNotReadOnly) {
			t.Fatalf("got error %v; want %v", err, admin.ErrNotReadOnly)
		}
		if rep.Tenants != 0 {
			t.Fatalf("refused before any tenant runs: rep.Tenants = %v; want 0", rep.Tenants)
		}
	})

	t.Run("SyntaxErrorIsReturnedOnceWithItsPosition", func(t *testing.T) {
		rep, err := admin.Query(ctx, f.m, "SELECT nombre FROM citas_servicio WHERE", &bytes.Buffer{}, admin.QueryOptions{})
		if !errors.Is(err, admin.ErrSyntax) {
			t.Fatalf("got error %v; want %v", err, admin.ErrSyntax)
		}
		if s := err.Error(); !strings.Contains(s, "position 40") {
			t.Fatalf("s = %v; want it to contain %v", s, "position 40")
		}
		if rep.Tenants != 0 {
			t.Fatalf("rep.Tenants = %v; want 0", rep.Tenants)
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
	})

	t.Run("ObeysTimeout", func(t *testing.T) {
		start := time.Now()
		rep, err := admin.Query(ctx, f.m, "SELECT count(*) FROM generate_series(1, 500000000)", &bytes.Buffer{}, admin.QueryOptions{Timeout: 300 * time.Millisecond})
		if time.Since(start) >= 5*time.Second {
			t.Fatalf("took %v; want below %v", time.Since(start), 5*time.Second)
		}
		if err == nil {
			if len(rep.Failed) == 0 {
				t.Fatal("rep.Failed is empty; want something")
			}
		}
	})
}

// TestQueryStaysInItsBox replays the escapes of issue 19 against real PostgreSQL: each is refused,
// and nothing outside the box happened.
func TestQueryStaysInItsBox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	su, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { su.Close(ctx) })
	_, err = su.Exec(ctx, `INSERT INTO public.auth_user (username, password) VALUES ('ana', 'argon2id$secreto')`)
	if err != nil {
		t.Fatal(err)
	}
	other := f.orgs[1].SchemaName
	escapeFile := fmt.Sprintf("/tmp/appcitas-escape-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = os.Remove(escapeFile) })

	// intact checks that no escape left a trace: no table in public, no superuser promoted, the
	// other tenant's rows all there.
	intact := func(t *testing.T) {
		t.Helper()
		var created, promoted bool
		var services int
		if err := su.QueryRow(ctx, `SELECT to_regclass('public.x') IS NOT NULL,
			EXISTS (SELECT 1 FROM public.auth_user WHERE is_superuser),
			(SELECT count(*) FROM `+other+`.citas_servicio)`).Scan(&created, &promoted, &services); err != nil {
			t.Fatal(err)
		}
		if created {
			t.Fatal("a table was created")
		}
		if promoted {
			t.Fatal("a user was promoted")
		}
		if services != 5 {
			t.Fatalf("the other tenant lost rows: services = %v; want %v", services, 5)
		}
	}
	escapes := map[string]string{
		"RefusesCommitSmuggledInDollarQuote":   `SELECT $$'$$ AS a; COMMIT; CREATE TABLE public.x (i int); SELECT '' AS b`,
		"RefusesCommitSmuggledInEString":       `SELECT E'\'' AS a; COMMIT; UPDATE public.auth_user SET is_superuser = true; SELECT '' AS b`,
		"RefusesCommitSmuggledInNestedComment": `SELECT $$/*$$ AS a; COMMIT; DELETE FROM ` + other + `.citas_servicio; SELECT $$*/$$ AS b`,
		"RefusesCopyToProgram":                 `SELECT $$'$$ AS a; COMMIT; COPY (SELECT 1) TO PROGRAM 'touch ` + escapeFile + `'; SELECT '' AS b`,
		"RefusesRoleSwitchByQuotedSetConfig":   `SELECT "set_config"('role','postgres',true), query_to_xml('SELECT username, password FROM public.auth_user', true, false, '')`,
		"RefusesQualifiedSetConfig":            `SELECT pg_catalog.set_config('role','postgres',true)`,
		"RefusesQueryToXMLAlone":               `SELECT query_to_xml('SELECT username, password FROM public.auth_user', true, false, '')`,
		"RefusesXMLExistsOverQueryToXML":       `SELECT xmlexists('//password' PASSING BY VALUE query_to_xml('SELECT password FROM public.auth_user', true, false, ''))`,
		"RefusesWritableCTE":                   `WITH x AS (DELETE FROM citas_servicio RETURNING *) SELECT * FROM x`,
		"RefusesSelectInto":                    `SELECT * INTO public.x FROM citas_servicio`,
		"RefusesForUpdate":                     `SELECT * FROM citas_servicio FOR UPDATE`,
		"RefusesAnotherTenantsQualifiedName":   `SELECT * FROM ` + other + `.citas_servicio`,
		"RefusesPublicTable":                   `SELECT username, password FROM public.auth_user`,
		"RefusesCatalog":                       `SELECT relname FROM pg_class`,
		"RefusesInformationSchema":             `SELECT table_schema, table_name FROM information_schema.tables`,
		"RefusesReadingServerFiles":            `SELECT pg_read_file('/etc/passwd')`,
		"RefusesTerminatingBackends":           `SELECT pg_terminate_backend(pid) FROM generate_series(1, 1) pid`,
	}
	for name, sql := range escapes {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			rep, err := admin.Query(ctx, f.m, sql, &out, admin.QueryOptions{})
			if !errors.Is(err, admin.ErrNotReadOnly) {
				t.Fatalf("got error %v; want %v", err, admin.ErrNotReadOnly)
			}
			if rep.Tenants != 0 {
				t.Fatalf("rep.Tenants = %v; want 0", rep.Tenants)
			}
			if s := out.String(); strings.Contains(s, "argon2id") {
				t.Fatalf("s = %v; want it without %v", s, "argon2id")
			}
			intact(t)
		})
	}
	_, err = os.Stat(escapeFile)
	if !os.IsNotExist(err) {
		t.Fatal("COPY TO PROGRAM ran")
	}

	t.Run("LeavesPooledConnectionsSettingsAlone", func(t *testing.T) {
		// One bulk connection, so that the check below reads the one the old code's query ran on.
		m := tenancytest.Open(t, f.url, tenancy.Config{Pool: tenancy.PoolOptions{BulkConns: 1, Slices: 1}})
		tn, err := f.orgs[0].Tenant()
		if err != nil {
			t.Fatal(err)
		}
		timeout := func(opts tenancy.RunOptions) (s string) {
			if err := m.RunWith(ctx, tn, opts, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, "SELECT current_setting('statement_timeout')").Scan(&s)
			}); err != nil {
				t.Fatal(err)
			}
			return s
		}
		before, beforeBulk := timeout(tenancy.RunOptions{}), timeout(tenancy.RunOptions{Bulk: true})
		_, setErr := admin.Query(ctx, m, `SELECT "set_config"('statement_timeout','1',false)`, &bytes.Buffer{}, admin.QueryOptions{Batch: 1})
		_, err = admin.Query(ctx, m, `SELECT count(*) FROM citas_servicio`, &bytes.Buffer{}, admin.QueryOptions{Batch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := timeout(tenancy.RunOptions{}); got != before {
			t.Fatalf("got %q; want %q", got, before)
		}
		if got := timeout(tenancy.RunOptions{Bulk: true}); got != beforeBulk {
			t.Fatalf("got %q; want %q", got, beforeBulk)
		}
		if !errors.Is(setErr, admin.ErrNotReadOnly) {
			t.Fatalf("got error %v; want %v", setErr, admin.ErrNotReadOnly)
		}
	})

	t.Run("ClosesItsConnections", func(t *testing.T) {
		_, err := admin.Query(ctx, f.m, "SELECT count(*) FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{Batch: 2})
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var n int
			if err := su.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'appcitas consulta'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d connections of the query role still open after 5 s", n)
			}
		}
	})

	t.Run("RunsAsAQueryRoleThatIsNeitherSuperuserNorTenant", func(t *testing.T) {
		var out bytes.Buffer
		_, err := admin.Query(ctx, f.m, `SELECT current_user AS u, session_user AS s`,
			&out, admin.QueryOptions{Organizations: []int64{f.orgs[0].ID}})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 {
			t.Fatalf("len(recs) = %d; want %d: %v", len(recs), 2, recs)
		}
		role := recs[1][2]
		if !regexp.MustCompile(`^consulta_[0-9a-f]{8}$`).MatchString(role) {
			t.Fatalf("role = %q; want consulta_<8 hex>", role)
		}
		if recs[1][3] != role {
			t.Fatalf("recs[1][3] = %q; want %q", recs[1][3], role)
		}
		var super, inherit bool
		var memberships int
		if err := su.QueryRow(ctx, `SELECT rolsuper, rolinherit, (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)
			FROM pg_roles r WHERE rolname = $1`, role).Scan(&super, &inherit, &memberships); err != nil {
			t.Fatal(err)
		}
		if super {
			t.Fatal("super is true; want false")
		}
		if inherit {
			t.Fatal("inherit is true; want false")
		}
		if memberships != 0 {
			t.Fatalf("memberships = %v; want 0", memberships)
		}
		var publicPrivileges bool
		if err := su.QueryRow(ctx, `SELECT bool_or(has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE'))
			FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'p')`, role).Scan(&publicPrivileges); err != nil {
			t.Fatal(err)
		}
		if publicPrivileges {
			t.Fatal("the query role has a privilege on a public table")
		}
	})

	t.Run("JoinsCTEsSubqueriesAndWindowsStillWork", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, `WITH caros AS (SELECT id, nombre, precio_centavos FROM citas_servicio WHERE precio_centavos >= 2000)
			SELECT c.nombre, row_number() OVER (ORDER BY c.precio_centavos DESC) AS puesto, date_trunc('day', now()) IS NOT NULL AS hoy,
				coalesce(lower(s.nombre), '') AS mismo, (SELECT count(*) FROM citas_cita) AS citas
			FROM caros c JOIN citas_servicio s ON s.id = c.id ORDER BY puesto LIMIT 2`, &out, admin.QueryOptions{Format: admin.JSON})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
		if rep.Rows != 4 {
			t.Fatalf("rep.Rows = %v; want %v", rep.Rows, 4)
		}
		if s := out.String(); !strings.Contains(s, `"puesto":1,"hoy":true,"mismo":"servicio 3","citas":0`) {
			t.Fatalf("s = %v; want it to contain %v", s, `"puesto":1,"hoy":true,"mismo":"servicio 3","citas":0`)
		}
	})

	t.Run("GrantsATenantCreatedBeforeTheQueryRoleOnFirstUse", func(t *testing.T) {
		var role string
		if err := su.QueryRow(ctx, `SELECT rol FROM public.rol_consulta WHERE database_name = 'default'`).Scan(&role); err != nil {
			t.Fatal(err)
		}
		s := f.orgs[0].SchemaName
		_, err := su.Exec(ctx, fmt.Sprintf(`REVOKE SELECT ON ALL TABLES IN SCHEMA %[1]s FROM %[2]s; REVOKE USAGE ON SCHEMA %[1]s FROM %[2]s`, s, role))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, "SELECT count(*) AS n FROM citas_servicio", &out, admin.QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
		if s := out.String(); !strings.Contains(s, ",3\n") {
			t.Fatalf("s = %v; want it to contain %v", s, ",3\n")
		}
	})

	t.Run("TenantWithGrantsCanStillBeDropped", func(t *testing.T) {
		org, err := f.m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Efímera"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = admin.Query(ctx, f.m, "SELECT count(*) FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{Organizations: []int64{org.ID}})
		if err != nil {
			t.Fatal(err)
		}
		tn, err := org.Tenant()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.m.DropSchema(ctx, tn); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := su.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) + (SELECT count(*) FROM pg_roles WHERE rolname = $1)
			+ (SELECT count(*) FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole WHERE r.rolname = $1)`, org.SchemaName).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Fatalf("left = %v; want 0", left)
		}
	})
}
