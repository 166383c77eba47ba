package tenancy_test

// Benchmarks of issue 2: provisioning and fleet migrations at scale. They only run with -bench
// (there is no Test function here). Each fleet size is one sub-benchmark that builds its fleet once,
// on its own database, and then measures, in order:
//
//	Provision                one CreateOrganization, with the fleet already present, and (the
//	                         floor) the same DDL as one hand-written script in one round trip
//	MigrateOne/workers=W     MigrateAll applying one new trivial migration to every tenant
//	AlterBaseline            the same ALTER sent directly, one statement per schema, one connection
//	NoOp                     MigrateAll with nothing to do
//
// Examples (see BENCHMARKS.md):
//
//	go test ./internal/tenancy -run '^$' -bench 'Fleet/(0|1000)$' -benchtime 1x -timeout 30m
//	go test ./internal/tenancy -run '^$' -bench 'Fleet/10000' -benchtime 1x -timeout 60m
//
// Every measurement is repeated benchReps times inside one benchmark iteration (provisioning:
// benchProvisionSamples times), so that -benchtime 1x gives medians without rebuilding a fleet.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

const (
	// benchReps is how many times each fleet-wide measurement is repeated.
	benchReps = 3
	// benchProvisionSamples is how many organizations one Provision iteration creates, one at a time.
	benchProvisionSamples = 25
	// benchBuildWorkers is how many goroutines call CreateOrganization while building a fleet.
	benchBuildWorkers = 4
)

// benchFleetSizes are the numbers of tenants already present.
var benchFleetSizes = []int{0, 1000, 10000}

// benchMigrateWorkers are the FleetOptions.Workers values MigrateOne is measured with (0 = default).
var benchMigrateWorkers = []int{2, 4, 8}

func BenchmarkFleet(b *testing.B) {
	for _, n := range benchFleetSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchFleet(b, n) })
	}
}

// benchFleetState is one fleet database and what the measurements did to it.
type benchFleetState struct {
	url     string
	set     migrate.Set // the tenant migrations applied so far
	extra   int         // migrations added by MigrateOne so far
	orgSeq  atomic.Int64
	columns int // columns added by AlterBaseline so far
}

func benchFleet(b *testing.B, n int) {
	ctx := context.Background()
	f := &benchFleetState{url: pgtest.NewDatabase(b), set: migrate.Tenant()}
	benchDropAtCleanup(b, f.url)
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrate.ApplyPublic(ctx, conn, migrate.Public(), migrate.Options{}); err != nil {
		b.Fatalf("migrating public: %v", err)
	}
	conn.Close(ctx)

	// Build the fleet: benchBuildWorkers goroutines calling CreateOrganization.
	if n > 0 {
		// Built as the superuser (tenancytest.FleetBuilder); every measurement below runs as the
		// login role, as appcitas does in production.
		buildURL, grant := tenancytest.FleetBuilder(b, f.url)
		m := benchManager(b, buildURL, f.set, tenancy.PoolOptions{})
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, benchBuildWorkers)
		for range benchBuildWorkers {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					if _, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: fmt.Sprintf("Flota %05d", i)}); err != nil {
						errs <- fmt.Errorf("creating tenant %d: %w", i, err)
						return
					}
					if testing.Verbose() && i%1000 == 0 {
						fmt.Fprintf(os.Stderr, "fleet %d: %d tenants after %s\n", n, i, time.Since(start).Round(time.Millisecond))
					}
				}
			})
		}
		wg.Wait()
		m.Close()
		grant()
		took := time.Since(start)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		b.Logf("built a fleet of %d tenants in %s (%.2f ms/tenant, %d goroutines)", n, took.Round(time.Millisecond),
			float64(took.Microseconds())/1000/float64(n), benchBuildWorkers)
	}

	b.Run("Provision", func(b *testing.B) {
		m := benchManager(b, f.url, f.set, tenancy.PoolOptions{})
		defer m.Close()
		if _, err := m.Organizations(ctx); err != nil { // open the pool outside the measurement
			b.Fatal(err)
		}
		// The floor: the same role, schema and tables made by one hand-written SQL script in one
		// round trip (what psql -c would send), interleaved with the measured calls so that both
		// see the same load.
		raw, err := pgx.Connect(ctx, f.url)
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close(ctx)
		var samples, rawSamples []time.Duration
		for b.Loop() {
			for range benchProvisionSamples {
				seq := f.orgSeq.Add(1)
				start := time.Now()
				if _, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: fmt.Sprintf("Nueva %d", seq)}); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))

				q := pgx.Identifier{fmt.Sprintf("tenant_crudo_%d_%08x", seq, time.Now().UnixNano()&0xffffffff)}.Sanitize()
				script := "BEGIN; CREATE ROLE " + q + " NOLOGIN; GRANT " + q + " TO CURRENT_USER; CREATE SCHEMA " + q +
					" AUTHORIZATION " + q + "; SET LOCAL ROLE " + q + "; SET LOCAL search_path TO " + q + ", public;\n" +
					"CREATE TABLE migraciones_tenant (version integer PRIMARY KEY, nombre text NOT NULL, aplicada_en timestamptz NOT NULL DEFAULT now());\n" +
					migrate.Script(f.set.All(), "migraciones_tenant") + "COMMIT;"
				start = time.Now()
				if _, err := raw.Exec(ctx, script); err != nil {
					b.Fatalf("raw provisioning script: %v", err)
				}
				rawSamples = append(rawSamples, time.Since(start))
			}
		}
		benchReportDurations(b, samples, "ms")
		rawMedian := benchMedian(rawSamples)
		b.ReportMetric(float64(rawMedian.Microseconds())/1000, "raw_script_median_ms")
		b.ReportMetric(float64((benchMedian(samples)-rawMedian).Microseconds())/1000, "overhead_ms")
		b.Logf("raw SQL script, same load, %d samples: median %s", len(rawSamples), rawMedian)
	})
	if n == 0 {
		return
	}

	for _, w := range benchMigrateWorkers {
		b.Run(fmt.Sprintf("MigrateOne/workers=%d", w), func(b *testing.B) {
			var runs []time.Duration
			tenants := 0
			for b.Loop() {
				for range benchReps {
					f.extra++
					set, err := f.set.With(migrate.Migration{
						Version: f.set.Latest() + 1,
						Name:    fmt.Sprintf("nota_interna_%d", f.extra),
						SQL:     fmt.Sprintf("ALTER TABLE citas_servicio ADD COLUMN nota_interna_%d text NOT NULL DEFAULT '';", f.extra),
					})
					if err != nil {
						b.Fatal(err)
					}
					// A fresh Manager, as a migrate_all_tenants process would have: cold pools.
					m := benchManager(b, f.url, set, tenancy.PoolOptions{})
					rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{Workers: w})
					m.Close()
					if err != nil {
						b.Fatal(err)
					}
					if len(rep.Failed) > 0 || len(rep.NotAttempted) > 0 || rep.UpToDate != 0 {
						var first error
						if len(rep.Failed) > 0 {
							first = rep.Failed[0].Err
						}
						b.Fatalf("report: %d failed (first: %v), %d not attempted, %d up to date", len(rep.Failed),
							first, len(rep.NotAttempted), rep.UpToDate)
					}
					f.set = set
					tenants = rep.Total
					runs = append(runs, rep.Took)
				}
			}
			med := benchMedian(runs)
			b.ReportMetric(med.Seconds(), "median_s")
			b.ReportMetric(slices.Max(runs).Seconds(), "max_s")
			b.ReportMetric(float64(med.Microseconds())/1000/float64(tenants), "ms/tenant")
			b.ReportMetric(float64(tenants), "tenants")
			b.Logf("MigrateAll, one ALTER, %d tenants, workers=%d: %s", tenants, w, benchList(runs))
		})
	}

	b.Run("AlterBaseline", func(b *testing.B) {
		// psql's baseline is an operator's: as the superuser (the app's role is NOINHERIT).
		conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(b, f.url))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT schema_name FROM public.organizacion_organizacion ORDER BY id`)
		if err != nil {
			b.Fatal(err)
		}
		schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		var runs []time.Duration
		for b.Loop() {
			for range benchReps {
				f.columns++
				// Same protocol as psql: simple query, autocommit, one statement per schema.
				col := fmt.Sprintf("base_%d", f.columns)
				start := time.Now()
				for _, s := range schemas {
					sql := "ALTER TABLE " + pgx.Identifier{s, "citas_servicio"}.Sanitize() + " ADD COLUMN " + col + " text NOT NULL DEFAULT ''"
					if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
						b.Fatalf("%s: %v", sql, err)
					}
				}
				runs = append(runs, time.Since(start))
			}
		}
		med := benchMedian(runs)
		b.ReportMetric(med.Seconds(), "median_s")
		b.ReportMetric(float64(med.Microseconds())/1000/float64(len(schemas)), "ms/tenant")
		b.ReportMetric(float64(len(schemas)), "tenants")
		b.Logf("direct ALTER over %d schemas, one connection: %s", len(schemas), benchList(runs))
	})

	b.Run("NoOp", func(b *testing.B) {
		var runs []time.Duration
		upToDate := 0
		for b.Loop() {
			for range benchReps {
				m := benchManager(b, f.url, f.set, tenancy.PoolOptions{})
				rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{})
				m.Close()
				if err != nil {
					b.Fatal(err)
				}
				if rep.Total != 0 {
					b.Fatalf("a no-op run found %d tenants behind", rep.Total)
				}
				upToDate = rep.UpToDate
				runs = append(runs, rep.Took)
			}
		}
		med := benchMedian(runs)
		b.ReportMetric(float64(med.Microseconds())/1000, "median_ms")
		b.ReportMetric(float64(upToDate), "tenants")
		b.Logf("no-op MigrateAll over %d tenants (fresh Manager each): %s", upToDate, benchList(runs))
	})
}

func benchManager(b *testing.B, url string, set migrate.Set, pool tenancy.PoolOptions) *tenancy.Manager {
	b.Helper()
	m, err := tenancy.New(tenancy.Config{
		Servers:          map[string]string{tenancy.DefaultServer: url},
		Pool:             pool,
		TenantMigrations: &set,
	})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchDropAtCleanup removes the fleet when the benchmark ends. Dropping a database of 10,000
// tenant schemas (about 400,000 relation files) takes minutes, longer under load than pgtest's
// own DROP DATABASE allows, so:
//   - on pgtest's throwaway cluster, which is deleted as a whole when the binary exits, the
//     database is only renamed out of pgtest's way (and its connections closed);
//   - on a shared TEST_DATABASE_URL server it is dropped, then its tenant roles (cluster-wide) in
//     batches: dropping 10,000 schemas in one transaction would exhaust max_locks_per_transaction.
//
// It runs before pgtest's own DROP DATABASE IF EXISTS, which then has nothing to do.
func benchDropAtCleanup(b *testing.B, url string) {
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			b.Logf("cleanup: %v", err)
			return
		}
		db := pgx.Identifier{cfg.Database}.Sanitize()
		admin, err := pgx.Connect(ctx, pgtest.AdminURL(b))
		if err != nil {
			b.Logf("cleanup: %v", err)
			return
		}
		defer admin.Close(ctx)
		if pgtest.Server(b) != nil {
			_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, cfg.Database)
			if err == nil {
				_, err = admin.Exec(ctx, "ALTER DATABASE "+db+" RENAME TO "+pgx.Identifier{cfg.Database + "_old"}.Sanitize())
			}
			if err != nil {
				b.Logf("cleanup: setting the fleet database aside: %v", err)
			}
			return
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Logf("cleanup: %v", err)
			return
		}
		rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`)
		var roles []string
		if err == nil {
			roles, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		conn.Close(ctx)
		if err != nil {
			b.Logf("cleanup: listing tenant schemas: %v", err)
			return
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			b.Logf("cleanup: dropping the fleet database: %v", err)
			return
		}
		for batch := range slices.Chunk(roles, 500) {
			names := make([]string, len(batch))
			for i, r := range batch {
				names[i] = pgx.Identifier{r}.Sanitize()
			}
			if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+strings.Join(names, ", ")); err != nil {
				b.Logf("cleanup: dropping tenant roles: %v", err)
				return
			}
		}
	})
}

func benchMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func benchReportDurations(b *testing.B, ds []time.Duration, unit string) {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(benchMedian(s)), "median_"+unit)
	b.ReportMetric(ms(s[len(s)*9/10]), "p90_"+unit)
	b.ReportMetric(ms(s[len(s)-1]), "max_"+unit)
	b.Logf("%d samples: min %s, median %s, p90 %s, max %s", len(s), s[0], benchMedian(s), s[len(s)*9/10], s[len(s)-1])
}

func benchList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(parts, ", ") + " (median " + benchMedian(ds).Round(time.Millisecond).String() + ")"
}
