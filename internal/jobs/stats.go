package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// KindState is how many jobs of one kind are in one River state.
type KindState struct {
	// Kind is the job's kind, such as "backup_tenant" or "billing_charge".
	Kind string
	// State is River's state: available, scheduled, running, retryable, completed, discarded,
	// cancelled or pending.
	State string
	// Jobs is how many jobs are in that state.
	Jobs int64
	// FailedAttempts is how many attempts of those jobs failed (River keeps one error per failure).
	FailedAttempts int64
}

// Stats is the job queue as it stands: River keeps finished jobs for a while (completed a day,
// discarded and cancelled a week), so the counts cover that window.
type Stats struct {
	// Jobs counts the jobs by kind and state.
	Jobs []KindState
	// LastBackup is when the newest scheduled backup that succeeded finished; zero when none is
	// kept.
	LastBackup time.Time
	// BackupPeriod is the start of the current backup period (the newest one that has started);
	// zero when no backup is queued.
	BackupPeriod time.Time
	// BackupPeriodJobs counts the current period's scheduled backups by state.
	BackupPeriodJobs map[string]int64
}

// ReadStats reads the job queue's counts from River's tables on pool, for the metrics.
func ReadStats(ctx context.Context, pool *pgxpool.Pool) (Stats, error) {
	var st Stats
	rows, err := pool.Query(ctx, `SELECT kind, state::text, count(*), coalesce(sum(coalesce(array_length(errors, 1), 0)), 0)
		FROM `+Schema+`.river_job GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return Stats{}, fmt.Errorf("counting jobs: %w", err)
	}
	for rows.Next() {
		var ks KindState
		if err := rows.Scan(&ks.Kind, &ks.State, &ks.Jobs, &ks.FailedAttempts); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("counting jobs: %w", err)
		}
		st.Jobs = append(st.Jobs, ks)
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("counting jobs: %w", err)
	}

	var last, period *time.Time
	if err := pool.QueryRow(ctx, `SELECT
			max(finalized_at) FILTER (WHERE state = 'completed'),
			max((args->>'period')::timestamptz) FILTER (WHERE (args->>'period')::timestamptz <= now())
		FROM `+Schema+`.river_job WHERE kind = $1`, BackupArgs{}.Kind()).Scan(&last, &period); err != nil {
		return Stats{}, fmt.Errorf("reading the backup jobs: %w", err)
	}
	if last != nil {
		st.LastBackup = *last
	}
	if period == nil {
		return st, nil
	}
	st.BackupPeriod = *period
	st.BackupPeriodJobs = map[string]int64{}
	rows, err = pool.Query(ctx, `SELECT state::text, count(*) FROM `+Schema+`.river_job
		WHERE kind = $1 AND (args->>'period')::timestamptz = $2 GROUP BY state`, BackupArgs{}.Kind(), *period)
	if err != nil {
		return Stats{}, fmt.Errorf("counting the period's backups: %w", err)
	}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("counting the period's backups: %w", err)
		}
		st.BackupPeriodJobs[state] = n
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("counting the period's backups: %w", err)
	}
	return st, nil
}
