package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
	"github.com/appcitas/appcitas/internal/wompi"
	"github.com/appcitas/appcitas/internal/wompi/wompisim"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type env struct {
	m     *tenancy.Manager
	pool  *pgxpool.Pool
	svc   *billing.Service
	fake  *wompisim.Server
	wompi *wompi.Client
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for range 2 { // idempotent
		if err := jobs.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	fake := wompisim.New(wompisim.Options{AutoSettle: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	wc, err := wompi.New(wompi.Config{Keys: fake.Keys(), BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := billing.New(ctx, m, billing.Options{Wompi: wc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := svc.HandleEvent(r.Context(), body, r.Header.Get("X-Event-Checksum")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(hook.Close)
	fake.SetEventsURL(hook.URL)
	return &env{m: m, pool: pool, svc: svc, fake: fake, wompi: wc}
}

// expiredTrial creates an organization whose trial ended a minute ago, with a saved card.
func (e *env) expiredTrial(t *testing.T, card string) (tenancy.Organization, billing.Subscription) {
	t.Helper()
	ctx := t.Context()
	var org tenancy.Organization
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var err error
		if org, err = e.m.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: "Trial " + card[:4]}); err != nil {
			return err
		}
		if _, err = e.svc.CreateTrialTx(ctx, tx, billing.NewTrial{OrganizationID: org.ID, BillingEmail: "o@example.co"}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE public.billing_suscripcion SET prueba_termina_en = now() - interval '1 minute',
			periodo_actual_inicio = now() - interval '14 days', periodo_actual_fin = now() - interval '1 minute' WHERE organizacion_id = $1`, org.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := e.wompi.AcceptanceTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SavePaymentSource(ctx, org.ID, billing.NewPaymentSource{CardToken: e.fake.TokenizeCard(card), AcceptanceToken: acc.AcceptanceToken}); err != nil {
		t.Fatal(err)
	}
	sub, err := e.svc.Subscription(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return org, sub
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBillingJobs(t *testing.T) {
	t.Parallel()

	t.Run("SweepChargesExpiredTrialsOnceAndActivates", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		approved, _ := e.expiredTrial(t, wompisim.CardApproved)
		declined, _ := e.expiredTrial(t, wompisim.CardDeclined)
		r, err := jobs.New(jobs.Config{Pool: e.pool, Billing: e.svc, SweepEvery: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		})
		status := func(orgID int64) billing.Status {
			s, err := e.svc.Subscription(t.Context(), orgID)
			if err != nil {
				t.Fatal(err)
			}
			return s.Status
		}
		waitFor(t, "the approved trial to become active", func() bool { return status(approved.ID) == billing.Active })
		waitFor(t, "the declined trial to become past_due", func() bool { return status(declined.ID) == billing.PastDue })
		if n := len(e.fake.Transactions()); n != 2 {
			t.Fatalf("%d charges at Wompi, want 2", n)
		}
		// The sweep's notice delivery runs too (logged: no mailer).
		waitFor(t, "notices to be delivered", func() bool {
			ns, _ := e.svc.Notifications(t.Context(), approved.ID)
			return len(ns) == 1 && ns[0].SentAt != nil
		})
	})

	t.Run("ReconcileJobExpiresAnAbandonedCheckout", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		ctx := t.Context()
		var org tenancy.Organization
		if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			var err error
			if org, err = e.m.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: "Abandonada"}); err != nil {
				return err
			}
			_, err = e.svc.CreateTrialTx(ctx, tx, billing.NewTrial{OrganizationID: org.ID, BillingEmail: "o@example.co"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		cs, err := e.svc.Checkout(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Prepared 25 hours ago and never paid (Wompi does not know its reference).
		if _, err := e.pool.Exec(ctx, `UPDATE public.billing_pago SET created_at = now() - interval '25 hours' WHERE referencia = $1`, cs.Reference); err != nil {
			t.Fatal(err)
		}
		r, err := jobs.New(jobs.Config{Pool: e.pool, Billing: e.svc, SweepEvery: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		})
		waitFor(t, "the checkout to expire", func() bool {
			ps, _ := e.svc.Payments(t.Context(), org.ID)
			return len(ps) == 1 && ps[0].State == billing.StatusExpired
		})
		h, err := e.svc.History(ctx, org.ID)
		if err != nil || h[len(h)-1].Cause != "checkout expired" {
			t.Fatalf("history = %+v, %v", h, err)
		}
	})

	t.Run("ChargeJobIsUniquePerSubscriptionPeriodAndAttempt", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		_, sub := e.expiredTrial(t, wompisim.CardApproved)
		r, err := jobs.New(jobs.Config{Pool: e.pool, Billing: e.svc, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		args := jobs.ChargeArgs{Charge: billing.Charge{SubscriptionID: sub.ID, PeriodStart: sub.PeriodEnd, Attempt: 1}}
		first, err := r.Client().Insert(t.Context(), args, nil)
		if err != nil || first.UniqueSkippedAsDuplicate {
			t.Fatalf("first insert = %+v, %v", first, err)
		}
		second, err := r.Client().Insert(t.Context(), args, nil)
		if err != nil || !second.UniqueSkippedAsDuplicate {
			t.Fatalf("second insert = %+v, %v; want skipped as duplicate", second, err)
		}
		retry := args
		retry.Attempt = 2
		if third, err := r.Client().Insert(t.Context(), retry, nil); err != nil || third.UniqueSkippedAsDuplicate {
			t.Fatalf("a retry (attempt 2) = %+v, %v", third, err)
		}
	})
}
