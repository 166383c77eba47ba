package billing

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/wompi"
)

// Options configures a [Service].
type Options struct {
	// Wompi charges payment sources; nil disables payments (checkout and charges return
	// ErrPaymentsUnavailable, trials still expire).
	Wompi *wompi.Client
	// GracePeriod is how long a past_due subscription keeps working before it is suspended.
	// Defaults to 7 days.
	GracePeriod time.Duration
	// RetryDays are the days after the first failed renewal on which the charge is retried.
	// Defaults to 1, 3, 5.
	RetryDays []int
	// TrialNotice is how long before the end of a trial the owner is told. Defaults to 3 days.
	TrialNotice time.Duration
	// RedirectURL is where Wompi's checkout sends the payer back. Defaults to "".
	RedirectURL string
	// CheckoutURL is Wompi's web checkout, which CheckoutSession.CheckoutURL links to. Defaults to
	// https://checkout.wompi.co/p/; "-" leaves the link out (the simulator has no checkout page).
	CheckoutURL string
	// CheckoutExpiry is how long a checkout may stay PENDING before it is marked EXPIRED (when
	// Wompi still reports it PENDING or does not know it). Defaults to 24h.
	CheckoutExpiry time.Duration
	// Mailer delivers notices; nil logs them instead.
	Mailer Mailer
	// SendingTimeout is how long a notice may stay claimed (sending) before it is reported as
	// stuck: the deliverer died between SMTP and marking it sent. Defaults to 10m.
	SendingTimeout time.Duration
	// AccessCacheTTL is how long CheckAccess reuses an organization's subscription state while
	// [Service.WatchAccess] runs (every change, by any process, is then seen at once; without the
	// watch, changes made through this Service are seen at once, others within 5 seconds at most).
	// Defaults to 1h; negative disables the cache.
	AccessCacheTTL time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service is billing on the default server's public schema.
type Service struct {
	pool    *pgxpool.Pool
	tenancy *tenancy.Manager
	wompi   *wompi.Client
	opts    Options
	log     *slog.Logger

	// access keeps each organization's subscription state (nil: AccessCacheTTL < 0, none kept).
	access *tenancy.OrganizationCache[accessState]
}

// New returns the billing service of m's default server.
func New(ctx context.Context, m *tenancy.Manager, opts Options) (*Service, error) {
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return nil, fmt.Errorf("opening billing: %w", err)
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = 7 * 24 * time.Hour
	}
	if len(opts.RetryDays) == 0 {
		opts.RetryDays = []int{1, 3, 5}
	}
	if opts.TrialNotice <= 0 {
		opts.TrialNotice = 3 * 24 * time.Hour
	}
	if opts.CheckoutExpiry <= 0 {
		opts.CheckoutExpiry = 24 * time.Hour
	}
	if opts.SendingTimeout <= 0 {
		opts.SendingTimeout = 10 * time.Minute
	}
	if opts.CheckoutURL == "" {
		opts.CheckoutURL = "https://checkout.wompi.co/p/"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AccessCacheTTL == 0 {
		opts.AccessCacheTTL = time.Hour
	}
	s := &Service{pool: pool, tenancy: m, wompi: opts.Wompi, opts: opts, log: opts.Logger}
	if opts.AccessCacheTTL > 0 {
		s.access = tenancy.NewOrganizationCache(s.readAccess, tenancy.OrganizationCacheOptions{TTL: opts.AccessCacheTTL})
	}
	return s, nil
}

// Wompi returns the Wompi client, or nil when payments are not configured.
func (s *Service) Wompi() *wompi.Client { return s.wompi }

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// forgetAccess drops an organization's cached subscription state.
func (s *Service) forgetAccess(orgID int64) {
	if s.access != nil {
		s.access.Invalidate(orgID)
	}
}
