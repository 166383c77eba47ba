package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// The handlers of working hours and schedule exceptions.

// exceptionRequest is the body of POST /api/excepciones.
type exceptionRequest struct {
	// ProfesionalID empty: the whole branch.
	ProfesionalID *int64 `json:"profesional_id"`
	// SedeID empty: the staff member at every branch (a day off only).
	SedeID *int64 `json:"sede_id"`
	// Fecha is YYYY-MM-DD.
	Fecha string `json:"fecha" openapi:"required,format=date"`
	// HoraInicio and HoraFin ("HH:MM"), both or neither: open only then that day; neither: closed.
	HoraInicio *string `json:"hora_inicio"`
	HoraFin    *string `json:"hora_fin"`
	Motivo     string  `json:"motivo"`
}

func (s *Server) getHours(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		hours, err := booking.WeeklyHours(ctx, tx, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, hoursBody{Hours: hours})
		return nil
	})
}

func (s *Server) putHours(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in hoursBody
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		hours, err := booking.SetWeeklyHours(ctx, tx, id, in.Hours)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, hoursBody{Hours: hours})
		return nil
	})
}

func (s *Server) listExceptions(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "desde", "hasta", "sede_id", "profesional_id")
	var f booking.ExceptionFilter
	if err == nil {
		f.From, err = queryDate(q, "desde")
	}
	if err == nil {
		f.To, err = queryDate(q, "hasta")
	}
	if err == nil {
		f.BranchID, err = queryID(q, "sede_id")
	}
	if err == nil {
		f.StaffID, err = queryID(q, "profesional_id")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		es, err := booking.ListExceptions(ctx, tx, f)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[booking.Exception]{Items: es})
		return nil
	})
}

func (s *Server) createException(w http.ResponseWriter, r *http.Request) {
	var in exceptionRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	day, err := booking.ParseDate(in.Fecha)
	if err != nil {
		err = invalidQuery("fecha", "must be a date YYYY-MM-DD, got "+strconv.Quote(in.Fecha))
	} else {
		err = booking.CheckDate("fecha", day)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	x := booking.Exception{StaffID: in.ProfesionalID, BranchID: in.SedeID, Date: day, Start: in.HoraInicio, End: in.HoraFin, Reason: in.Motivo}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin, booking.RoleReceptionist); err != nil {
			return err
		}
		out, err := booking.CreateException(ctx, tx, x)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, out)
		return nil
	})
}

func (s *Server) deleteException(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin, booking.RoleReceptionist); err != nil {
			return err
		}
		if err := booking.DeleteException(ctx, tx, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
