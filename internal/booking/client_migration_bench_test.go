package booking_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// BenchmarkClientMigration measures 0007_clientes over a fleet: every tenant at 0006 with a branch,
// a service, a staff member and benchClientAppointments appointments of 10 clients (phones, emails,
// both and neither), migrated by MigrateAll with 4 workers. The same run then applies a trivial
// migration (one ALTER TABLE) to the same fleet, the baseline. One fleet size per sub-benchmark:
//
//	go test ./internal/booking -run '^$' -bench 'ClientMigration/2000$' -benchtime 1x -timeout 60m -v
func BenchmarkClientMigration(b *testing.B) {
	for _, n := range []int{100, 1000, 2000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchClientMigration(b, n) })
	}
}

// benchClientAppointments is how many appointments each tenant of the benchmark has.
const benchClientAppointments = 20

// benchTenantData is the script that gives a tenant at 0006 its benchClientAppointments appointments.
const benchTenantData = `
INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Centro', 'America/Bogota');
INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('Corte', 30, 100);
INSERT INTO usuarios_perfilusuario (user_id, role) VALUES (1, 'staff');
INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono, cliente_email,
    inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
SELECT 1, 1, 1, 'Cliente ' || n % 10,
       CASE WHEN n % 10 < 6 THEN '+57 300 555 000' || n % 10 ELSE '' END,
       CASE WHEN n % 10 BETWEEN 4 AND 8 THEN 'cliente' || n % 10 || '@example.com' ELSE '' END,
       s, s + interval '30 minutes', s, s + interval '30 minutes', 100
FROM generate_series(1, 20) n, LATERAL (SELECT timestamptz '2027-01-01 14:00Z' + n * interval '1 hour' AS s) x;
`

func benchClientMigration(b *testing.B, n int) {
	ctx := context.Background()
	url := pgtest.NewDatabase(b)
	tenancytest.Migrate(b, url)
	tenancytest.SetAsideAtCleanup(b, url, n)
	before, err := migrate.NewSet(migrate.Tenant().All()[:6]...)
	if err != nil {
		b.Fatal(err)
	}
	buildURL, grant := tenancytest.FleetBuilder(b, url)
	old, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: buildURL}, TenantMigrations: &before})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	err = tenancytest.Parallel(n, 4, func(i int) error {
		org, err := old.CreateOrganization(ctx, tenancy.NewOrganization{Name: fmt.Sprintf("Clientes %05d", i+1)})
		if err == nil {
			ten, _ := org.Tenant()
			err = old.Run(ctx, ten, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, benchTenantData)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("tenant %d: %w", i+1, err)
		}
		if testing.Verbose() && (i+1)%1000 == 0 {
			fmt.Fprintf(os.Stderr, "client fleet %d: %d tenants after %s\n", n, i+1, time.Since(start).Round(time.Second))
		}
		return nil
	})
	old.Close()
	grant()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d tenants at 0006 with %d appointments each in %s", n, benchClientAppointments,
		time.Since(start).Round(time.Millisecond))

	migrateAll := func(set migrate.Set) (time.Duration, int) {
		m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: url}, TenantMigrations: &set})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{Workers: 4})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Failed) > 0 || len(rep.NotAttempted) > 0 || len(rep.Succeeded) == 0 {
			var first error
			if len(rep.Failed) > 0 {
				first = rep.Failed[0].Err
			}
			b.Fatalf("report: %d of %d failed (first: %v), %d not attempted", len(rep.Failed), rep.Total, first, len(rep.NotAttempted))
		}
		return rep.Took, len(rep.Succeeded)
	}
	full, err := migrate.NewSet(migrate.Tenant().All()[:7]...)
	if err != nil {
		b.Fatal(err)
	}
	trivial, err := full.With(migrate.Migration{Version: 8, Name: "trivial",
		SQL: "ALTER TABLE citas_servicio ADD COLUMN nota_interna text NOT NULL DEFAULT '';"})
	if err != nil {
		b.Fatal(err)
	}
	var clients, baseline, floor time.Duration
	var migrated, floored, trivials int
	for b.Loop() {
		if clients == 0 { // a fleet migrates once: later iterations have nothing to measure
			floor, floored = benchClientMigrationFloor(b, url, full.All()[6])
			clients, migrated = migrateAll(full)
			baseline, trivials = migrateAll(trivial)
		}
	}
	perTenant := func(d time.Duration, k int) float64 { return float64(d.Microseconds()) / 1000 / float64(k) }
	b.ReportMetric(clients.Seconds(), "clientes_s")
	b.ReportMetric(baseline.Seconds(), "trivial_s")
	b.ReportMetric(perTenant(clients, migrated), "clientes_ms/tenant")
	b.ReportMetric(perTenant(floor, floored), "floor_ms/tenant")
	b.Logf("0007_clientes, 4 workers: MigrateAll %s over %d tenants (%.2f ms each); the same SQL sent directly over %d tenants: %s (%.2f ms each, the floor); "+
		"trivial ALTER by MigrateAll over %d: %s (%.2f ms each); estimate for all %d by MigrateAll: %.1f s",
		clients.Round(time.Millisecond), migrated, perTenant(clients, migrated), floored, floor.Round(time.Millisecond), perTenant(floor, floored),
		trivials, baseline.Round(time.Millisecond), perTenant(baseline, trivials), n, perTenant(clients, migrated)*float64(n)/1000)

	// The fleet is linked: no appointment is left without its client.
	check, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: url}, TenantMigrations: &trivial})
	if err != nil {
		b.Fatal(err)
	}
	defer check.Close()
	orgs, err := check.Organizations(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ten, _ := orgs[len(orgs)-1].Tenant()
	err = check.Run(ctx, ten, func(tx pgx.Tx) error {
		var clients, unlinked int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM citas_cliente), (SELECT count(*) FROM citas_cita WHERE cliente_id IS NULL)`).Scan(&clients, &unlinked); err != nil {
			return err
		}
		if clients != 10 || unlinked != 0 {
			return fmt.Errorf("last tenant: %d clients (want 10), %d appointments without one", clients, unlinked)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// benchClientMigrationFloor applies m (0007) to every tenth tenant of the fleet at url without
// appcitas: 4 connections, each tenant one round trip of plain SQL (the advisory lock, the tenant's
// role and search_path, the migration, its version row and the ledger row, COMMIT), what psql
// would send. It returns the time taken and how many tenants it migrated; MigrateAll then finds
// them current.
func benchClientMigrationFloor(b *testing.B, url string, m migrate.Migration) (time.Duration, int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT schema_name FROM public.organizacion_organizacion ORDER BY id`)
	if err != nil {
		b.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	conn.Close(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var schemas []string
	for i, s := range all {
		if i%10 == 5 {
			schemas = append(schemas, s)
		}
	}
	body := migrate.Script([]migrate.Migration{m}, "migraciones_tenant")
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	start := time.Now()
	err = tenancytest.Parallel(len(schemas), 4, func(i int) error {
		s := schemas[i]
		q := pgx.Identifier{s}.Sanitize()
		sql := fmt.Sprintf("BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext('%s')); SET LOCAL ROLE %s; SET LOCAL search_path TO %[3]s, public;\n%s"+
			"SET LOCAL ROLE NONE; UPDATE public.migraciones_ledger SET version = %d, migrado_en = now() WHERE schema_name = '%[2]s'; COMMIT;",
			0x74656e6d, s, q, body, m.Version)
		if _, err := pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start), len(schemas)
}
