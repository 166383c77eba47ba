// Package api is appcitas's HTTP interface: one route table on the standard library's ServeMux,
// JSON in and out.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/invitations"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/onboarding"
	"github.com/appcitas/appcitas/internal/reminders"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// Config configures the API. JWTSecret is required; every other field has a default.
type Config struct {
	// JWTSecret signs access tokens (HS256); at least auth.MinSecretLen bytes.
	JWTSecret []byte
	// AccessTTL is the access tokens' lifetime. Defaults to auth.DefaultAccessTTL (15m).
	AccessTTL time.Duration
	// RefreshTTL is the refresh tokens' lifetime. Defaults to auth.DefaultRefreshTTL (30 days).
	RefreshTTL time.Duration
	// MaxBodyBytes bounds request bodies (413 beyond). Defaults to 1 MiB.
	MaxBodyBytes int64
	// OrgCacheTTL is how long an organization lookup, and a user's standing (active, superuser,
	// session generation), is reused while the catalog watch is in place (changes evict their
	// entry at once); 5s at most while it is down. Defaults to
	// tenancy.DefaultOrganizationCacheTTL (1h).
	OrgCacheTTL time.Duration
	// SetupCacheRows is the budget, in rows over every tenant, of the set-ups (branches,
	// services, members, working hours, exceptions) kept in memory so that a request reads only
	// the tenant's set-up version before its own query. Defaults to booking.DefaultSetupCacheRows;
	// negative keeps none (every request reads the profile and set-up from its tenant's tables).
	SetupCacheRows int
	// NoOneTripReads sends the day's appointments (GET /api/citas) and free slots (GET
	// /api/disponibilidad) the way every other request goes: the scope's opening with the set-up
	// version, the query, COMMIT, one round trip each. Defaults to false: those reads go in one
	// round trip when the caller's set-up is cached (readInTenant).
	NoOneTripReads bool
	// LoginPerAccount limits login attempts per username or email. Defaults to a burst of 5, then
	// one a minute (a successful login resets it).
	LoginPerAccount auth.LimitOptions
	// LoginPerIP limits login attempts per client address. Defaults to a burst of 30, then one
	// every 2s.
	LoginPerIP auth.LimitOptions
	// PasswordHash is the argon2id cost of new hashes. Defaults to auth.DefaultHashParams().
	PasswordHash auth.HashParams
	// Now defaults to time.Now (tests move the clock).
	Now func() time.Time
	// Billing serves /api/plans and /api/billing/*, and answers 402 on the tenant routes of a
	// suspended or cancelled organization (billing excepted). Defaults to nil: no billing.
	Billing *billing.Service
	// Signup serves POST /api/signup. Defaults to nil: no signup route.
	Signup *onboarding.Service
	// SignupPerIP limits signups per client address. Defaults to a burst of 10, then one a minute.
	SignupPerIP auth.LimitOptions
	// Backups is the backup store the tenant dashboard reads each tenant's last backup and last
	// failure from, and where POST /api/admin/tenants/{id}/backup writes. Defaults to nil: the
	// dashboard shows no backup state and that action answers 501 backups_not_configured. (The
	// dashboard's extend_trial action uses Billing and answers 501 billing_not_configured without it.)
	Backups *backup.Store
	// TrustedProxies are the proxies whose X-Forwarded-For is believed: the client address of
	// the login and signup rate limits and of request logs is the rightmost X-Forwarded-For entry
	// that is not one of them, when the peer is one. Defaults to none: the peer's address.
	TrustedProxies []netip.Prefix
	// FeedPerIP limits calendar feed requests (GET /cal/...) per client address. Defaults to a
	// burst of 60, then one a second.
	FeedPerIP auth.LimitOptions
	// MetricsToken, when set, is the bearer token GET /metrics requires (Prometheus's
	// authorization.credentials); a request without it gets 401. Empty: /metrics is open.
	MetricsToken string
	// Webhooks checks webhook subscriptions' URLs with its rules (development or not). Defaults to
	// a service with the production rules.
	Webhooks *webhooks.Service
	// Reminders saves reminder settings (it seals organizations' own WhatsApp tokens). Defaults to
	// a service without a secrets key: such tokens are refused.
	Reminders *reminders.Service
	// Mailer sends invitation e-mails (POST /api/invitaciones). Defaults to nil: inviting answers
	// 503 mail_unavailable.
	Mailer billing.Mailer
	// PublicURL is where people reach the server (e.g. https://citas.example.com); invitation
	// links point to {PublicURL}/app. Defaults to "": the scheme and host of the inviting request.
	PublicURL string
	// PublicBooking configures the public booking page (public_handlers.go). Defaults to its
	// fields' defaults.
	PublicBooking PublicBookingConfig
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.LoginPerAccount.Burst <= 0 {
		c.LoginPerAccount = auth.LimitOptions{Burst: 5, Every: time.Minute}
	}
	if c.LoginPerIP.Burst <= 0 {
		c.LoginPerIP = auth.LimitOptions{Burst: 30, Every: 2 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server holds what the handlers need.
type Server struct {
	tenancy *tenancy.Manager
	log     *slog.Logger
	cfg     Config

	users        *auth.Store
	tokens       *auth.Tokens
	accountLimit *auth.Limiter
	ipLimit      *auth.Limiter
	signupLimit  *auth.Limiter
	feedLimit    *auth.Limiter
	proxies      trustedProxies
	orgs         *tenancy.OrganizationCache[orgLookup]
	standing     *tenancy.OrganizationCache[auth.Standing] // by user id
	metrics      *metrics
	zones        *booking.Zones      // the branches' time zones, loaded once each
	setups       *booking.SetupCache // nil: none kept
	reminders    *reminders.Service  // reminders_routes.go
	invites      *invitations.Service

	// extraRoutes are appended to the route table (tests).
	extraRoutes []route
	// Filled by handler(): the mux, the patterns registered on it, and the OpenAPI document.
	mux        *http.ServeMux
	registered []string
	openapiDoc []byte
}

// New returns the HTTP handler of the API. It opens the pool of the default server (where public
// lives) without waiting for a connection, and watches the organization catalog and users'
// standing for changes until ctx ends.
func New(ctx context.Context, m *tenancy.Manager, log *slog.Logger, cfg Config) (http.Handler, error) {
	s, err := newServer(ctx, m, log, cfg)
	if err != nil {
		return nil, err
	}
	return s.handler(), nil
}

func newServer(ctx context.Context, m *tenancy.Manager, log *slog.Logger, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	tokens, err := auth.NewTokens(cfg.JWTSecret, cfg.AccessTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return nil, err
	}
	zones := &booking.Zones{}
	var setups *booking.SetupCache // nil: none kept
	if cfg.SetupCacheRows >= 0 {
		setups = booking.NewSetupCache(cfg.SetupCacheRows, zones)
	}
	met, err := newMetrics(m, setups, cfg.Billing)
	if err != nil {
		return nil, err
	}
	users := auth.NewStore(pool, auth.StoreOptions{Hash: cfg.PasswordHash, RefreshTTL: cfg.RefreshTTL, Now: cfg.Now})
	s := &Server{
		tenancy:      m,
		log:          log,
		cfg:          cfg,
		users:        users,
		tokens:       tokens,
		accountLimit: auth.NewLimiter(cfg.LoginPerAccount, cfg.Now),
		ipLimit:      auth.NewLimiter(cfg.LoginPerIP, cfg.Now),
		signupLimit:  auth.NewLimiter(signupLimitOptions(cfg.SignupPerIP), cfg.Now),
		feedLimit:    auth.NewLimiter(feedLimitOptions(cfg.FeedPerIP), cfg.Now),
		proxies:      trustedProxies(cfg.TrustedProxies),
		orgs:         newOrgCache(m, cfg.OrgCacheTTL, cfg.Now),
		standing:     tenancy.NewOrganizationCache(users.Standing, tenancy.OrganizationCacheOptions{TTL: cfg.OrgCacheTTL, Now: cfg.Now}),
		metrics:      met,
		zones:        zones,
		setups:       setups,
		invites: invitations.New(func(ctx context.Context) (*pgxpool.Pool, error) {
			return m.Servers().Shared(ctx, tenancy.DefaultServer)
		}, invitations.Options{Mailer: cfg.Mailer, Now: cfg.Now}),
	}
	if s.reminders = cfg.Reminders; s.reminders == nil {
		if s.reminders, err = reminders.New(m, reminders.Options{Logger: log}); err != nil {
			return nil, err
		}
	}
	go func() { _ = s.orgs.Watch(ctx, m) }()
	go func() { _ = s.standing.WatchUsers(ctx, m) }()
	return s, nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the default server answers and public is fully migrated.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	pool, err := s.tenancy.Servers().Shared(ctx, tenancy.DefaultServer)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer")
		return
	}
	v, err := migrate.PublicVersion(ctx, pool)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "cannot read the public schema version")
		return
	}
	if latest := migrate.Public().Latest(); v < latest {
		writeError(w, http.StatusServiceUnavailable, "migrations_pending", "the public schema is behind: run appcitas migrate")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "public_version": v})
}

// writeJSON writes v as the JSON response body with status. v is encoded before anything is sent:
// when it cannot be, the answer is a 500 instead and the writers below learn why (encode.go), so
// the failure is logged and inTenant rolls its transaction back.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		noteEncodeFailure(w, fmt.Errorf("encoding the answer as JSON: %w", err))
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(encodeFailureBody)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeError writes the API's error shape: {"error": {"code": ..., "message": ...}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
