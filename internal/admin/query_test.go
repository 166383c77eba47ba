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

		// A function the syntactic check cannot see into: the READ ONLY transaction stops it.
		conn, err := pgx.Connect(ctx, f.url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE plpgsql AS $$
			BEGIN DELETE FROM citas_servicio; RETURN 1; END $$`)
		require.NoError(t, err)
		rep, err := admin.Query(ctx, f.m, "SELECT public.sneaky()", &bytes.Buffer{}, admin.QueryOptions{})
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
		require.NoError(t, err)
		require.Contains(t, rep.Failed, f.orgs[0].ID, "tenant 1's role cannot read tenant 2")
		require.NotContains(t, rep.Failed, f.orgs[1].ID)
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
