package reminders_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/reminders"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
	"github.com/appcitas/appcitas/internal/whatsapp"
)

// env is a Manager on a fresh database, a fake WhatsApp server and a mailer that records.
type env struct {
	m    *tenancy.Manager
	wa   *fakeWhatsApp
	mail *memMailer
	// clock is what the service takes for now; zero means the real time.
	mu    sync.Mutex
	clock time.Time
	svc   *reminders.Service
}

// tenant is one organization of the env with a branch, a service and staff members.
type tenant struct {
	org    tenancy.Organization
	t      tenancy.Tenant
	branch int64
	svc    int64
	staff  []int64
}

func setup(t testing.TB) *env {
	t.Helper()
	m, _ := tenancytest.NewManager(t, tenancy.Config{})
	e := &env{m: m, wa: newFakeWhatsApp(t), mail: &memMailer{}}
	wa, err := whatsapp.New(whatsapp.Config{Token: "token-servidor", PhoneNumberID: "123456", APIURL: e.wa.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	e.svc, err = reminders.New(m, reminders.Options{Mailer: e.mail, WhatsApp: wa, WhatsAppAPIURL: e.wa.srv.URL, SecretsKey: key,
		Now: e.now, RetryBase: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.clock.IsZero() {
		return time.Now()
	}
	return e.clock
}

func (e *env) setClock(at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = at
}

// newTenant creates an organization with a branch in America/Bogota, a service and staff members.
func (e *env) newTenant(t testing.TB, name string, staff int) *tenant {
	t.Helper()
	ctx := t.Context()
	org, err := e.m.CreateOrganization(ctx, tenancy.NewOrganization{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	tn := &tenant{org: org}
	if tn.t, err = org.Tenant(); err != nil {
		t.Fatal(err)
	}
	e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO organizacion_sede (nombre, direccion, telefono, zona_horaria)
			VALUES ('Sede Centro', 'Calle 10 # 5-20, Bogotá', '+57 601 555 0000', 'America/Bogota') RETURNING id`).Scan(&tn.branch); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos)
			VALUES ('Corte de cabello', 30, 3000000) RETURNING id`).Scan(&tn.svc); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO usuarios_perfilusuario (user_id, role, nombre_visible, sede_id)
			SELECT g, 'staff', 'Profesional ' || g, $1 FROM generate_series(1, $2) g RETURNING id`, tn.branch, staff)
		if err != nil {
			return err
		}
		tn.staff, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	return tn
}

func (e *env) run(t testing.TB, tn *tenant, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := e.m.Run(ctx, tn.t, func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// enable switches reminders on with the given channels and default offsets.
func (e *env) enable(t testing.TB, tn *tenant, in reminders.SettingsInput) reminders.Settings {
	t.Helper()
	on := true
	if in.Enabled == nil {
		in.Enabled = &on
	}
	var s reminders.Settings
	e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		s, err = e.svc.PutSettings(ctx, tx, tn.org.ID, in)
		return err
	})
	return s
}

// book inserts an appointment of 30 minutes at start with staff member i, as any writer would.
func (e *env) book(t testing.TB, tn *tenant, i int, start time.Time, client, phone, email string) int64 {
	t.Helper()
	var id int64
	e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono,
				cliente_email, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
			VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $7::timestamptz + interval '30 minutes', $7::timestamptz, $7::timestamptz + interval '30 minutes', 3000000) RETURNING id`,
			tn.branch, tn.svc, tn.staff[i], client, phone, email, start).Scan(&id)
	})
	return id
}

// row is a due reminder as stored.
type row struct {
	Offset   int
	SendAt   time.Time
	Next     time.Time
	State    string
	Attempts int
}

func (e *env) rows(t testing.TB, tn *tenant, appt int64) map[int]row {
	t.Helper()
	out := map[int]row{}
	e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT anticipacion_minutos, enviar_en, proximo_en, estado, intentos
			FROM recordatorios_recordatorio WHERE cita_id = $1`, appt)
		if err != nil {
			return err
		}
		rs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		for _, r := range rs {
			out[r.Offset] = r
		}
		return err
	})
	return out
}

func (e *env) log(t testing.TB, tn *tenant, appt int64) reminders.AppointmentReminders {
	t.Helper()
	var out reminders.AppointmentReminders
	e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = reminders.ForAppointment(ctx, tx, appt)
		return err
	})
	return out
}

// memMailer records e-mails; fail makes the next sends fail with that error.
type memMailer struct {
	mu   sync.Mutex
	msgs []billing.Message
	hook func()
}

func (m *memMailer) Send(_ context.Context, msg billing.Message) error {
	m.mu.Lock()
	m.msgs = append(m.msgs, msg)
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (m *memMailer) sent() []billing.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]billing.Message(nil), m.msgs...)
}

// fakeWhatsApp is an httptest server shaped like the Cloud API's messages endpoint. statuses are
// answered in order (then 200); each request's body and headers are kept.
type fakeWhatsApp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   []map[string]any
	paths    []string
	auth     []string
	after    func() // called after a successful answer is written
}

func newFakeWhatsApp(t testing.TB) *fakeWhatsApp {
	f := &fakeWhatsApp{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.paths = append(f.paths, r.URL.Path)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		status := http.StatusOK
		if len(f.statuses) > 0 {
			status, f.statuses = f.statuses[0], f.statuses[1:]
		}
		n := len(f.bodies)
		after := f.after
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "falla simulada", "type": "OAuthException", "code": 131000 + status}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"messaging_product": "whatsapp",
			"contacts": []any{map[string]any{"input": body["to"], "wa_id": body["to"]}},
			"messages": []any{map[string]any{"id": "wamid.PRUEBA" + string(rune('A'+n))}}})
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if after != nil {
			after()
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWhatsApp) failNext(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, statuses...)
}

func (f *fakeWhatsApp) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

func ptr[T any](v T) *T { return &v }
