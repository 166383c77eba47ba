package cli_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/mail/mailtest"
)

// TestServePublicBookingSendsTheConfirmation books through serve's public page API and gets the
// confirmation e-mail through the job queue and APPCITAS_SMTP_ADDR, with the manage link at
// APPCITAS_PUBLIC_URL.
func TestServePublicBookingSendsTheConfirmation(t *testing.T) {
	t.Parallel()
	sink := mailtest.NewServer(t)
	app, _ := newApp(t)
	app.env = withEnv(app.env, "APPCITAS_SMTP_ADDR", sink.Addr())
	app.env = withEnv(app.env, "APPCITAS_SMTP_FROM", "appcitas <no-reply@appcitas.co>")
	app.env = withEnv(app.env, "APPCITAS_PUBLIC_URL", "https://citas.example.co/")
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	app.must(t, "create_user", "--username", "ana", "--email", "ana@example.com", "--password", "ana-password-123")
	app.must(t, "add_member", "--user", "ana", "--slug", "barberia-juan", "--role", "admin")
	s := startServe(t, app)
	tok := s.login(t, "ana", "ana-password-123")
	_, me := s.call(t, "GET", "/api/me", "", "Authorization", "Bearer "+tok)
	orgs, _ := me["organizations"].([]any)
	o, _ := orgs[0].(map[string]any)
	h := []string{"Authorization", "Bearer " + tok, "X-Organization-ID", jsonNumber(o["id"])}
	must := func(method, path, body string, want int) map[string]any {
		t.Helper()
		code, out := s.call(t, method, path, body, h...)
		if code != want {
			t.Fatalf("%s %s: %d %v", method, path, code, out)
		}
		return out
	}
	br := jsonNumber(must("POST", "/api/sedes", `{"nombre":"Centro","zona_horaria":"America/Bogota","telefono":"601 555"}`, http.StatusCreated)["id"])
	sv := jsonNumber(must("POST", "/api/servicios", `{"nombre":"Corte","duracion_minutos":30,"precio_centavos":1000}`, http.StatusCreated)["id"])
	members, _ := must("GET", "/api/miembros", "", http.StatusOK)["items"].([]any)
	m0, _ := members[0].(map[string]any)
	staff := jsonNumber(m0["id"])
	var week []string
	for d := range 7 {
		week = append(week, fmt.Sprintf(`{"sede_id":%s,"dia_semana":%d,"hora_inicio":"09:00","hora_fin":"18:00"}`, br, d))
	}
	must("PUT", "/api/miembros/"+staff+"/horario", `{"horario":[`+strings.Join(week, ",")+`]}`, http.StatusOK)
	must("PUT", "/api/reservas-en-linea", `{"activo":true,"aviso_reservar_minutos":60,"aviso_reprogramar_minutos":60,"aviso_cancelar_minutos":60,"horizonte_dias":30,"retencion_minutos":10,"servicios":null,"profesionales":null}`, http.StatusOK)

	bogota, _ := time.LoadLocation("America/Bogota")
	at := time.Now().In(bogota).AddDate(0, 0, 1).Format(time.DateOnly) + "T10:00:00-05:00"
	code, hold := s.call(t, "POST", "/api/publico/barberia-juan/retenciones", fmt.Sprintf(`{"sede_id":%s,"servicio_id":%s,"profesional_id":%s,"inicio":%q}`, br, sv, staff, at))
	if code != http.StatusCreated {
		t.Fatalf("hold: %d %v", code, hold)
	}
	code, done := s.call(t, "POST", "/api/publico/barberia-juan/reservas", fmt.Sprintf(`{"retencion_id":%s,"retencion_token":%q,"cliente_nombre":"Laura","cliente_telefono":"300","cliente_email":"laura@example.co","consentimiento":true}`,
		jsonNumber(hold["id"]), hold["token"]))
	if code != http.StatusCreated {
		t.Fatalf("booking: %d %v", code, done)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "https://citas.example.co/r/barberia-juan/cita/") || !strings.Contains(msgs[0], "text/calendar") {
		t.Fatalf("e-mails = %q\nlogs:\n%s", msgs, s.logs.String())
	}
}
