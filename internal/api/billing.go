package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/onboarding"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/wompi"
)

// signupLimitOptions fills the default signup rate: a burst of 10 per address, then one a minute.
func signupLimitOptions(o auth.LimitOptions) auth.LimitOptions {
	if o.Burst <= 0 {
		return auth.LimitOptions{Burst: 10, Every: time.Minute}
	}
	return o
}

// billingRoutes are the routes of signup and billing; none when Config leaves them out.
func (s *Server) billingRoutes() []route {
	var rs []route
	if s.cfg.Signup != nil {
		rs = append(rs, route{method: "POST", path: "/api/signup", access: public, handler: s.signup, tag: "signup",
			summary: "Create an account: user (or an existing user proving their password), organization, schema, admin profile, default branch and a trial; returns tokens. Safe to retry with Idempotency-Key",
			request: signupRequest{}, response: signupResponse{}, status: http.StatusCreated, alsoStatus: []int{http.StatusOK}, errors: []int{400, 409, 413, 415, 422, 429},
			headers:         []param{qString("Idempotency-Key", "Any text: a retry with the same key and body answers what the first request did"), sessionHeaderParam()},
			responseHeaders: []param{qString("Location", "The new organization's subscription"), qString("Set-Cookie", "With X-Session-Cookie: 1, the session cookie (HttpOnly; Secure; SameSite=Strict; Path=/api/auth)")}})
	}
	if s.cfg.Billing == nil {
		return rs
	}
	return append(rs,
		route{method: "GET", path: "/api/plans", access: public, handler: s.plans, tag: "billing",
			summary: "The plans on offer: monthly price, trial days and limits", response: []planResponse{}},
		route{method: "GET", path: "/api/billing/subscription", access: tenant, handler: s.subscription, tag: "billing",
			summary: "The organization's subscription, its plan, history and payments", response: subscriptionResponse{}},
		route{method: "GET", path: "/api/billing/acceptance", access: tenant, handler: s.acceptance, tag: "billing",
			summary:  "Wompi's acceptance contracts the payer must accept before saving a card, and the public key to tokenize it",
			response: acceptanceResponse{}, errors: []int{503}},
		route{method: "POST", path: "/api/billing/checkout", access: tenant, handler: s.checkout, tag: "billing",
			summary:  "What Wompi's widget or web checkout needs to pay the next period: public key, reference, amount, currency, integrity signature",
			response: billing.CheckoutSession{}, status: http.StatusCreated, errors: []int{409, 503}},
		route{method: "POST", path: "/api/billing/payment-source", access: tenant, handler: s.paymentSource, tag: "billing",
			summary: "Save a card (a Wompi card token made in the browser) for renewals; a past_due or suspended subscription is charged at once",
			request: paymentSourceRequest{}, response: subscriptionResponse{}, errors: []int{400, 409, 503}},
		route{method: "POST", path: "/api/billing/wompi/events", access: public, handler: s.wompiEvent, tag: "billing",
			summary: "Wompi's event webhook: verified by its checksum, applied once, answered at once",
			request: map[string]any{}, response: map[string]any{}, errors: []int{400, 401},
			headers: []param{qString("X-Event-Checksum", "The event's checksum header, when the provider sends it there")}},
	)
}

// requireSubscription runs after routeOrganization on tenant routes outside billing: a suspended
// or cancelled organization gets 402 with the reason (its data is kept); superusers pass.
func (s *Server) requireSubscription(next http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Billing == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		c, _ := callerFrom(r.Context())
		if !c.IsSuperuser && c.Org.ID != 0 {
			if err := s.cfg.Billing.CheckAccess(r.Context(), c.Org.ID); err != nil {
				s.fail(w, r, billingAPIError(err))
				return
			}
		}
		next(w, r)
	}
}

// billingAPIError maps billing, onboarding and Wompi errors to API errors (others pass through
// to toAPIError).
func billingAPIError(err error) error {
	if err == nil {
		return nil
	}
	var le *billing.LimitError
	var fe *onboarding.FieldError
	switch {
	case errors.As(err, &le):
		return &Error{Status: http.StatusPaymentRequired, Code: "plan_limit_reached", Message: le.Error(), Err: err}
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: fe.Field, Message: fe.Error(), Err: err}
	case errors.Is(err, billing.ErrPaymentRequired):
		msg := strings.TrimPrefix(err.Error(), billing.ErrPaymentRequired.Error()+": ")
		return &Error{Status: http.StatusPaymentRequired, Code: "payment_required", Message: msg, Err: err}
	case errors.Is(err, wompi.ErrBadChecksum):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_checksum", Message: "the event's checksum does not match", Err: err}
	case errors.Is(err, billing.ErrPaymentsUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "payments_unavailable", Message: "payments are not configured", Err: err}
	case errors.Is(err, onboarding.ErrEmailTaken):
		return &Error{Status: http.StatusConflict, Code: "email_taken", Field: "email", Message: "this e-mail already has an account: send its password to add an organization to it", Err: err}
	case errors.Is(err, onboarding.ErrUsernameTaken):
		return &Error{Status: http.StatusConflict, Code: "username_taken", Field: "username", Message: "this username is taken: choose another", Err: err}
	case errors.Is(err, onboarding.ErrIdempotencyMismatch):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused", Message: "this Idempotency-Key was used for a different signup", Err: err}
	case errors.Is(err, billing.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error(), Err: err}
	case errors.Is(err, billing.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Message: err.Error(), Err: err}
	case errors.Is(err, billing.ErrConflict), errors.Is(err, billing.ErrTransition):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error(), Err: err}
	case errors.Is(err, tenancy.ErrInvalidName):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Message: err.Error(), Err: err}
	}
	return err
}

// signupRequest is the body of POST /api/signup.
type signupRequest struct {
	OrganizationName string `json:"organization_name"`
	// TimeZone is an IANA zone; defaults to America/Bogota.
	TimeZone  string `json:"time_zone,omitempty"`
	AdminName string `json:"admin_name"`
	Email     string `json:"email"`
	// Username is a new admin's username for signing in; defaults to the e-mail. An existing
	// user keeps theirs.
	Username string `json:"username,omitempty"`
	Password string `json:"password"`
	// Plan is a plan code (GET /api/plans); defaults to basico.
	Plan string `json:"plan,omitempty"`
}

type signupOrganization struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	TimeZone string `json:"time_zone"`
}

// signupResponse is the answer of POST /api/signup: what was created and tokens for it.
type signupResponse struct {
	Organization signupOrganization  `json:"organization"`
	UserID       int64               `json:"user_id"`
	Email        string              `json:"email"`
	ExistingUser bool                `json:"existing_user"`
	Replayed     bool                `json:"replayed"`
	Subscription subscriptionSummary `json:"subscription"`
	Tokens       tokenResponse       `json:"tokens"`
}

type subscriptionSummary struct {
	Plan        string     `json:"plan"`
	Status      string     `json:"status"`
	TrialEndsAt *time.Time `json:"trial_ends_at,omitempty"`
	PeriodStart time.Time  `json:"period_start"`
	PeriodEnd   time.Time  `json:"period_end"`
	GraceEndsAt *time.Time `json:"grace_ends_at,omitempty"`
	// PaymentSource describes the saved card ("•••• 4242"), "" when none.
	PaymentSource string `json:"payment_source"`
}

func summarize(sub billing.Subscription) subscriptionSummary {
	return subscriptionSummary{Plan: sub.PlanCode, Status: string(sub.Status), TrialEndsAt: sub.TrialEndsAt, PeriodStart: sub.PeriodStart,
		PeriodEnd: sub.PeriodEnd, GraceEndsAt: sub.GraceEndsAt, PaymentSource: sub.PaymentSourceLabel}
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	if ok, wait := s.signupLimit.Allow(clientIP(r)); !ok {
		s.fail(w, r, &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many signups from this address; try again later", RetryAfter: wait})
		return
	}
	var req signupRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	res, err := s.cfg.Signup.Signup(r.Context(), key, onboarding.Request(req))
	if err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	s.orgs.Invalidate(res.Organization.ID)
	info := infoFrom(r.Context())
	info.userID, info.orgID = res.User.ID, res.Organization.ID
	refresh, err := s.users.IssueRefresh(r.Context(), res.User.ID, res.Organization.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	access, _, err := s.tokens.Issue(res.User, res.Organization.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	}
	o := res.Organization
	w.Header().Set("Cache-Control", "no-store")
	if wantsCookie(r) {
		// The web app signs the new owner in as its login does: the refresh token only in the
		// HttpOnly session cookie, out of the page's reach.
		setSessionCookie(w, refresh)
		refresh = ""
	}
	w.Header().Set("Location", "/api/billing/subscription")
	writeJSON(w, status, signupResponse{
		Organization: signupOrganization{ID: o.ID, Name: o.Name, Slug: o.Slug, TimeZone: o.TimeZone},
		UserID:       res.User.ID, Email: res.User.Email, ExistingUser: res.ExistingUser, Replayed: res.Replayed,
		Subscription: summarize(res.Subscription),
		Tokens: tokenResponse{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
			ExpiresIn: int64(s.tokens.TTL() / time.Second)},
	})
}

type planResponse struct {
	Code                    string `json:"code"`
	Name                    string `json:"name"`
	PriceCents              int64  `json:"price_cents"`
	Currency                string `json:"currency"`
	TrialDays               int    `json:"trial_days"`
	MaxBranches             *int   `json:"max_branches"`
	MaxStaff                *int   `json:"max_staff"`
	MaxAppointmentsPerMonth *int   `json:"max_appointments_per_month"`
}

func (s *Server) plans(w http.ResponseWriter, r *http.Request) {
	plans, err := s.cfg.Billing.Plans(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []planResponse{}
	for _, p := range plans {
		if p.IsActive {
			out = append(out, planResponse{Code: p.Code, Name: p.Name, PriceCents: p.PriceCents, Currency: p.Currency, TrialDays: p.TrialDays,
				MaxBranches: p.MaxBranches, MaxStaff: p.MaxStaff, MaxAppointmentsPerMonth: p.MaxAppointmentsPerMonth})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// member checks, in the tenant's transaction, that the caller belongs to the routed organization
// (and is an admin when adminOnly); false means the answer was already written.
func (s *Server) member(w http.ResponseWriter, r *http.Request, adminOnly bool) bool {
	ok := false
	s.inTenant(w, r, func(_ context.Context, _ pgx.Tx, m Member) error {
		if adminOnly && m.Role != "admin" {
			return apiError(http.StatusForbidden, "forbidden", "only an admin of the organization may manage its billing")
		}
		ok = true
		return nil
	})
	return ok
}

type billingEvent struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Cause  string    `json:"cause"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

type billingPayment struct {
	Reference   string    `json:"reference"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Attempt     int       `json:"attempt"`
	CreatedAt   time.Time `json:"created_at"`
}

// subscriptionResponse is GET /api/billing/subscription.
type subscriptionResponse struct {
	subscriptionSummary
	History  []billingEvent   `json:"history"`
	Payments []billingPayment `json:"payments"`
}

func (s *Server) subscriptionBody(ctx context.Context, orgID int64) (subscriptionResponse, error) {
	sub, err := s.cfg.Billing.Subscription(ctx, orgID)
	if err != nil {
		return subscriptionResponse{}, err
	}
	out := subscriptionResponse{subscriptionSummary: summarize(sub), History: []billingEvent{}, Payments: []billingPayment{}}
	hist, err := s.cfg.Billing.History(ctx, orgID)
	if err != nil {
		return subscriptionResponse{}, err
	}
	for _, e := range hist {
		out.History = append(out.History, billingEvent{From: string(e.From), To: string(e.To), Cause: e.Cause, Detail: e.Detail, At: e.At})
	}
	pays, err := s.cfg.Billing.Payments(ctx, orgID)
	if err != nil {
		return subscriptionResponse{}, err
	}
	for _, p := range pays {
		out.Payments = append(out.Payments, billingPayment{Reference: p.Reference, Kind: p.Kind, State: p.State, AmountCents: p.AmountCents,
			Currency: p.Currency, PeriodStart: p.PeriodStart, PeriodEnd: p.PeriodEnd, Attempt: p.Attempt, CreatedAt: p.CreatedAt})
	}
	return out, nil
}

func (s *Server) subscription(w http.ResponseWriter, r *http.Request) {
	if !s.member(w, r, false) {
		return
	}
	c, _ := callerFrom(r.Context())
	out, err := s.subscriptionBody(r.Context(), c.Org.ID)
	if err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// acceptanceResponse is what the card form needs.
type acceptanceResponse struct {
	wompi.AcceptanceTokens
	PublicKey   string `json:"public_key"`
	Environment string `json:"environment"`
	// APIURL is where the browser tokenizes the card (POST {api_url}/tokens/cards with the public key).
	APIURL string `json:"api_url"`
}

func (s *Server) acceptance(w http.ResponseWriter, r *http.Request) {
	if !s.member(w, r, true) {
		return
	}
	wc := s.cfg.Billing.Wompi()
	if wc == nil {
		s.fail(w, r, billingAPIError(billing.ErrPaymentsUnavailable))
		return
	}
	acc, err := wc.AcceptanceTokens(r.Context())
	if err != nil {
		s.fail(w, r, &Error{Status: http.StatusBadGateway, Code: "wompi_unavailable", Message: "Wompi did not answer; try again", Err: err})
		return
	}
	writeJSON(w, http.StatusOK, acceptanceResponse{AcceptanceTokens: acc, PublicKey: wc.PublicKey(), Environment: string(wc.Environment()), APIURL: wc.BaseURL()})
}

func (s *Server) checkout(w http.ResponseWriter, r *http.Request) {
	if !s.member(w, r, true) {
		return
	}
	c, _ := callerFrom(r.Context())
	cs, err := s.cfg.Billing.Checkout(r.Context(), c.Org.ID)
	if err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	writeJSON(w, http.StatusCreated, cs)
}

// paymentSourceRequest is the body of POST /api/billing/payment-source.
type paymentSourceRequest struct {
	// CardToken is the token Wompi gave the browser for the card (tok_...); the card number never
	// reaches appcitas.
	CardToken string `json:"card_token"`
	// AcceptanceToken and AcceptPersonalAuth are the tokens of GET /api/billing/acceptance the
	// payer accepted.
	AcceptanceToken    string `json:"acceptance_token"`
	AcceptPersonalAuth string `json:"accept_personal_auth,omitempty"`
	// Email defaults to the subscription's billing e-mail.
	Email string `json:"email,omitempty"`
}

func (s *Server) paymentSource(w http.ResponseWriter, r *http.Request) {
	var req paymentSourceRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.member(w, r, true) {
		return
	}
	c, _ := callerFrom(r.Context())
	if _, err := s.cfg.Billing.SavePaymentSource(r.Context(), c.Org.ID, billing.NewPaymentSource{CardToken: req.CardToken,
		AcceptanceToken: req.AcceptanceToken, AcceptPersonalAuth: req.AcceptPersonalAuth, Email: req.Email}); err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	out, err := s.subscriptionBody(r.Context(), c.Org.ID)
	if err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// wompiEvent verifies and applies a Wompi event, then answers 200 (Wompi retries anything else).
// Its work is a few database statements, so the answer is fast.
func (s *Server) wompiEvent(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		s.fail(w, r, decodeError(err))
		return
	}
	res, err := s.cfg.Billing.HandleEvent(r.Context(), body, r.Header.Get("X-Event-Checksum"))
	if err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "duplicate": res.Duplicate, "outcome": res.Outcome})
}

// checkPlanLimitTx is the plan-limit check of a create handler, inside its inTenant transaction.
// It answers 402 plan_limit_reached when one more would pass the routed organization's limit l.
// The rule lives in [billing.Service.CheckLimitTx].
func (s *Server) checkPlanLimitTx(ctx context.Context, tx pgx.Tx, l billing.Limit) error {
	if s.cfg.Billing == nil {
		return nil
	}
	c, _ := callerFrom(ctx)
	err := s.cfg.Billing.CheckLimitTx(ctx, tx, c.Org.ID, l, s.cfg.Now())
	if errors.Is(err, billing.ErrLimitReached) {
		return billingAPIError(err)
	}
	return err
}
