package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// How work is found for webhooks, across thousands of tenants, without reading every schema on a
// timer: the trigger that writes a delivery announces its schema on webhooks.Channel at commit;
// each process listens, and queues one WebhookDeliverArgs job per announced tenant. A run that
// leaves retries behind queues its own next run at the first one's due time. A sweep that reads
// every schema once (webhooks.Service.PendingTenants) runs when a listener (re)connects and at a
// slow period, for announcements nobody heard.

// WebhookQueue is the River queue of the webhook jobs: a slow receiver delays only other
// webhooks, never billing or backups.
const WebhookQueue = "webhooks"

// DefaultWebhookWorkers is Config.WebhookWorkers's default.
const DefaultWebhookWorkers = 20

// WebhookDeliverArgs delivers one tenant's due webhooks.
type WebhookDeliverArgs struct {
	Schema string `json:"schema"`
	Server string `json:"server"`
	// At is the due time (unix seconds, rounded up to 10 s) of a scheduled run, which is unique
	// per tenant and time; 0 for a run asked for by an announcement.
	At int64 `json:"at,omitempty"`
}

// Kind implements river.JobArgs.
func (WebhookDeliverArgs) Kind() string { return "webhooks_deliver" }

// InsertOpts puts the job in WebhookQueue.
func (WebhookDeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: WebhookQueue} }

// WebhookSweepArgs looks for tenants with deliveries waiting that nobody queued.
type WebhookSweepArgs struct{}

// Kind implements river.JobArgs.
func (WebhookSweepArgs) Kind() string { return "webhooks_sweep" }

// InsertOpts puts the job in WebhookQueue.
func (WebhookSweepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: WebhookQueue} }

// DefaultWebhookSweepEvery is Config.WebhookSweepEvery's default.
const DefaultWebhookSweepEvery = time.Hour

// scheduledUnique makes scheduled runs unique per tenant and time while they wait or run; a
// finished run never blocks a new one.
var scheduledUnique = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
	rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}}

// scheduledRun returns the insert of t's run due at at: no earlier than a second from now,
// rounded up to 10 s.
func scheduledRun(t tenancy.Tenant, at time.Time) river.InsertManyParams {
	if earliest := time.Now().Add(time.Second); at.Before(earliest) {
		at = earliest
	}
	at = at.Truncate(10 * time.Second).Add(10 * time.Second)
	return river.InsertManyParams{Args: WebhookDeliverArgs{Schema: t.Schema, Server: t.Server, At: at.Unix()},
		InsertOpts: &river.InsertOpts{Queue: WebhookQueue, ScheduledAt: at, UniqueOpts: scheduledUnique}}
}

type webhookDeliverWorker struct {
	river.WorkerDefaults[WebhookDeliverArgs]
	svc *webhooks.Service
}

// Timeout bounds one run: its budget plus the last batch's sends and some margin.
func (w *webhookDeliverWorker) Timeout(*river.Job[WebhookDeliverArgs]) time.Duration {
	return 5 * time.Minute
}

// Work implements river.Worker.
func (w *webhookDeliverWorker) Work(ctx context.Context, job *river.Job[WebhookDeliverArgs]) error {
	if err := tenancy.ValidateSchemaName(job.Args.Schema); err != nil {
		return river.JobCancel(err)
	}
	server := job.Args.Server
	if server == "" {
		server = tenancy.DefaultServer
	}
	t := tenancy.Tenant{Schema: job.Args.Schema, Server: server}
	res, err := w.svc.DeliverTenant(ctx, t)
	if !res.NextAt.IsZero() {
		client, cerr := river.ClientFromContextSafely[pgx.Tx](ctx)
		if cerr == nil {
			_, cerr = client.InsertMany(ctx, []river.InsertManyParams{scheduledRun(t, res.NextAt)})
		}
		if cerr != nil && err == nil {
			err = fmt.Errorf("queueing the next webhook run of %s: %w", t.Schema, cerr)
		}
	}
	return err
}

type webhookSweepWorker struct {
	river.WorkerDefaults[WebhookSweepArgs]
	svc *webhooks.Service
}

// Timeout lets a sweep read many schemas.
func (w *webhookSweepWorker) Timeout(*river.Job[WebhookSweepArgs]) time.Duration {
	return 30 * time.Minute
}

// Work implements river.Worker.
func (w *webhookSweepWorker) Work(ctx context.Context, _ *river.Job[WebhookSweepArgs]) error {
	due, err := w.svc.PendingTenants(ctx)
	if len(due) > 0 {
		params := make([]river.InsertManyParams, 0, len(due))
		for _, d := range due {
			params = append(params, scheduledRun(d.Tenant, d.At))
		}
		client, cerr := river.ClientFromContextSafely[pgx.Tx](ctx)
		if cerr == nil {
			_, cerr = client.InsertMany(ctx, params)
		}
		if cerr != nil {
			return fmt.Errorf("queueing webhook runs: %w", cerr)
		}
	}
	return err
}

// webhookQueue returns WebhookQueue's configuration.
func webhookQueue(cfg Config) river.QueueConfig {
	n := cfg.WebhookWorkers
	if n <= 0 {
		n = DefaultWebhookWorkers
	}
	return river.QueueConfig{MaxWorkers: n}
}

// addWebhooks registers the webhook workers and the periodic sweep.
func addWebhooks(workers *river.Workers, periodic []*river.PeriodicJob, cfg Config) []*river.PeriodicJob {
	river.AddWorker(workers, &webhookDeliverWorker{svc: cfg.Webhooks})
	river.AddWorker(workers, &webhookSweepWorker{svc: cfg.Webhooks})
	every := cfg.WebhookSweepEvery
	if every <= 0 {
		every = DefaultWebhookSweepEvery
	}
	return append(periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return WebhookSweepArgs{}, &river.InsertOpts{Queue: WebhookQueue, UniqueOpts: river.UniqueOpts{ByPeriod: every}}
		},
		&river.PeriodicJobOpts{ID: "webhooks_sweep", RunOnStart: true}))
}

// webhookListeners returns what Start runs for webhooks: one listener per server of
// cfg.WebhookServers, each queueing a delivery run per announced tenant and a sweep each time it
// (re)connects. nil without webhooks.
func webhookListeners(cfg Config) func(ctx context.Context, client *river.Client[pgx.Tx]) {
	if cfg.Webhooks == nil || cfg.WebhookListenURL == nil {
		return nil
	}
	servers := cfg.WebhookServers
	if len(servers) == 0 {
		servers = []string{tenancy.DefaultServer}
	}
	log := cfg.Logger
	return func(ctx context.Context, client *river.Client[pgx.Tx]) {
		for _, server := range servers {
			url, err := cfg.WebhookListenURL(ctx, server)
			if err != nil {
				log.Warn("webhook listener not started: the sweep finds this server's deliveries", "server", server, "err", err)
				continue
			}
			go webhooks.Listen(ctx, url,
				func() {
					if _, err := client.Insert(ctx, WebhookSweepArgs{}, &river.InsertOpts{Queue: WebhookQueue, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}); err != nil {
						log.Warn("queueing a webhook sweep", "server", server, "err", err)
					}
				},
				func(schemas []string) {
					params := make([]river.InsertManyParams, len(schemas))
					for i, s := range schemas {
						params[i] = river.InsertManyParams{Args: WebhookDeliverArgs{Schema: s, Server: server}}
					}
					if _, err := client.InsertMany(ctx, params); err != nil {
						log.Warn("queueing webhook runs (the sweep will find them)", "server", server, "err", err)
					}
				}, log)
		}
	}
}
