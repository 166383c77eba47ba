package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appcitas/appcitas/internal/reminders"
)

// RemindersQueue is the queue of the reminder jobs, apart from the default queue so that a burst
// of reminders never holds up billing.
const RemindersQueue = "reminders"

// RemindersDispatchArgs is the periodic job that queues one [RemindersTenantArgs] per tenant with
// due reminders, read from the agenda (reminders.Service.Due).
type RemindersDispatchArgs struct{}

// Kind implements river.JobArgs.
func (RemindersDispatchArgs) Kind() string { return "reminders_dispatch" }

// InsertOpts puts the dispatch in the reminders queue.
func (RemindersDispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RemindersQueue}
}

// RemindersTenantArgs sends one tenant's due reminders, a batch at a time. Unique per tenant while
// it waits or runs (not once completed), so a tenant never has more than one job in the queue.
type RemindersTenantArgs struct {
	// OrganizationID is the tenant's organization.
	OrganizationID int64 `json:"organization_id"`
}

// Kind implements river.JobArgs.
func (RemindersTenantArgs) Kind() string { return "reminders_tenant" }

// InsertOpts makes the job unique per tenant among jobs that wait or run.
func (RemindersTenantArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RemindersQueue, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// RemindersSweepArgs is the slow periodic sweep that rebuilds the agenda from every tenant.
type RemindersSweepArgs struct{}

// Kind implements river.JobArgs.
func (RemindersSweepArgs) Kind() string { return "reminders_sweep" }

// InsertOpts puts the sweep in the reminders queue, unique per hour.
func (RemindersSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RemindersQueue, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// Reminders runs the reminder jobs; [Reminders.Configure] adds them to a [Config].
type Reminders struct {
	svc *reminders.Service
	// DispatchEvery is how often due tenants are looked up. Defaults to 30 s.
	DispatchEvery time.Duration
	// SweepEvery is how often the agenda is rebuilt from every tenant. Defaults to 1 h.
	SweepEvery time.Duration
	// Workers is how many reminder jobs run at once (each sends one tenant's batch). Defaults to 8.
	Workers int
	// PerDispatch bounds the tenants queued by one dispatch. Defaults to 1,000.
	PerDispatch int
	// Slice is how long one tenant's job keeps sending batches before it yields its worker to the
	// other tenants' jobs (it snoozes to the end of the queue). Defaults to 5 s.
	Slice time.Duration
}

// NewReminders returns the reminder jobs of svc with their defaults.
func NewReminders(svc *reminders.Service) *Reminders {
	return &Reminders{svc: svc, DispatchEvery: 30 * time.Second, SweepEvery: time.Hour, Workers: 8, PerDispatch: 1000, Slice: 5 * time.Second}
}

// Configure adds the reminders to a job queue's configuration: their workers (after
// cfg.Register's), the dispatch and the sweep as periodic jobs, and the reminders queue.
func (r *Reminders) Configure(cfg *Config) {
	prev := cfg.Register
	cfg.Register = func(w *river.Workers) error {
		if prev != nil {
			if err := prev(w); err != nil {
				return err
			}
		}
		if err := river.AddWorkerSafely(w, &remindersDispatchWorker{r: r}); err != nil {
			return fmt.Errorf("registering the reminder dispatch: %w", err)
		}
		if err := river.AddWorkerSafely(w, &remindersTenantWorker{r: r}); err != nil {
			return fmt.Errorf("registering the reminder worker: %w", err)
		}
		if err := river.AddWorkerSafely(w, &remindersSweepWorker{r: r}); err != nil {
			return fmt.Errorf("registering the reminder sweep: %w", err)
		}
		return nil
	}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs,
		river.NewPeriodicJob(river.PeriodicInterval(r.DispatchEvery),
			func() (river.JobArgs, *river.InsertOpts) {
				return RemindersDispatchArgs{}, &river.InsertOpts{Queue: RemindersQueue, UniqueOpts: river.UniqueOpts{ByPeriod: r.DispatchEvery}}
			},
			&river.PeriodicJobOpts{ID: "reminders_dispatch", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(r.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return RemindersSweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "reminders_sweep", RunOnStart: true}))
	if cfg.Queues == nil {
		cfg.Queues = map[string]river.QueueConfig{}
	}
	cfg.Queues[RemindersQueue] = river.QueueConfig{MaxWorkers: r.Workers}
}

// dispatchPages bounds the pages of PerDispatch tenants one dispatch run queues.
const dispatchPages = 10

// Dispatch queues a job for each tenant with due reminders, PerDispatch tenants per transaction
// (each marked queued in the transaction that inserts its job), up to 10 pages, and returns how
// many tenants it queued. A tenant whose job waits or runs already is skipped by uniqueness.
func (r *Reminders) Dispatch(ctx context.Context, client *river.Client[pgx.Tx]) (int, error) {
	total := 0
	for range dispatchPages {
		n, err := r.svc.Dispatch(ctx, r.PerDispatch, func(ctx context.Context, tx pgx.Tx, ids []int64) ([]int64, error) {
			params := make([]river.InsertManyParams, len(ids))
			for i, id := range ids {
				params[i] = river.InsertManyParams{Args: RemindersTenantArgs{OrganizationID: id}}
			}
			res, err := client.InsertManyTx(ctx, tx, params)
			if err != nil {
				return nil, err
			}
			var skipped []int64
			for i, x := range res {
				if x.UniqueSkippedAsDuplicate {
					skipped = append(skipped, ids[i])
				}
			}
			return skipped, nil
		})
		total += n
		if err != nil || n < r.PerDispatch {
			return total, err
		}
	}
	return total, nil
}

type remindersDispatchWorker struct {
	river.WorkerDefaults[RemindersDispatchArgs]
	r *Reminders
}

// Work implements river.Worker.
func (w *remindersDispatchWorker) Work(ctx context.Context, _ *river.Job[RemindersDispatchArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	_, err = w.r.Dispatch(ctx, client)
	return err
}

type remindersTenantWorker struct {
	river.WorkerDefaults[RemindersTenantArgs]
	r *Reminders
}

// Work implements river.Worker. It sends the tenant's due reminders batch after batch for at most
// Slice; a tenant with more due work then snoozes its job, which goes back to the end of the
// queue, behind the other tenants' jobs.
func (w *remindersTenantWorker) Work(ctx context.Context, job *river.Job[RemindersTenantArgs]) error {
	began := time.Now()
	for {
		res, err := w.r.svc.RunTenant(ctx, job.Args.OrganizationID)
		if err != nil {
			return err
		}
		if !res.More {
			return nil
		}
		if time.Since(began) >= w.r.Slice {
			return river.JobSnooze(0)
		}
	}
}

// Timeout bounds one batch.
func (w *remindersTenantWorker) Timeout(*river.Job[RemindersTenantArgs]) time.Duration {
	return 5 * time.Minute
}

type remindersSweepWorker struct {
	river.WorkerDefaults[RemindersSweepArgs]
	r *Reminders
}

// Work implements river.Worker.
func (w *remindersSweepWorker) Work(ctx context.Context, _ *river.Job[RemindersSweepArgs]) error {
	_, err := w.r.svc.Sweep(ctx)
	return err
}
