package jobs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/mail"
	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

type countingMailer struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (c *countingMailer) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return nil
}

func (c *countingMailer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// TestBookingMailJob queues a confirmation before its booking commits, as the public page does:
// the job waits for the commit, sends the e-mail once, and a second queueing sends nothing more.
func TestBookingMailJob(t *testing.T) {
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
	org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Barbería Juan"})
	if err != nil {
		t.Fatal(err)
	}
	ten, _ := org.Tenant()
	mailer := &countingMailer{}
	r, err := jobs.New(jobs.Config{Pool: pool, BookingMail: &reservas.Deliverer{Manager: m, Mailer: mailer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(stop)
	})

	now := time.Now()
	bogota, _ := time.LoadLocation("America/Bogota")
	start := time.Date(now.In(bogota).Year(), now.In(bogota).Month(), now.In(bogota).Day()+1, 10, 0, 0, 0, bogota)
	var hold reservas.Hold
	var set reservas.Settings
	run := func(fn func(tx pgx.Tx) error) {
		t.Helper()
		if err := m.Run(ctx, ten, fn); err != nil {
			t.Fatal(err)
		}
	}
	run(func(tx pgx.Tx) error {
		s := func(v string) *string { return &v }
		br, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: s("Centro"), TimeZone: s("America/Bogota")})
		if err != nil {
			return err
		}
		d, p := 30, int64(1000)
		svc, err := booking.CreateService(ctx, tx, booking.ServicePatch{Name: s("Corte"), DurationMinutes: &d, PriceCents: &p})
		if err != nil {
			return err
		}
		st, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 100, Role: booking.RoleStaff, DisplayName: "Juan"})
		if err != nil {
			return err
		}
		var week []booking.WorkBlock
		for d := range 7 {
			week = append(week, booking.WorkBlock{BranchID: br.ID, Weekday: d, Start: "09:00", End: "18:00"})
		}
		if _, err := booking.SetWeeklyHours(ctx, tx, st.ID, week); err != nil {
			return err
		}
		set = reservas.DefaultSettings()
		set.Enabled = true
		if set, err = reservas.PutSettings(ctx, tx, set); err != nil {
			return err
		}
		hold, err = reservas.CreateHold(ctx, tx, booking.Open(tx, nil, nil), set, reservas.NewHold{BranchID: br.ID, ServiceID: svc.ID,
			StaffID: st.ID, Start: start, ClientIP: "192.0.2.1"}, now)
		return err
	})
	if err := r.QueueBookingMail(ctx, org.ID, hold.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the job runs and waits for the booking
	if n := mailer.count(); n != 0 {
		t.Fatalf("%d e-mails before the booking committed", n)
	}
	run(func(tx pgx.Tx) error {
		_, err := reservas.Confirm(ctx, tx, booking.Open(tx, nil, nil), set, reservas.Org{Name: "Barbería Juan", Slug: org.Slug, BaseURL: "https://x.co"},
			reservas.Confirmation{HoldID: hold.ID, HoldToken: hold.Token, Name: "Ana", Phone: "300", Email: "ana@example.co", Consent: true}, now)
		return err
	})
	waitFor(t, "the confirmation e-mail", func() bool { return mailer.count() == 1 })
	if err := r.QueueBookingMail(ctx, org.ID, hold.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if n := mailer.count(); n != 1 {
		t.Fatalf("%d e-mails, want 1", n)
	}
}
