package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBookingRequests sends arbitrary bodies and query strings to the booking routes: every
// answer is a success or a 4xx in the API's error shape, never a 5xx.
func FuzzBookingRequests(f *testing.F) {
	b := setupBookingFor(f)
	var a struct {
		ID int64 `json:"id"`
	}
	rec := b.do("POST", "/api/citas", b.citaBody("2027-06-07T10:00:00-05:00"), b.adminH...)
	if rec.Code != 201 {
		f.Fatalf("seeding an appointment: %d %s", rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		f.Fatal(err)
	}
	targets := []struct{ method, path string }{
		{"POST", "/api/citas"},
		{"GET", "/api/citas"},
		{"POST", fmt.Sprintf("/api/citas/%d/reprogramar", a.ID)},
		{"POST", fmt.Sprintf("/api/citas/%d/cancelar", a.ID)},
		{"GET", "/api/disponibilidad"},
		{"POST", "/api/sedes"},
		{"PATCH", fmt.Sprintf("/api/sedes/%d", b.branchID)},
		{"POST", "/api/servicios"},
		{"PATCH", fmt.Sprintf("/api/servicios/%d", b.serviceID)},
		{"POST", "/api/miembros"},
		{"PUT", fmt.Sprintf("/api/miembros/%d/horario", b.staffProfile)},
		{"POST", "/api/excepciones"},
		{"GET", "/api/excepciones"},
	}
	seeds := []string{
		`{"sede_id":1,"servicio_id":1,"profesional_id":3,"inicio":"2027-06-08T10:00:00-05:00","cliente_nombre":"Ana"}`,
		`{"inicio":"2027-13-45T99:00:00Z"}`, `{"inicio":"mañana"}`, `{"inicio":12}`, `{"inicio":null}`,
		`{"sede_id":"1"}`, `{"sede_id":1e400}`, `{"sede_id":-1,"servicio_id":0}`, `{"profesional_id":9223372036854775808}`,
		`{"nombre":"X","zona_horaria":"../../etc/passwd"}`, `{"nombre":"X","zona_horaria":"Local"}`,
		`{"duracion_minutos":2147483648,"nombre":"x","precio_centavos":1}`, `{"moneda":"cop"}`,
		`{"horario":[{"sede_id":1,"dia_semana":1,"hora_inicio":"24:30","hora_fin":"25:00"}]}`,
		`{"horario":[{"sede_id":1,"dia_semana":-1,"hora_inicio":"09:00","hora_fin":"10:00","descansos":[{}]}]}`,
		`{"horario":null}`, `{"fecha":"2027-02-30"}`, `{"fecha":"2027-12-24","hora_inicio":"10:00"}`,
		`{"user_id":1,"role":"root"}`, `{"motivo":"` + strings.Repeat("ñ", 600) + `"}`, `{"motivo":""}`,
		`{"unknown":true}`, `[]`, `null`, `{`, ``, "\xff", strings.Repeat("[", 3000),
	}
	queries := []string{"", "servicio_id=1&sede_id=1&desde=2027-06-07&hasta=2027-06-08", "desde=2027-06-07&hasta=1999-01-01",
		"desde=0000-00-00", "limit=-1", "limit=99999999999999999999", "cursor=%%%", "cursor=MTox", "estado=nada",
		"cliente=%25_%5C", "sede_id=abc", "servicio_id=1&servicio_id=2", "desde=2027-06-07T10:00:00Z&hasta=2027-06-07T09:00:00Z"}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s), queries[i%len(queries)])
	}
	f.Fuzz(func(t *testing.T, target uint8, body []byte, query string) {
		tg := targets[int(target)%len(targets)]
		path := tg.path
		if query != "" {
			path += "?" + query
		}
		req := httptest.NewRequest(tg.method, "/", bytes.NewReader(body))
		req.URL.RawQuery = query
		req.URL.Path = tg.path
		req.RequestURI = path
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(b.adminH); i += 2 {
			req.Header.Set(b.adminH[i], b.adminH[i+1])
		}
		rec := httptest.NewRecorder()
		b.env.contract.boundTo(t).ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d: %s", tg.method, path, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			errorOf(t, rec)
		}
	})
}
