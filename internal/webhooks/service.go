package webhooks

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// OwnerNotifier tells an organization's owner something, once per key (billing's outbox:
// [billing.Service.NotifyOwner]).
type OwnerNotifier interface {
	NotifyOwner(ctx context.Context, orgID int64, kind, key, subject, body string) error
}

// NoticeDisabled is the kind of the owner's notice of a disabled subscription.
const NoticeDisabled = "webhook_disabled"

// Options configures a [Service].
type Options struct {
	// Development (APPCITAS_WEBHOOKS_DEVELOPMENT=1) accepts http URLs and every address (loopback,
	// private...), for tests and local use. Defaults to false.
	Development bool
	// Timeout bounds one delivery: connecting, sending and reading the answer. Defaults to 10s.
	Timeout time.Duration
	// RetryBase is the pause after the first failed attempt; it doubles with every failure, up to
	// RetryMax, with ±25% jitter. Defaults to 30s.
	RetryBase time.Duration
	// RetryMax caps the pause between two attempts. Defaults to 2h.
	RetryMax time.Duration
	// GiveUpAfter is how long after its creation a delivery is still retried; past it the
	// delivery fails. Defaults to 24h.
	GiveUpAfter time.Duration
	// DisableAfter disables a subscription whose attempts have all failed for this long.
	// Defaults to 72h.
	DisableAfter time.Duration
	// DisableAfterFailures disables a subscription after this many failed attempts in a row.
	// Defaults to 500.
	DisableAfterFailures int
	// ClaimTimeout is how long a delivery may stay claimed by a deliverer before another claims
	// it again (the first died between sending and recording). It must exceed Timeout. Defaults
	// to 2m.
	ClaimTimeout time.Duration
	// Retention is how long events and their deliveries are kept; the sweep deletes older ones
	// that wait for nothing. Defaults to 30 days.
	Retention time.Duration
	// Batch is how many deliveries of one tenant are claimed and sent at once. Defaults to 8.
	Batch int
	// RunBudget bounds the time one tenant's run keeps claiming new batches. Defaults to 1m.
	RunBudget time.Duration
	// Owner is told when a subscription is disabled; nil logs it instead.
	Owner OwnerNotifier
	// LookupHost resolves a URL's host when a subscription is saved. Defaults to the system
	// resolver. (Connections always use the system resolver, checked at connect time.)
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service manages subscriptions and delivers events.
type Service struct {
	m      *tenancy.Manager
	opts   Options
	client *http.Client
	log    *slog.Logger
}

// New returns a Service on m's tenants.
func New(m *tenancy.Manager, opts Options) *Service {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 30 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 2 * time.Hour
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = 24 * time.Hour
	}
	if opts.DisableAfter <= 0 {
		opts.DisableAfter = 72 * time.Hour
	}
	if opts.DisableAfterFailures <= 0 {
		opts.DisableAfterFailures = 500
	}
	if opts.ClaimTimeout <= 0 {
		opts.ClaimTimeout = 2 * time.Minute
	}
	if opts.ClaimTimeout <= opts.Timeout {
		opts.ClaimTimeout = opts.Timeout + time.Minute
	}
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.Batch <= 0 {
		opts.Batch = 8
	}
	if opts.RunBudget <= 0 {
		opts.RunBudget = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{m: m, opts: opts, client: newHTTPClient(opts.Development, opts.Timeout), log: opts.Logger}
}

// Development reports whether the development rules apply (http and private targets allowed).
func (s *Service) Development() bool { return s.opts.Development }

func (s *Service) now() time.Time { return s.opts.Now() }
