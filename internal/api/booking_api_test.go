package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// bookingEnv is a running API with the booking routes, one organization and three members.
type bookingEnv struct {
	*env
	org                        tenancy.Organization
	admin, receptionist, staff auth.User
	adminH, receptionH, staffH []string
	staffProfile, adminProfile int64
	branchID, serviceID        int64
}

// withBookingRoutes registers the booking routes unless the route table already has them.
func withBookingRoutes(e *env) {
	if slices.Contains(e.s.registered, "POST /api/citas") {
		return
	}
	e.s.extraRoutes = append(e.s.extraRoutes, e.s.bookingRoutes()...)
	e.rebuild()
}

func setupBooking(t *testing.T) *bookingEnv { return setupBookingFor(t) }

func setupBookingFor(t testing.TB) *bookingEnv {
	t.Helper()
	return setupBookingOn(setup(t, nil))
}

// setupBookingOn adds the booking routes, an organization and its members to e.
func setupBookingOn(e *env) *bookingEnv {
	e.t.Helper()
	withBookingRoutes(e)
	b := &bookingEnv{env: e, org: e.createOrg("Barbería Juan")}
	b.admin, b.receptionist, b.staff = e.createUser("admin", false), e.createUser("recepcion", false), e.createUser("juan", false)
	e.addProfile(b.org, b.admin, booking.RoleAdmin, true)
	e.addProfile(b.org, b.receptionist, booking.RoleReceptionist, true)
	e.addProfile(b.org, b.staff, booking.RoleStaff, true)
	hdr := func(u auth.User) []string {
		return append(bearer(e.token(u, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10))
	}
	b.adminH, b.receptionH, b.staffH = hdr(b.admin), hdr(b.receptionist), hdr(b.staff)

	var members listOf[booking.Member]
	b.ok("GET", "/api/miembros", nil, b.adminH, http.StatusOK, &members)
	for _, m := range members.Items {
		switch m.UserID {
		case b.staff.ID:
			b.staffProfile = m.ID
		case b.admin.ID:
			b.adminProfile = m.ID
		}
	}
	var br booking.Branch
	b.ok("POST", "/api/sedes", map[string]any{"nombre": "Centro", "zona_horaria": "America/Bogota", "direccion": "Cra 7"}, b.adminH, http.StatusCreated, &br)
	var sv booking.Service
	b.ok("POST", "/api/servicios", map[string]any{"nombre": "Corte", "duracion_minutos": 30, "precio_centavos": 2500000, "buffer_despues_minutos": 10}, b.adminH, http.StatusCreated, &sv)
	b.branchID, b.serviceID = br.ID, sv.ID
	var week []map[string]any
	for d := range 7 {
		week = append(week, map[string]any{"sede_id": br.ID, "dia_semana": d, "hora_inicio": "09:00", "hora_fin": "18:00",
			"descansos": []map[string]string{{"hora_inicio": "13:00", "hora_fin": "14:00"}}})
	}
	b.ok("PUT", fmt.Sprintf("/api/miembros/%d/horario", b.staffProfile), map[string]any{"horario": week}, b.adminH, http.StatusOK, nil)
	return b
}

// ok sends a request, checks the status and decodes the body into out (when not nil).
func (b *bookingEnv) ok(method, path string, body any, headers []string, status int, out any) *httptest.ResponseRecorder {
	b.t.Helper()
	rec := b.do(method, path, body, headers...)
	if rec.Code != status {
		b.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, rec.Code, status, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			b.t.Fatalf("%s %s: decoding %s: %v", method, path, rec.Body.String(), err)
		}
	}
	return rec
}

func (b *bookingEnv) citaBody(inicio string) map[string]any {
	return map[string]any{"sede_id": b.branchID, "servicio_id": b.serviceID, "profesional_id": b.staffProfile,
		"inicio": inicio, "cliente_nombre": "María Pérez", "cliente_telefono": "+57 300 111 2233"}
}

func TestBookingAPI(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)

	t.Run("ConfigurationIsForAdmins", func(t *testing.T) {
		body := map[string]any{"nombre": "Norte", "zona_horaria": "America/Bogota"}
		wantError(t, b.do("POST", "/api/sedes", body, b.receptionH...), http.StatusForbidden, "forbidden")
		wantError(t, b.do("POST", "/api/servicios", map[string]any{"nombre": "X", "duracion_minutos": 30, "precio_centavos": 1}, b.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, b.do("PUT", fmt.Sprintf("/api/miembros/%d/horario", b.staffProfile), map[string]any{"horario": []any{}}, b.staffH...), http.StatusForbidden, "forbidden")
		var list listOf[booking.Branch]
		b.ok("GET", "/api/sedes", nil, b.staffH, http.StatusOK, &list)
		if len(list.Items) != 1 {
			t.Errorf("staff see %d branches, want 1", len(list.Items))
		}
	})

	t.Run("RejectsBadInputNamingTheField", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			body               any
			status             int
			code, field        string
		}{
			{"UnknownZone", "POST", "/api/sedes", map[string]any{"nombre": "N", "zona_horaria": "Mars/Base"}, 400, "invalid_input", "zona_horaria"},
			{"UnknownField", "POST", "/api/sedes", map[string]any{"nombre": "N", "zona_horaria": "UTC", "color": "red"}, 400, "unknown_field", "color"},
			{"WrongType", "POST", "/api/servicios", map[string]any{"nombre": "N", "duracion_minutos": "treinta", "precio_centavos": 1}, 400, "invalid_field", "duracion_minutos"},
			{"BadStart", "POST", "/api/citas", b.citaBody("2027-03-01 10:00"), 400, "invalid_input", "inicio"},
			{"BadHours", "PUT", fmt.Sprintf("/api/miembros/%d/horario", b.staffProfile), map[string]any{"horario": []map[string]any{{"sede_id": b.branchID, "dia_semana": 1, "hora_inicio": "9am", "hora_fin": "18:00"}}}, 400, "invalid_input", "horario[0].hora_inicio"},
			{"BadExceptionDate", "POST", "/api/excepciones", map[string]any{"sede_id": b.branchID, "fecha": "24/12/2027"}, 400, "invalid_input", "fecha"},
			{"BadAvailabilityDate", "GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=2027-3-1&hasta=2027-03-02", b.serviceID, b.branchID), nil, 400, "invalid_input", "desde"},
			{"AvailabilityRangeTooLong", "GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=2027-03-01&hasta=2027-04-15", b.serviceID, b.branchID), nil, 400, "invalid_input", "hasta"},
			{"UnknownQueryParameter", "GET", "/api/citas?page=2", nil, 400, "invalid_input", "page"},
			{"BadListDate", "GET", "/api/citas?desde=ayer", nil, 400, "invalid_input", "desde"},
			{"ListDayAndInstantMixed", "GET", "/api/citas?desde=2027-03-01&hasta=2027-03-02T10:00:00Z", nil, 400, "invalid_input", "hasta"},
			{"ListHastaBeforeDesde", "GET", "/api/citas?desde=2027-03-02&hasta=2027-03-01", nil, 400, "invalid_input", "hasta"},
			{"BadID", "GET", "/api/citas/abc", nil, 400, "invalid_input", "id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := wantError(t, b.do(tt.method, tt.path, tt.body, b.adminH...), tt.status, tt.code)
				if e.Field != tt.field {
					t.Errorf("field = %q, want %q (%s)", e.Field, tt.field, e.Message)
				}
			})
		}
	})

	t.Run("BooksAndRefusesDoubleBooking", func(t *testing.T) {
		var a booking.Appointment
		b.ok("POST", "/api/citas", b.citaBody("2027-03-01T10:00:00-05:00"), b.receptionH, http.StatusCreated, &a)
		if a.Status != "pendiente" || a.PriceCents != 2500000 || a.End.Sub(a.Start).Minutes() != 30 || a.BlockEnd.Sub(a.End).Minutes() != 10 {
			t.Errorf("booked %+v", a)
		}
		e := wantError(t, b.do("POST", "/api/citas", b.citaBody("2027-03-01T10:15:00-05:00"), b.adminH...), http.StatusConflict, "double_booking")
		if e.Message != booking.MsgDoubleBooking {
			t.Errorf("message = %q", e.Message)
		}
		// Inside the 10 minute buffer after it.
		wantError(t, b.do("POST", "/api/citas", b.citaBody("2027-03-01T10:35:00-05:00"), b.adminH...), http.StatusConflict, "double_booking")
		b.ok("POST", "/api/citas", b.citaBody("2027-03-01T10:40:00-05:00"), b.adminH, http.StatusCreated, nil)
	})

	t.Run("WorkingHoursUnlessAnAdminForces", func(t *testing.T) {
		lunch := b.citaBody("2027-03-02T13:00:00-05:00")
		wantError(t, b.do("POST", "/api/citas", lunch, b.receptionH...), http.StatusBadRequest, "outside_working_hours")
		lunch["forzar"] = true
		wantError(t, b.do("POST", "/api/citas", lunch, b.receptionH...), http.StatusForbidden, "forbidden")
		b.ok("POST", "/api/citas", lunch, b.adminH, http.StatusCreated, nil)
	})

	t.Run("StateMachine", func(t *testing.T) {
		var a booking.Appointment
		b.ok("POST", "/api/citas", b.citaBody("2027-03-03T09:00:00-05:00"), b.adminH, http.StatusCreated, &a)
		path := fmt.Sprintf("/api/citas/%d", a.ID)
		wantError(t, b.do("POST", path+"/cancelar", map[string]any{}, b.adminH...), http.StatusBadRequest, "invalid_input")
		b.ok("POST", path+"/confirmar", nil, b.adminH, http.StatusOK, &a)
		if a.Status != "confirmada" {
			t.Errorf("state %s after confirmar", a.Status)
		}
		b.ok("POST", path+"/cancelar", map[string]any{"motivo": "el cliente llamó"}, b.adminH, http.StatusOK, &a)
		if a.Status != "cancelada" || a.CancellationReason != "el cliente llamó" {
			t.Errorf("after cancelar: %s %q", a.Status, a.CancellationReason)
		}
		e := wantError(t, b.do("POST", path+"/completar", nil, b.adminH...), http.StatusConflict, "invalid_transition")
		if e.Message != "cannot complete a cancelled appointment" {
			t.Errorf("message = %q", e.Message)
		}
		wantError(t, b.do("POST", path+"/no-asistio", nil, b.adminH...), http.StatusConflict, "invalid_transition")
		wantError(t, b.do("POST", path+"/reprogramar", map[string]any{"inicio": "2027-03-03T11:00:00-05:00"}, b.adminH...), http.StatusConflict, "invalid_transition")
		// The cancelled time is free again.
		b.ok("POST", "/api/citas", b.citaBody("2027-03-03T09:00:00-05:00"), b.adminH, http.StatusCreated, nil)
	})

	t.Run("Reschedules", func(t *testing.T) {
		var a booking.Appointment
		b.ok("POST", "/api/citas", b.citaBody("2027-03-04T09:00:00-05:00"), b.adminH, http.StatusCreated, &a)
		b.ok("POST", fmt.Sprintf("/api/citas/%d/reprogramar", a.ID), map[string]any{"inicio": "2027-03-04T15:00:00-05:00"}, b.staffH, http.StatusOK, &a)
		if a.Start.UTC().Format("15:04") != "20:00" {
			t.Errorf("moved to %s", a.Start)
		}
	})

	t.Run("StaffSeeOnlyTheirOwnAgenda", func(t *testing.T) {
		// A second staff member with an appointment.
		other := b.createUser("otra", false)
		var m booking.Member
		b.ok("POST", "/api/miembros", map[string]any{"user_id": other.ID, "role": "staff", "nombre_visible": "Otra"}, b.adminH, http.StatusCreated, &m)
		b.ok("PUT", fmt.Sprintf("/api/miembros/%d/horario", m.ID), map[string]any{"horario": []map[string]any{{"sede_id": b.branchID, "dia_semana": 5, "hora_inicio": "09:00", "hora_fin": "18:00"}}}, b.adminH, http.StatusOK, nil)
		body := b.citaBody("2027-03-05T09:00:00-05:00")
		body["profesional_id"] = m.ID
		var theirs booking.Appointment
		b.ok("POST", "/api/citas", body, b.adminH, http.StatusCreated, &theirs)

		var page booking.AppointmentPage
		b.ok("GET", "/api/citas?limit=200", nil, b.staffH, http.StatusOK, &page)
		if len(page.Items) == 0 {
			t.Fatal("staff see no appointments")
		}
		for _, a := range page.Items {
			if a.StaffID != b.staffProfile {
				t.Errorf("staff see appointment %d of staff %d", a.ID, a.StaffID)
			}
		}
		wantError(t, b.do("GET", fmt.Sprintf("/api/citas/%d", theirs.ID), nil, b.staffH...), http.StatusNotFound, "not_found")
		wantError(t, b.do("POST", fmt.Sprintf("/api/citas/%d/confirmar", theirs.ID), nil, b.staffH...), http.StatusNotFound, "not_found")
		b.ok("GET", fmt.Sprintf("/api/citas/%d", theirs.ID), nil, b.receptionH, http.StatusOK, nil)
		staffBody := b.citaBody("2027-03-05T11:00:00-05:00")
		staffBody["profesional_id"] = m.ID
		wantError(t, b.do("POST", "/api/citas", staffBody, b.staffH...), http.StatusForbidden, "forbidden")
	})

	t.Run("ListsWithFiltersAndPages", func(t *testing.T) {
		var page booking.AppointmentPage
		b.ok("GET", "/api/citas?desde=2027-03-01&hasta=2027-03-01&cliente=mar%C3%ADa", nil, b.adminH, http.StatusOK, &page)
		if len(page.Items) != 2 {
			t.Errorf("%d appointments on 2027-03-01, want 2", len(page.Items))
		}
		seen := 0
		next := "/api/citas?limit=2&estado=pendiente"
		for range 20 {
			var p booking.AppointmentPage
			b.ok("GET", next, nil, b.adminH, http.StatusOK, &p)
			seen += len(p.Items)
			if p.NextCursor == "" {
				break
			}
			next = "/api/citas?limit=2&estado=pendiente&cursor=" + p.NextCursor
		}
		if seen < 4 {
			t.Errorf("paged through %d pending appointments, want at least 4", seen)
		}
		wantError(t, b.do("GET", "/api/citas?limit=1000", nil, b.adminH...), http.StatusBadRequest, "invalid_input")
	})

	t.Run("Availability", func(t *testing.T) {
		e := b.do("GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=2027-03-08&hasta=2027-03-08&profesional_id=%d", b.serviceID, b.branchID, b.staffProfile), nil, b.staffH...)
		var a booking.Availability
		if e.Code != 200 {
			t.Fatalf("status %d: %s", e.Code, e.Body.String())
		}
		if err := json.Unmarshal(e.Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if len(a.Staff) != 1 {
			t.Fatalf("availability of %d staff members", len(a.Staff))
		}
		// 09:00-13:00 and 14:00-18:00, 30 min service, 15 min steps: 15 + 15 slots.
		if got := len(a.Staff[0].Slots); got != 30 {
			t.Errorf("%d slots, want 30", got)
		}
		if first := a.Staff[0].Slots[0].Start.Format("2006-01-02T15:04:05Z07:00"); first != "2027-03-08T09:00:00-05:00" {
			t.Errorf("first slot %s", first)
		}
	})

	t.Run("ExceptionsCloseTheDay", func(t *testing.T) {
		var x booking.Exception
		b.ok("POST", "/api/excepciones", map[string]any{"sede_id": b.branchID, "fecha": "2027-03-09", "motivo": "festivo"}, b.receptionH, http.StatusCreated, &x)
		var a booking.Availability
		b.ok("GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=2027-03-09&hasta=2027-03-09", b.serviceID, b.branchID), nil, b.adminH, http.StatusOK, &a)
		for _, s := range a.Staff {
			if len(s.Slots) != 0 {
				t.Errorf("staff %d has %d slots on a holiday", s.StaffID, len(s.Slots))
			}
		}
		wantError(t, b.do("POST", "/api/citas", b.citaBody("2027-03-09T10:00:00-05:00"), b.adminH...), http.StatusBadRequest, "outside_working_hours")
		wantError(t, b.do("DELETE", fmt.Sprintf("/api/excepciones/%d", x.ID), nil, b.staffH...), http.StatusForbidden, "forbidden")
		b.ok("DELETE", fmt.Sprintf("/api/excepciones/%d", x.ID), nil, b.receptionH, http.StatusNoContent, nil)
	})

	t.Run("MembersAreMirroredForMe", func(t *testing.T) {
		carla := b.createUser("carla", false)
		var m booking.Member
		b.ok("POST", "/api/miembros", map[string]any{"user_id": carla.ID, "role": "receptionist"}, b.adminH, http.StatusCreated, &m)
		orgsOf := func() []auth.UserOrganization {
			var me struct {
				Organizations []auth.UserOrganization `json:"organizations"`
			}
			b.ok("GET", "/api/me", nil, bearer(b.token(carla, 0)), http.StatusOK, &me)
			return me.Organizations
		}
		if orgs := orgsOf(); len(orgs) != 1 || orgs[0].ID != b.org.ID || orgs[0].Role != "receptionist" {
			t.Errorf("after adding: /api/me organizations %+v", orgs)
		}
		b.ok("PATCH", fmt.Sprintf("/api/miembros/%d", m.ID), map[string]any{"role": "staff"}, b.adminH, http.StatusOK, nil)
		if orgs := orgsOf(); len(orgs) != 1 || orgs[0].Role != "staff" {
			t.Errorf("after the role change: %+v", orgs)
		}
		carlaH := append(bearer(b.token(carla, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10))
		b.ok("GET", "/api/sedes", nil, carlaH, http.StatusOK, nil) // her profile is now in the kept set-up
		b.ok("DELETE", fmt.Sprintf("/api/miembros/%d", m.ID), nil, b.adminH, http.StatusOK, nil)
		if orgs := orgsOf(); len(orgs) != 0 {
			t.Errorf("after deactivation: %+v", orgs)
		}
		wantError(t, b.do("GET", "/api/sedes", nil, append(bearer(b.token(carla, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10))...), http.StatusForbidden, "unauthorized_organization")
		wantError(t, b.do("POST", "/api/miembros", map[string]any{"user_id": 999999, "role": "staff"}, b.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, b.do("POST", "/api/miembros", map[string]any{"user_id": b.staff.ID, "role": "staff"}, b.adminH...), http.StatusConflict, "conflict")
		wantError(t, b.do("DELETE", fmt.Sprintf("/api/miembros/%d", b.adminProfile), nil, b.adminH...), http.StatusConflict, "conflict")
	})
}

// TestSetupChangesReachTheNextRequest checks that the set-up the API keeps in memory is never
// served after a change, whoever makes it: a change made with SQL outside the API (an operator's
// psql) shows in the very next request.
func TestSetupChangesReachTheNextRequest(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	slotLength := func() time.Duration {
		var a booking.Availability
		b.ok("GET", fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=2027-03-10&hasta=2027-03-10", b.serviceID, b.branchID),
			nil, b.adminH, http.StatusOK, &a)
		if len(a.Staff) != 1 || len(a.Staff[0].Slots) == 0 {
			t.Fatalf("availability: %+v", a)
		}
		return a.Staff[0].Slots[0].End.Sub(a.Staff[0].Slots[0].Start)
	}
	if got := slotLength(); got != 30*time.Minute {
		t.Fatalf("slots of %v, want 30m", got)
	}
	// Changes by SQL come from an operator's psql, as the superuser: the API's own login role
	// reaches tenant tables only inside a tenant's scope.
	dbURL, err := b.m.Servers().URL(tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	operator, err := pgx.Connect(b.ctx, pgtest.SuperuserURL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close(context.Background())
	table := pgx.Identifier{b.org.SchemaName, "citas_servicio"}.Sanitize()
	if _, err := operator.Exec(b.ctx, `UPDATE `+table+` SET duracion_minutos = 45`); err != nil {
		t.Fatal(err)
	}
	if got := slotLength(); got != 45*time.Minute {
		t.Errorf("after the change by SQL, slots of %v, want 45m", got)
	}
	// Revoking a profile by SQL shuts its user out at once.
	profiles := pgx.Identifier{b.org.SchemaName, "usuarios_perfilusuario"}.Sanitize()
	if _, err := operator.Exec(b.ctx, `UPDATE `+profiles+` SET is_active = false WHERE user_id = $1`, b.receptionist.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, b.do("GET", "/api/sedes", nil, b.receptionH...), http.StatusForbidden, "unauthorized_organization")
}

// TestNoDoubleBookingOverHTTP is item 4 through the API: many concurrent POST /api/citas for
// overlapping times with one staff member; exactly one 201, every other a 409 with a clear message.
func TestNoDoubleBookingOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	const n = 30
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Starts 10:00..10:25: every pair overlaps (30 min + 10 min buffer).
			inicio := fmt.Sprintf("2027-04-05T10:%02d:00-05:00", (i%6)*5)
			rec := b.do("POST", "/api/citas", b.citaBody(inicio), b.receptionH...)
			codes[i], bodies[i] = rec.Code, rec.Body.String()
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		switch codes[i] {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			var body struct{ Error errorBody }
			if err := json.Unmarshal([]byte(bodies[i]), &body); err != nil || body.Error.Code != "double_booking" || body.Error.Message != booking.MsgDoubleBooking {
				t.Errorf("409 body %s", bodies[i])
			}
		default:
			t.Errorf("status %d: %s", codes[i], bodies[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d bookings created, want exactly 1", created)
	}
	// Back to back after the winner's busy block: 10:25 + 40 min at most.
	b.ok("POST", "/api/citas", b.citaBody("2027-04-05T11:05:00-05:00"), b.adminH, http.StatusCreated, nil)
}

func TestBookingRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	withBookingRoutes(e)
	var doc struct {
		Paths map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(e.do("GET", "/api/openapi.json", nil).Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range e.s.bookingRoutes() {
		op, ok := doc.Paths[openapiPath(rt.path)][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("%s is not in the OpenAPI document", rt.pattern())
			continue
		}
		if b, _ := json.Marshal(op); !strings.Contains(string(b), "X-Organization-ID") {
			t.Errorf("%s does not document X-Organization-ID", rt.pattern())
		}
		if !slices.Contains(e.s.registered, rt.pattern()) {
			t.Errorf("%s is not registered", rt.pattern())
		}
	}
}
