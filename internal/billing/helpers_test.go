package billing_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
	"github.com/appcitas/appcitas/internal/wompi"
	"github.com/appcitas/appcitas/internal/wompi/wompisim"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// mailbox records sent mail.
type mailbox struct {
	mu   sync.Mutex
	sent []string // "to|subject"
}

func (m *mailbox) Send(_ context.Context, msg billing.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg.To+"|"+msg.Subject)
	return nil
}

func (m *mailbox) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.sent) }

type env struct {
	t     *testing.T
	m     *tenancy.Manager
	svc   *billing.Service
	fake  *wompisim.Server
	wompi *wompi.Client
	clock *clock
	mail  *mailbox
	pool  *pgxpool.Pool
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	fake := wompisim.New(wompisim.Options{})
	t.Cleanup(fake.Close)
	client, err := wompi.New(wompi.Config{Keys: fake.Keys(), BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, m: m, fake: fake, wompi: client, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, mail: &mailbox{}}
	e.svc, err = billing.New(ctx, m, billing.Options{Wompi: client, Now: e.clock.Now, Mailer: e.mail, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// The test's own SQL and the transactions it hands to billing run with an empty search_path.
	e.pool = tenancytest.Pool(t, url)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := e.svc.HandleEvent(r.Context(), body, r.Header.Get("X-Event-Checksum")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(hook.Close)
	fake.SetEventsURL(hook.URL)
	return e
}

// org creates an organization with a trial subscription on plan.
func (e *env) org(name, plan string) (tenancy.Organization, billing.Subscription) {
	e.t.Helper()
	ctx := e.t.Context()
	var org tenancy.Organization
	var sub billing.Subscription
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var err error
		if org, err = e.m.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: name}); err != nil {
			return err
		}
		sub, err = e.svc.CreateTrialTx(ctx, tx, billing.NewTrial{OrganizationID: org.ID, PlanCode: plan, BillingEmail: "owner@example.co"})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return org, sub
}

func (e *env) saveCard(orgID int64, card string) billing.Subscription {
	e.t.Helper()
	ctx := e.t.Context()
	acc, err := e.wompi.AcceptanceTokens(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	sub, err := e.svc.SavePaymentSource(ctx, orgID, billing.NewPaymentSource{CardToken: e.fake.TokenizeCard(card),
		AcceptanceToken: acc.AcceptanceToken, AcceptPersonalAuth: acc.PersonalAuthToken})
	if err != nil {
		e.t.Fatal(err)
	}
	return sub
}

func (e *env) sub(orgID int64) billing.Subscription {
	e.t.Helper()
	s, err := e.svc.Subscription(e.t.Context(), orgID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) sweep() {
	e.t.Helper()
	if err := e.svc.Sweep(e.t.Context()); err != nil {
		e.t.Fatalf("Sweep: %v", err)
	}
}

// settleAll settles every PENDING transaction at the fake (posting its event).
func (e *env) settleAll() {
	e.t.Helper()
	for _, tx := range e.fake.Transactions() {
		if tx.Status == wompi.StatusPending {
			if _, err := e.fake.Settle(e.t.Context(), tx.ID); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func (e *env) wantStatus(orgID int64, want billing.Status) billing.Subscription {
	e.t.Helper()
	s := e.sub(orgID)
	if s.Status != want {
		e.t.Fatalf("subscription status = %s, want %s", s.Status, want)
	}
	return s
}

func (e *env) payments(orgID int64) []billing.Payment {
	e.t.Helper()
	p, err := e.svc.Payments(e.t.Context(), orgID)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) notices(orgID int64) map[string]int {
	e.t.Helper()
	ns, err := e.svc.Notifications(e.t.Context(), orgID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, n := range ns {
		out[n.Kind]++
	}
	return out
}

func (e *env) history(orgID int64) []string {
	e.t.Helper()
	h, err := e.svc.History(e.t.Context(), orgID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range h {
		out = append(out, string(ev.From)+"→"+string(ev.To))
	}
	return out
}

const day = 24 * time.Hour
