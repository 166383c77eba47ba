package reservas_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/mail"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is one tenant whose online booking is on, with a branch, a service and a staff member who
// works 09:00-18:00 every day.
type env struct {
	m                            *tenancy.Manager
	tenant                       tenancy.Tenant
	branchID, serviceID, staffID int64
	set                          reservas.Settings
	now                          time.Time
	day                          booking.Date
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	m, _ := tenancytest.NewManager(t, tenancy.Config{})
	org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Barbería Juan"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{m: m, now: time.Now()}
	if e.tenant, err = org.Tenant(); err != nil {
		t.Fatal(err)
	}
	ptr := func(s string) *string { return &s }
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		br, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr("Centro"), TimeZone: ptr("America/Bogota")})
		if err != nil {
			return err
		}
		d, p := 30, int64(1000)
		svc, err := booking.CreateService(ctx, tx, booking.ServicePatch{Name: ptr("Corte"), DurationMinutes: &d, PriceCents: &p})
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
		e.branchID, e.serviceID, e.staffID = br.ID, svc.ID, st.ID
		e.set = reservas.DefaultSettings()
		e.set.Enabled = true
		e.set, err = reservas.PutSettings(ctx, tx, e.set)
		return err
	})
	bogota, _ := time.LoadLocation("America/Bogota")
	e.day = booking.DateOf(e.now.In(bogota).AddDate(0, 0, 1))
	return e
}

func (e *env) run(t *testing.T, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	if err := e.m.Run(t.Context(), e.tenant, func(tx pgx.Tx) error { return fn(t.Context(), tx) }); err != nil {
		t.Fatal(err)
	}
}

func (e *env) at(t *testing.T, hhmm string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, e.day.String()+"T"+hhmm+":00-05:00")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) hold(t *testing.T, hhmm string) reservas.Hold {
	t.Helper()
	var h reservas.Hold
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		h, err = reservas.CreateHold(ctx, tx, booking.Open(tx, nil, nil), e.set, reservas.NewHold{BranchID: e.branchID,
			ServiceID: e.serviceID, StaffID: e.staffID, Start: e.at(t, hhmm), ClientIP: "192.0.2.1"}, e.now)
		return err
	})
	return h
}

func (e *env) confirm(t *testing.T, h reservas.Hold) reservas.Booked {
	t.Helper()
	var b reservas.Booked
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		b, err = reservas.Confirm(ctx, tx, booking.Open(tx, nil, nil), e.set, reservas.Org{Name: "Barbería Juan", Slug: "barberia-juan", BaseURL: "https://x.co"},
			reservas.Confirmation{HoldID: h.ID, HoldToken: h.Token, Name: "Ana", Phone: "300", Email: "ana@example.co", Consent: true}, e.now)
		return err
	})
	return b
}

// recorder is a mailer that keeps what it sends; fail makes Send fail, after runs after sending.
type recorder struct {
	mu    sync.Mutex
	sent  []mail.Message
	fail  error
	after func()
}

func (r *recorder) Send(_ context.Context, m mail.Message) error {
	if r.fail != nil {
		return r.fail
	}
	r.mu.Lock()
	r.sent = append(r.sent, m)
	r.mu.Unlock()
	if r.after != nil {
		r.after()
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func TestDeliverForHold(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("WaitsWhileTheBookingMayStillCommit", func(t *testing.T) {
		h := e.hold(t, "09:00")
		d := &reservas.Deliverer{Manager: e.m, Mailer: &recorder{}}
		if err := d.DeliverForHold(t.Context(), e.tenant, h.ID); !errors.Is(err, reservas.ErrNotYet) {
			t.Fatalf("err = %v, want ErrNotYet", err)
		}
		// Once the hold expired (and a minute's grace passed) without a booking, there is nothing to send.
		d.Now = func() time.Time { return h.ExpiresAt.Add(2 * time.Minute) }
		if err := d.DeliverForHold(t.Context(), e.tenant, h.ID); err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
	})

	t.Run("SendsTheConfirmationWithItsICSOnce", func(t *testing.T) {
		h := e.hold(t, "10:00")
		b := e.confirm(t, h)
		rec := &recorder{}
		d := &reservas.Deliverer{Manager: e.m, Mailer: rec}
		for range 2 {
			if err := d.DeliverForHold(t.Context(), e.tenant, h.ID); err != nil {
				t.Fatal(err)
			}
		}
		if rec.count() != 1 {
			t.Fatalf("sent %d, want 1", rec.count())
		}
		m := rec.sent[0]
		if m.To != "ana@example.co" || m.FromName != "Barbería Juan" || !strings.Contains(m.Body, "https://x.co/r/barberia-juan/cita/"+b.Token) ||
			len(m.Attachments) != 1 || !strings.Contains(string(m.Attachments[0].Data), "METHOD:PUBLISH") {
			t.Fatalf("message = %+v", m)
		}
	})

	t.Run("NeverSendsTwiceWhenTheProcessDiesBetweenSendingAndMarkingSent", func(t *testing.T) {
		h := e.hold(t, "11:00")
		e.confirm(t, h)
		ctx, die := context.WithCancel(t.Context())
		rec := &recorder{after: die}
		d := &reservas.Deliverer{Manager: e.m, Mailer: rec}
		if err := d.DeliverForHold(ctx, e.tenant, h.ID); err == nil || !strings.Contains(err.Error(), "marking") {
			t.Fatalf("err = %v, want the marking to fail", err)
		}
		if err := d.DeliverForHold(t.Context(), e.tenant, h.ID); err != nil {
			t.Fatal(err)
		}
		if rec.count() != 1 {
			t.Fatalf("sent %d, want 1", rec.count())
		}
	})

	t.Run("RetriesAfterAnSMTPError", func(t *testing.T) {
		h := e.hold(t, "12:00")
		e.confirm(t, h)
		rec := &recorder{fail: errors.New("421 try later")}
		d := &reservas.Deliverer{Manager: e.m, Mailer: rec}
		if err := d.DeliverForHold(t.Context(), e.tenant, h.ID); err == nil {
			t.Fatal("an SMTP error was not returned")
		}
		rec.fail = nil
		if err := d.DeliverForHold(t.Context(), e.tenant, h.ID); err != nil || rec.count() != 1 {
			t.Fatalf("err %v, sent %d", err, rec.count())
		}
	})
}

func TestHistoryRecordsEveryPath(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var id int64
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, booking.Actor{Role: booking.RoleAdmin}, booking.NewAppointment{
			BranchID: e.branchID, ServiceID: e.serviceID, StaffID: e.staffID, Start: e.at(t, "15:00"), ClientName: "Luis"}, e.now)
		id = a.ID
		return err
	})
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		if err := booking.SetActor(ctx, tx, "42"); err != nil {
			return err
		}
		_, err := booking.SetStatus(ctx, tx, booking.Actor{Role: booking.RoleAdmin}, id, booking.StatusConfirmed, "")
		return err
	})
	// A change by hand (psql) is recorded as the system's; the setting does not outlive its transaction.
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE citas_cita SET estado = 'cancelada', motivo_cancelacion = 'a mano' WHERE id = $1`, id)
		return err
	})
	var got []string
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		h, err := booking.History(ctx, tx, booking.Actor{Role: booking.RoleAdmin}, id)
		for _, x := range h {
			got = append(got, x.Action+"/"+x.Actor+"/"+x.Detail)
		}
		return err
	})
	if len(got) != 3 || !strings.HasPrefix(got[0], "creada/sistema/") || got[1] != "confirmada/42/" || got[2] != "cancelada/sistema/a mano" {
		t.Fatalf("history = %q", got)
	}
}

func TestICS(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 8, 15, 0, 0, 0, time.UTC)
	out := reservas.ICS(reservas.Event{UID: "cita-1@x.appcitas", Summary: "Corte, barba; y más", Description: strings.Repeat("línea larga ", 20) + "\nfin",
		Start: start, End: start.Add(30 * time.Minute)}, start)
	for _, want := range []string{"BEGIN:VCALENDAR\r\n", "METHOD:PUBLISH\r\n", "UID:cita-1@x.appcitas\r\n", "DTSTART:20261208T150000Z\r\n",
		"DTEND:20261208T153000Z\r\n", `SUMMARY:Corte\, barba\; y más` + "\r\n", "END:VCALENDAR\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("ics lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\r\n") {
		if len(line) > 75 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
	}
}
