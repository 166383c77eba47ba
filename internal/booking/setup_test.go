package booking_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is one tenant on a fresh database.
type env struct {
	m      *tenancy.Manager
	tenant tenancy.Tenant
}

func setup(t testing.TB) *env {
	t.Helper()
	ctx := t.Context()
	// Room for TestNoDoubleBooking's transactions to be open at once on the tenant's slice.
	m, _ := tenancytest.NewManager(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 30}})
	org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Barbería Juan"})
	if err != nil {
		t.Fatal(err)
	}
	ten, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	return &env{m: m, tenant: ten}
}

// run runs fn in the tenant and fails the test on error.
func (e *env) run(t testing.TB, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	if err := e.try(t, fn); err != nil {
		t.Fatal(err)
	}
}

// try runs fn in the tenant and returns its error.
func (e *env) try(t testing.TB, fn func(ctx context.Context, tx pgx.Tx) error) error {
	t.Helper()
	ctx := t.Context()
	return e.m.Run(ctx, e.tenant, func(tx pgx.Tx) error { return fn(ctx, tx) })
}

func ptr[T any](v T) *T { return &v }

// fixture is a branch, a service and a staff member working there.
type fixture struct {
	branch  booking.Branch
	service booking.Service
	staff   booking.Member
	admin   booking.Actor
}

// newFixture creates a branch in zone, a service and a staff member working every day within
// [start, end) at the branch.
func (e *env) newFixture(t testing.TB, zone string, svc booking.ServicePatch, start, end string) fixture {
	t.Helper()
	var f fixture
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if f.branch, err = booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr("Centro"), TimeZone: ptr(zone)}); err != nil {
			return err
		}
		if svc.Name == nil {
			svc.Name = ptr("Corte")
		}
		if svc.PriceCents == nil {
			svc.PriceCents = ptr(int64(2500000))
		}
		if f.service, err = booking.CreateService(ctx, tx, svc); err != nil {
			return err
		}
		if f.staff, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 100, Role: booking.RoleStaff, DisplayName: "Juan"}); err != nil {
			return err
		}
		var week []booking.WorkBlock
		for d := range 7 {
			week = append(week, booking.WorkBlock{BranchID: f.branch.ID, Weekday: d, Start: start, End: end})
		}
		_, err = booking.SetWeeklyHours(ctx, tx, f.staff.ID, week)
		return err
	})
	f.admin = booking.Actor{ProfileID: 0, Role: booking.RoleAdmin}
	return f
}

// wantKind fails unless err is a booking.Error of kind (and, when code is set, with that code).
func wantKind(t *testing.T, err, kind error, code string) *booking.Error {
	t.Helper()
	var be *booking.Error
	if !errors.Is(err, kind) || !errors.As(err, &be) {
		t.Fatalf("error = %v, want %v", err, kind)
	}
	if code != "" && be.Code != code {
		t.Fatalf("error code = %q (%v), want %q", be.Code, err, code)
	}
	return be
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// past returns a "now" before every test date.
func past() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
