package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/onboarding"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/wompi"
	"github.com/appcitas/appcitas/internal/wompi/wompisim"
)

type billingEnv struct {
	*env
	billing *billing.Service
	fake    *wompisim.Server
	wompi   *wompi.Client
}

// setupBilling starts the API with signup and billing on the fake Wompi, whose events reach the
// API's webhook.
func setupBilling(t *testing.T, limit auth.LimitOptions) *billingEnv {
	t.Helper()
	return setupBillingManager(t, limit, tenancy.Config{})
}

// setupBillingManager is setupBilling with the Manager configured by mcfg.
func setupBillingManager(t *testing.T, limit auth.LimitOptions, mcfg tenancy.Config) *billingEnv {
	t.Helper()
	fake := wompisim.New(wompisim.Options{})
	t.Cleanup(fake.Close)
	wc, err := wompi.New(wompi.Config{Keys: fake.Keys(), BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	be := &billingEnv{fake: fake, wompi: wc}
	// The services need the env's manager: they are set on the server after setup.
	be.env = setupManager(t, mcfg, func(c *Config) { c.SignupPerIP = limit })
	ctx := context.Background()
	be.billing, err = billing.New(ctx, be.m, billing.Options{Wompi: wc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := onboarding.New(ctx, be.m, be.billing, onboarding.Options{Hash: cheapHash})
	if err != nil {
		t.Fatal(err)
	}
	be.s.cfg.Billing, be.s.cfg.Signup = be.billing, sig
	be.rebuild()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { be.h.ServeHTTP(w, r) }))
	t.Cleanup(hook.Close)
	fake.SetEventsURL(hook.URL + "/api/billing/wompi/events")
	return be
}

func signupBody(email string) map[string]any {
	return map[string]any{"organization_name": "Barbería Juan", "time_zone": "America/Bogota", "admin_name": "Juan Pérez",
		"email": email, "password": "tijeras-2026", "plan": "basico"}
}

func (be *billingEnv) signup(t *testing.T, email string) signupResponse {
	t.Helper()
	rec := be.do("POST", "/api/signup", signupBody(email))
	if rec.Code != http.StatusCreated {
		t.Fatalf("signup: %d %s", rec.Code, rec.Body.String())
	}
	var out signupResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func asOrg(res signupResponse) []string {
	return append(bearer(res.Tokens.AccessToken), "X-Organization-ID", itoa(res.Organization.ID))
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestSignupAPI(t *testing.T) {
	t.Parallel()

	t.Run("SignupGivesAWorkingTenantInOneRequest", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "juan@barberia.co")
		if res.Organization.Slug != "barberia-juan" || res.Subscription.Status != "trialing" || res.Tokens.AccessToken == "" || res.Tokens.RefreshToken == "" {
			t.Fatalf("signup = %+v", res)
		}
		// The token's org claim routes without X-Organization-ID.
		rec := be.do("GET", "/api/sedes", nil, bearer(res.Tokens.AccessToken)...)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Sede principal") {
			t.Fatalf("GET /api/sedes: %d %s", rec.Code, rec.Body.String())
		}
		if rec := be.do("GET", "/api/billing/subscription", nil, asOrg(res)...); rec.Code != http.StatusOK {
			t.Fatalf("GET /api/billing/subscription: %d %s", rec.Code, rec.Body.String())
		}
		if rec := be.do("GET", "/api/me", nil, bearer(res.Tokens.AccessToken)...); rec.Code != http.StatusOK {
			t.Fatalf("GET /api/me: %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("IdempotencyKeyReplays", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		first := be.do("POST", "/api/signup", signupBody("a@b.co"), "Idempotency-Key", "k-123")
		second := be.do("POST", "/api/signup", signupBody("a@b.co"), "Idempotency-Key", "k-123")
		if first.Code != http.StatusCreated || second.Code != http.StatusOK {
			t.Fatalf("statuses %d, %d: %s", first.Code, second.Code, second.Body.String())
		}
		var a, b signupResponse
		_ = json.Unmarshal(first.Body.Bytes(), &a)
		_ = json.Unmarshal(second.Body.Bytes(), &b)
		if a.Organization.ID != b.Organization.ID || !b.Replayed {
			t.Fatalf("replay made organization %d, first %d", b.Organization.ID, a.Organization.ID)
		}
		other := signupBody("a@b.co")
		other["organization_name"] = "Otra"
		wantError(t, be.do("POST", "/api/signup", other, "Idempotency-Key", "k-123"), http.StatusUnprocessableEntity, "idempotency_key_reused")
	})

	t.Run("RefusesBadInputTakenEmailAndFloods", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{Burst: 3, Every: time.Hour})
		bad := signupBody("x@y.co")
		bad["password"] = "123"
		if e := wantError(t, be.do("POST", "/api/signup", bad), http.StatusBadRequest, "invalid_input"); e.Field != "password" {
			t.Fatalf("field = %q", e.Field)
		}
		be.signup(t, "x@y.co")
		taken := signupBody("x@y.co")
		taken["password"] = "otra-clave-77"
		wantError(t, be.do("POST", "/api/signup", taken), http.StatusConflict, "email_taken")
		wantError(t, be.do("POST", "/api/signup", signupBody("z@y.co")), http.StatusTooManyRequests, "too_many_requests")
	})
}

func TestBillingAPI(t *testing.T) {
	t.Parallel()

	t.Run("SuspendedTenantGets402ExceptBilling", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "s@b.co")
		if _, err := be.billing.Suspend(context.Background(), res.Organization.ID, ""); err != nil {
			t.Fatal(err)
		}
		e := wantError(t, be.do("GET", "/api/sedes", nil, asOrg(res)...), http.StatusPaymentRequired, "payment_required")
		if e.Message == "" {
			t.Fatal("402 without a message")
		}
		if rec := be.do("GET", "/api/billing/subscription", nil, asOrg(res)...); rec.Code != http.StatusOK {
			t.Fatalf("billing of a suspended tenant: %d %s", rec.Code, rec.Body.String())
		}
		if rec := be.do("POST", "/api/billing/checkout", nil, asOrg(res)...); rec.Code != http.StatusCreated {
			t.Fatalf("checkout of a suspended tenant: %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("SavingACardReactivatesASuspendedTenant", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "card@b.co")
		if _, err := be.billing.Suspend(context.Background(), res.Organization.ID, ""); err != nil {
			t.Fatal(err)
		}
		rec := be.do("GET", "/api/billing/acceptance", nil, asOrg(res)...)
		var acc acceptanceResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &acc) != nil || acc.AcceptanceToken == "" || acc.PublicKey != be.fake.Keys().Public {
			t.Fatalf("acceptance: %d %s", rec.Code, rec.Body.String())
		}
		rec = be.do("POST", "/api/billing/payment-source", map[string]any{"card_token": be.fake.TokenizeCard(wompisim.CardApproved),
			"acceptance_token": acc.AcceptanceToken, "accept_personal_auth": acc.PersonalAuthToken}, asOrg(res)...)
		if rec.Code != http.StatusOK {
			t.Fatalf("payment-source: %d %s", rec.Code, rec.Body.String())
		}
		for _, tx := range be.fake.Transactions() {
			if _, err := be.fake.Settle(context.Background(), tx.ID); err != nil { // posts the event to the webhook
				t.Fatal(err)
			}
		}
		if rec := be.do("GET", "/api/sedes", nil, asOrg(res)...); rec.Code != http.StatusOK {
			t.Fatalf("after paying: %d %s", rec.Code, rec.Body.String())
		}
		var sub subscriptionResponse
		_ = json.Unmarshal(be.do("GET", "/api/billing/subscription", nil, asOrg(res)...).Body.Bytes(), &sub)
		if sub.Status != "active" || sub.PaymentSource != "•••• 4242" || len(sub.Payments) != 1 || sub.Payments[0].State != "APPROVED" {
			t.Fatalf("subscription = %+v", sub)
		}
	})

	t.Run("CheckoutReturnsWhatTheWidgetNeeds", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "c@b.co")
		rec := be.do("POST", "/api/billing/checkout", nil, asOrg(res)...)
		var cs billing.CheckoutSession
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &cs) != nil {
			t.Fatalf("checkout: %d %s", rec.Code, rec.Body.String())
		}
		if cs.AmountInCents != 4990000 || cs.Currency != "COP" || cs.Reference == "" ||
			cs.Signature != wompi.IntegritySignature(cs.Reference, cs.AmountInCents, cs.Currency, time.Time{}, be.fake.Keys().Integrity) {
			t.Fatalf("checkout = %+v", cs)
		}
	})

	t.Run("OnlyAdminsManageBilling", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "owner@b.co")
		staff := be.createUser("estilista", false)
		org, _ := be.m.Organization(context.Background(), res.Organization.ID)
		be.addProfile(org, staff, "staff", true)
		h := append(bearer(be.token(staff, org.ID)), "X-Organization-ID", itoa(org.ID))
		wantError(t, be.do("POST", "/api/billing/checkout", nil, h...), http.StatusForbidden, "forbidden")
		if rec := be.do("GET", "/api/billing/subscription", nil, h...); rec.Code != http.StatusOK {
			t.Fatalf("staff reading the subscription: %d", rec.Code)
		}
		outsider := be.createUser("ajeno", false)
		wantError(t, be.do("GET", "/api/billing/subscription", nil, append(bearer(be.token(outsider, 0)), "X-Organization-ID", itoa(org.ID))...),
			http.StatusForbidden, "unauthorized_organization")
	})

	t.Run("PlanLimitAnswers402NamingTheUpgrade", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "lim@b.co") // basico: one branch, and signup made it
		e := wantError(t, be.do("POST", "/api/sedes", map[string]any{"nombre": "Norte", "zona_horaria": "America/Bogota"}, asOrg(res)...), http.StatusPaymentRequired, "plan_limit_reached")
		if !strings.Contains(e.Message, "basico") || !strings.Contains(e.Message, "profesional") || !strings.Contains(e.Message, "max_sedes") {
			t.Fatalf("message %q does not name the limit and the plans", e.Message)
		}
		if _, err := be.billing.ChangePlan(context.Background(), res.Organization.ID, "profesional", ""); err != nil {
			t.Fatal(err)
		}
		if rec := be.do("POST", "/api/sedes", map[string]any{"nombre": "Norte", "zona_horaria": "America/Bogota"}, asOrg(res)...); rec.Code != http.StatusCreated {
			t.Fatalf("after upgrading: %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("ConcurrentCreationsNeverPassTheLimit", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "race@b.co")
		if _, err := be.billing.ChangePlan(context.Background(), res.Organization.ID, "profesional", ""); err != nil {
			t.Fatal(err) // profesional: 3 branches; signup made the first
		}
		codes := make([]int, 10)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				codes[i] = be.do("POST", "/api/sedes", map[string]any{"nombre": "Sede " + itoa(int64(i)), "zona_horaria": "America/Bogota"}, asOrg(res)...).Code
			})
		}
		wg.Wait()
		created, refused := 0, 0
		for _, c := range codes {
			switch c {
			case http.StatusCreated:
				created++
			case http.StatusPaymentRequired:
				refused++
			default:
				t.Errorf("unexpected status %d", c)
			}
		}
		if created != 2 || refused != 8 {
			t.Fatalf("created %d, refused %d: want 2 and 8 (limit 3, one existing)", created, refused)
		}
	})

	t.Run("WompiEventsAreVerified", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "ev@b.co")
		rec := be.do("POST", "/api/billing/checkout", nil, asOrg(res)...)
		var cs billing.CheckoutSession
		_ = json.Unmarshal(rec.Body.Bytes(), &cs)
		tx := wompi.Transaction{ID: "77-1-1", Reference: cs.Reference, AmountInCents: cs.AmountInCents, Currency: "COP", Status: wompi.StatusApproved}
		body, sum, err := be.fake.SignedEvent(tx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, be.do("POST", "/api/billing/wompi/events", body, "X-Event-Checksum", "00"), http.StatusUnauthorized, "invalid_checksum")
		for range 2 {
			if rec := be.do("POST", "/api/billing/wompi/events", body, "X-Event-Checksum", sum); rec.Code != http.StatusOK {
				t.Fatalf("event: %d %s", rec.Code, rec.Body.String())
			}
		}
		sub, _ := be.billing.Subscription(context.Background(), res.Organization.ID)
		if sub.Status != billing.Active {
			t.Fatalf("status after an approved event: %s", sub.Status)
		}
		pays, _ := be.billing.Payments(context.Background(), res.Organization.ID)
		if len(pays) != 1 || pays[0].State != wompi.StatusApproved {
			t.Fatalf("payments = %+v", pays)
		}
	})
}
