package booking_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// BenchmarkReadPath measures one availability query of a week, with the set-up read from the
// tables (narrowed to the request) and from a loaded booking.Setup.
func BenchmarkReadPath(b *testing.B) {
	e := setup(b)
	f := e.newFixture(b, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")
	from := booking.DateOf(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
	q := booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID, From: from, To: from.AddDays(6),
		Now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, viaSetup := range []bool{false, true} {
		name := "tables"
		if viaSetup {
			name = "setup"
		}
		b.Run("FreeSlots/"+name, func(b *testing.B) {
			ctx := b.Context()
			err := e.m.Run(ctx, e.tenant, func(tx pgx.Tx) error {
				var s *booking.Setup
				if viaSetup {
					var err error
					if s, err = booking.LoadSetup(ctx, tx, nil, 0); err != nil {
						return err
					}
				}
				for b.Loop() {
					if _, err := booking.Open(tx, s, nil).FreeSlots(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
