package api

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/reminders"
)

func TestRemindersAPI(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)

	t.Run("SettingsAreForAdmins", func(t *testing.T) {
		wantError(t, b.do("GET", "/api/recordatorios/configuracion", nil, b.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, b.do("PUT", "/api/recordatorios/configuracion", map[string]any{"activo": true}, b.receptionH...), http.StatusForbidden, "forbidden")
		var s reminders.Settings
		b.ok("GET", "/api/recordatorios/configuracion", nil, b.adminH, http.StatusOK, &s)
		if s.Enabled || len(s.OffsetsMinutes) != 2 {
			t.Fatalf("defaults %+v", s)
		}
	})

	t.Run("RejectsBadSettings", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"anticipaciones_minutos": []int{0}},
			{"idioma": "fr"},
			{"whatsapp_plantilla": "Con Espacios"},
			{"whatsapp_phone_number_id": "123", "whatsapp_token": "secreto"}, // no secrets key on this server
		} {
			wantError(t, b.do("PUT", "/api/recordatorios/configuracion", body, b.adminH...), http.StatusBadRequest, "invalid_input")
		}
		wantError(t, b.do("PUT", "/api/recordatorios/configuracion", map[string]any{"activo": "si"}, b.adminH...), http.StatusBadRequest, "invalid_field")
		wantError(t, b.do("PUT", "/api/recordatorios/configuracion", map[string]any{"color": 1}, b.adminH...), http.StatusBadRequest, "unknown_field")
	})

	var s reminders.Settings
	b.ok("PUT", "/api/recordatorios/configuracion", map[string]any{"activo": true, "whatsapp": true, "anticipaciones_minutos": []int{120, 1440}},
		b.adminH, http.StatusOK, &s)
	if !s.Enabled || !s.WhatsApp || s.OffsetsMinutes[0] != 1440 {
		t.Fatalf("saved %+v", s)
	}
	var a booking.Appointment
	b.ok("POST", "/api/citas", b.citaBody("2027-03-03T10:00:00-05:00"), b.receptionH, http.StatusCreated, &a)

	t.Run("AppointmentShowsItsReminders", func(t *testing.T) {
		var out reminders.AppointmentReminders
		b.ok("GET", fmt.Sprintf("/api/citas/%d/recordatorios", a.ID), nil, b.staffH, http.StatusOK, &out)
		if len(out.Reminders) != 2 || out.Reminders[0].OffsetMinutes != 1440 || out.Reminders[0].State != "pendiente" ||
			out.Reminders[1].SendAt.Format("2006-01-02T15:04Z07:00") != "2027-03-03T13:00Z" {
			t.Fatalf("reminders %+v", out.Reminders)
		}
	})

	t.Run("ReschedulingMovesThem", func(t *testing.T) {
		b.ok("POST", fmt.Sprintf("/api/citas/%d/reprogramar", a.ID), map[string]any{"inicio": "2027-03-05T11:00:00-05:00"}, b.adminH, http.StatusOK, nil)
		var out reminders.AppointmentReminders
		b.ok("GET", fmt.Sprintf("/api/citas/%d/recordatorios", a.ID), nil, b.adminH, http.StatusOK, &out)
		if len(out.Reminders) != 2 || out.Reminders[0].SendAt.UTC().Format(time.RFC3339) != "2027-03-04T16:00:00Z" ||
			out.Reminders[1].State != "pendiente" || out.Reminders[1].SendAt.UTC().Format(time.RFC3339) != "2027-03-05T14:00:00Z" {
			t.Fatalf("after rescheduling: %+v", out.Reminders)
		}
	})

	t.Run("ResendRefusesAPendingReminder", func(t *testing.T) {
		wantError(t, b.do("POST", fmt.Sprintf("/api/citas/%d/recordatorios/1440/reenviar", a.ID), nil, b.receptionH...), http.StatusConflict, "conflict")
		wantError(t, b.do("POST", fmt.Sprintf("/api/citas/%d/recordatorios/30/reenviar", a.ID), nil, b.adminH...), http.StatusNotFound, "not_found")
		wantError(t, b.do("POST", fmt.Sprintf("/api/citas/%d/recordatorios/abc/reenviar", a.ID), nil, b.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, b.do("POST", fmt.Sprintf("/api/citas/%d/recordatorios/1440/reenviar", a.ID), nil, b.staffH...), http.StatusForbidden, "forbidden")
	})

	t.Run("CancellingDropsThem", func(t *testing.T) {
		c := b.citaBody("2027-03-04T10:00:00-05:00")
		var x booking.Appointment
		b.ok("POST", "/api/citas", c, b.adminH, http.StatusCreated, &x)
		b.ok("POST", fmt.Sprintf("/api/citas/%d/cancelar", x.ID), map[string]any{"motivo": "viaje"}, b.adminH, http.StatusOK, nil)
		var out reminders.AppointmentReminders
		b.ok("GET", fmt.Sprintf("/api/citas/%d/recordatorios", x.ID), nil, b.adminH, http.StatusOK, &out)
		for _, r := range out.Reminders {
			if r.State != "cancelado" {
				t.Fatalf("after cancelling: %+v", out.Reminders)
			}
		}
	})

	t.Run("UnknownOrForeignAppointmentIs404", func(t *testing.T) {
		wantError(t, b.do("GET", "/api/citas/999999/recordatorios", nil, b.adminH...), http.StatusNotFound, "not_found")
		other := b.createOrg("Otra Barbería")
		boss := b.createUser("jefe-otra", false)
		b.addProfile(other, boss, booking.RoleAdmin, true)
		h := append(bearer(b.token(boss, 0)), "X-Organization-ID", strconv.FormatInt(other.ID, 10))
		wantError(t, b.do("GET", fmt.Sprintf("/api/citas/%d/recordatorios", a.ID), nil, h...), http.StatusNotFound, "not_found")
		// Its own organization's settings are its own: still the defaults.
		var os reminders.Settings
		b.ok("GET", "/api/recordatorios/configuracion", nil, h, http.StatusOK, &os)
		if os.Enabled {
			t.Fatal("another organization's settings leaked")
		}
	})
}
