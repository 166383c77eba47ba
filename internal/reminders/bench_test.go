package reminders_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/reminders"
	"github.com/appcitas/appcitas/internal/whatsapp/whatsappsim"
)

// bulkBook books n appointments of 5 minutes in one transaction (one INSERT, as an import does),
// spread over the tenant's staff members from first on, and returns how long it took: the trigger
// writes each appointment's reminders in that transaction, and no job is queued.
func (e *env) bulkBook(t testing.TB, tn *tenant, n int, first time.Time) time.Duration {
	t.Helper()
	began := time.Now()
	e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono,
				cliente_email, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
			SELECT $1, $2, s.staff, 'Cliente ' || g, '+57 300 ' || lpad(g::text, 7, '0'), 'c' || g || '@example.com',
				t.inicio, t.inicio + interval '5 minutes', t.inicio, t.inicio + interval '5 minutes', 1000
			FROM generate_series(0, $5 - 1) g,
				LATERAL (SELECT ($3::bigint[])[1 + g % cardinality($3::bigint[])] AS staff) s,
				LATERAL (SELECT $4::timestamptz + (g / cardinality($3::bigint[])) * interval '5 minutes' AS inicio) t`,
			tn.branch, tn.svc, tn.staff, first, n)
		return err
	})
	return time.Since(began)
}

// BenchmarkSendWithSimulator measures reminders sent per second by one tenant's runs, each
// reminder by e-mail (an in-memory mailer) and by WhatsApp (the simulator, over HTTP).
//
//	go test -run '^$' -bench SendWithSimulator -benchtime 2000x ./internal/reminders/
func BenchmarkSendWithSimulator(b *testing.B) {
	e := setup(b)
	sim := whatsappsim.New(nil)
	defer sim.Close()
	wa, err := sim.Client()
	if err != nil {
		b.Fatal(err)
	}
	e.svc, err = reminders.New(e.m, reminders.Options{Mailer: e.mail, WhatsApp: wa, Now: e.now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	tn := e.newTenant(b, "Benchmark", 100)
	e.enable(b, tn, reminders.SettingsInput{WhatsApp: ptr(true), OffsetsMinutes: []int{1440}})
	first := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
	e.bulkBook(b, tn, b.N, first)
	span := time.Duration(b.N/100+1) * 5 * time.Minute
	e.setClock(first.Add(-24*time.Hour + span)) // every 24-hour reminder is due, no appointment has started
	b.ResetTimer()
	began := time.Now()
	sent := 0
	for {
		res, err := e.svc.RunTenant(b.Context(), tn.org.ID)
		if err != nil {
			b.Fatal(err)
		}
		sent += res.Sent
		if res.Claimed == 0 {
			break
		}
	}
	b.StopTimer()
	if sent != b.N || len(sim.Sent()) != b.N {
		b.Fatalf("sent %d (%d by WhatsApp), want %d", sent, len(sim.Sent()), b.N)
	}
	b.ReportMetric(float64(sent)/time.Since(began).Seconds(), "reminders/s")
}

// TestLargeTenantDoesNotBlockOthers books 10,000 appointments for tomorrow in one tenant (one
// transaction) and measures it; then, with the job queue running, it measures how soon another
// tenant's one due reminder goes out while the large tenant's 10,000 are due at once, and how long
// the large tenant takes to drain. The numbers are logged (go test -v -run LargeTenant).
func TestLargeTenantDoesNotBlockOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 10,000 appointments")
	}
	t.Parallel()
	e := setup(t)
	sim := whatsappsim.New(nil)
	defer sim.Close()
	wa, err := sim.Client()
	if err != nil {
		t.Fatal(err)
	}
	big := e.newTenant(t, "Cadena Grande", 100)
	small := e.newTenant(t, "Consultorio Pequeño", 1)
	first := time.Now().Add(30 * time.Hour).Truncate(time.Hour)
	// The clock of the service: when every 24-hour reminder of the large tenant is due.
	shift := time.Until(first.Add(-24*time.Hour + 9*time.Hour))
	e.svc, err = reminders.New(e.m, reminders.Options{Mailer: e.mail, WhatsApp: wa, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Now().Add(shift) }})
	if err != nil {
		t.Fatal(err)
	}
	e.enable(t, big, reminders.SettingsInput{WhatsApp: ptr(true)})
	e.enable(t, small, reminders.SettingsInput{WhatsApp: ptr(true)})

	took := e.bulkBook(t, big, 10_000, first)
	var pending int
	e.run(t, big, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM recordatorios_recordatorio WHERE estado = 'pendiente'`).Scan(&pending)
	})
	t.Logf("booking 10,000 appointments in one transaction took %v (%d reminders scheduled, no job queued)", took, pending)
	if pending != 20_000 {
		t.Fatalf("%d pending reminders, want 20,000", pending)
	}
	smallID := e.book(t, small, 0, first.Add(4*time.Hour), "Única", "3001234567", "unica@example.com")
	if _, err := e.svc.Sweep(t.Context()); err != nil { // no listener runs here: the sweep fills the agenda
		t.Fatal(err)
	}

	ctx := t.Context()
	url, err := e.m.Servers().URL("default")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := jobs.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	rj := jobs.NewReminders(e.svc)
	rj.DispatchEvery, rj.Workers = time.Second, 4
	cfg := jobs.Config{Pool: pool, Logger: slog.New(slog.DiscardHandler), SkipDefaultQueue: true}
	rj.Configure(&cfg)
	runner, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = runner.Stop(sctx)
	}()
	var smallAfter, bigAfter time.Duration
	deadline := time.Now().Add(5 * time.Minute)
	for (smallAfter == 0 || bigAfter == 0) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if smallAfter == 0 {
			if r := e.rows(t, small, smallID)[1440]; r.State == "enviado" {
				smallAfter = time.Since(began)
			}
		}
		if bigAfter == 0 {
			var left int
			e.run(t, big, func(ctx context.Context, tx pgx.Tx) error {
				return tx.QueryRow(ctx, `SELECT count(*) FROM recordatorios_recordatorio WHERE estado IN ('pendiente', 'enviando')
					AND anticipacion_minutos = 1440`).Scan(&left)
			})
			if left == 0 {
				bigAfter = time.Since(began)
			}
		}
	}
	t.Logf("with the large tenant's 10,000 reminders due at once, the small tenant's reminder went out %v after the queue started; the large tenant drained in %v (%.0f reminders/s)",
		smallAfter, bigAfter, 10_000/bigAfter.Seconds())
	if smallAfter == 0 || bigAfter == 0 {
		t.Fatalf("not done in 5 minutes: small %v, large %v", smallAfter, bigAfter)
	}
	if smallAfter > bigAfter/2 {
		t.Fatalf("the small tenant waited %v, the large tenant's drain took %v: it was blocked", smallAfter, bigAfter)
	}
}
