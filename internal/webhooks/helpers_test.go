package webhooks_test

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

	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// env is a database with tenancy and a webhooks service in development mode.
type env struct {
	m     *tenancy.Manager
	url   string
	svc   *webhooks.Service
	owner *ownerBox
}

func setup(t testing.TB, opts webhooks.Options) *env {
	t.Helper()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	e := &env{m: m, url: url, owner: &ownerBox{}}
	if opts.RetryBase == 0 {
		opts.RetryBase = time.Millisecond
		opts.RetryMax = 5 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	opts.Owner = e.owner
	e.svc = webhooks.New(m, opts)
	return e
}

// org is one organization with a branch, a service and two staff members.
type org struct {
	t        tenancy.Tenant
	id       int64
	branch   int64
	service  int64
	staff    [2]int64
	e        *env
	nextHour int
}

func (e *env) newOrg(t testing.TB, name string) *org {
	t.Helper()
	o, err := e.m.CreateOrganization(t.Context(), tenancy.NewOrganization{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	ten, err := o.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	x := &org{t: ten, id: o.ID, e: e}
	x.run(t, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Centro', 'America/Bogota') RETURNING id`).Scan(&x.branch); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('Corte', 30, 2500000) RETURNING id`).Scan(&x.service); err != nil {
			return err
		}
		for i := range x.staff {
			if err := tx.QueryRow(ctx, `INSERT INTO usuarios_perfilusuario (user_id, role) VALUES ($1, 'staff') RETURNING id`, 1000+i).Scan(&x.staff[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return x
}

func (o *org) run(t testing.TB, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := o.e.m.Run(ctx, o.t, func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// subscribe creates a subscription to url for events and returns it with its secret.
func (o *org) subscribe(t *testing.T, url string, events ...string) webhooks.SubscriptionSecret {
	t.Helper()
	p, err := o.e.svc.Prepare(t.Context(), webhooks.SubscriptionInput{URL: &url, Events: events}, true)
	if err != nil {
		t.Fatal(err)
	}
	var s webhooks.SubscriptionSecret
	o.run(t, func(ctx context.Context, tx pgx.Tx) error {
		s, err = webhooks.CreateSubscription(ctx, tx, p)
		return err
	})
	return s
}

// book inserts an appointment with plain SQL and returns its id.
func (o *org) book(t *testing.T) int64 {
	t.Helper()
	o.nextHour++
	start := time.Date(2030, 1, 10, 8, 0, 0, 0, time.UTC).Add(time.Duration(o.nextHour) * time.Hour)
	var id int64
	o.run(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_email,
				inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
			VALUES ($1, $2, $3, 'Ana Pérez', 'ana@example.co', $4, $5, $4, $5, 2500000) RETURNING id`,
			o.branch, o.service, o.staff[0], start, start.Add(30*time.Minute)).Scan(&id)
	})
	return id
}

// deliver runs the tenant's deliveries once.
func (o *org) deliver(t *testing.T) webhooks.Result {
	t.Helper()
	res, err := o.e.svc.DeliverTenant(t.Context(), o.t)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// event is a row of the outbox, decoded.
type event struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Version   int            `json:"version"`
	CreatedAt string         `json:"created_at"`
	Data      map[string]any `json:"data"`
}

// events returns the outbox, oldest first.
func (o *org) events(t *testing.T) []event {
	t.Helper()
	var out []event
	o.run(t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT cuerpo::text FROM webhooks_evento ORDER BY created_at, tipo`)
		if err != nil {
			return err
		}
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, b := range bodies {
			var ev event
			if err := json.Unmarshal([]byte(b), &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return err
	})
	return out
}

func types(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// deliveries returns a subscription's deliveries, newest first.
func (o *org) deliveries(t *testing.T, sub int64) []webhooks.Delivery {
	t.Helper()
	var out []webhooks.Delivery
	o.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = webhooks.ListDeliveries(ctx, tx, sub, webhooks.DeliveryFilter{})
		return err
	})
	return out
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server that answers with status (200 by default) and records what it
// got.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int) (int, string) // n: 1 for the first request
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{answer: func(int) (int, string) { return 200, "ok" }}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body})
		n, answer := len(r.got), r.answer
		r.mu.Unlock()
		code, text := answer(n)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) setAnswer(f func(n int) (int, string)) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

// ownerBox records the owner notices asked for.
type ownerBox struct {
	mu      sync.Mutex
	notices []string // "org|kind|key|subject"
}

func (b *ownerBox) NotifyOwner(_ context.Context, orgID int64, kind, key, subject, _ string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notices = append(b.notices, kind+"|"+key+"|"+subject)
	_ = orgID
	return nil
}

func (b *ownerBox) count() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.notices) }
