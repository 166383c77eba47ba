package cli

import (
	"context"

	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// webhookJobs returns the job queue's webhook configuration for serve: the delivery service (its
// owner notices go to billing's outbox), a listener per configured server and the sweep. It runs
// inside startBilling, after billing is built; the API reads the service from billingRT.
func (a *app) webhookJobs(m *tenancy.Manager) func(*jobs.Config) {
	return func(c *jobs.Config) {
		w := a.cfg.Webhooks
		opts := webhooks.Options{Development: w.Development, Timeout: w.Timeout, GiveUpAfter: w.GiveUpAfter,
			DisableAfter: w.DisableAfter, DisableAfterFailures: w.DisableAfterFailures, Logger: a.log}
		if rt := a.billingRT; rt != nil && rt.billing != nil {
			opts.Owner = rt.billing
		}
		svc := webhooks.New(m, opts)
		if rt := a.billingRT; rt != nil {
			rt.webhooks = svc
		}
		if w.Development {
			a.log.Warn("WEBHOOKS DEVELOPMENT MODE: http and loopback/private targets are allowed (APPCITAS_WEBHOOKS_DEVELOPMENT=1); never in production")
		}
		c.Webhooks = svc
		c.WebhookSweepEvery = w.SweepEvery
		c.WebhookWorkers = w.Workers
		c.WebhookServers = m.Servers().Names()
		c.WebhookListenURL = func(ctx context.Context, server string) (string, error) {
			if server == tenancy.DefaultServer && a.cfg.ListenURL != "" {
				return a.cfg.ListenURL, nil
			}
			// Behind a transaction-mode pooler a LISTEN hears nothing: only the sweep finds work.
			if pooled, err := m.Servers().BehindPooler(ctx, server); err == nil && pooled {
				a.log.Warn("webhooks: the server is reached through a pooler, so new deliveries wait for the sweep (APPCITAS_WEBHOOKS_SWEEP_EVERY); set APPCITAS_LISTEN_URL to a direct connection",
					"server", server, "sweep_every", w.SweepEvery)
			}
			return m.Servers().Lookup(ctx, server)
		}
	}
}
