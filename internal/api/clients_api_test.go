package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/booking"
)

func TestClientsAPI(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	var carla booking.Client
	b.ok("POST", "/api/clientes", map[string]any{"nombre": "Carla Ruiz", "telefono": "+57 310 555 0101", "email": "carla@example.com"},
		b.receptionH, http.StatusCreated, &carla)

	t.Run("CreatesReadsAndEditsNotes", func(t *testing.T) {
		var got booking.Client
		b.ok("PATCH", fmt.Sprintf("/api/clientes/%d", carla.ID), map[string]any{"notas": "Prefiere la tarde"}, b.adminH, http.StatusOK, &got)
		if got.Notes != "Prefiere la tarde" || got.Name != "Carla Ruiz" {
			t.Errorf("patched %+v", got)
		}
		b.ok("GET", fmt.Sprintf("/api/clientes/%d", carla.ID), nil, b.receptionH, http.StatusOK, &got)
		if got.Notes != "Prefiere la tarde" {
			t.Errorf("read %+v", got)
		}
	})

	t.Run("RejectsDuplicatesWith409", func(t *testing.T) {
		e := wantError(t, b.do("POST", "/api/clientes", map[string]any{"nombre": "Otra", "telefono": "(57) 310-555-0101"}, b.adminH...),
			http.StatusConflict, "duplicate_client")
		if e.Message != booking.MsgDuplicatePhone {
			t.Errorf("message %q", e.Message)
		}
		wantError(t, b.do("POST", "/api/clientes", map[string]any{"nombre": "Otra", "email": "CARLA@example.com"}, b.adminH...),
			http.StatusConflict, "duplicate_client")
		var other booking.Client
		b.ok("POST", "/api/clientes", map[string]any{"nombre": "Otra", "telefono": "311"}, b.adminH, http.StatusCreated, &other)
		wantError(t, b.do("PATCH", fmt.Sprintf("/api/clientes/%d", other.ID), map[string]any{"email": "carla@example.com"}, b.adminH...),
			http.StatusConflict, "duplicate_client")
	})

	t.Run("RejectsBadInputWith4xx", func(t *testing.T) {
		for _, c := range []struct {
			name, method, path string
			body               any
			status             int
		}{
			{"NoName", "POST", "/api/clientes", map[string]any{"telefono": "1"}, 400},
			{"BadEmail", "POST", "/api/clientes", map[string]any{"nombre": "A", "email": "nope"}, 400},
			{"LongNotes", "POST", "/api/clientes", map[string]any{"nombre": "A", "notas": strings.Repeat("x", 2001)}, 400},
			{"UnknownField", "POST", "/api/clientes", map[string]any{"nombre": "A", "edad": 3}, 400},
			{"BlankNamePatch", "PATCH", fmt.Sprintf("/api/clientes/%d", carla.ID), map[string]any{"nombre": " "}, 400},
			{"MissingClient", "GET", "/api/clientes/999999", nil, 404},
			{"BadID", "GET", "/api/clientes/abc", nil, 400},
			{"BadLimit", "GET", "/api/clientes?limit=0", nil, 400},
			{"BadCursor", "GET", "/api/clientes?cursor=zzz", nil, 400},
			{"UnknownParam", "GET", "/api/clientes?nombre=x", nil, 400},
			{"MergeItself", "POST", fmt.Sprintf("/api/clientes/%d/fusionar", carla.ID), map[string]any{"cliente_id": carla.ID}, 400},
			{"MergeMissing", "POST", fmt.Sprintf("/api/clientes/%d/fusionar", carla.ID), map[string]any{"cliente_id": 999999}, 400},
			{"MergeIntoMissing", "POST", "/api/clientes/999999/fusionar", map[string]any{"cliente_id": carla.ID}, 404},
			{"HistoryMissing", "GET", "/api/clientes/999999/citas", nil, 404},
			{"BookBothWays", "POST", "/api/citas", map[string]any{"sede_id": b.branchID, "servicio_id": b.serviceID, "profesional_id": b.staffProfile,
				"inicio": "2027-03-01T10:00:00-05:00", "cliente_id": carla.ID, "cliente_nombre": "X"}, 400},
			{"BookMissingClient", "POST", "/api/citas", map[string]any{"sede_id": b.branchID, "servicio_id": b.serviceID, "profesional_id": b.staffProfile,
				"inicio": "2027-03-01T10:00:00-05:00", "cliente_id": 999999}, 400},
		} {
			t.Run(c.name, func(t *testing.T) {
				rec := b.do(c.method, c.path, c.body, b.adminH...)
				if rec.Code != c.status {
					t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body.String())
				}
				errorOf(t, rec)
			})
		}
	})

	t.Run("BookingWithClientIDAndHistoryWithNoShow", func(t *testing.T) {
		var a booking.Appointment
		b.ok("POST", "/api/citas", map[string]any{"sede_id": b.branchID, "servicio_id": b.serviceID, "profesional_id": b.staffProfile,
			"inicio": "2027-04-05T10:00:00-05:00", "cliente_id": carla.ID}, b.receptionH, http.StatusCreated, &a)
		if a.ClientID == nil || *a.ClientID != carla.ID || a.ClientName != "Carla Ruiz" {
			t.Fatalf("booked %+v", a)
		}
		b.ok("POST", fmt.Sprintf("/api/citas/%d/no-asistio", a.ID), nil, b.adminH, http.StatusOK, nil)
		var c booking.Client
		b.ok("GET", fmt.Sprintf("/api/clientes/%d", carla.ID), nil, b.adminH, http.StatusOK, &c)
		if c.Appointments != 1 || c.NoShows != 1 {
			t.Errorf("counts: %d appointments, %d no-shows", c.Appointments, c.NoShows)
		}
		var hist booking.AppointmentPage
		b.ok("GET", fmt.Sprintf("/api/clientes/%d/citas?limit=10", carla.ID), nil, b.adminH, http.StatusOK, &hist)
		if len(hist.Items) != 1 || hist.Items[0].Status != booking.StatusNoShow {
			t.Errorf("history %+v", hist.Items)
		}
	})

	t.Run("BookingByPhoneLinksTheExistingClient", func(t *testing.T) {
		var a booking.Appointment
		body := b.citaBody("2027-04-06T10:00:00-05:00")
		body["cliente_telefono"] = "57-310-555-0101"
		b.ok("POST", "/api/citas", body, b.adminH, http.StatusCreated, &a)
		if a.ClientID == nil || *a.ClientID != carla.ID {
			t.Errorf("linked to %v, want %d", a.ClientID, carla.ID)
		}
	})

	t.Run("SearchAndMerge", func(t *testing.T) {
		var dup booking.Client
		b.ok("POST", "/api/clientes", map[string]any{"nombre": "Carla R.", "email": "carla.r@example.com", "notas": "Llega tarde"}, b.adminH, http.StatusCreated, &dup)
		var page booking.ClientPage
		b.ok("GET", "/api/clientes?q=carla", nil, b.receptionH, http.StatusOK, &page)
		if len(page.Items) != 2 {
			t.Fatalf("search found %+v", page.Items)
		}
		b.ok("GET", "/api/clientes?q=5550101", nil, b.receptionH, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].ID != carla.ID {
			t.Fatalf("search by digits found %+v", page.Items)
		}
		var merged booking.Client
		b.ok("POST", fmt.Sprintf("/api/clientes/%d/fusionar", carla.ID), map[string]any{"cliente_id": dup.ID}, b.receptionH, http.StatusOK, &merged)
		if !strings.Contains(merged.Notes, "Llega tarde") || merged.Email != "carla@example.com" {
			t.Errorf("merged %+v", merged)
		}
		wantError(t, b.do("GET", fmt.Sprintf("/api/clientes/%d", dup.ID), nil, b.adminH...), http.StatusNotFound, "not_found")
	})

	t.Run("StaffReadOnlyClientsOfTheirAppointmentsAndChangeNone", func(t *testing.T) {
		var stranger booking.Client
		b.ok("POST", "/api/clientes", map[string]any{"nombre": "Sin Citas"}, b.adminH, http.StatusCreated, &stranger)
		var page booking.ClientPage
		b.ok("GET", "/api/clientes", nil, b.staffH, http.StatusOK, &page)
		for _, c := range page.Items {
			if c.ID == stranger.ID {
				t.Error("staff see a client without an appointment of theirs")
			}
		}
		if len(page.Items) == 0 {
			t.Error("staff see none of their clients")
		}
		wantError(t, b.do("GET", fmt.Sprintf("/api/clientes/%d", stranger.ID), nil, b.staffH...), http.StatusNotFound, "not_found")
		wantError(t, b.do("POST", "/api/clientes", map[string]any{"nombre": "X"}, b.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, b.do("PATCH", fmt.Sprintf("/api/clientes/%d", carla.ID), map[string]any{"notas": "x"}, b.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, b.do("POST", fmt.Sprintf("/api/clientes/%d/fusionar", carla.ID), map[string]any{"cliente_id": stranger.ID}, b.staffH...), http.StatusForbidden, "forbidden")
	})
}
