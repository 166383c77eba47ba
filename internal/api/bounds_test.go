package api

import (
	"fmt"
	"strconv"
	"testing"
	"time"
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
