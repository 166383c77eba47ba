package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// appointmentRequest is the body of POST /api/citas.
type appointmentRequest struct {
	SedeID        int64 `json:"sede_id" openapi:"required"`
	ServicioID    int64 `json:"servicio_id" openapi:"required"`
	ProfesionalID int64 `json:"profesional_id" openapi:"required"`
	// Inicio is RFC 3339, e.g. 2026-03-02T15:00:00-05:00.
	Inicio string `json:"inicio" openapi:"required"`
	// ClienteID books for a client of the directory; leave the client's name, phone and email out.
	// Without it, cliente_nombre is required and the phone or email find the client or make one.
	ClienteID       int64  `json:"cliente_id"`
	ClienteNombre   string `json:"cliente_nombre"`
	ClienteTelefono string `json:"cliente_telefono"`
	ClienteEmail    string `json:"cliente_email"`
	Notas           string `json:"notas"`
	// Forzar books outside working hours or in the past (admins only).
	Forzar bool `json:"forzar"`
}

// rescheduleRequest is the body of POST /api/citas/{id}/reprogramar.
type rescheduleRequest struct {
	Inicio        string `json:"inicio" openapi:"required"`
	ProfesionalID *int64 `json:"profesional_id"`
	Forzar        bool   `json:"forzar"`
}

// cancelRequest is the body of POST /api/citas/{id}/cancelar.
type cancelRequest struct {
	Motivo string `json:"motivo" openapi:"required"`
}

func invalidQuery(field, msg string) error {
	return &booking.Error{Kind: booking.ErrInvalid, Code: "invalid_input", Field: field, Message: field + ": " + msg}
}

// queryOf parses r's query, refusing parameters not in allowed and repeated ones.
func queryOf(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidQuery("query", "malformed query string")
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, invalidQuery(k, "unknown query parameter")
		}
		if len(v) > 1 {
			return nil, invalidQuery(k, "given more than once")
		}
		if !utf8.ValidString(v[0]) || strings.ContainsRune(v[0], 0) {
			return nil, invalidQuery(k, "must be valid UTF-8 text without NUL characters")
		}
	}
	return q, nil
}

// queryID reads an optional positive integer parameter (0 when absent).
func queryID(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidQuery(name, "must be a positive integer")
	}
	return id, nil
}

// queryDate reads an optional YYYY-MM-DD parameter (zero when absent).
func queryDate(q url.Values, name string) (booking.Date, error) {
	v := q.Get(name)
	if v == "" {
		return booking.Date{}, nil
	}
	d, err := booking.ParseDate(v)
	if err != nil {
		return booking.Date{}, invalidQuery(name, "must be a date YYYY-MM-DD, got "+strconv.Quote(v))
	}
	return d, booking.CheckDate(name, d)
}

// parseInstant reads an RFC 3339 time of a body field.
func parseInstant(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, invalidQuery(field, "is required (RFC 3339, e.g. 2026-03-02T15:00:00-05:00)")
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalidQuery(field, "must be RFC 3339 with a UTC offset, e.g. 2026-03-02T15:00:00-05:00; got "+strconv.Quote(v))
	}
	return t, booking.CheckInstant(field, t)
}

// --- appointments ---

func (s *Server) createAppointment(w http.ResponseWriter, r *http.Request) {
	var in appointmentRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	start, err := parseInstant("inicio", in.Inicio)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	na := booking.NewAppointment{BranchID: in.SedeID, ServiceID: in.ServicioID, StaffID: in.ProfesionalID, Start: start,
		ClientID: in.ClienteID, ClientName: in.ClienteNombre, ClientPhone: in.ClienteTelefono, ClientEmail: in.ClienteEmail, Notes: in.Notas, Force: in.Forzar}
	now := s.cfg.Now()
	// An Idempotency-Key makes a retry safe (e.g. after a 503 outcome_unknown): the key is kept in
	// the booking's own transaction, and a retry with the same key and body gets the appointment
	// it booked, with 200 as signup's replay does.
	key, keyed := idempotencyKey(r)
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if keyed {
			a, replayed, err := booking.ClaimIdempotencyKey(ctx, tx, actor(m), key, na, now)
			if err != nil {
				return err
			}
			if replayed {
				w.Header().Set("Idempotent-Replayed", "true")
				writeJSON(w, http.StatusOK, a)
				return nil
			}
		}
		if err := s.checkPlanLimitTx(ctx, tx, billing.LimitAppointmentsPerMonth); err != nil { // billing.go
			return err
		}
		a, err := s.bookings(tx, m).CreateAppointment(ctx, actor(m), na, now)
		if err != nil {
			return err
		}
		if keyed {
			if err := booking.BindIdempotencyKey(ctx, tx, key, a.ID); err != nil {
				return err
			}
		}
		writeJSON(w, http.StatusCreated, a)
		return nil
	})
}

// idempotencyKey reads the Idempotency-Key header; keyed is false when there is none.
func idempotencyKey(r *http.Request) (key string, keyed bool) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", false
	}
	return strings.TrimSpace(vals[0]), true
}

func (s *Server) getAppointment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		a, err := booking.GetAppointment(ctx, tx, actor(m), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) listAppointments(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "desde", "hasta", "sede_id", "profesional_id", "estado", "cliente", "limit", "cursor")
	var f booking.AppointmentFilter
	if err == nil {
		f.BranchID, err = queryID(q, "sede_id")
	}
	if err == nil {
		f.StaffID, err = queryID(q, "profesional_id")
	}
	if err == nil && q.Get("limit") != "" {
		if f.Limit, err = strconv.Atoi(q.Get("limit")); err != nil || f.Limit < 1 {
			err = invalidQuery("limit", "must be an integer between 1 and "+strconv.Itoa(booking.MaxPageSize))
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Status, f.Client, f.Cursor = q.Get("estado"), q.Get("cliente"), q.Get("cursor")
	// Days are local days of the branch (or of the organization without sede_id); the branch's
	// zone comes from the set-up (or the listing query resolves it itself).
	desde, hasta := q.Get("desde"), q.Get("hasta")
	if err := listBound(desde, "desde", &f.FromDay, &f.From); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := listBound(hasta, "hasta", &f.ToDay, &f.To); err != nil {
		s.fail(w, r, err)
		return
	}
	if !f.FromDay.IsZero() && !f.To.IsZero() || !f.From.IsZero() && !f.ToDay.IsZero() {
		s.fail(w, r, invalidQuery("hasta", "desde and hasta must both be days (YYYY-MM-DD) or both RFC 3339 instants"))
		return
	}
	c, _ := callerFrom(r.Context())
	f.Zone = c.Org.TimeZone
	var page booking.AppointmentPage
	s.readInTenant(w, r, func(m Member) (tenancy.ReadQuery, bool) {
		return booking.ListAppointmentsRead(m.Setup, actor(m), f, &page)
	}, func(w http.ResponseWriter) { writeAppointmentPage(w, http.StatusOK, page) }, func(ctx context.Context, tx pgx.Tx, m Member) error {
		page, err := s.bookings(tx, m).ListAppointments(ctx, actor(m), f)
		if err != nil {
			return err
		}
		writeAppointmentPage(w, http.StatusOK, page)
		return nil
	})
}

func isDate(v string) bool { return len(v) == len(time.DateOnly) }

// listBound reads desde or hasta of a listing: a local day (YYYY-MM-DD) into day, or an RFC 3339
// instant into instant.
func listBound(v, field string, day *booking.Date, instant *time.Time) error {
	if v == "" {
		return nil
	}
	var err error
	if isDate(v) {
		*day, err = booking.ParseDate(v)
	} else {
		*instant, err = time.Parse(time.RFC3339, v)
	}
	if err != nil {
		return invalidQuery(field, "must be YYYY-MM-DD or RFC 3339, got "+strconv.Quote(v))
	}
	if isDate(v) {
		return booking.CheckDate(field, *day)
	}
	return booking.CheckInstant(field, *instant)
}

func (s *Server) rescheduleAppointment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in rescheduleRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	start, err := parseInstant("inicio", in.Inicio)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		a, err := s.bookings(tx, m).RescheduleAppointment(ctx, actor(m), id,
			booking.Reschedule{Start: start, StaffID: in.ProfesionalID, Force: in.Forzar}, now)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) cancelAppointment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in cancelRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		a, err := booking.SetStatus(ctx, tx, actor(m), id, booking.StatusCancelled, in.Motivo)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

// setAppointmentStatus returns the handler of /confirmar, /completar and /no-asistio.
func (s *Server) setAppointmentStatus(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
			a, err := booking.SetStatus(ctx, tx, actor(m), id, to, "")
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, a)
			return nil
		})
	}
}

func (s *Server) appointmentReport(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "sede_id", "desde", "hasta", "format")
	var in booking.ReportRequest
	if err == nil {
		in.BranchID, err = queryID(q, "sede_id")
	}
	if err == nil {
		in.From, err = queryDate(q, "desde")
	}
	if err == nil {
		in.To, err = queryDate(q, "hasta")
	}
	format := ""
	if err == nil {
		format = q.Get("format")
		if format != "" && format != "json" && format != "csv" {
			err = invalidQuery("format", "must be json or csv")
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		rep, err := s.bookings(tx, m).Report(ctx, actor(m), in)
		if err != nil {
			return err
		}
		if format != "csv" {
			writeJSON(w, http.StatusOK, rep)
			return nil
		}
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		if err := cw.WriteAll(rep.CSV()); err != nil {
			return fmt.Errorf("writing the report's csv: %w", err)
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="reporte-%d-%s-%s.csv"`, rep.BranchID, rep.From, rep.To))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf.Bytes())
		return nil
	})
}
