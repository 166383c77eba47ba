package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// Schema is the PostgreSQL schema that holds River's tables.
const Schema = "river"

// Migrate creates the river schema if needed and applies River's pending migrations to it. It is
// idempotent; `appcitas migrate` runs it after the public migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+Schema); err != nil {
		return fmt.Errorf("creating schema %s: %w", Schema, err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: Schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("preparing river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating river: %w", err)
	}
	return nil
}

// Config configures a [Runner].
type Config struct {
	// Pool is a pool on the default server, used by River only. Required. Behind a connection
	// pooler in transaction mode it must keep no prepared statements (pgx.QueryExecModeExec; see
	// tenancy's Servers.NewPool), and PollOnly must be set.
	Pool *pgxpool.Pool
	// PollOnly makes River poll for new jobs and leadership instead of using LISTEN/NOTIFY, which a
	// pooler in transaction mode loses: its LISTEN's session goes to other clients.
	PollOnly bool
	// Billing runs the billing jobs; nil leaves them out.
	Billing *billing.Service
	// BookingMail sends the public booking page's confirmations (publicmail.go); nil leaves the
	// job out.
	BookingMail *reservas.Deliverer
	// SweepEvery is how often the billing sweep runs. Defaults to 1m.
	SweepEvery time.Duration
	// MaxWorkers bounds the jobs run at once. Defaults to 10.
	MaxWorkers int
	// Register lets other packages add their workers (river.AddWorker(w, ...)) before the client
	// is built.
	Register func(w *river.Workers) error
	// PeriodicJobs are added to the billing sweep.
	PeriodicJobs []*river.PeriodicJob
	// Queues are worked besides the default queue, by name (e.g. [BackupQueue]).
	Queues map[string]river.QueueConfig
	// SkipDefaultQueue leaves the default queue out: a process that works only Queues (the
	// backups of `backup_all_tenants --schedule`).
	SkipDefaultQueue bool
	// RescueStuckJobsAfter is how long a job may stay running before River's rescuer makes it
	// available again: a job whose end could not be recorded (the database went away for longer
	// than River's few seconds of retries) is then retried, not left running. It must exceed the
	// longest job's timeout. Defaults to 35m (a backup's 30 minutes, plus 5).
	RescueStuckJobsAfter time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Webhooks delivers webhooks (webhooks.go); nil leaves them out.
	Webhooks *webhooks.Service
	// WebhookListenURL returns a direct connection string (no pooler) to a server, for the
	// webhook listener; nil starts no listener (the sweep still finds the work, late).
	WebhookListenURL func(ctx context.Context, server string) (string, error)
	// WebhookServers are the servers listened on. Defaults to the default server.
	WebhookServers []string
	// WebhookWorkers bounds the webhook jobs run at once, in their own queue (WebhookQueue).
	// Defaults to DefaultWebhookWorkers (20).
	WebhookWorkers int
	// WebhookSweepEvery is how often every schema is read for deliveries nobody queued.
	// Defaults to DefaultWebhookSweepEvery (1h).
	WebhookSweepEvery time.Duration
}

// defaultRescueStuckJobsAfter is Config.RescueStuckJobsAfter's default.
const defaultRescueStuckJobsAfter = 35 * time.Minute

// Runner is the River client and its workers.
type Runner struct {
	client *river.Client[pgx.Tx]
	// listen runs the webhook listeners until its ctx ends (nil: none); stopListen ends them.
	listen     func(ctx context.Context, client *river.Client[pgx.Tx])
	stopListen context.CancelFunc
}

// New builds the River client with the billing workers and the periodic sweep. It does not start
// it (see [Runner.Start]); an unstarted Runner can still insert jobs.
func New(cfg Config) (*Runner, error) {
	if cfg.Pool == nil {
		return nil, errors.New("jobs: a pool is required")
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RescueStuckJobsAfter <= 0 {
		cfg.RescueStuckJobsAfter = defaultRescueStuckJobsAfter
	}
	workers := river.NewWorkers()
	periodic := append([]*river.PeriodicJob(nil), cfg.PeriodicJobs...)
	if cfg.Billing != nil {
		b := cfg.Billing
		river.AddWorker(workers, &sweepWorker{billing: b, every: cfg.SweepEvery})
		river.AddWorker(workers, &chargeWorker{billing: b})
		river.AddWorker(workers, &suspendWorker{billing: b})
		river.AddWorker(workers, &reconcileWorker{billing: b})
		river.AddWorker(workers, &notifyWorker{billing: b})
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) {
				return SweepArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: cfg.SweepEvery}}
			},
			&river.PeriodicJobOpts{ID: "billing_sweep", RunOnStart: true}))
	}
	if cfg.Webhooks != nil {
		periodic = addWebhooks(workers, periodic, cfg) // webhooks.go
	}
	if cfg.BookingMail != nil {
		river.AddWorker(workers, &bookingMailWorker{tenancy: cfg.BookingMail.Manager, delivery: cfg.BookingMail}) // publicmail.go
	}
	if cfg.Register != nil {
		if err := cfg.Register(workers); err != nil {
			return nil, err
		}
	}
	queues := map[string]river.QueueConfig{}
	if !cfg.SkipDefaultQueue {
		queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: cfg.MaxWorkers}
	}
	if cfg.Webhooks != nil {
		queues[WebhookQueue] = webhookQueue(cfg) // webhooks.go
	}
	for name, q := range cfg.Queues {
		queues[name] = q
	}
	client, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		Schema:       Schema,
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		Logger:       cfg.Logger.With("component", "river"),
		MaxAttempts:  10,
		PollOnly:     cfg.PollOnly,
		// A job interrupted by a database outage is retried after this, not left running.
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("building the job queue: %w", err)
	}
	return &Runner{client: client, listen: webhookListeners(cfg)}, nil
}

// Client returns the River client, to insert jobs.
func (r *Runner) Client() *river.Client[pgx.Tx] { return r.client }

// Start starts working jobs until Stop (or ctx ends).
func (r *Runner) Start(ctx context.Context) error {
	if err := r.client.Start(ctx); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	if r.listen != nil {
		lctx, stop := context.WithCancel(ctx)
		r.stopListen = stop
		r.listen(lctx, r.client)
	}
	return nil
}

// Stop waits for running jobs to finish (as long as ctx allows) and stops.
func (r *Runner) Stop(ctx context.Context) error {
	if r.stopListen != nil {
		r.stopListen()
	}
	if err := r.client.Stop(ctx); err != nil {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	return nil
}
