package booking_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// book creates an appointment of f's service with f's staff member at start. It books twice in
// the same transaction, reading the set-up from the tables and from a loaded booking.Setup (the
// first in a savepoint rolled back), and fails the test unless both decide alike.
func (e *env) book(t *testing.T, f fixture, actor booking.Actor, start time.Time) (booking.Appointment, error) {
	t.Helper()
	var a booking.Appointment
	err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
		in := booking.NewAppointment{
			BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: f.staff.ID, Start: start,
			ClientName: "María Pérez", ClientPhone: "+57 300 111 2233", ClientEmail: "maria@example.com",
		}
		viaSetup, setupErr := withSetup(ctx, t, tx, func(ctx context.Context, tx pgx.Tx, s *booking.Setup) (booking.Appointment, error) {
			return booking.Open(tx, s, nil).CreateAppointment(ctx, actor, in, past())
		})
		var err error
		a, err = booking.Open(tx, nil, nil).CreateAppointment(ctx, actor, in, past())
		sameDecision(t, "CreateAppointment", a, err, viaSetup, setupErr)
		return err
	})
	return a, err
}

// withSetup runs fn with the tenant's set-up, loaded in tx, inside a savepoint that it rolls back.
func withSetup[T any](ctx context.Context, t *testing.T, tx pgx.Tx, fn func(context.Context, pgx.Tx, *booking.Setup) (T, error)) (T, error) {
	t.Helper()
	s, err := booking.LoadSetup(ctx, tx, nil, 0)
	if err != nil {
		t.Fatalf("loading the set-up: %v", err)
	}
	if _, err := tx.Exec(ctx, `SAVEPOINT with_setup`); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT with_setup`); err != nil {
			t.Fatal(err)
		}
	}()
	return fn(ctx, tx, s)
}

// sameDecision fails the test unless a booking read from the tables (a, err) and one read from a
// booking.Setup (b, errB) have the same outcome: the same error message, or appointments at the
// same times with the same price.
func sameDecision(t *testing.T, what string, a booking.Appointment, err error, b booking.Appointment, errB error) {
	t.Helper()
	if (err == nil) != (errB == nil) || err != nil && err.Error() != errB.Error() {
		t.Fatalf("%s from the tables: %v; from the set-up: %v", what, err, errB)
	}
	if err == nil && (!a.Start.Equal(b.Start) || !a.End.Equal(b.End) || !a.BlockStart.Equal(b.BlockStart) ||
		!a.BlockEnd.Equal(b.BlockEnd) || a.PriceCents != b.PriceCents || a.StaffID != b.StaffID) {
		t.Fatalf("%s from the tables: %+v; from the set-up: %+v", what, a, b)
	}
}

func TestCreateAppointment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Bogotá is UTC-5 all year. Service: 30 min, 10 min before, 5 min after.
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30), BufferBeforeMinutes: ptr(10), BufferAfterMinutes: ptr(5)}, "09:00", "18:00")

	t.Run("ComputesEndBlockAndPrice", func(t *testing.T) {
		a, err := e.book(t, f, f.admin, mustTime(t, "2027-03-01T10:00:00-05:00"))
		if err != nil {
			t.Fatal(err)
		}
		if !a.End.Equal(mustTime(t, "2027-03-01T10:30:00-05:00")) ||
			!a.BlockStart.Equal(mustTime(t, "2027-03-01T09:50:00-05:00")) ||
			!a.BlockEnd.Equal(mustTime(t, "2027-03-01T10:35:00-05:00")) {
			t.Errorf("times: %v-%v, busy %v-%v", a.Start, a.End, a.BlockStart, a.BlockEnd)
		}
		if a.PriceCents != 2500000 || a.Currency != "COP" || a.Status != booking.StatusPending {
			t.Errorf("price %d %s, state %s", a.PriceCents, a.Currency, a.Status)
		}
	})

	t.Run("RefusesOverlapIncludingBuffers", func(t *testing.T) {
		_, err := e.book(t, f, f.admin, mustTime(t, "2027-03-02T10:00:00-05:00"))
		if err != nil {
			t.Fatal(err)
		}
		// 10:35 starts after the first ends (10:30) but its 10 min buffer reaches back to 10:25,
		// into the first one's busy block (until 10:35).
		_, err = e.book(t, f, f.admin, mustTime(t, "2027-03-02T10:35:00-05:00"))
		be := wantKind(t, err, booking.ErrConflict, "double_booking")
		if be.Message != booking.MsgDoubleBooking {
			t.Errorf("message = %q", be.Message)
		}
		// Back to back on the busy blocks: 10:45 - 10 min = 10:35, the first one's busy end.
		if _, err := e.book(t, f, f.admin, mustTime(t, "2027-03-02T10:45:00-05:00")); err != nil {
			t.Errorf("back-to-back booking: %v", err)
		}
	})

	t.Run("RequiresWorkingHoursUnlessAdminForces", func(t *testing.T) {
		late := mustTime(t, "2027-03-03T17:45:00-05:00") // ends 18:15, after hours
		_, err := e.book(t, f, f.admin, late)
		wantKind(t, err, booking.ErrInvalid, "outside_working_hours")

		forced := func(actor booking.Actor) error {
			return e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, actor, booking.NewAppointment{
					BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: f.staff.ID, Start: late,
					ClientName: "Pedro", Force: true,
				}, past())
				return err
			})
		}
		wantKind(t, forced(booking.Actor{ProfileID: 1, Role: booking.RoleReceptionist}), booking.ErrForbidden, "")
		if err := forced(f.admin); err != nil {
			t.Errorf("forced by an admin: %v", err)
		}
	})

	t.Run("RefusesThePast", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, booking.NewAppointment{
				BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: f.staff.ID,
				Start: mustTime(t, "2027-03-04T10:00:00-05:00"), ClientName: "Pedro",
			}, mustTime(t, "2027-03-05T00:00:00Z"))
			return err
		})
		if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != "inicio" {
			t.Errorf("field = %q", be.Field)
		}
	})

	t.Run("StaffBookOnlyThemselves", func(t *testing.T) {
		other := booking.Actor{ProfileID: f.staff.ID + 1000, Role: booking.RoleStaff}
		_, err := e.book(t, f, other, mustTime(t, "2027-03-05T10:00:00-05:00"))
		wantKind(t, err, booking.ErrForbidden, "")
		self := booking.Actor{ProfileID: f.staff.ID, Role: booking.RoleStaff}
		if _, err := e.book(t, f, self, mustTime(t, "2027-03-05T10:00:00-05:00")); err != nil {
			t.Errorf("staff booking themselves: %v", err)
		}
	})

	t.Run("RejectsInvalidInputNamingTheField", func(t *testing.T) {
		ok := func() booking.NewAppointment {
			return booking.NewAppointment{BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: f.staff.ID,
				Start: mustTime(t, "2027-03-06T10:00:00-05:00"), ClientName: "Ana"}
		}
		tests := []struct {
			name   string
			change func(*booking.NewAppointment)
			field  string
		}{
			{"NoClient", func(a *booking.NewAppointment) { a.ClientName = " " }, "cliente_nombre"},
			{"BadEmail", func(a *booking.NewAppointment) { a.ClientEmail = "nope" }, "cliente_email"},
			{"NoStart", func(a *booking.NewAppointment) { a.Start = time.Time{} }, "inicio"},
			{"UnknownService", func(a *booking.NewAppointment) { a.ServiceID = 999 }, "servicio_id"},
			{"UnknownBranch", func(a *booking.NewAppointment) { a.BranchID = 999 }, "sede_id"},
			{"UnknownStaff", func(a *booking.NewAppointment) { a.StaffID = 999 }, "profesional_id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := ok()
				tt.change(&in)
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, in, past())
					return err
				})
				if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != tt.field {
					t.Errorf("field = %q, want %q (%v)", be.Field, tt.field, err)
				}
			})
		}
	})
}

// TestNoDoubleBooking is item 4: many concurrent bookings of overlapping times with one staff
// member, each in its own tenant transaction, released together: exactly one wins.
func TestNoDoubleBooking(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(60)}, "00:00", "24:00")
	base := mustTime(t, "2027-05-10T10:00:00-05:00")

	const n = 24
	var (
		ready, done sync.WaitGroup
		start       = make(chan struct{})
		mu          sync.Mutex
		winners     []booking.Appointment
		errs        []error
	)
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			// Every start is within 55 minutes of every other: all of them overlap pairwise.
			at := base.Add(time.Duration(i%12) * 5 * time.Minute)
			err := e.m.Run(context.Background(), e.tenant, func(tx pgx.Tx) error {
				ctx := context.Background()
				if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
					return err
				}
				ready.Done()
				select {
				case <-start:
				case <-time.After(time.Minute):
					return errors.New("the start signal never came")
				}
				a, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, booking.NewAppointment{
					BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: f.staff.ID, Start: at, ClientName: "Cliente",
				}, past())
				if err == nil {
					mu.Lock()
					winners = append(winners, a)
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	allReady := make(chan struct{})
	go func() { ready.Wait(); close(allReady) }()
	select {
	case <-allReady:
	case <-time.After(30 * time.Second):
		t.Fatal("the transactions did not all open within 30s")
	}
	close(start)
	done.Wait()

	if len(winners) != 1 {
		t.Fatalf("%d bookings succeeded, want exactly 1", len(winners))
	}
	for _, err := range errs {
		var be *booking.Error
		if !errors.Is(err, booking.ErrConflict) || !errors.As(err, &be) || be.Message != booking.MsgDoubleBooking {
			t.Errorf("loser got %v, want a conflict %q", err, booking.MsgDoubleBooking)
		}
	}
	w := winners[0]

	t.Run("BackToBackSucceeds", func(t *testing.T) {
		if _, err := e.book(t, f, f.admin, w.End); err != nil {
			t.Errorf("booking right after the winner: %v", err)
		}
		if _, err := e.book(t, f, f.admin, w.Start.Add(-time.Hour)); err != nil {
			t.Errorf("booking right before the winner: %v", err)
		}
	})

	t.Run("SameTimeSucceedsAfterCancel", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, f.admin, w.ID, booking.StatusCancelled, "cliente canceló")
			return err
		})
		if _, err := e.book(t, f, f.admin, w.Start); err != nil {
			t.Errorf("booking the freed time: %v", err)
		}
	})
}

func TestAppointmentStates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "00:00", "24:00")
	at := mustTime(t, "2027-06-01T08:00:00-05:00")

	// prepare returns an appointment in state s (each at its own time).
	prepare := func(t *testing.T, s string) booking.Appointment {
		t.Helper()
		at = at.Add(time.Hour)
		a, err := e.book(t, f, f.admin, at)
		if err != nil {
			t.Fatal(err)
		}
		path := map[string][]string{
			booking.StatusPending:   nil,
			booking.StatusConfirmed: {booking.StatusConfirmed},
			booking.StatusCompleted: {booking.StatusConfirmed, booking.StatusCompleted},
			booking.StatusCancelled: {booking.StatusCancelled},
			booking.StatusNoShow:    {booking.StatusNoShow},
		}[s]
		for _, step := range path {
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				a, err = booking.SetStatus(ctx, tx, f.admin, a.ID, step, "motivo")
				return err
			})
		}
		return a
	}

	tests := []struct {
		from, to string
		wantErr  string // "" when allowed
	}{
		{booking.StatusPending, booking.StatusConfirmed, ""},
		{booking.StatusPending, booking.StatusCompleted, ""},
		{booking.StatusPending, booking.StatusCancelled, ""},
		{booking.StatusPending, booking.StatusNoShow, ""},
		{booking.StatusConfirmed, booking.StatusCompleted, ""},
		{booking.StatusConfirmed, booking.StatusCancelled, ""},
		{booking.StatusConfirmed, booking.StatusNoShow, ""},
		{booking.StatusConfirmed, booking.StatusConfirmed, "the appointment is already confirmed"},
		{booking.StatusCancelled, booking.StatusCompleted, "cannot complete a cancelled appointment"},
		{booking.StatusCancelled, booking.StatusConfirmed, "cannot confirm a cancelled appointment"},
		{booking.StatusCompleted, booking.StatusCancelled, "cannot cancel a completed appointment"},
		{booking.StatusNoShow, booking.StatusCompleted, "cannot complete a no-show appointment"},
		{booking.StatusCompleted, booking.StatusNoShow, "cannot mark as no-show a completed appointment"},
	}
	for _, tt := range tests {
		t.Run(tt.from+"To"+tt.to, func(t *testing.T) {
			a := prepare(t, tt.from)
			var got booking.Appointment
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				var err error
				got, err = booking.SetStatus(ctx, tx, f.admin, a.ID, tt.to, "el cliente avisó")
				return err
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tt.to {
					t.Errorf("state = %s, want %s", got.Status, tt.to)
				}
				if tt.to == booking.StatusCancelled && got.CancellationReason != "el cliente avisó" {
					t.Errorf("reason = %q", got.CancellationReason)
				}
				return
			}
			be := wantKind(t, err, booking.ErrConflict, "invalid_transition")
			if !errors.Is(err, booking.ErrInvalidTransition) || be.Message != tt.wantErr {
				t.Errorf("error = %q, want %q", be.Message, tt.wantErr)
			}
		})
	}

	t.Run("CancelNeedsReason", func(t *testing.T) {
		a := prepare(t, booking.StatusPending)
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, f.admin, a.ID, booking.StatusCancelled, " ")
			return err
		})
		if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != "motivo" {
			t.Errorf("field = %q", be.Field)
		}
	})

	t.Run("StaffCannotTouchOthersAppointments", func(t *testing.T) {
		a := prepare(t, booking.StatusPending)
		other := booking.Actor{ProfileID: f.staff.ID + 1000, Role: booking.RoleStaff}
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, other, a.ID, booking.StatusConfirmed, "")
			return err
		})
		wantKind(t, err, booking.ErrNotFound, "")
		own := booking.Actor{ProfileID: f.staff.ID, Role: booking.RoleStaff}
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, own, a.ID, booking.StatusConfirmed, "")
			return err
		})
	})
}

func TestRescheduleAppointment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(45), BufferAfterMinutes: ptr(15)}, "09:00", "18:00")
	a, err := e.book(t, f, f.admin, mustTime(t, "2027-07-01T09:00:00-05:00"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.book(t, f, f.admin, mustTime(t, "2027-07-01T11:00:00-05:00"))
	if err != nil {
		t.Fatal(err)
	}
	reschedule := func(id int64, start string, staff *int64) (booking.Appointment, error) {
		var out booking.Appointment
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			in := booking.Reschedule{Start: mustTime(t, start), StaffID: staff}
			viaSetup, setupErr := withSetup(ctx, t, tx, func(ctx context.Context, tx pgx.Tx, s *booking.Setup) (booking.Appointment, error) {
				return booking.Open(tx, s, nil).RescheduleAppointment(ctx, f.admin, id, in, past())
			})
			var err error
			out, err = booking.Open(tx, nil, nil).RescheduleAppointment(ctx, f.admin, id, in, past())
			sameDecision(t, "RescheduleAppointment", out, err, viaSetup, setupErr)
			return err
		})
		return out, err
	}

	t.Run("MovesKeepingDurationAndBuffers", func(t *testing.T) {
		got, err := reschedule(a.ID, "2027-07-01T14:00:00-05:00", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !got.End.Equal(mustTime(t, "2027-07-01T14:45:00-05:00")) || !got.BlockEnd.Equal(mustTime(t, "2027-07-01T15:00:00-05:00")) {
			t.Errorf("moved to %v-%v, busy until %v", got.Start, got.End, got.BlockEnd)
		}
	})

	t.Run("RefusesOverlap", func(t *testing.T) {
		_, err := reschedule(a.ID, "2027-07-01T10:30:00-05:00", nil)
		wantKind(t, err, booking.ErrConflict, "double_booking")
	})

	t.Run("RefusesCancelled", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, f.admin, b.ID, booking.StatusCancelled, "no viene")
			return err
		})
		_, err := reschedule(b.ID, "2027-07-01T16:00:00-05:00", nil)
		be := wantKind(t, err, booking.ErrConflict, "invalid_transition")
		if be.Message != "cannot reschedule a cancelled appointment" {
			t.Errorf("message = %q", be.Message)
		}
	})

	t.Run("RefusesStaffWithoutHours", func(t *testing.T) {
		var other booking.Member
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			other, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 555, Role: booking.RoleStaff})
			return err
		})
		_, err := reschedule(a.ID, "2027-07-01T16:00:00-05:00", &other.ID)
		wantKind(t, err, booking.ErrInvalid, "outside_working_hours")
	})
}

func TestListAppointments(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "00:00", "24:00")
	var second booking.Member
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if second, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 200, Role: booking.RoleStaff}); err != nil {
			return err
		}
		var week []booking.WorkBlock
		for d := range 7 {
			week = append(week, booking.WorkBlock{BranchID: f.branch.ID, Weekday: d, Start: "00:00", End: "24:00"})
		}
		_, err = booking.SetWeeklyHours(ctx, tx, second.ID, week)
		return err
	})
	base := mustTime(t, "2027-08-02T08:00:00-05:00")
	var ids []int64
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		for i := range 10 {
			staff, client := f.staff.ID, "Carlos Gómez"
			if i%2 == 1 {
				staff, client = second.ID, "Lucía 100%_Ruiz"
			}
			a, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, booking.NewAppointment{
				BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: staff,
				Start: base.Add(time.Duration(i) * time.Hour), ClientName: client,
			}, past())
			if err != nil {
				return err
			}
			ids = append(ids, a.ID)
		}
		_, err := booking.SetStatus(ctx, tx, f.admin, ids[0], booking.StatusConfirmed, "")
		return err
	})
	list := func(actor booking.Actor, fl booking.AppointmentFilter) booking.AppointmentPage {
		t.Helper()
		var p booking.AppointmentPage
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			p, err = booking.Open(tx, nil, nil).ListAppointments(ctx, actor, fl)
			return err
		})
		return p
	}

	t.Run("PagesThroughEverythingInOrder", func(t *testing.T) {
		var got []int64
		fl := booking.AppointmentFilter{Limit: 3}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			p := list(f.admin, fl)
			for _, a := range p.Items {
				got = append(got, a.ID)
			}
			if p.NextCursor == "" {
				break
			}
			fl.Cursor = p.NextCursor
		}
		if len(got) != len(ids) {
			t.Fatalf("listed %v, want %v", got, ids)
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("listed %v, want %v", got, ids)
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		tests := []struct {
			name string
			fl   booking.AppointmentFilter
			want int
		}{
			{"ByStaff", booking.AppointmentFilter{StaffID: second.ID}, 5},
			{"ByState", booking.AppointmentFilter{Status: booking.StatusConfirmed}, 1},
			{"ByRange", booking.AppointmentFilter{From: base.Add(2 * time.Hour), To: base.Add(5 * time.Hour)}, 3},
			{"ByClientSubstringCaseInsensitive", booking.AppointmentFilter{Client: "gómez"}, 5},
			{"ByClientWithLikeCharacters", booking.AppointmentFilter{Client: "100%_"}, 5},
			{"ByClientLiteralPercent", booking.AppointmentFilter{Client: "%"}, 5},
			{"ByBranch", booking.AppointmentFilter{BranchID: f.branch.ID + 1}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := len(list(f.admin, tt.fl).Items); got != tt.want {
					t.Errorf("got %d appointments, want %d", got, tt.want)
				}
			})
		}
	})

	t.Run("StaffSeeOnlyTheirOwn", func(t *testing.T) {
		p := list(booking.Actor{ProfileID: second.ID, Role: booking.RoleStaff}, booking.AppointmentFilter{})
		if len(p.Items) != 5 {
			t.Fatalf("staff saw %d appointments, want 5", len(p.Items))
		}
		for _, a := range p.Items {
			if a.StaffID != second.ID {
				t.Errorf("staff %d saw appointment %d of %d", second.ID, a.ID, a.StaffID)
			}
		}
		if p := list(booking.Actor{ProfileID: second.ID, Role: booking.RoleStaff}, booking.AppointmentFilter{StaffID: f.staff.ID}); len(p.Items) != 0 {
			t.Errorf("staff asking for someone else's agenda saw %d", len(p.Items))
		}
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.GetAppointment(ctx, tx, booking.Actor{ProfileID: second.ID, Role: booking.RoleStaff}, ids[0])
			return err
		})
		wantKind(t, err, booking.ErrNotFound, "")
	})

	t.Run("RejectsBadFilters", func(t *testing.T) {
		for _, fl := range []booking.AppointmentFilter{{Limit: booking.MaxPageSize + 1}, {Status: "done"}, {Cursor: "garbage!"}} {
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.Open(tx, nil, nil).ListAppointments(ctx, f.admin, fl)
				return err
			})
			wantKind(t, err, booking.ErrInvalid, "")
		}
	})
}

// TestListAppointmentsByLocalDay checks that FromDay/ToDay are local days of the branch's zone,
// resolved by the listing query, across a DST change: America/Santiago springs forward at the
// midnight that starts 2027-09-05 (00:00 -04 becomes 01:00 -03), so that day starts at 01:00.
func TestListAppointmentsByLocalDay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Santiago", booking.ServicePatch{DurationMinutes: ptr(30)}, "00:00", "24:00")
	starts := map[string]time.Time{
		"sep4-late":   mustTime(t, "2027-09-04T23:15:00-04:00"), // the last minutes of the 4th
		"sep5-first":  mustTime(t, "2027-09-05T01:00:00-03:00"), // the 5th's first instant
		"sep5-night":  mustTime(t, "2027-09-05T23:20:00-03:00"),
		"sep6-early":  mustTime(t, "2027-09-06T00:10:00-03:00"),
		"bogota-5th?": mustTime(t, "2027-09-05T00:30:00-05:00"), // 02:30 in Santiago on the 5th
	}
	ids := map[int64]string{}
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		for name, start := range starts {
			a, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, booking.NewAppointment{
				BranchID: f.branch.ID, ServiceID: f.service.ID, StaffID: f.staff.ID, Start: start, ClientName: name,
			}, past())
			if err != nil {
				return err
			}
			ids[a.ID] = name
		}
		return nil
	})
	day := func(s string) booking.Date {
		d, err := booking.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name string
		fl   booking.AppointmentFilter
		want []string
	}{
		{"OneDayInTheBranchZone", booking.AppointmentFilter{BranchID: f.branch.ID, FromDay: day("2027-09-05"), ToDay: day("2027-09-05"), Zone: "UTC"},
			[]string{"sep5-first", "bogota-5th?", "sep5-night"}},
		{"DayBeforeTheGap", booking.AppointmentFilter{BranchID: f.branch.ID, FromDay: day("2027-09-04"), ToDay: day("2027-09-04")},
			[]string{"sep4-late"}},
		{"OpenEndedFrom", booking.AppointmentFilter{BranchID: f.branch.ID, FromDay: day("2027-09-06")},
			[]string{"sep6-early"}},
		{"WithoutBranchTheGivenZone", booking.AppointmentFilter{ToDay: day("2027-09-04"), Zone: "America/Santiago"},
			[]string{"sep4-late"}},
		{"UnknownBranchWithoutZoneIsEmpty", booking.AppointmentFilter{BranchID: f.branch.ID + 99, FromDay: day("2027-09-05"), ToDay: day("2027-09-05")},
			nil},
	}
	for _, tt := range tests {
		// The branch's zone read by the listing query, and taken from a booking.Setup.
		for _, viaSetup := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/setup=%t", tt.name, viaSetup), func(t *testing.T) {
				var got []string
				e.run(t, func(ctx context.Context, tx pgx.Tx) error {
					var s *booking.Setup
					if viaSetup {
						var err error
						if s, err = booking.LoadSetup(ctx, tx, nil, 0); err != nil {
							return err
						}
					}
					p, err := booking.Open(tx, s, nil).ListAppointments(ctx, f.admin, tt.fl)
					for _, a := range p.Items {
						got = append(got, ids[a.ID])
					}
					return err
				})
				if !slices.Equal(got, tt.want) {
					t.Errorf("listed %v, want %v", got, tt.want)
				}
			})
		}
	}

	t.Run("RejectsBadDayFilters", func(t *testing.T) {
		for _, fl := range []booking.AppointmentFilter{
			{FromDay: day("2027-09-05"), ToDay: day("2027-09-04"), BranchID: f.branch.ID},
			{FromDay: day("2027-09-05"), To: starts["sep6-early"], BranchID: f.branch.ID},
			{FromDay: day("2027-09-05"), Zone: "Mars/Olympus"},
		} {
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.Open(tx, nil, nil).ListAppointments(ctx, f.admin, fl)
				return err
			})
			wantKind(t, err, booking.ErrInvalid, "")
		}
	})
}
