package cli_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeDeliversWebhooks runs serve in webhook development mode: a subscription made over the
// API receives, signed, an appointment written with plain SQL (the trigger, the listener and the
// job queue of serve).
func TestServeDeliversWebhooks(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.env["APPCITAS_WEBHOOKS_DEVELOPMENT"] = "1"
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	app.must(t, "create_user", "--username", "ana", "--email", "ana@example.com", "--password", "ana-password-123")
	app.must(t, "add_member", "--user", "ana", "--slug", "barberia-juan", "--role", "admin")

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)

	s := startServe(t, app)
	tok := s.login(t, "ana", "ana-password-123")
	var orgID, schema string
	if err := conn.QueryRow(t.Context(), `SELECT id::text, schema_name FROM public.organizacion_organizacion WHERE slug = 'barberia-juan'`).Scan(&orgID, &schema); err != nil {
		t.Fatal(err)
	}
	code, sub := s.call(t, "POST", "/api/webhooks", `{"url":"`+rcv.URL+`/hook","eventos":["appointment.created"]}`,
		"Authorization", "Bearer "+tok, "X-Organization-ID", orgID)
	secret, _ := sub["secreto"].(string)
	if code != http.StatusCreated || secret == "" {
		t.Fatalf("POST /api/webhooks = %d %v", code, sub)
	}
	q := func(table string) string { return pgx.Identifier{schema, table}.Sanitize() }
	_, err := conn.Exec(t.Context(), `WITH s AS (INSERT INTO `+q("organizacion_sede")+` (nombre, zona_horaria) VALUES ('C', 'America/Bogota') RETURNING id),
		v AS (INSERT INTO `+q("citas_servicio")+` (nombre, duracion_minutos, precio_centavos) VALUES ('Corte', 30, 1) RETURNING id),
		p AS (INSERT INTO `+q("usuarios_perfilusuario")+` (user_id, role) VALUES (999, 'staff') RETURNING id)
		INSERT INTO `+q("citas_cita")+` (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
		SELECT s.id, v.id, p.id, 'Luz', '2031-01-01 10:00Z', '2031-01-01 10:30Z', '2031-01-01 10:00Z', '2031-01-01 10:30Z', 1 FROM s, v, p`)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery within 45s:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	r, body := got[0], bodies[0]
	if r.Header.Get("Appcitas-Event") != "appointment.created" || !strings.Contains(string(body), `"cliente_nombre": "Luz"`) {
		t.Fatalf("delivery %v %s", r.Header, body)
	}
	// t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
	parts := strings.Split(r.Header.Get("Appcitas-Signature"), ",")
	ts, sig := strings.TrimPrefix(parts[0], "t="), strings.TrimPrefix(parts[1], "v1=")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	if hex.EncodeToString(mac.Sum(nil)) != sig {
		t.Fatalf("signature %s does not match", r.Header.Get("Appcitas-Signature"))
	}
}
