package tenancytest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
