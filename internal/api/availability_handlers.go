package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// The handler of free slots.

func (s *Server) availability(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "servicio_id", "sede_id", "desde", "hasta", "profesional_id")
	var aq booking.AvailabilityQuery
	if err == nil {
		aq.ServiceID, err = queryID(q, "servicio_id")
	}
	if err == nil {
		aq.BranchID, err = queryID(q, "sede_id")
	}
	if err == nil {
		aq.StaffID, err = queryID(q, "profesional_id")
	}
	if err == nil {
		aq.From, err = queryDate(q, "desde")
	}
	if err == nil {
		aq.To, err = queryDate(q, "hasta")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	aq.Now = s.cfg.Now()
	var a booking.Availability
	s.readInTenant(w, r, func(m Member) (tenancy.ReadQuery, bool) {
		return booking.FreeSlotsRead(m.Setup, s.zones, aq, &a)
	}, func(w http.ResponseWriter) { writeAvailability(w, http.StatusOK, a) }, func(ctx context.Context, tx pgx.Tx, m Member) error {
		a, err := s.bookings(tx, m).FreeSlots(ctx, aq)
		if err != nil {
			return err
		}
		writeAvailability(w, http.StatusOK, a)
		return nil
	})
}
