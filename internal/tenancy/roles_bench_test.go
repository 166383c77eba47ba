package tenancy_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/pgtest"
)

// BenchmarkRoleMemberships measures PostgreSQL alone, without appcitas: the first SET ROLE of a
// login role that is a member of N roles, on a new connection, the next one, and the first after
// a GRANT (any change of membership). appcitas's login role is a member of every tenant's role.
// The same login role gains memberships from one size to the next. Run with:
//
//	go test ./internal/tenancy -run '^$' -bench RoleMemberships -benchtime 1x -v
func BenchmarkRoleMemberships(b *testing.B) {
	ctx := context.Background()
	url := pgtest.NewDatabase(b) // its login role is not a superuser, as appcitas's
	prefix := fmt.Sprintf("memb_%x_", time.Now().UnixNano()&0xffffff)
	setup, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	have := 0
	b.Cleanup(func() {
		defer setup.Close(ctx)
		_, err := setup.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP EXECUTE format('DROP ROLE %%I', '%s' || i); END LOOP; END $$`, have, prefix))
		if err != nil {
			b.Logf("cleanup: %v", err)
		}
	})
	for _, n := range []int{1000, 2000, 4000, 7000, 10000} {
		_, err := setup.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN %d..%d LOOP
			EXECUTE format('CREATE ROLE %%I NOLOGIN', '%s' || i); EXECUTE format('GRANT %%I TO CURRENT_USER', '%[3]s' || i);
			END LOOP; END $$`, have+1, n, prefix))
		if err != nil {
			b.Fatal(err)
		}
		have = n
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var fresh, next, afterGrant []time.Duration
			for b.Loop() {
				for range 3 {
					c, err := pgx.Connect(ctx, url)
					if err != nil {
						b.Fatal(err)
					}
					timed := func(sql string) time.Duration {
						start := time.Now()
						if _, err := c.Exec(ctx, sql); err != nil {
							b.Fatal(err)
						}
						return time.Since(start)
					}
					role := func(i int) string { return pgx.Identifier{prefix + strconv.Itoa(i)}.Sanitize() }
					timed("BEGIN")
					fresh = append(fresh, timed("SET LOCAL ROLE "+role(1)))
					next = append(next, timed("SET LOCAL ROLE "+role(2)))
					timed("SET LOCAL ROLE NONE")
					timed("CREATE ROLE " + pgx.Identifier{prefix + "x"}.Sanitize() + " NOLOGIN")
					timed("GRANT " + pgx.Identifier{prefix + "x"}.Sanitize() + " TO CURRENT_USER")
					afterGrant = append(afterGrant, timed("SET LOCAL ROLE "+role(3)))
					timed("ROLLBACK")
					c.Close(ctx)
				}
			}
			ms := func(d []time.Duration) float64 { return float64(benchMedian(d).Microseconds()) / 1000 }
			b.ReportMetric(ms(fresh), "first_ms")
			b.ReportMetric(ms(next), "next_ms")
			b.ReportMetric(ms(afterGrant), "after_grant_ms")
		})
	}
}
