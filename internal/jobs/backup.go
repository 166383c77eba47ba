package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// BackupQueue is the queue of the scheduled backups, apart from the default queue so that a long
// backup never holds up billing and a process that runs only the backups works only them.
const BackupQueue = "backup"

// BackupScheduleArgs is the periodic job of the backup schedule: it queues one [BackupArgs] per
// active tenant for the current period and the next one, each at the tenant's own offset in its
// period ([backup.Scheduler.Slot]), so that thousands of tenants do not run at once.
type BackupScheduleArgs struct{}

// Kind implements river.JobArgs.
func (BackupScheduleArgs) Kind() string { return "backup_schedule" }

// InsertOpts puts the schedule in the backup queue, unique per minute.
func (BackupScheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: BackupQueue, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// BackupArgs is the scheduled backup of one tenant in one period. Unique by its arguments (tenant
// and period) in every state but cancelled and discarded, so that two schedules, or a schedule
// run twice, never back a tenant up twice in a period.
type BackupArgs struct {
	// OrganizationID is the organization to back up.
	OrganizationID int64 `json:"organization_id"`
	// Schema is its schema when the job was queued; a job for a schema the organization no longer
	// has does nothing.
	Schema string `json:"schema"`
	// Period is the start of the period the backup belongs to.
	Period time.Time `json:"period"`
}

// Kind implements river.JobArgs.
func (BackupArgs) Kind() string { return "backup_tenant" }

// InsertOpts puts the backup in the backup queue, unique per tenant and period, with 5 attempts
// (River retries a failed backup after about 1 s, 16 s, 81 s and 4 min).
func (BackupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: BackupQueue, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Backups runs scheduled per-tenant backups as River jobs; [Backups.Configure] adds them to a
// [Config].
type Backups struct {
	m       *tenancy.Manager
	sc      *backup.Scheduler
	timeout time.Duration // bounds one tenant's backup
}

// NewBackups returns the scheduled backups of m's tenants into store, on schedule s (period and
// retention: see [backup.Schedule]).
func NewBackups(m *tenancy.Manager, store backup.Store, s backup.Schedule) *Backups {
	return &Backups{m: m, sc: backup.NewScheduler(m, store, s), timeout: 30 * time.Minute}
}

// Scheduler returns the schedule (its period and each tenant's slot).
func (b *Backups) Scheduler() *backup.Scheduler { return b.sc }

// Configure adds the backups to a job queue's configuration: their workers (after cfg.Register's),
// the schedule's periodic job (run at start, then every period) and the backup queue (two backups
// at a time).
func (b *Backups) Configure(cfg *Config) {
	prev := cfg.Register
	cfg.Register = func(w *river.Workers) error {
		if prev != nil {
			if err := prev(w); err != nil {
				return err
			}
		}
		if err := river.AddWorkerSafely(w, &backupScheduleWorker{b: b}); err != nil {
			return fmt.Errorf("registering the backup schedule: %w", err)
		}
		if err := river.AddWorkerSafely(w, &backupWorker{b: b}); err != nil {
			return fmt.Errorf("registering the backup worker: %w", err)
		}
		return nil
	}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(b.sc.Every()),
		func() (river.JobArgs, *river.InsertOpts) { return BackupScheduleArgs{}, nil },
		&river.PeriodicJobOpts{ID: "backup_schedule", RunOnStart: true}))
	if cfg.Queues == nil {
		cfg.Queues = map[string]river.QueueConfig{}
	}
	cfg.Queues[BackupQueue] = river.QueueConfig{MaxWorkers: 2}
}

// Enqueue queues the backups of every active tenant for the period that contains now and the next
// one, each scheduled at the tenant's slot; one whose slot in this period has passed is spread over
// the schedule's catch-up window ([backup.Scheduler.When]), and finds nothing to do if the tenant
// has a backup since its slot. It returns how many jobs were new (not duplicates).
func (b *Backups) Enqueue(ctx context.Context, client *river.Client[pgx.Tx], now time.Time) (int, error) {
	orgs, err := b.m.Organizations(ctx)
	if err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	for _, o := range orgs {
		if !o.IsActive || o.SchemaName == "" {
			continue
		}
		job := func(at, when time.Time) river.InsertManyParams {
			return river.InsertManyParams{
				Args:       BackupArgs{OrganizationID: o.ID, Schema: o.SchemaName, Period: b.sc.Period(at).UTC()},
				InsertOpts: &river.InsertOpts{ScheduledAt: when},
			}
		}
		next := now.Add(b.sc.Every())
		params = append(params, job(now, b.sc.When(o.SchemaName, now)), job(next, b.sc.Slot(o.SchemaName, next)))
	}
	if len(params) == 0 {
		return 0, nil
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("queueing backups: %w", err)
	}
	n := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			n++
		}
	}
	return n, nil
}

type backupScheduleWorker struct {
	river.WorkerDefaults[BackupScheduleArgs]
	b *Backups
}

func (w *backupScheduleWorker) Work(ctx context.Context, job *river.Job[BackupScheduleArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	_, err = w.b.Enqueue(ctx, client, time.Now())
	return err
}

type backupWorker struct {
	river.WorkerDefaults[BackupArgs]
	b *Backups
}

// Timeout lets a big tenant's backup run longer than River's default minute.
func (w *backupWorker) Timeout(*river.Job[BackupArgs]) time.Duration { return w.b.timeout }

// Work takes the tenant's backup unless it is gone, inactive, moved to another schema, or already
// has a backup since its slot in the job's period; then prunes. A failure is recorded for
// list_tenants and returned, so that River retries it; while another backup of the tenant runs,
// the job is snoozed.
func (w *backupWorker) Work(ctx context.Context, job *river.Job[BackupArgs]) error {
	a := job.Args
	org, err := w.b.m.Organization(ctx, a.OrganizationID)
	if errors.Is(err, tenancy.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("organization %d no longer exists", a.OrganizationID))
	}
	if err != nil {
		return err
	}
	if !org.IsActive || org.SchemaName != a.Schema {
		return nil // deactivated or restored under another schema since queued: nothing to do
	}
	now := time.Now()
	slot := w.b.sc.Slot(a.Schema, a.Period)
	last, err := w.b.sc.Store().LastSuccess(org)
	if err != nil {
		return err
	}
	if !last.Before(slot) {
		return nil // already backed up in this period
	}
	_, _, err = w.b.sc.BackupTenant(ctx, org, now)
	if errors.Is(err, backup.ErrInProgress) {
		// Someone else (the dashboard, backup_tenant) is backing the tenant up: look again in a
		// minute, when that backup will usually have made this one unnecessary.
		return river.JobSnooze(busyBackupSnooze)
	}
	return err
}

// busyBackupSnooze is how long a scheduled backup waits when another backup of its tenant is running.
const busyBackupSnooze = time.Minute
