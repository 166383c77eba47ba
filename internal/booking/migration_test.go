package booking_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// TestHoursMigrationUpgradesExistingTenants: a tenant provisioned before 0002_horarios (only
// 0001) gets the working-hours tables from a later migration run, and keeps its appointments.
func TestHoursMigrationUpgradesExistingTenants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	first, err := migrate.NewSet(migrate.Tenant().All()[0])
	if err != nil {
		t.Fatal(err)
	}
	tenancytest.Migrate(t, url)
	tenancytest.DropTenantsAtCleanup(t, url)
	url = tenancytest.EmptySearchPath(t, url)
	old := tenancytest.Open(t, url, tenancy.Config{TenantMigrations: &first})
	org, err := old.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Spa Belleza"})
	if err != nil {
		t.Fatal(err)
	}
	ten, _ := org.Tenant()
	err = old.Run(ctx, ten, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('citas_horario') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		if exists {
			t.Error("citas_horario exists before 0002")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	current := tenancytest.Open(t, url, tenancy.Config{})
	mig, err := current.MigrateTenant(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	if mig.From != 1 || mig.To != migrate.Tenant().Latest() {
		t.Errorf("migrated %d -> %d, want 1 -> %d", mig.From, mig.To, migrate.Tenant().Latest())
	}
	err = current.Run(ctx, ten, func(tx pgx.Tx) error {
		b, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr("Spa"), TimeZone: ptr("America/Bogota")})
		if err != nil {
			return err
		}
		m, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 1, Role: booking.RoleStaff})
		if err != nil {
			return err
		}
		_, err = booking.SetWeeklyHours(ctx, tx, m.ID, []booking.WorkBlock{{BranchID: b.ID, Weekday: 1, Start: "09:00", End: "17:00"}})
		return err
	})
	if err != nil {
		t.Fatalf("using working hours after the upgrade: %v", err)
	}
}

// TestTenantIndexesAreTheLeanSet: a tenant at the latest version has exactly the indexes its
// queries use (0003_menos_indices); each one more is a relation that every backend serving the
// tenant caches and the planner costs on every statement that reads its table.
func TestTenantIndexesAreTheLeanSet(t *testing.T) {
	t.Parallel()
	e := setup(t)
	want := []string{
		"calendario_feed_pkey", "citas_cita_inicio_id_idx", "citas_cita_pkey", "citas_cita_sin_solapamiento",
		"citas_cliente_email_key", "citas_cliente_pkey", "citas_cliente_telefono_key",
		"citas_descanso_horario_idx", "citas_descanso_pkey",
		"citas_excepcion_fecha_idx", "citas_excepcion_pkey",
		// The appointment history (0009): by appointment.
		"citas_historial_cita_idx", "citas_historial_pkey",
		"citas_horario_pkey", "citas_horario_sin_solapamiento", "citas_idempotencia_pkey",
		"citas_servicio_pkey", "migraciones_tenant_pkey", "organizacion_sede_pkey",
		// Reminders (0010): the pending ones by due time.
		"recordatorios_envio_pkey", "recordatorios_recordatorio_pendiente_idx", "recordatorios_recordatorio_pkey",
		// Online booking (0009): holds by staff member, links by appointment, one e-mail per hold.
		"reservas_config_pkey", "reservas_correo_pkey", "reservas_correo_retencion_id_key", "reservas_enlace_cita_idx",
		"reservas_enlace_pkey", "reservas_retencion_pkey", "reservas_retencion_profesional_idx",
		"usuarios_perfilusuario_pkey", "usuarios_perfilusuario_user_id_key",
		// Webhooks (0012): the pending deliveries, the log of a subscription and of a delivery,
		// and the cascade of old events.
		"webhooks_entrega_evento_idx", "webhooks_entrega_pendiente_idx", "webhooks_entrega_pkey",
		"webhooks_entrega_suscripcion_idx", "webhooks_evento_pkey", "webhooks_intento_entrega_idx",
		"webhooks_intento_pkey", "webhooks_suscripcion_pkey",
	}
	var got []string
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`, e.tenant.Schema)
		if err != nil {
			return err
		}
		got, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("indexes of a new tenant:\n got %v\nwant %v", got, want)
	}
}

// TestNewTenantTablesArePlannedFromTheirSize: a new tenant's tables have planner statistics
// (0004_estadisticas), so that the kept generic plans of a small tenant scan its one-page tables
// instead of assuming 10 pages each and going through their indexes.
func TestNewTenantTablesArePlannedFromTheirSize(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "08:00", "18:00")
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT relname::text FROM pg_class
			WHERE relnamespace = $1::regnamespace AND relkind = 'r' AND reltuples < 0 AND relname <> 'migraciones_tenant'
			ORDER BY 1`, e.tenant.Schema)
		if err != nil {
			return err
		}
		never, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(never) > 0 {
			t.Errorf("tables of a new tenant never analyzed: %v", never)
		}
		if _, err := booking.GetService(ctx, tx, f.service.ID); err != nil {
			return err
		}
		var plan string
		if err := tx.QueryRow(ctx, `EXPLAIN (COSTS OFF) SELECT id FROM citas_servicio WHERE id = 1`).Scan(&plan); err != nil {
			return err
		}
		if !strings.HasPrefix(plan, "Seq Scan on citas_servicio") {
			t.Errorf("plan of a lookup by id in a new tenant's one-page table: %q; want a scan of the table", plan)
		}
		return nil
	})
}
