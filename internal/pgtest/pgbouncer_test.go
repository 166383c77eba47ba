package pgtest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/pgtest"
)

func TestPgBouncer(t *testing.T) {
	t.Parallel()

	t.Run("MultiplexesClientsOverFewServerConnections", func(t *testing.T) {
		t.Parallel()
		url := pgtest.PgBouncer(t, pgtest.NewDatabase(t), pgtest.BouncerOptions{PoolSize: 2})
		const clients = 8
		conns := make([]*pgx.Conn, clients)
		for i := range conns {
			conns[i] = connect(t, url)
		}
		pids := map[uint32]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				for range 20 {
					var pid uint32
					if err := c.QueryRow(context.Background(), "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
						t.Errorf("querying through PgBouncer: %v", err)
						return
					}
					mu.Lock()
					pids[pid] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(pids) == 0 || len(pids) > 2 {
			t.Fatalf("%d clients were served by %d backends, want 1 or 2", clients, len(pids))
		}
	})

	t.Run("RefusesUnknownStartupParameters", func(t *testing.T) {
		t.Parallel()
		url := pgtest.PgBouncer(t, pgtest.NewDatabase(t), pgtest.BouncerOptions{})
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
		conn, err := pgx.ConnectConfig(t.Context(), cfg)
		if err == nil {
			conn.Close(context.Background())
			t.Fatal("PgBouncer accepted the startup parameter plan_cache_mode; the pooler tests rely on its refusal")
		}
	})
}
