package cli_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeReminders runs serve with the WhatsApp simulator and a 5-minute reminder: a booking
// written straight into the tenant's table is announced, dispatched, sent by a River job to the
// simulator and logged as simulated, without any call to a reminder endpoint.
func TestServeReminders(t *testing.T) {
	t.Parallel()
	app, db := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	app.must(t, "create_user", "--username", "ana", "--email", "ana@example.com", "--password", "ana-password-123")
	app.must(t, "add_member", "--user", "ana", "--slug", "barberia-juan", "--role", "admin")

	t.Run("RefusesATokenWithoutItsNumber", func(t *testing.T) {
		r := appcitas{env: withEnv(app.env, "APPCITAS_WHATSAPP_TOKEN", "EAAG")}.run(t, "serve")
		if r.code == 0 || !strings.Contains(r.stderr, "APPCITAS_WHATSAPP_PHONE_NUMBER_ID") {
			t.Fatalf("serve with a token and no number: %s", r)
		}
	})

	env := withEnv(withEnv(app.env, "APPCITAS_WHATSAPP_SIMULATOR", "1"), "APPCITAS_REMINDER_DISPATCH_EVERY", "1s")
	s := startServe(t, appcitas{env: env})
	if !strings.Contains(s.logs.String(), "WHATSAPP SIMULATOR") {
		t.Fatalf("the simulator's warning is missing:\n%s", s.logs.String())
	}
	tok := s.login(t, "ana", "ana-password-123")
	var orgID, schema string
	var profile int64
	ctx := t.Context()
	if err := db.QueryRow(ctx, `SELECT id::text, schema_name FROM public.organizacion_organizacion WHERE slug = 'barberia-juan'`).Scan(&orgID, &schema); err != nil {
		t.Fatal(err)
	}
	code, body := s.call(t, "PUT", "/api/recordatorios/configuracion", `{"activo": true, "whatsapp": true, "anticipaciones_minutos": [5]}`,
		"Authorization", "Bearer "+tok, "X-Organization-ID", orgID)
	if code != http.StatusOK {
		t.Fatalf("PUT settings: %d %v", code, body)
	}
	q := pgx.Identifier{schema}.Sanitize()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var sede, svc int64
		if err := tx.QueryRow(ctx, `SELECT id FROM `+q+`.usuarios_perfilusuario LIMIT 1`).Scan(&profile); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO `+q+`.organizacion_sede (nombre, direccion, zona_horaria) VALUES ('Centro', 'Cra 7 # 10-20', 'America/Bogota') RETURNING id`).Scan(&sede); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO `+q+`.citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('Corte', 30, 100) RETURNING id`).Scan(&svc); err != nil {
			return err
		}
		start := time.Now().Add(5*time.Minute + 3*time.Second)
		_, err := tx.Exec(ctx, `INSERT INTO `+q+`.citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono,
			inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
			VALUES ($1, $2, $3, 'María', '+57 300 111 2233', $4::timestamptz, $4::timestamptz + interval '30 minutes', $4::timestamptz, $4::timestamptz + interval '30 minutes', 100)`,
			sede, svc, profile, start)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var provider, id string
		err := db.QueryRow(context.Background(), `SELECT proveedor, proveedor_id FROM `+q+`.recordatorios_envio WHERE canal = 'whatsapp'`).Scan(&provider, &id)
		if err == nil {
			if provider != "simulador" || !strings.HasPrefix(id, "wamid.SIMULADO.") {
				t.Fatalf("logged provider %q, id %q", provider, id)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reminder sent within a minute (%v):\n%s", err, s.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), "WHATSAPP SIMULATOR: message not delivered to anyone") {
		t.Fatalf("the simulated message is not labelled in the log:\n%s", s.logs.String())
	}
}
