package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/reminders"
)

// remindersRoutes returns the reminder routes (issue 23 item 3): the organization's settings
// (admin) and an appointment's reminders and delivery log (whoever may see the appointment).
func (s *Server) remindersRoutes() []route {
	const tag = "recordatorios"
	return []route{
		{method: "GET", path: "/api/recordatorios/configuracion", access: tenant, handler: s.getReminderSettings, tag: tag,
			summary: "The organization's reminder settings (admin)", response: reminders.Settings{}},
		{method: "PUT", path: "/api/recordatorios/configuracion", access: tenant, handler: s.putReminderSettings, tag: tag,
			summary: "Replace the organization's reminder settings (admin); whatsapp_token is write-only, sealed with the server's key",
			request: reminders.SettingsInput{}, response: reminders.Settings{}},
		{method: "GET", path: "/api/citas/{id}/recordatorios", access: tenant, handler: s.appointmentReminders, tag: "citas",
			summary:  "An appointment's reminders and their delivery log",
			response: reminders.AppointmentReminders{}, errors: []int{404}},
		{method: "POST", path: "/api/citas/{id}/recordatorios/{anticipacion}/reenviar", access: tenant, handler: s.resendReminder, tag: "citas",
			summary:  "Send an uncertain (incierto) or failed reminder again (admin, receptionist): the client may get it twice",
			response: reminders.Reminder{}, errors: []int{404, 409}},
	}
}

func (s *Server) getReminderSettings(w http.ResponseWriter, r *http.Request) {
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		st, err := reminders.GetSettings(ctx, tx)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

func (s *Server) putReminderSettings(w http.ResponseWriter, r *http.Request) {
	var in reminders.SettingsInput
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c, _ := callerFrom(r.Context())
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		st, err := s.reminders.PutSettings(ctx, tx, c.Org.ID, in)
		switch {
		case errors.Is(err, reminders.ErrInvalid), errors.Is(err, reminders.ErrNoSecretsKey):
			return apiError(http.StatusBadRequest, "invalid_input", "%s", err.Error())
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

func (s *Server) appointmentReminders(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		// The same rules as GET /api/citas/{id}: a staff member sees only their own appointments.
		if _, err := booking.GetAppointment(ctx, tx, actor(m), id); err != nil {
			return err
		}
		out, err := reminders.ForAppointment(ctx, tx, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

func (s *Server) resendReminder(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	offset, err := strconv.Atoi(r.PathValue("anticipacion"))
	if err != nil || offset < 1 {
		s.fail(w, r, apiError(http.StatusBadRequest, "invalid_input", "anticipacion must be a reminder's offset in minutes, such as 1440"))
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin, booking.RoleReceptionist); err != nil {
			return err
		}
		if _, err := booking.GetAppointment(ctx, tx, actor(m), id); err != nil {
			return err
		}
		rem, err := reminders.Resend(ctx, tx, id, offset)
		switch {
		case errors.Is(err, reminders.ErrNoReminder):
			return apiError(http.StatusNotFound, "not_found", "%s", err.Error())
		case errors.Is(err, reminders.ErrNotResendable):
			return apiError(http.StatusConflict, "conflict", "%s", err.Error())
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusOK, rem)
		return nil
	})
}
