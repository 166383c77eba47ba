package jobs_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/rivertype"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

type backupEnv struct {
	url   string
	m     *tenancy.Manager
	pool  *pgxpool.Pool
	store backup.Store
}

func setupBackups(t *testing.T) *backupEnv {
	t.Helper()
	ctx := t.Context()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := jobs.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return &backupEnv{url: url, m: m, pool: pool, store: backup.Store{Root: t.TempDir()}}
}

// runner builds (and with start, starts) a job queue with the backups on schedule s and no billing;
// without periodic, the schedule's periodic job is left out (the test queues the jobs).
func (e *backupEnv) runner(t *testing.T, s backup.Schedule, start, periodic bool) (*jobs.Runner, *jobs.Backups) {
	t.Helper()
	s.Logger = slog.New(slog.DiscardHandler)
	b := jobs.NewBackups(e.m, e.store, s)
	cfg := jobs.Config{Pool: e.pool, Logger: slog.New(slog.DiscardHandler)}
	b.Configure(&cfg)
	if !periodic {
		cfg.PeriodicJobs = nil
	}
	r, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if start {
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		})
	}
	return r, b
}

func (e *backupEnv) org(t *testing.T, name string) tenancy.Organization {
	t.Helper()
	org, err := e.m.CreateOrganization(t.Context(), tenancy.NewOrganization{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

// backupJobs returns the queued backup jobs (kind, state, args) of schema, oldest first.
func (e *backupEnv) backupJobs(t *testing.T, schema string) []backupJob {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), `SELECT id, state::text, scheduled_at, args->>'period', coalesce(array_length(errors, 1), 0), attempt
		FROM river.river_job WHERE kind = 'backup_tenant' AND args->>'schema' = $1 ORDER BY (args->>'period')`, schema)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backupJob, error) {
		var j backupJob
		var period string
		err := r.Scan(&j.id, &j.state, &j.scheduledAt, &period, &j.errors, &j.attempt)
		if err == nil {
			j.period, err = time.Parse(time.RFC3339Nano, period)
		}
		return j, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type backupJob struct {
	id              int64
	state           string
	scheduledAt     time.Time
	period          time.Time
	errors, attempt int
}

func backupFiles(t *testing.T, store backup.Store, schema string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store.Root, schema))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if filepath.Ext(e.Name()) == filepath.Ext(backup.Extension) && e.Name()[0] != '.' {
			n++
		}
	}
	return n
}

func TestScheduledBackups(t *testing.T) {
	t.Parallel()

	t.Run("PeriodicJobQueuesEachActiveTenantAtItsOffsetOncePerPeriod", func(t *testing.T) {
		t.Parallel()
		e := setupBackups(t)
		a, b := e.org(t, "Uno"), e.org(t, "Dos")
		off := e.org(t, "Apagada")
		_, err := e.m.SetActive(t.Context(), off.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		// A 24 h period: the schedule's periodic job runs on start and queues this period's and
		// the next one's backups.
		_, sched := e.runner(t, backup.Schedule{Every: 24 * time.Hour}, true, true)
		sc := sched.Scheduler()
		now := time.Now()
		for _, o := range []tenancy.Organization{a, b} {
			waitFor(t, "two backup jobs of "+o.Name, func() bool { return len(e.backupJobs(t, o.SchemaName)) == 2 })
			js := e.backupJobs(t, o.SchemaName)
			next := now.Add(24 * time.Hour)
			if !js[1].period.Equal(sc.Period(next)) {
				t.Fatalf("period %s", js[1].period)
			}
			if d := js[1].scheduledAt.Sub(sc.Slot(o.SchemaName, next)); d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("next period's job at the tenant's slot: %v is %v away from %v; want at most %v", js[1].scheduledAt, d, sc.Slot(o.SchemaName, next), time.Millisecond)
			}
			if js[1].state != "scheduled" {
				t.Fatalf("js[1].state = %q; want %q", js[1].state, "scheduled")
			}
			if !js[0].period.Equal(sc.Period(now)) {
				t.Fatal("js[0].period.Equal(sc.Period(now)) is false; want true")
			}
			if slot := sc.Slot(o.SchemaName, now); slot.After(now.Add(time.Minute)) {
				if d := js[0].scheduledAt.Sub(slot); d < -time.Millisecond || d > time.Millisecond {
					t.Fatalf("this period's job at the tenant's slot, still ahead: %v is %v away from %v; want at most %v", js[0].scheduledAt, d, slot, time.Millisecond)
				}
			} else if slot.Before(now.Add(-time.Minute)) {
				// Past its slot: spread over the next hour, not run at once.
				if d := js[0].scheduledAt.Sub(sc.When(o.SchemaName, now)); d < -time.Minute || d > time.Minute {
					t.Fatalf("a past slot caught up within the hour: %v is %v away from %v; want at most %v", js[0].scheduledAt, d, sc.When(o.SchemaName, now), time.Minute)
				}
			}
		}
		if want, got := sc.Slot(a.SchemaName, now), sc.Slot(b.SchemaName, now); reflect.DeepEqual(got, want) {
			t.Fatalf("tenants at different offsets: got %v; want anything else", got)
		}
		if x := e.backupJobs(t, off.SchemaName); len(x) != 0 {
			t.Fatalf("inactive tenants are not queued: got = %v; want 0", x)
		}

		// A second enqueue of the same periods (a double run, or a second server) adds nothing.
		r2, sched2 := e.runner(t, backup.Schedule{Every: 24 * time.Hour}, false, false)
		n, err := sched2.Enqueue(t.Context(), r2.Client(), now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("every job is a duplicate: n = %v; want 0", n)
		}
		for _, o := range []tenancy.Organization{a, b} {
			if x := e.backupJobs(t, o.SchemaName); len(x) != 2 {
				t.Fatalf("len(x) = %d; want %d: %v", len(x), 2, x)
			}
		}
	})

	t.Run("WorkerBacksUpOncePerPeriodAndPrunes", func(t *testing.T) {
		t.Parallel()
		e := setupBackups(t)
		org := e.org(t, "Poda")
		// Old backups: one a day for 20 days, before this period.
		for d := 1; d <= 20; d++ {
			path, err := e.store.PathFor(org.SchemaName, time.Now().AddDate(0, 0, -d))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		r, sched := e.runner(t, backup.Schedule{Every: 24 * time.Hour, KeepDaily: 7, KeepWeekly: 4}, true, false)
		period := sched.Scheduler().Period(time.Now()).UTC()
		args := jobs.BackupArgs{OrganizationID: org.ID, Schema: org.SchemaName, Period: period}
		first, err := r.Client().Insert(t.Context(), args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if first.UniqueSkippedAsDuplicate {
			t.Fatal("first.UniqueSkippedAsDuplicate is true; want false")
		}
		waitFor(t, "the backup job to complete", func() bool {
			js := e.backupJobs(t, org.SchemaName)
			return len(js) == 1 && js[0].state == string(rivertype.JobStateCompleted)
		})
		st, err := e.store.Status(org)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(st.LastSuccess); d < -time.Minute || d > time.Minute {
			t.Fatalf("LastSuccess %v is %v from now; want within %v", st.LastSuccess, d, time.Minute)
		}
		entries, err := e.store.List(org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := entries[0].Err; err != nil {
			t.Fatalf("the new backup is a real archive: %v", err)
		}
		if backupFiles(t, e.store, org.SchemaName) > 7+4 {
			t.Fatalf("pruned to 7 daily + 4 weekly: got %v; want it at most %v", backupFiles(t, e.store, org.SchemaName), 7+4)
		}
		before := backupFiles(t, e.store, org.SchemaName)

		// The same tenant and period again: refused as a duplicate; and once River's cleaner has
		// removed the completed job (here: deleted), a new one finds the backup already taken.
		again, err := r.Client().Insert(t.Context(), args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !again.UniqueSkippedAsDuplicate {
			t.Fatal("again.UniqueSkippedAsDuplicate is false; want true")
		}
		_, err = e.pool.Exec(t.Context(), `DELETE FROM river.river_job WHERE id = $1`, first.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		later, err := r.Client().Insert(t.Context(), args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if later.UniqueSkippedAsDuplicate {
			t.Fatal("later.UniqueSkippedAsDuplicate is true; want false")
		}
		waitFor(t, "the second job to complete", func() bool {
			js := e.backupJobs(t, org.SchemaName)
			return len(js) == 1 && js[0].id == later.Job.ID && js[0].state == string(rivertype.JobStateCompleted)
		})
		if got := backupFiles(t, e.store, org.SchemaName); got != before {
			t.Fatalf("no second backup in the period: got %v; want %v", got, before)
		}
	})

	t.Run("FailedBackupIsRetriedAndRecordedForListTenants", func(t *testing.T) {
		t.Parallel()
		e := setupBackups(t)
		org := e.org(t, "Rota")
		// An operator breaks the tenant: its schema belongs to its own role, not the app's.
		conn, err := pgx.Connect(t.Context(), pgtest.SuperuserURL(t, e.url))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(t.Context(), "DROP SCHEMA "+pgx.Identifier{org.SchemaName}.Sanitize()+" CASCADE")
		conn.Close(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		r, sched := e.runner(t, backup.Schedule{Every: 24 * time.Hour}, true, false)
		args := jobs.BackupArgs{OrganizationID: org.ID, Schema: org.SchemaName, Period: sched.Scheduler().Period(time.Now()).UTC()}
		_, err = r.Client().Insert(t.Context(), args, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Failed once and queued for another attempt (River's backoff before the second attempt
		// is seconds, too slow to wait for on a loaded machine).
		waitFor(t, "River to schedule a retry of the failed backup", func() bool {
			js := e.backupJobs(t, org.SchemaName)
			return len(js) == 1 && js[0].errors >= 1 && js[0].state != string(rivertype.JobStateCompleted) &&
				js[0].state != string(rivertype.JobStateDiscarded)
		})
		st, err := e.store.Status(org)
		if err != nil {
			t.Fatal(err)
		}
		if !st.LastSuccess.IsZero() {
			t.Fatal("st.LastSuccess.IsZero() is false; want true")
		}
		if d := time.Since(st.LastFailure); d < -time.Minute || d > time.Minute {
			t.Fatalf("LastFailure %v is %v from now; want within %v", st.LastFailure, d, time.Minute)
		}
		if !strings.Contains(st.FailureMessage, "does not exist") {
			t.Fatalf("st.FailureMessage = %v; want it to contain %v", st.FailureMessage, "does not exist")
		}
	})
}
