package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
)

// TestEveryOrganizationHasASubscription checks public migration 0012 (issue 20, item 5).
func TestEveryOrganizationHasASubscription(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// Public at 0011, with an organization made then: it has no subscription.
	before, err := migrate.NewSet(migrate.Public().All()[:11]...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.ApplyPublic(ctx, pool, before, migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	old := insertOrg(t, pool, "antigua")
	if _, err := migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	// sub returns an organization's subscription: its plan, state and trial days.
	sub := func(t *testing.T, id int64) (plan, state string, days int) {
		t.Helper()
		var trialEnd, start time.Time
		err := pool.QueryRow(ctx, `SELECT p.codigo, s.estado, s.prueba_termina_en, s.periodo_actual_inicio
			FROM public.billing_suscripcion s JOIN public.billing_plan p ON p.id = s.plan_id WHERE s.organizacion_id = $1`, id).
			Scan(&plan, &state, &trialEnd, &start)
		if err != nil {
			t.Fatalf("organization %d: %v", id, err)
		}
		return plan, state, int(trialEnd.Sub(start).Hours() / 24)
	}

	t.Run("MigrationGivesExistingOrganizationsATrial", func(t *testing.T) {
		if plan, state, days := sub(t, old); plan != "basico" || state != "trialing" || days != 14 {
			t.Fatalf("got %s %s %d days; want a 14-day trial on basico", plan, state, days)
		}
		var events int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM public.billing_suscripcion_evento e
			JOIN public.billing_suscripcion s ON s.id = e.suscripcion_id WHERE s.organizacion_id = $1 AND e.hasta = 'trialing'`, old).Scan(&events); err != nil || events != 1 {
			t.Fatalf("events = %d, %v; want the trial's creation recorded", events, err)
		}
	})
	t.Run("NewOrganizationGetsATrialAtCommit", func(t *testing.T) {
		id := insertOrg(t, pool, "nueva")
		if plan, state, _ := sub(t, id); plan != "basico" || state != "trialing" {
			t.Fatalf("got %s %s; want a trial on basico", plan, state)
		}
	})
	t.Run("KeepsTheSubscriptionMadeInTheSameTransaction", func(t *testing.T) {
		var id int64
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug) VALUES ('Propia', 'propia') RETURNING id`).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO public.billing_suscripcion (organizacion_id, plan_id, estado, prueba_termina_en, periodo_actual_fin)
				SELECT $1::bigint, id, 'trialing', now() + interval '3 days', now() + interval '3 days' FROM public.billing_plan WHERE codigo = 'empresa'`, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if plan, _, days := sub(t, id); plan != "empresa" || days != 3 {
			t.Fatalf("got %s, %d days; want the transaction's own trial", plan, days)
		}
	})
	t.Run("FallsBackToTheCheapestPlanOffered", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `UPDATE public.billing_plan SET is_active = false WHERE codigo = 'basico'`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = pool.Exec(ctx, `UPDATE public.billing_plan SET is_active = true WHERE codigo = 'basico'`)
		})
		id := insertOrg(t, pool, "sin-basico")
		if plan, _, _ := sub(t, id); plan != "profesional" {
			t.Fatalf("got %s; want profesional, the cheapest plan offered", plan)
		}
	})
}

// insertOrg inserts an organization row as psql would, and returns its id.
func insertOrg(t *testing.T, pool *pgxpool.Pool, slug string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO public.organizacion_organizacion (nombre, slug) VALUES ($1, $1) RETURNING id`, slug).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
