package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// mailbox records the owner notices billing sends.
type mailbox struct {
	mu   sync.Mutex
	sent []billing.Message
}

func (b *mailbox) Send(_ context.Context, m billing.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, m)
	return nil
}

// TestWebhooksThroughTheQueue runs the job queue with webhooks: the sweep finds a delivery
// written while nobody listened, the listener hears new ones, a failed attempt is retried by a
// scheduled run, and a subscription that keeps failing is disabled with a mail to the owner.
func TestWebhooksThroughTheQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := jobs.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	box := &mailbox{}
	bill, err := billing.New(ctx, m, billing.Options{Mailer: box, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// RunBudget of a nanosecond: every run sends one batch, and a retry waits for a scheduled run.
	whs := webhooks.New(m, webhooks.Options{Development: true, RetryBase: time.Millisecond, RetryMax: time.Millisecond,
		DisableAfterFailures: 2, RunBudget: time.Nanosecond, Owner: bill, Logger: slog.New(slog.DiscardHandler)})

	type org struct {
		t      tenancy.Tenant
		id     int64
		branch int64
		svc    int64
		staff  int64
		n      int
	}
	newOrg := func(name string) *org {
		var o org
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			x, err := m.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: name})
			if err != nil {
				return err
			}
			o.id = x.ID
			_, err = bill.CreateTrialTx(ctx, tx, billing.NewTrial{OrganizationID: x.ID, BillingEmail: "dueno@example.co"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		x, err := m.Organization(ctx, o.id)
		if err == nil {
			o.t, err = x.Tenant()
		}
		if err == nil {
			_, err = m.EnsureSchema(ctx, x)
		}
		if err == nil {
			err = m.Run(ctx, o.t, func(tx pgx.Tx) error {
				if err := tx.QueryRow(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('C', 'America/Bogota') RETURNING id`).Scan(&o.branch); err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('S', 30, 1) RETURNING id`).Scan(&o.svc); err != nil {
					return err
				}
				return tx.QueryRow(ctx, `INSERT INTO usuarios_perfilusuario (user_id, role) VALUES (1, 'staff') RETURNING id`).Scan(&o.staff)
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		return &o
	}
	subscribe := func(o *org, target string) int64 {
		p, err := whs.Prepare(ctx, webhooks.SubscriptionInput{URL: &target, Events: []string{webhooks.EventAppointmentCreated}}, true)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := m.Run(ctx, o.t, func(tx pgx.Tx) error {
			s, err := webhooks.CreateSubscription(ctx, tx, p)
			id = s.ID
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	book := func(o *org) {
		o.n++
		start := time.Date(2031, 5, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(o.n) * time.Hour)
		if err := m.Run(ctx, o.t, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin,
				bloqueo_inicio, bloqueo_fin, precio_centavos) VALUES ($1, $2, $3, 'Ana', $4, $5, $4, $5, 1)`,
				o.branch, o.svc, o.staff, start, start.Add(30*time.Minute))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	receiver := func(answer func(n int32) int) (*httptest.Server, *atomic.Int32) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(answer(hits.Add(1)))
		}))
		t.Cleanup(srv.Close)
		return srv, &hits
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waited %s for %s", d, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Written before anything listens: only the sweep can find it.
	early := newOrg("Antes")
	earlySrv, earlyHits := receiver(func(int32) int { return 200 })
	subscribe(early, earlySrv.URL)
	book(early)

	runner, err := jobs.New(jobs.Config{Pool: pool, Webhooks: whs, Logger: slog.New(slog.DiscardHandler),
		WebhookListenURL: func(context.Context, string) (string, error) { return url, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = runner.Stop(sctx)
	})

	t.Run("SweepFindsWhatNobodyHeard", func(t *testing.T) {
		waitFor("the early delivery", 30*time.Second, func() bool { return earlyHits.Load() == 1 })
	})

	t.Run("ListenerQueuesNewDeliveries", func(t *testing.T) {
		book(early)
		waitFor("the listener's delivery", 30*time.Second, func() bool { return earlyHits.Load() == 2 })
	})

	t.Run("ScheduledRunRetriesAndDisablingMailsTheOwner", func(t *testing.T) {
		flaky := newOrg("Intermitente")
		flakySrv, flakyHits := receiver(func(n int32) int {
			if n == 1 {
				return 500
			}
			return 200
		})
		subscribe(flaky, flakySrv.URL)
		down := newOrg("Caida")
		downSrv, downHits := receiver(func(int32) int { return 500 })
		downSub := subscribe(down, downSrv.URL)
		book(flaky)
		book(down)
		waitFor("the retry", 60*time.Second, func() bool { return flakyHits.Load() == 2 })
		var active = true
		waitFor("the disabling", 60*time.Second, func() bool {
			_ = m.Run(ctx, down.t, func(tx pgx.Tx) error {
				s, err := webhooks.GetSubscription(ctx, tx, downSub)
				active = err != nil || s.Active
				return err
			})
			return !active
		})
		if n := downHits.Load(); n != 2 {
			t.Fatalf("%d attempts before disabling, want 2", n)
		}
		waitFor("the owner's notice", 10*time.Second, func() bool {
			ns, err := bill.Notifications(ctx, down.id)
			return err == nil && len(ns) > 0
		})
		if n, err := bill.DeliverNotifications(ctx, 10); err != nil || n != 1 {
			t.Fatalf("DeliverNotifications = %d, %v", n, err)
		}
		box.mu.Lock()
		defer box.mu.Unlock()
		if len(box.sent) != 1 || box.sent[0].To != "dueno@example.co" || !strings.Contains(box.sent[0].Body, downSrv.URL) {
			t.Fatalf("mail %+v", box.sent)
		}
	})
}
