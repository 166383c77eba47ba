package booking_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

func TestUpdateMemberAs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var admin, other booking.Member
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if admin, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 11, Role: booking.RoleAdmin, DisplayName: "Juan"}); err != nil {
			return err
		}
		other, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 12, Role: booking.RoleAdmin, DisplayName: "Ana"})
		return err
	})
	refused := func(t *testing.T, p booking.MemberPatch) {
		t.Helper()
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.UpdateMemberAs(ctx, tx, admin.ID, admin.ID, p)
			return err
		})
		if !errors.Is(err, booking.ErrConflict) {
			t.Fatalf("UpdateMemberAs(self, %+v) = %v, want ErrConflict", p, err)
		}
	}
	t.Run("RejectsDemotingYourself", func(t *testing.T) {
		refused(t, booking.MemberPatch{Role: ptr(booking.RoleStaff)})
	})
	t.Run("RejectsDeactivatingYourself", func(t *testing.T) {
		refused(t, booking.MemberPatch{Active: ptr(false)})
	})
	t.Run("RenamesYourself", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			m, err := booking.UpdateMemberAs(ctx, tx, admin.ID, admin.ID, booking.MemberPatch{DisplayName: ptr("Juan P."), Role: ptr(booking.RoleAdmin)})
			if err == nil && (m.DisplayName != "Juan P." || m.UserID != 11) {
				t.Errorf("renamed = %+v", m)
			}
			return err
		})
	})
	t.Run("DemotesAnotherAndReturnsTheUserToMirror", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			m, err := booking.UpdateMemberAs(ctx, tx, admin.ID, other.ID, booking.MemberPatch{Role: ptr(booking.RoleStaff), Active: ptr(false)})
			if err == nil && (m.UserID != 12 || m.Role != booking.RoleStaff || m.Active) {
				t.Errorf("demoted = %+v", m)
			}
			return err
		})
	})
}
