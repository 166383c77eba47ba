package jobs_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// pingArgs is a job that does nothing but say it ran.
type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "appcitas_test_ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	ran chan int
}

func (w *pingWorker) Work(_ context.Context, job *river.Job[pingArgs]) error {
	w.ran <- job.Args.N
	return nil
}

// TestJobsBehindPgBouncer runs River with DATABASE_URL pointing at PgBouncer in transaction mode:
// its pool from Servers.NewPool (no prepared statements kept) and PollOnly, as serve sets them.
func TestJobsBehindPgBouncer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bouncer := pgtest.PgBouncer(t, pgtest.NewDatabase(t), pgtest.BouncerOptions{PoolSize: 2})
	m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: bouncer}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	pooled, err := m.Servers().BehindPooler(ctx, tenancy.DefaultServer)
	if err != nil || !pooled {
		t.Fatalf("BehindPooler = %v, %v; want true", pooled, err)
	}
	pool, err := m.Servers().NewPool(ctx, tenancy.DefaultServer, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if pool.Config().ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeExec {
		t.Fatalf("the job queue's pool behind PgBouncer keeps statements (mode %v)", pool.Config().ConnConfig.DefaultQueryExecMode)
	}

	t.Run("MigratesAndWorksJobs", func(t *testing.T) {
		if err := jobs.Migrate(ctx, pool); err != nil {
			t.Fatalf("migrating River through PgBouncer: %v", err)
		}
		w := &pingWorker{ran: make(chan int, 16)}
		runner, err := jobs.New(jobs.Config{Pool: pool, PollOnly: pooled, Logger: slog.New(slog.DiscardHandler),
			Register: func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) }})
		if err != nil {
			t.Fatal(err)
		}
		if err := runner.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = runner.Stop(stopCtx)
		})
		// Inserts from several goroutines at once: PgBouncer hands each statement outside a
		// transaction to whichever server connection is free, so a statement prepared on one
		// is unknown on the next.
		const n = 60
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				for i := g; i < n; i += 6 {
					if _, err := runner.Client().Insert(ctx, pingArgs{N: i}, nil); err != nil {
						t.Errorf("inserting a job through PgBouncer: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		seen := map[int]bool{}
		for timeout := time.After(30 * time.Second); len(seen) < n; {
			select {
			case i := <-w.ran:
				seen[i] = true
			case <-timeout:
				t.Fatalf("after 30 s, %d of %d jobs ran", len(seen), n)
			}
		}
	})
}
