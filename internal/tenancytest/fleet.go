package tenancytest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/pgtest"
)

// FleetBuilder is for benchmarks that build thousands of tenants before they measure. It returns
// the URL to build them through (dbURL's database as the cluster's superuser) and a function that
// makes dbURL's login role a member of every tenant role, in one transaction, once they are built.
//
// On PostgreSQL 15 a role's first SET ROLE after any change of role membership lists all the roles
// it belongs to in quadratic time (200 ms at 10,000 memberships, BENCHMARKS.md); a login role
// that takes part in each creation pays it once per tenant, and building 10,000 tenants takes
// hours. The superuser is never checked. What the benchmarks then measure runs as the login role.
func FleetBuilder(t testing.TB, dbURL string) (buildURL string, grant func()) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("tenancytest: %v", err)
	}
	login := cfg.User
	buildURL = pgtest.SuperuserURL(t, dbURL)
	return buildURL, func() {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, buildURL)
		if err != nil {
			t.Fatalf("tenancytest: %v", err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT g.rolname::text FROM public.organizacion_organizacion o
			JOIN pg_roles g ON g.rolname = o.schema_name WHERE NOT pg_has_role($1, g.oid, 'MEMBER')`, login)
		if err != nil {
			t.Fatalf("tenancytest: %v", err)
		}
		roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("tenancytest: %v", err)
		}
		if len(roles) == 0 {
			return
		}
		names := make([]string, len(roles))
		for i, r := range roles {
			names[i] = pgx.Identifier{r}.Sanitize()
		}
		_, err = conn.Exec(ctx, "GRANT "+strings.Join(names, ", ")+" TO "+pgx.Identifier{login}.Sanitize())
		if err != nil {
			t.Fatalf("tenancytest: granting the tenant roles to %s: %v", login, err)
		}
	}
}

// Parallel calls fn(i) for every i in [0, n) from workers goroutines, each i once, and returns the
// first error. After an error no new i starts. Benchmarks build their fleets with it.
func Parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// SetAsideAtCleanup removes a benchmark's fleet of n tenants, in the database at dbURL, when the
// benchmark ends. Small fleets are dropped (DropTenantsAtCleanup). A large one on pgtest's
// throwaway cluster, deleted as a whole when the test binary exits, is only renamed out of
// pgtest's way: dropping 10,000 schemas takes minutes.
func SetAsideAtCleanup(t testing.TB, dbURL string, n int) {
	t.Helper()
	if n <= 1000 || pgtest.Server(t) == nil {
		DropTenantsAtCleanup(t, dbURL)
		return
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cfg, err := pgx.ParseConfig(dbURL)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer admin.Close(ctx)
		_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, cfg.Database)
		if err == nil {
			_, err = admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{cfg.Database}.Sanitize()+" RENAME TO "+pgx.Identifier{cfg.Database + "_old"}.Sanitize())
		}
		if err != nil {
			t.Logf("cleanup: setting the fleet database aside: %v", err)
		}
	})
}
