package admin_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/appcitas/appcitas/internal/admin"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
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
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	_, err = migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{})
	require.NoError(t, err)
	m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: url}})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close(); pool.Close() })
	f := &fixture{url: url, m: m}
	for i, name := range []string{"Barbería, \"Juan\"", "Spa Luna", "Cerrada"} {
		org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: name})
		require.NoError(t, err)
		tn, err := org.Tenant()
		require.NoError(t, err)
		require.NoError(t, m.Run(ctx, tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos)
				SELECT 'Servicio ' || g, 30, g * 1000 FROM generate_series(1, %d) g`, 3+2*i))
			return err
		}))
		if i == 2 {
			_, err := pool.Exec(ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, org.ID)
			require.NoError(t, err)
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
		require.NoError(t, err)
		require.Equal(t, 2, rep.Tenants)
		require.Equal(t, 8, rep.Rows)
		require.False(t, rep.Truncated)
		require.Empty(t, rep.Failed)
		recs, err := csv.NewReader(&out).ReadAll()
		require.NoError(t, err)
		require.Equal(t, []string{"organization_id", "organization_name", "nombre", "precio_centavos"}, recs[0])
		require.Equal(t, []string{fmt.Sprint(f.orgs[0].ID), "Barbería, \"Juan\"", "Servicio 1", "1000"}, recs[1])
		require.Equal(t, []string{fmt.Sprint(f.orgs[1].ID), "Spa Luna", "Servicio 5", "5000"}, recs[8])
	})

	t.Run("JSONKeepsTypes", func(t *testing.T) {
		var out bytes.Buffer
		_, err := admin.Query(ctx, f.m, "SELECT id, nombre, precio_centavos, is_active, NULL::text AS descripcion, jsonb_build_object('a', 1) AS j FROM citas_servicio WHERE id = 1",
			&out, admin.QueryOptions{Format: admin.JSON})
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		require.Len(t, lines, 2)
		var row map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[0]), &row))
		require.Equal(t, map[string]any{"organization_id": float64(f.orgs[0].ID), "organization_name": "Barbería, \"Juan\"", "id": float64(1),
			"nombre": "Servicio 1", "precio_centavos": float64(1000), "is_active": true, "descripcion": nil, "j": map[string]any{"a": float64(1)}}, row)
		require.True(t, strings.HasPrefix(lines[0], `{"organization_id":`), "columns keep their order")
	})

	t.Run("StopsAtRowCap", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, "SELECT id FROM citas_servicio", &out, admin.QueryOptions{MaxRows: 4, Batch: 1})
		require.NoError(t, err)
		require.True(t, rep.Truncated)
		require.Equal(t, 4, rep.Rows)
		require.Len(t, strings.Split(strings.TrimSpace(out.String()), "\n"), 5)

		rep, err = admin.Query(ctx, f.m, "SELECT id FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{MaxRows: 8})
		require.NoError(t, err)
		require.False(t, rep.Truncated, "exactly the cap is not truncated")
	})

	t.Run("RefusesWritesEvenThroughAFunction", func(t *testing.T) {
		_, err := admin.Query(ctx, f.m, "DELETE FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{})
		require.ErrorIs(t, err, admin.ErrNotReadOnly)

		// A function the parse cannot see into: the read-only query role stops it.
		conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
		require.NoError(t, err)
		defer conn.Close(ctx)
		for _, o := range f.orgs[:2] {
			_, err = conn.Exec(ctx, `CREATE FUNCTION `+o.SchemaName+`.sneaky() RETURNS int LANGUAGE plpgsql AS $$
				BEGIN DELETE FROM citas_servicio; RETURN 1; END $$`)
			require.NoError(t, err)
		}
		rep, err := admin.Query(ctx, f.m, "SELECT sneaky()", &bytes.Buffer{}, admin.QueryOptions{})
		require.NoError(t, err)
		require.Len(t, rep.Failed, 2)
		for _, e := range rep.Failed {
			require.True(t, admin.IsReadOnlyViolation(e), "%v", e)
		}
		var out bytes.Buffer
		rep, err = admin.Query(ctx, f.m, "SELECT count(*) AS n FROM citas_servicio", &out, admin.QueryOptions{})
		require.NoError(t, err)
		require.Contains(t, out.String(), ",3\n")
		require.Contains(t, out.String(), ",5\n")
	})

	t.Run("CannotReachAnotherTenantsSchema", func(t *testing.T) {
		rep, err := admin.Query(ctx, f.m, "SELECT count(*) FROM "+f.orgs[1].SchemaName+".citas_servicio", &bytes.Buffer{}, admin.QueryOptions{})
		require.ErrorIs(t, err, admin.ErrNotReadOnly)
		require.Zero(t, rep.Tenants, "refused before any tenant runs")
	})

	t.Run("SyntaxErrorIsReturnedOnceWithItsPosition", func(t *testing.T) {
		rep, err := admin.Query(ctx, f.m, "SELECT nombre FROM citas_servicio WHERE", &bytes.Buffer{}, admin.QueryOptions{})
		require.ErrorIs(t, err, admin.ErrSyntax)
		require.Contains(t, err.Error(), "position 40")
		require.Zero(t, rep.Tenants)
		require.Empty(t, rep.Failed)
	})

	t.Run("ObeysTimeout", func(t *testing.T) {
		start := time.Now()
		rep, err := admin.Query(ctx, f.m, "SELECT count(*) FROM generate_series(1, 500000000)", &bytes.Buffer{}, admin.QueryOptions{Timeout: 300 * time.Millisecond})
		require.Less(t, time.Since(start), 5*time.Second)
		if err == nil {
			require.NotEmpty(t, rep.Failed)
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
	require.NoError(t, err)
	t.Cleanup(func() { su.Close(ctx) })
	_, err = su.Exec(ctx, `INSERT INTO public.auth_user (username, password) VALUES ('ana', 'argon2id$secreto')`)
	require.NoError(t, err)
	other := f.orgs[1].SchemaName
	escapeFile := fmt.Sprintf("/tmp/appcitas-escape-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = os.Remove(escapeFile) })

	// intact checks that no escape left a trace: no table in public, no superuser promoted, the
	// other tenant's rows all there.
	intact := func(t *testing.T) {
		t.Helper()
		var created, promoted bool
		var services int
		require.NoError(t, su.QueryRow(ctx, `SELECT to_regclass('public.x') IS NOT NULL,
			EXISTS (SELECT 1 FROM public.auth_user WHERE is_superuser),
			(SELECT count(*) FROM `+other+`.citas_servicio)`).Scan(&created, &promoted, &services))
		require.False(t, created, "a table was created")
		require.False(t, promoted, "a user was promoted")
		require.Equal(t, 5, services, "the other tenant lost rows")
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
			require.ErrorIs(t, err, admin.ErrNotReadOnly)
			require.Zero(t, rep.Tenants)
			require.NotContains(t, out.String(), "argon2id")
			intact(t)
		})
	}
	_, err = os.Stat(escapeFile)
	require.True(t, os.IsNotExist(err), "COPY TO PROGRAM ran")

	t.Run("LeavesPooledConnectionsSettingsAlone", func(t *testing.T) {
		// One bulk connection, so that the check below reads the one the old code's query ran on.
		m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: f.url}, Pool: tenancy.PoolOptions{BulkConns: 1, Slices: 1}})
		require.NoError(t, err)
		defer m.Close()
		tn, err := f.orgs[0].Tenant()
		require.NoError(t, err)
		timeout := func(opts tenancy.RunOptions) (s string) {
			require.NoError(t, m.RunWith(ctx, tn, opts, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, "SELECT current_setting('statement_timeout')").Scan(&s)
			}))
			return s
		}
		before, beforeBulk := timeout(tenancy.RunOptions{}), timeout(tenancy.RunOptions{Bulk: true})
		_, setErr := admin.Query(ctx, m, `SELECT "set_config"('statement_timeout','1',false)`, &bytes.Buffer{}, admin.QueryOptions{Batch: 1})
		_, err = admin.Query(ctx, m, `SELECT count(*) FROM citas_servicio`, &bytes.Buffer{}, admin.QueryOptions{Batch: 1})
		require.NoError(t, err)
		require.Equal(t, before, timeout(tenancy.RunOptions{}))
		require.Equal(t, beforeBulk, timeout(tenancy.RunOptions{Bulk: true}))
		require.ErrorIs(t, setErr, admin.ErrNotReadOnly)
	})

	t.Run("ClosesItsConnections", func(t *testing.T) {
		_, err := admin.Query(ctx, f.m, "SELECT count(*) FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{Batch: 2})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, su.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'appcitas consulta'`).Scan(&n))
			return n == 0
		}, 5*time.Second, 20*time.Millisecond)
	})

	t.Run("RunsAsAQueryRoleThatIsNeitherSuperuserNorTenant", func(t *testing.T) {
		var out bytes.Buffer
		_, err := admin.Query(ctx, f.m, `SELECT current_user AS u, session_user AS s`,
			&out, admin.QueryOptions{Organizations: []int64{f.orgs[0].ID}})
		require.NoError(t, err)
		recs, err := csv.NewReader(&out).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 2)
		role := recs[1][2]
		require.Regexp(t, `^consulta_[0-9a-f]{8}$`, role)
		require.Equal(t, role, recs[1][3])
		var super, inherit bool
		var memberships int
		require.NoError(t, su.QueryRow(ctx, `SELECT rolsuper, rolinherit, (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)
			FROM pg_roles r WHERE rolname = $1`, role).Scan(&super, &inherit, &memberships))
		require.False(t, super)
		require.False(t, inherit)
		require.Zero(t, memberships)
		var publicPrivileges bool
		require.NoError(t, su.QueryRow(ctx, `SELECT bool_or(has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE'))
			FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'p')`, role).Scan(&publicPrivileges))
		require.False(t, publicPrivileges, "the query role has a privilege on a public table")
	})

	t.Run("JoinsCTEsSubqueriesAndWindowsStillWork", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, `WITH caros AS (SELECT id, nombre, precio_centavos FROM citas_servicio WHERE precio_centavos >= 2000)
			SELECT c.nombre, row_number() OVER (ORDER BY c.precio_centavos DESC) AS puesto, date_trunc('day', now()) IS NOT NULL AS hoy,
				coalesce(lower(s.nombre), '') AS mismo, (SELECT count(*) FROM citas_cita) AS citas
			FROM caros c JOIN citas_servicio s ON s.id = c.id ORDER BY puesto LIMIT 2`, &out, admin.QueryOptions{Format: admin.JSON})
		require.NoError(t, err)
		require.Empty(t, rep.Failed)
		require.Equal(t, 4, rep.Rows)
		require.Contains(t, out.String(), `"puesto":1,"hoy":true,"mismo":"servicio 3","citas":0`)
	})

	t.Run("GrantsATenantCreatedBeforeTheQueryRoleOnFirstUse", func(t *testing.T) {
		var role string
		require.NoError(t, su.QueryRow(ctx, `SELECT rol FROM public.rol_consulta WHERE database_name = 'default'`).Scan(&role))
		s := f.orgs[0].SchemaName
		_, err := su.Exec(ctx, fmt.Sprintf(`REVOKE SELECT ON ALL TABLES IN SCHEMA %[1]s FROM %[2]s; REVOKE USAGE ON SCHEMA %[1]s FROM %[2]s`, s, role))
		require.NoError(t, err)
		var out bytes.Buffer
		rep, err := admin.Query(ctx, f.m, "SELECT count(*) AS n FROM citas_servicio", &out, admin.QueryOptions{})
		require.NoError(t, err)
		require.Empty(t, rep.Failed)
		require.Contains(t, out.String(), ",3\n")
	})

	t.Run("TenantWithGrantsCanStillBeDropped", func(t *testing.T) {
		org, err := f.m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Efímera"})
		require.NoError(t, err)
		_, err = admin.Query(ctx, f.m, "SELECT count(*) FROM citas_servicio", &bytes.Buffer{}, admin.QueryOptions{Organizations: []int64{org.ID}})
		require.NoError(t, err)
		tn, err := org.Tenant()
		require.NoError(t, err)
		require.NoError(t, f.m.DropSchema(ctx, tn))
		var left int
		require.NoError(t, su.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) + (SELECT count(*) FROM pg_roles WHERE rolname = $1)
			+ (SELECT count(*) FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole WHERE r.rolname = $1)`, org.SchemaName).Scan(&left))
		require.Zero(t, left)
	})
}
