package backup_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgserver"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a migrated database with a manager on it.
type fixture struct {
	url string
	m   *tenancy.Manager
	dir string // backups
}

type setupOptions struct {
	servers    map[string]string // extra servers
	migrations *migrate.Set
	url        string // reuse this database instead of a new one
}

func setup(t testing.TB, opts setupOptions) *fixture {
	t.Helper()
	cfg := tenancy.Config{Servers: opts.servers, TenantMigrations: opts.migrations}
	if opts.url != "" {
		return &fixture{url: opts.url, m: tenancytest.Open(t, opts.url, cfg), dir: t.TempDir()}
	}
	m, url := tenancytest.NewManager(t, cfg)
	return &fixture{url: url, m: m, dir: t.TempDir()}
}

// newOrg creates an organization with branches, staff, services and n appointments, including
// text that COPY must escape.
func (f *fixture) newOrg(t testing.TB, name, server string, n int) tenancy.Organization {
	t.Helper()
	ctx := context.Background()
	org, err := f.m.CreateOrganization(ctx, tenancy.NewOrganization{Name: name, Server: server})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	err = f.m.Run(ctx, tn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, fmt.Sprintf(`
			INSERT INTO organizacion_sede (nombre, zona_horaria, direccion) VALUES
				('Centro', 'America/Bogota', E'Calle 1\t#2-3\nPiso 2'), ('Norte', 'America/Bogota', 'N/A \\ "x"');
			INSERT INTO usuarios_perfilusuario (user_id, role, nombre_visible, sede_id) VALUES
				(10, 'admin', 'Ana María', 1), (11, 'staff', 'Luis Peña', 1), (12, 'staff', 'O''Brien ☺', 2);
			INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos, descripcion) VALUES
				('Corte', 30, 2500000, 'clásico'), ('Barba', 20, 1500000, E'con\\nvapor');
			INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_email, inicio, fin,
					bloqueo_inicio, bloqueo_fin, precio_centavos, notas)
				SELECT 1, 1 + g %% 2, 2 + g %% 2, 'Cliente ' || g, CASE WHEN g %% 3 = 0 THEN '' ELSE 'c' || g || '@x.co' END,
					t, t + interval '30 minutes', t, t + interval '30 minutes', 2500000, CASE WHEN g %% 5 = 0 THEN E'nota\tcon\ttabs' ELSE '' END
				FROM generate_series(1, %d) g, LATERAL (SELECT timestamptz '2026-01-05 08:00-05' + g * interval '1 hour') s(t);`, n))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func (f *fixture) sums(t *testing.T, org tenancy.Organization) []backup.TableSum {
	t.Helper()
	tn, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	sums, err := backup.Checksums(context.Background(), f.m, tn)
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// exec runs SQL in org's scope.
func (f *fixture) exec(t *testing.T, org tenancy.Organization, sql string, args ...any) {
	t.Helper()
	tn, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.m.Run(ctx, tn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// count returns one number read in org's scope.
func (f *fixture) count(t *testing.T, org tenancy.Organization, sql string) int64 {
	t.Helper()
	tn, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var n int64
	if err := f.m.Run(ctx, tn, func(tx pgx.Tx) error { return tx.QueryRow(ctx, sql).Scan(&n) }); err != nil {
		t.Fatal(err)
	}
	return n
}

// schemaExists reports whether schema exists on the server at url.
func schemaExists(t *testing.T, url, schema string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// catalogState is what a failed restore must leave unchanged: organizations and tenant schemas.
func catalogState(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT coalesce(string_agg(id || ':' || schema_name || ':' || database_name || ':' || is_active, ',' ORDER BY id), '') FROM public.organizacion_organizacion)
		|| ' | ' || (SELECT coalesce(string_agg(nspname, ',' ORDER BY nspname), '') FROM pg_namespace WHERE nspname LIKE 'tenant\_%')
		|| ' | ' || (SELECT coalesce(string_agg(schema_name || ':' || version, ',' ORDER BY schema_name), '') FROM public.migraciones_ledger)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// startCluster starts another throwaway PostgreSQL cluster for the calling test (a second server
// for placement and moves), stopped and removed when the test ends. It returns a URL for a fresh
// database on it, with btree_gist available.
func startCluster(t testing.TB, settings map[string]string) (url string, srv *pgserver.Server) {
	t.Helper()
	dir, err := os.MkdirTemp("", "appcitas-second-")
	if err != nil {
		t.Fatal(err)
	}
	// As root PostgreSQL runs as the postgres user, which must enter the directory.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv, err = pgserver.Start(ctx, pgserver.Options{DataDir: dir, Fast: true, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stopping second cluster: %v", err)
		}
		os.RemoveAll(dir)
	})
	// Tenant migrations use btree_gist from public, which public migrations install on the default
	// server only.
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public`)
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL(), srv
}

// serverPort returns the port of the server a tenant's Run reaches.
func (f *fixture) serverPort(t *testing.T, org tenancy.Organization) string {
	t.Helper()
	tn, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var port string
	if err := f.m.Run(ctx, tn, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT current_setting('port')`).Scan(&port)
	}); err != nil {
		t.Fatal(err)
	}
	return port
}
