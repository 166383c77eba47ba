package booking_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestIDsBeyondInt4 passes ids past int4's range to every query that filters by an optional id
// (0: any). Each query binds them as bigint: not found or nothing, never an encoding error.
func TestIDsBeyondInt4(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")
	day := booking.DateOf(time.Now().AddDate(0, 0, 7))
	for _, id := range []int64{math.MaxInt32 + 1, math.MaxInt64} {
		t.Run("ListsExceptionsOfUnknownBranchAndStaff", func(t *testing.T) {
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.ListExceptions(ctx, tx, booking.ExceptionFilter{BranchID: id, StaffID: id})
				return err
			})
		})
		t.Run("ComputesAvailabilityOfUnknownStaff", func(t *testing.T) {
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.Open(tx, nil, nil).FreeSlots(ctx, booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID,
					StaffID: id, From: day, To: day, Now: time.Now()})
				return err
			})
			if err != nil && !errors.Is(err, booking.ErrNotFound) && !errors.Is(err, booking.ErrInvalid) {
				t.Fatalf("FreeSlots: %v", err)
			}
		})
		t.Run("ReadsAppointmentAsStaffWithLargeProfileID", func(t *testing.T) {
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.GetAppointment(ctx, tx, booking.Actor{ProfileID: id, Role: booking.RoleStaff}, id)
				return err
			})
			if !errors.Is(err, booking.ErrNotFound) {
				t.Fatalf("GetAppointment: %v, want not found", err)
			}
		})
	}
}
