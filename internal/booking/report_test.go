package booking_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// reportFixture books, at a Bogotá branch, three appointments of Juan (Corte: two completed, one
// no-show) and three of Ana (Barba: cancelled, pending, and completed at 23:30 local on
// 2027-06-02), plus two just outside the local days 2027-06-01..02. It then raises Corte's price,
// which must not change the reported revenue.
func reportFixture(t *testing.T, e *env) (fixture, booking.Member) {
	t.Helper()
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "00:00", "24:00")
	var ana booking.Member
	var barba booking.Service
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if ana, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 101, Role: booking.RoleStaff, DisplayName: "Ana"}); err != nil {
			return err
		}
		barba, err = booking.CreateService(ctx, tx, booking.ServicePatch{Name: ptr("Barba"), DurationMinutes: ptr(30), PriceCents: ptr(int64(1000000))})
		return err
	})
	book := func(staff, service int64, at string, steps ...string) {
		t.Helper()
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			a, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, booking.NewAppointment{
				BranchID: f.branch.ID, ServiceID: service, StaffID: staff, Start: mustTime(t, at),
				ClientName: "Cliente", Force: true}, past())
			if err != nil {
				return err
			}
			for _, s := range steps {
				if _, err := booking.SetStatus(ctx, tx, f.admin, a.ID, s, "motivo"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	done := []string{booking.StatusConfirmed, booking.StatusCompleted}
	book(f.staff.ID, f.service.ID, "2027-06-01T09:00:00-05:00", done...)
	book(f.staff.ID, f.service.ID, "2027-06-01T10:00:00-05:00", done...)
	book(f.staff.ID, f.service.ID, "2027-06-01T11:00:00-05:00", booking.StatusNoShow)
	book(ana.ID, barba.ID, "2027-06-02T09:00:00-05:00", booking.StatusCancelled)
	book(ana.ID, barba.ID, "2027-06-02T10:00:00-05:00")
	book(ana.ID, barba.ID, "2027-06-02T23:30:00-05:00", done...)
	// Outside the local days, though inside them in UTC.
	book(ana.ID, barba.ID, "2027-05-31T23:30:00-05:00", done...)
	book(ana.ID, f.service.ID, "2027-06-03T00:30:00-05:00", done...)
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := booking.UpdateService(ctx, tx, f.service.ID, booking.ServicePatch{PriceCents: ptr(int64(9900000))})
		return err
	})
	return f, ana
}

func (e *env) report(t *testing.T, actor booking.Actor, in booking.ReportRequest) (booking.Report, error) {
	t.Helper()
	var rep booking.Report
	err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		rep, err = booking.Open(tx, nil, nil).Report(ctx, actor, in)
		return err
	})
	return rep, err
}

func TestReport(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f, ana := reportFixture(t, e)
	in := booking.ReportRequest{BranchID: f.branch.ID, From: date(t, "2027-06-01"), To: date(t, "2027-06-02")}

	t.Run("CountsByStateStaffAndServiceInLocalDays", func(t *testing.T) {
		rep, err := e.report(t, f.admin, in)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 6 || rep.TimeZone != "America/Bogota" {
			t.Fatalf("total %d zone %q, want 6 America/Bogota", rep.Total, rep.TimeZone)
		}
		want := []booking.StatusCount{{Status: "pendiente", Count: 1}, {Status: "confirmada", Count: 0},
			{Status: "completada", Count: 3}, {Status: "cancelada", Count: 1}, {Status: "no_asistio", Count: 1}}
		if mustJSON(t, rep.ByStatus) != mustJSON(t, want) {
			t.Fatalf("by state %s, want %s", mustJSON(t, rep.ByStatus), mustJSON(t, want))
		}
		wantStaff := []booking.GroupCount{
			{ID: ana.ID, Name: "Ana", Count: 3, Completed: 1, Cancelled: 1, RevenueCents: 1000000},
			{ID: f.staff.ID, Name: "Juan", Count: 3, Completed: 2, NoShows: 1, RevenueCents: 5000000},
		}
		if mustJSON(t, rep.ByStaff) != mustJSON(t, wantStaff) {
			t.Fatalf("by staff %s, want %s", mustJSON(t, rep.ByStaff), mustJSON(t, wantStaff))
		}
		if len(rep.ByService) != 2 || rep.ByService[0].Name != "Barba" || rep.ByService[0].Count != 3 ||
			rep.ByService[1].Name != "Corte" || rep.ByService[1].Count != 3 || rep.ByService[1].NoShows != 1 {
			t.Fatalf("by service %s", mustJSON(t, rep.ByService))
		}
	})

	t.Run("NoShowRateAndStoredPriceRevenue", func(t *testing.T) {
		rep, err := e.report(t, f.admin, in)
		if err != nil {
			t.Fatal(err)
		}
		if rep.NoShowRate != 0.25 {
			t.Fatalf("no-show rate %v, want 0.25", rep.NoShowRate)
		}
		if want := []booking.Revenue{{Currency: "COP", Cents: 6000000}}; mustJSON(t, rep.Revenue) != mustJSON(t, want) {
			t.Fatalf("revenue %s, want %s", mustJSON(t, rep.Revenue), mustJSON(t, want))
		}
	})

	t.Run("StaffCountOnlyTheirOwn", func(t *testing.T) {
		rep, err := e.report(t, booking.Actor{ProfileID: f.staff.ID, Role: booking.RoleStaff}, in)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 3 || len(rep.ByStaff) != 1 || rep.ByStaff[0].Name != "Juan" || rep.Revenue[0].Cents != 5000000 {
			t.Fatalf("staff report %s", mustJSON(t, rep))
		}
	})

	t.Run("CSVHasEverySection", func(t *testing.T) {
		rep, err := e.report(t, f.admin, in)
		if err != nil {
			t.Fatal(err)
		}
		rows := rep.CSV()
		got := map[string]int{}
		for _, r := range rows {
			got[r[0]]++
		}
		if got["estado"] != 5 || got["profesional"] != 2 || got["servicio"] != 2 || got["ingresos"] != 1 || got["tasa_no_asistio"] != 1 {
			t.Fatalf("csv sections %v", got)
		}
	})

	t.Run("EmptyRangeIsZero", func(t *testing.T) {
		rep, err := e.report(t, f.admin, booking.ReportRequest{BranchID: f.branch.ID, From: date(t, "2030-01-01"), To: date(t, "2030-01-31")})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 0 || rep.NoShowRate != 0 || len(rep.ByStatus) != 5 || rep.ByStaff == nil || rep.Revenue == nil {
			t.Fatalf("empty report %s", mustJSON(t, rep))
		}
	})

	for name, bad := range map[string]booking.ReportRequest{
		"RejectsHastaBeforeDesde": {BranchID: f.branch.ID, From: date(t, "2027-06-02"), To: date(t, "2027-06-01")},
		"RejectsMoreThan366Days":  {BranchID: f.branch.ID, From: date(t, "2027-01-01"), To: date(t, "2028-01-02")},
		"RejectsYearOutside":      {BranchID: f.branch.ID, From: date(t, "1999-12-31"), To: date(t, "2000-01-01")},
		"RejectsMissingBranch":    {From: date(t, "2027-06-01"), To: date(t, "2027-06-02")},
		"RejectsUnknownBranch":    {BranchID: 999999, From: date(t, "2027-06-01"), To: date(t, "2027-06-02")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.report(t, f.admin, bad)
			wantKind(t, err, booking.ErrInvalid, "")
		})
	}

	t.Run("Accepts366Days", func(t *testing.T) {
		if _, err := e.report(t, f.admin, booking.ReportRequest{BranchID: f.branch.ID, From: date(t, "2028-01-01"), To: date(t, "2028-12-31")}); err != nil {
			t.Fatal(err)
		}
	})
}
