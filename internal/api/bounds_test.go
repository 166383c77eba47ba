package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOutOfRangeIDs sends ids beyond int4 (and at int64's end) in every place a request carries
// an id: path, query, JSON body and the organization header. Each answer is a 4xx JSON error,
// never a 500.
func TestOutOfRangeIDs(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	root := b.createUser("root", true)
	rootH := bearer(b.token(root, 0))
	day := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	start := time.Now().AddDate(0, 0, 7).Truncate(time.Hour).UTC().Format(time.RFC3339)
	for _, big := range []string{"2147483648", "9223372036854775807"} {
		n, _ := strconv.ParseInt(big, 10, 64)
		tests := []struct {
			name, method, path string
			body               any
			headers            []string
		}{
			{"ExceptionsByBranch", "GET", "/api/excepciones?sede_id=" + big, nil, b.adminH},
			{"ExceptionsByStaff", "GET", "/api/excepciones?profesional_id=" + big, nil, b.adminH},
			{"AppointmentsByBranch", "GET", "/api/citas?sede_id=" + big, nil, b.adminH},
			{"AppointmentsByStaff", "GET", "/api/citas?profesional_id=" + big, nil, b.adminH},
			{"AvailabilityOfBranch", "GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%s&desde=%s&hasta=%s", b.serviceID, big, day, day), nil, b.adminH},
			{"AvailabilityOfService", "GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%s&sede_id=%d&desde=%s&hasta=%s", big, b.branchID, day, day), nil, b.adminH},
			{"AvailabilityOfStaff", "GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=%s&hasta=%s&profesional_id=%s", b.serviceID, b.branchID, day, day, big), nil, b.adminH},
			{"GetBranch", "GET", "/api/sedes/" + big, nil, b.adminH},
			{"PatchBranch", "PATCH", "/api/sedes/" + big, map[string]any{"nombre": "X"}, b.adminH},
			{"DeleteBranch", "DELETE", "/api/sedes/" + big, nil, b.adminH},
			{"GetService", "GET", "/api/servicios/" + big, nil, b.adminH},
			{"PatchService", "PATCH", "/api/servicios/" + big, map[string]any{"nombre": "X"}, b.adminH},
			{"DeleteService", "DELETE", "/api/servicios/" + big, nil, b.adminH},
			{"GetMember", "GET", "/api/miembros/" + big, nil, b.adminH},
			{"PatchMember", "PATCH", "/api/miembros/" + big, map[string]any{"role": "staff"}, b.adminH},
			{"DeleteMember", "DELETE", "/api/miembros/" + big, nil, b.adminH},
			{"AddMember", "POST", "/api/miembros", map[string]any{"user_id": n, "role": "staff"}, b.adminH},
			{"GetHours", "GET", "/api/miembros/" + big + "/horario", nil, b.adminH},
			{"PutHours", "PUT", "/api/miembros/" + big + "/horario", map[string]any{"horario": []any{}}, b.adminH},
			{"PutHoursAtBranch", "PUT", fmt.Sprintf("/api/miembros/%d/horario", b.staffProfile), map[string]any{"horario": []map[string]any{{"sede_id": n, "dia_semana": 1, "hora_inicio": "09:00", "hora_fin": "18:00"}}}, b.adminH},
			{"CreateExceptionAtBranch", "POST", "/api/excepciones", map[string]any{"sede_id": n, "fecha": day}, b.adminH},
			{"CreateExceptionOfStaff", "POST", "/api/excepciones", map[string]any{"profesional_id": n, "fecha": day}, b.adminH},
			{"DeleteException", "DELETE", "/api/excepciones/" + big, nil, b.adminH},
			{"BookAtBranch", "POST", "/api/citas", map[string]any{"sede_id": n, "servicio_id": b.serviceID, "profesional_id": b.staffProfile, "inicio": start, "cliente_nombre": "A", "forzar": true}, b.adminH},
			{"BookService", "POST", "/api/citas", map[string]any{"sede_id": b.branchID, "servicio_id": n, "profesional_id": b.staffProfile, "inicio": start, "cliente_nombre": "A", "forzar": true}, b.adminH},
			{"BookStaff", "POST", "/api/citas", map[string]any{"sede_id": b.branchID, "servicio_id": b.serviceID, "profesional_id": n, "inicio": start, "cliente_nombre": "A", "forzar": true}, b.adminH},
			{"GetAppointment", "GET", "/api/citas/" + big, nil, b.adminH},
			{"GetAppointmentAsStaff", "GET", "/api/citas/" + big, nil, b.staffH},
			{"Reschedule", "POST", "/api/citas/" + big + "/reprogramar", map[string]any{"inicio": start}, b.adminH},
			{"RescheduleToStaff", "POST", "/api/citas/" + big + "/reprogramar", map[string]any{"inicio": start, "profesional_id": n}, b.adminH},
			{"Cancel", "POST", "/api/citas/" + big + "/cancelar", map[string]any{}, b.adminH},
			{"Confirm", "POST", "/api/citas/" + big + "/confirmar", nil, b.adminH},
			{"Complete", "POST", "/api/citas/" + big + "/completar", nil, b.adminH},
			{"NoShow", "POST", "/api/citas/" + big + "/no-asistio", nil, b.adminH},
			{"OrganizationHeader", "GET", "/api/sedes", nil, append(bearer(b.token(b.admin, 0)), "X-Organization-ID", big)},
			{"AdminTenant", "GET", "/api/admin/tenants/" + big, nil, rootH},
			{"AdminTenantDeactivate", "POST", "/api/admin/tenants/" + big + "/deactivate", nil, rootH},
			{"AdminTenantsCursor", "GET", "/api/admin/tenants?cursor=" + big, nil, rootH},
		}
		for _, tt := range tests {
			t.Run(tt.name+"RefusesID"+big, func(t *testing.T) {
				rec := b.do(tt.method, tt.path, tt.body, tt.headers...)
				if rec.Code >= 500 {
					t.Fatalf("%s %s: status %d, want 4xx or 2xx; body %s", tt.method, tt.path, rec.Code, rec.Body.String())
				}
				if rec.Code >= 400 {
					errorOf(t, rec)
				}
			})
		}
	}
}

// TestDatesOutsideTheWindow sends dates and instants outside booking.FirstYear..LastYear to every
// input that takes one: 400 naming the field, never a row the API cannot write back.
func TestDatesOutsideTheWindow(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	day := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	avail := func(desde, hasta string) string {
		return fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=%s&hasta=%s", b.serviceID, b.branchID, desde, hasta)
	}
	forced := func(inicio string) map[string]any {
		body := b.citaBody(inicio)
		body["forzar"] = true
		return body
	}
	var booked struct {
		ID int64 `json:"id"`
	}
	b.ok("POST", "/api/citas", forced(time.Now().AddDate(0, 0, 3).Truncate(time.Hour).UTC().Format(time.RFC3339)), b.adminH, http.StatusCreated, &booked)
	tests := []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"RejectsAppointmentInYear9999", "POST", "/api/citas", forced("9999-12-31T23:45:00Z"), "inicio"},
		{"RejectsAppointmentInYear0000", "POST", "/api/citas", forced("0000-01-01T10:00:00Z"), "inicio"},
		{"RejectsAppointmentIn1999", "POST", "/api/citas", forced("1999-12-31T10:00:00-05:00"), "inicio"},
		{"RejectsAppointmentIn2101", "POST", "/api/citas", forced("2101-01-01T10:00:00Z"), "inicio"},
		{"RejectsRescheduleToYear9999", "POST", fmt.Sprintf("/api/citas/%d/reprogramar", booked.ID), map[string]any{"inicio": "9999-12-31T23:45:00Z", "forzar": true}, "inicio"},
		{"RejectsExceptionInYear9999", "POST", "/api/excepciones", map[string]any{"sede_id": b.branchID, "fecha": "9999-12-31"}, "fecha"},
		{"RejectsExceptionInYear0000", "POST", "/api/excepciones", map[string]any{"sede_id": b.branchID, "fecha": "0000-01-01"}, "fecha"},
		{"RejectsExceptionListingFrom0001", "GET", "/api/excepciones?desde=0001-01-01", nil, "desde"},
		{"RejectsExceptionListingTo9999", "GET", "/api/excepciones?hasta=9999-12-31", nil, "hasta"},
		{"RejectsAvailabilityFrom9999", "GET", avail("9999-12-30", "9999-12-31"), nil, "desde"},
		{"RejectsAvailabilityTo2101", "GET", avail(day, "2101-01-01"), nil, "hasta"},
		{"RejectsListingFromDay0000", "GET", "/api/citas?desde=0000-01-01", nil, "desde"},
		{"RejectsListingToInstant9999", "GET", "/api/citas?hasta=9999-12-31T23:59:59Z", nil, "hasta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantError(t, b.do(tt.method, tt.path, tt.body, b.adminH...), http.StatusBadRequest, "invalid_input")
			if e.Field != tt.field {
				t.Errorf("field = %q, want %q (%s)", e.Field, tt.field, e.Message)
			}
		})
	}

	t.Run("RefusesAForgedCursorPastYear9999", func(t *testing.T) {
		cursor := base64.RawURLEncoding.EncodeToString([]byte("9223372036854775807:1"))
		wantError(t, b.do("GET", "/api/citas?cursor="+cursor, nil, b.adminH...), http.StatusBadRequest, "invalid_input")
	})

	t.Run("AnswersARowJSONCannotHoldWith500NotAnEmpty200", func(t *testing.T) {
		// A row written before the window existed: its end is in year 10000.
		ten, _ := b.org.Tenant()
		var id int64
		err := b.m.Run(b.ctx, ten, func(tx pgx.Tx) error {
			return tx.QueryRow(b.ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin,
				bloqueo_inicio, bloqueo_fin, precio_centavos)
				VALUES ($1, $2, $3, 'Legado', '9999-12-31 23:45Z', '10000-01-01 00:15Z', '9999-12-31 23:45Z', '10000-01-01 00:25Z', 0)
				RETURNING id`, b.branchID, b.serviceID, b.staffProfile).Scan(&id)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{fmt.Sprintf("/api/citas/%d", id), "/api/citas?desde=2000-01-01"} {
			rec := b.do("GET", path, nil, b.adminH...)
			wantError(t, rec, http.StatusInternalServerError, "internal_error")
		}
		if !strings.Contains(b.logs.String(), "encoding the answer as JSON") {
			t.Errorf("the log does not name the encoding failure:\n%s", b.logs.String())
		}
	})
}

// TestEncodingFailures checks that an answer writeJSON cannot encode is never sent with a success
// status, inside a tenant transaction or outside one.
func TestEncodingFailures(t *testing.T) {
	t.Parallel()
	unencodable := map[string]any{"when": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := setup(t, nil,
		func(s *Server) route {
			return route{method: "GET", path: "/api/test/unencodable", access: public, tag: "test", summary: "test only",
				handler: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, unencodable) }}
		},
		func(s *Server) route {
			return route{method: "POST", path: "/api/test/unencodable", access: tenant, tag: "test", summary: "test only",
				handler: func(w http.ResponseWriter, r *http.Request) {
					s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
						if _, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('Fantasma', 30, 1)`); err != nil {
							return err
						}
						writeJSON(w, http.StatusCreated, unencodable)
						return nil
					})
				}}
		})
	t.Run("Answers500OutsideATenant", func(t *testing.T) {
		rec := e.do("GET", "/api/test/unencodable", nil)
		wantError(t, rec, http.StatusInternalServerError, "internal_error")
		if !strings.Contains(e.logs.String(), "encoding the answer as JSON") {
			t.Errorf("the log does not name the encoding failure:\n%s", e.logs.String())
		}
	})
	t.Run("RollsTheTenantTransactionBack", func(t *testing.T) {
		org := e.createOrg("Peluquería Ana")
		u := e.createUser("ana", false)
		e.addProfile(org, u, "admin", true)
		h := append(bearer(e.token(u, 0)), "X-Organization-ID", strconv.FormatInt(org.ID, 10))
		wantError(t, e.do("POST", "/api/test/unencodable", nil, h...), http.StatusInternalServerError, "internal_error")
		ten, _ := org.Tenant()
		var n int
		if err := e.m.Run(e.ctx, ten, func(tx pgx.Tx) error {
			return tx.QueryRow(e.ctx, `SELECT count(*) FROM citas_servicio`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d services committed behind a 500", n)
		}
	})
}

// TestMembershipCheckLog checks that the ERROR about a tenant route answering without inTenant
// is logged for a real missing check only, not when the client went away first.
func TestMembershipCheckLog(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute, func(s *Server) route {
		return route{method: "GET", path: "/api/test/unchecked", access: tenant, tag: "test", summary: "test only", response: []string{},
			handler: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, []string{}) }}
	})
	org := e.createOrg("Barbería Juan")
	u := e.createUser("juan", false)
	e.addProfile(org, u, "admin", true)
	h := append(bearer(e.token(u, 0)), "X-Organization-ID", strconv.FormatInt(org.ID, 10))
	const missing = "without inTenant's membership check"

	t.Run("LogsAClientGoneAsSuchNotAsAnError", func(t *testing.T) {
		if rec := e.do("GET", "/api/test/servicios", nil, h...); rec.Code != http.StatusOK { // warms the caches
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		ctx, cancel := context.WithCancel(e.ctx)
		cancel() // the client is gone before the tenant transaction opens
		req := httptest.NewRequestWithContext(ctx, "GET", "/api/test/servicios", nil)
		req.Header.Set(h[0], h[1])
		req.Header.Set(h[2], h[3])
		serve(e, req)
		logs := e.logs.String()
		if strings.Contains(logs, missing) {
			t.Errorf("a closed request was logged as a missing membership check:\n%s", logs)
		}
		if !strings.Contains(logs, "client closed the request") || !strings.Contains(logs, `"status":499`) {
			t.Errorf("the log does not say the client closed the request:\n%s", logs)
		}
	})
	t.Run("KeepsTheErrorForARealMissingCheck", func(t *testing.T) {
		if rec := e.do("GET", "/api/test/unchecked", nil, h...); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if !strings.Contains(e.logs.String(), missing) {
			t.Errorf("a tenant route answering without inTenant was not logged")
		}
	})
}
