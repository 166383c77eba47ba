package reminders

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/whatsapp"
)

// Mailer delivers one e-mail; billing's SMTPMailer is one.
type Mailer interface {
	Send(ctx context.Context, m billing.Message) error
}

// Options configures a [Service].
type Options struct {
	// Mailer sends the e-mails. Nil writes them to the log instead (provider "registro").
	Mailer Mailer
	// WhatsApp is the server's WhatsApp client (APPCITAS_WHATSAPP_*), or the simulator's. Nil:
	// only organizations with a number and token of their own send by WhatsApp.
	WhatsApp *whatsapp.Client
	// WhatsAppAPIURL is the Graph API base URL of organizations' own numbers. Defaults to
	// whatsapp.DefaultAPIURL.
	WhatsAppAPIURL string
	// WhatsAppVersion is the Graph API version of organizations' own numbers. Defaults to
	// whatsapp.DefaultVersion.
	WhatsAppVersion string
	// ListenURL is a direct connection (never through a pooler) to the default server for the
	// listener (APPCITAS_LISTEN_URL). Defaults to the default server's URL.
	ListenURL string
	// SecretsKey (32 bytes) seals organizations' own WhatsApp tokens. Nil: they cannot be stored.
	SecretsKey []byte
	// Batch is how many reminders a tenant's job claims at a time. Defaults to 100.
	Batch int
	// Concurrency is how many reminders of one batch are sent at once. Defaults to 8.
	Concurrency int
	// MaxAttempts is how many times a reminder is tried before it fails. Defaults to 6.
	MaxAttempts int
	// RetryBase is the first retry's delay; each next one doubles it, up to 30 minutes. Defaults
	// to 30 s.
	RetryBase time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service sends reminders of the tenants of one tenancy.Manager.
type Service struct {
	m    *tenancy.Manager
	opts Options
	log  *slog.Logger
}

// New returns a Service.
func New(m *tenancy.Manager, opts Options) (*Service, error) {
	if m == nil {
		return nil, errors.New("reminders: a tenancy manager is required")
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WhatsAppAPIURL == "" {
		opts.WhatsAppAPIURL = whatsapp.DefaultAPIURL
	}
	return &Service{m: m, opts: opts, log: opts.Logger.With("component", "reminders")}, nil
}

func (s *Service) now() time.Time { return s.opts.Now() }

// backoff is the delay before retry n (1, 2, ...): RetryBase doubled each time, at most 30 min.
func (s *Service) backoff(n int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < n && d < 30*time.Minute; i++ {
		d *= 2
	}
	return min(d, 30*time.Minute)
}
