package loadbench

// BenchmarkRequests is issue 3, item 8: requests per second and p50/p99 latency of
//
//	citas           GET /api/citas?desde=D&hasta=D&sede_id=1          (one day of one branch)
//	disponibilidad  GET /api/disponibilidad?servicio_id=1&sede_id=1&desde=D&hasta=D
//
// with 8 concurrent HTTP clients on loopback (httptest.NewServer around api.New's handler, a valid
// JWT and X-Organization-ID of a random tenant on every request), over fleets of 10 and 10,000
// tenants, each tenant with a branch, a staff member with working hours, a service and 20
// appointments on day D. Next to each HTTP run, in the same process and against the same cluster,
// pgbench runs the same SQL (captured from the API itself through the SQL log, with its arguments
// turned into literals) in two shapes:
//
//	pgbench-query  the endpoint's data query alone (the day's appointments; availability's batch of
//	               five) in one round trip, search_path set in the same round trip from a lookup
//	               of a random tenant: the floor the target compares against;
//	pgbench-door   every statement the API sends for the request, one round trip each as the API
//	               sends them (BEGIN+scope, membership, ..., COMMIT), to separate what is the
//	               database protocol from what is Go.
//
// Each measurement is repeated (APPCITAS_LOADBENCH_REPS, 3), interleaved HTTP, pgbench-query,
// pgbench-door, so that load from elsewhere hits all three alike; medians are reported. With
// APPCITAS_LOADBENCH_PAIRED=1 the fleets are served at once and measured in turns within each
// repetition (paired_test.go). Runs only with -bench (use -benchtime 1x); see BENCHMARKS.md
// ("Issue 3") for the commands.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/api"
	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/cli"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// clients is the number of concurrent HTTP clients and of pgbench clients.
const clients = 8

// Settings, from the environment (defaults in parentheses).
var (
	envTenants     = envInts("APPCITAS_LOADBENCH_TENANTS", []int{10, 10000}) // fleet sizes
	envReps        = envInt("APPCITAS_LOADBENCH_REPS", 3)                    // repetitions
	envHTTPSecs    = envInt("APPCITAS_LOADBENCH_SECONDS", 10)                // one HTTP run
	envPgbenchSecs = envInt("APPCITAS_LOADBENCH_PGBENCH_SECONDS", 20)        // one pgbench run's measured part
	envPgbenchWarm = envInt("APPCITAS_LOADBENCH_PGBENCH_WARMUP", 30)         // one pgbench run's unmeasured start (its new backends fill their caches)
	envWarmupSecs  = envInt("APPCITAS_LOADBENCH_WARMUP", 600)                // most HTTP warm-up per fleet and endpoint
	envWorkers     = envInt("APPCITAS_LOADBENCH_BUILD_WORKERS", 8)           // goroutines building a fleet
	envOrgTTL      = envInt("APPCITAS_LOADBENCH_ORG_CACHE_TTL", 0)           // api.Config.OrgCacheTTL in s (0: the default)
	envProfileDir  = os.Getenv("APPCITAS_LOADBENCH_DIR")                     // CPU profiles of the first HTTP runs, pgbench scripts
	envOut         = os.Getenv("APPCITAS_LOADBENCH_OUT")                     // also write the summary table here
	envClient      = os.Getenv("APPCITAS_LOADBENCH_CLIENT")                  // "wrk" or "go" (default: wrk when installed)
	envKeep        = os.Getenv("APPCITAS_LOADBENCH_KEEP") == "1"             // keep fleets in the server of TEST_DATABASE_URL, reuse them
	envPaceMS      = envInt("APPCITAS_LOADBENCH_PACE_MS", 0)                 // wrk only: each connection waits this long after each response in the measured runs (below saturation)
	envSettleSecs  = envInt("APPCITAS_LOADBENCH_SETTLE", 20)                 // unmeasured HTTP before each repetition after the first (after pgbench's runs)
	envPaired      = os.Getenv("APPCITAS_LOADBENCH_PAIRED") == "1"           // fleets served by processes of their own, measured in turns (paired_test.go)
	envWindowSecs  = envInt("APPCITAS_LOADBENCH_WINDOW", 0)                  // paired only: turns of this many seconds, alternating between the fleets through each measured run (0: one turn of _SECONDS per fleet)
	envOneTrip     = os.Getenv("APPCITAS_LOADBENCH_ONE_TRIP") != "0"         // reads in one round trip (api.Config.NoOneTripReads off)
)

// endpoint is one measured request.
type endpoint struct {
	name  string
	path  func(day string) string
	check func(body []byte) error
}

var endpoints = []endpoint{
	{
		name: "citas",
		path: func(day string) string { return "/api/citas?desde=" + day + "&hasta=" + day + "&sede_id=1" },
		check: func(body []byte) error {
			var page struct {
				Items []struct {
					SedeID int64 `json:"sede_id"`
				} `json:"items"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				return err
			}
			if len(page.Items) != appointmentsPerTenant {
				return fmt.Errorf("%d appointments, want %d: %s", len(page.Items), appointmentsPerTenant, body)
			}
			return nil
		},
	},
	{
		name: "disponibilidad",
		path: func(day string) string {
			return "/api/disponibilidad?servicio_id=1&sede_id=1&desde=" + day + "&hasta=" + day
		},
		check: func(body []byte) error {
			var a struct {
				Staff []struct {
					Slots []json.RawMessage `json:"slots"`
				} `json:"profesionales"`
			}
			if err := json.Unmarshal(body, &a); err != nil {
				return err
			}
			if len(a.Staff) != 1 || len(a.Staff[0].Slots) == 0 {
				return fmt.Errorf("want one staff member with free slots: %s", body)
			}
			return nil
		},
	},
}

// warmupVisits is how many warm-up requests per tenant reach the steady state of the backends'
// catalog caches (each tenant is served by any of the ConnsPerSlice connections of its slice).
const warmupVisits = 30

// appointmentsPerTenant is how many appointments each tenant has on day D.
const appointmentsPerTenant = 20

func BenchmarkRequests(b *testing.B) {
	cli.TuneGC(os.Getenv) // the server runs with serve's collector target
	sum := &summary{}
	if envWindowSecs < 0 || envWindowSecs > 0 && (!envPaired || envWindowSecs > envHTTPSecs) {
		b.Fatalf("APPCITAS_LOADBENCH_WINDOW=%d: windows need APPCITAS_LOADBENCH_PAIRED=1 and at most APPCITAS_LOADBENCH_SECONDS (%d) seconds", envWindowSecs, envHTTPSecs)
	}
	if envPaired {
		benchmarkPaired(b, sum)
		return
	}
	for _, n := range envTenants {
		b.Run("tenants="+strconv.Itoa(n), func(b *testing.B) {
			f := buildFleet(b, n)
			sum.addFleet(n, f.buildTook)
			for _, ep := range endpoints {
				b.Run(ep.name, func(b *testing.B) {
					for b.Loop() {
						r := measure(b, f, ep)
						sum.add(n, ep.name, r)
						b.ReportMetric(r.http.rps, "req/s")
						b.ReportMetric(r.http.p50ms, "p50_ms")
						b.ReportMetric(r.http.p99ms, "p99_ms")
						b.ReportMetric(r.query.rps, "pgbench_query_tps")
						b.ReportMetric(r.door.rps, "pgbench_door_tps")
						b.ReportMetric(r.http.rps/r.query.rps, "http/pgbench")
					}
				})
			}
		})
	}
	sum.print(b)
}

// --- the fleet ---

type fleet struct {
	n         int
	url       string
	orgs      []int64 // organization id of tenant k+1
	day       string  // D, YYYY-MM-DD
	token     string
	userID    int64
	base      string      // the API server's URL
	proc      *serverProc // the API server's process when it has one of its own (paired runs); nil when in this process
	buildTook time.Duration
	scripts   map[string]scripts // by endpoint
	roundTrip map[string]string  // by endpoint: the statements the API sends, for the report
}

type scripts struct{ query, door string }

// apiConfig is the API configuration of the server under test (and of the capture's).
func apiConfig() api.Config {
	return api.Config{JWTSecret: []byte(strings.Repeat("loadbench-secret-", 4)), AccessTTL: 6 * time.Hour,
		OrgCacheTTL: time.Duration(envOrgTTL) * time.Second, NoOneTripReads: !envOneTrip}
}

// withBilling gives the server under test what appcitas serve has on every tenant route: the
// subscription check (billing.Service.CheckAccess, 402 for a suspended organization), with its
// cache kept in step by WatchAccess until ctx ends. (Runs before 2026-12-06 21:00 measured the
// API without it, so they missed the subscription read that serve then made on most requests at
// 10,000 tenants.)
func withBilling(ctx context.Context, tb testing.TB, m *tenancy.Manager, cfg *api.Config) {
	tb.Helper()
	svc, err := billing.New(ctx, m, billing.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = svc.WatchAccess(ctx) }()
	cfg.Billing = svc
}

func newManager(b testing.TB, url string, pool tenancy.PoolOptions) *tenancy.Manager {
	b.Helper()
	m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: url}, Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// buildFleet creates a database with n tenants with data, the API server over it, and the pgbench
// scripts of each endpoint.
func buildFleet(b *testing.B, n int) *fleet {
	ctx := context.Background()
	f := &fleet{n: n, scripts: map[string]scripts{}, roundTrip: map[string]string{}}
	if envKeep {
		if kept := keptFleet(b, f); kept {
			serveFleet(b, f)
			return f
		}
	} else {
		f.url = pgtest.NewDatabase(b)
		dropRolesAtCleanup(b, f.url)
	}
	conn := connectMigrated(b, f.url)
	defer conn.Close(ctx)
	loc, err := time.LoadLocation(tenancy.DefaultTimeZone)
	if err != nil {
		b.Fatal(err)
	}
	day := time.Now().In(loc).AddDate(0, 0, 2)
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	f.day = day.Format(time.DateOnly)

	workers := envWorkers
	// Built as the superuser (tenancytest.FleetBuilder), served as f.url's login role.
	buildURL, grant := tenancytest.FleetBuilder(b, f.url)
	// The data goes through the bulk pool, and connections close after 50 tenants: few backends,
	// each with small caches, process every schema's catalog invalidations while the fleet grows.
	build := newManager(b, buildURL, tenancy.PoolOptions{SharedConns: workers, BulkConns: workers, DDLRunsPerConn: 50, BulkRunsPerConn: 50})
	users := auth.NewStore(mustShared(b, build), auth.StoreOptions{})
	user, err := users.CreateUser(ctx, auth.NewUser{Username: "carga", Email: "carga@example.com", Password: "carga-appcitas-123"})
	if err != nil {
		b.Fatal(err)
	}
	f.userID = user.ID
	data := tenantData(user.ID, day)

	// Concurrent CreateOrganization, each followed by its data in one script through Run.
	f.orgs = make([]int64, n)
	schemas := make([]string, n)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1))
				if k > n {
					return
				}
				org, err := build.CreateOrganization(ctx, tenancy.NewOrganization{
					Name: fmt.Sprintf("Carga %05d", k), Slug: fmt.Sprintf("carga-%05d", k)})
				if err == nil {
					var t tenancy.Tenant
					if t, err = org.Tenant(); err == nil {
						err = build.RunWith(ctx, t, tenancy.RunOptions{Bulk: true}, func(tx pgx.Tx) error {
							_, err := tx.Exec(ctx, data) // no arguments: one simple-protocol round trip
							return err
						})
					}
				}
				if err != nil {
					errs <- fmt.Errorf("tenant %d: %w", k, err)
					return
				}
				f.orgs[k-1], schemas[k-1] = org.ID, org.SchemaName
				if k%1000 == 0 {
					fmt.Fprintf(os.Stderr, "fleet %d: %d tenants after %s (load %s)\n", n, k, time.Since(start).Round(time.Second), loadAvg())
				}
			}
		})
	}
	wg.Wait()
	build.Close()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	grant()
	f.buildTook = time.Since(start)
	b.Logf("built %d tenants (organization + schema + one data script each, %d goroutines) in %s: %.1f ms/tenant, load %s",
		n, workers, f.buildTook.Round(time.Millisecond), float64(f.buildTook.Microseconds())/1000/float64(n), loadAvg())

	// The lookup pgbench uses to pick a random tenant: n → schema.
	if _, err := conn.Exec(ctx, `CREATE TABLE public.loadbench_tenant (n int PRIMARY KEY, org_id bigint NOT NULL, schema_name text NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"public", "loadbench_tenant"}, []string{"n", "org_id", "schema_name"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) { return []any{i + 1, f.orgs[i], schemas[i]}, nil })); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE public.loadbench_tenant; ANALYZE public.organizacion_organizacion`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE public.loadbench_meta (day date NOT NULL, user_id bigint NOT NULL, build_seconds float8 NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO public.loadbench_meta VALUES ($1, $2, $3)`, f.day, f.userID, f.buildTook.Seconds()); err != nil {
		b.Fatal(err)
	}
	serveFleet(b, f)
	return f
}

// poolOptions returns the tenant pool shape of the server under test: the default, or
// APPCITAS_LOADBENCH_POOL=<slices>x<connections per slice>, e.g. 8x2; and
// APPCITAS_LOADBENCH_STATEMENTS=<n> prepared statements kept per tenant connection (-1: none).
func poolOptions(b testing.TB) tenancy.PoolOptions {
	var o tenancy.PoolOptions
	if v := os.Getenv("APPCITAS_LOADBENCH_STATEMENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 || n < -1 {
			b.Fatalf("APPCITAS_LOADBENCH_STATEMENTS=%q: want a number of statements, or -1 for none", v)
		}
		o.StatementCache = n
	}
	v := os.Getenv("APPCITAS_LOADBENCH_POOL")
	if v == "" {
		return o
	}
	if _, err := fmt.Sscanf(v, "%dx%d", &o.Slices, &o.ConnsPerSlice); err != nil || o.Slices < 1 || o.ConnsPerSlice < 1 {
		b.Fatalf("APPCITAS_LOADBENCH_POOL=%q: want <slices>x<connections per slice>, e.g. 4x4", v)
	}
	return o
}

// keptFleet, with APPCITAS_LOADBENCH_KEEP=1, points f at the fleet database of its size kept by an
// earlier run (appcitas_loadbench_<n> on TEST_DATABASE_URL's server) and reports true when that
// fleet is complete and its day D is still ahead; otherwise it (re)creates the empty database for
// buildFleet, which is then kept too.
func keptFleet(b *testing.B, f *fleet) bool {
	ctx := context.Background()
	if os.Getenv(pgtest.EnvURL) == "" {
		b.Fatal("APPCITAS_LOADBENCH_KEEP=1 needs TEST_DATABASE_URL: a server that outlives the run")
	}
	name := fmt.Sprintf("appcitas_loadbench_%d", f.n)
	u, err := url.Parse(pgtest.AdminURL(b))
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	f.url = u.String()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if conn, err := pgx.Connect(ctx, f.url); err == nil {
		var day time.Time
		var userID int64
		var took float64
		err = conn.QueryRow(ctx, `SELECT day, user_id, build_seconds FROM public.loadbench_meta`).Scan(&day, &userID, &took)
		if err == nil && day.After(time.Now()) { // D (a local date, read as UTC midnight) is still ahead
			rows, qerr := conn.Query(ctx, `SELECT org_id FROM public.loadbench_tenant ORDER BY n`)
			if qerr == nil {
				f.orgs, qerr = pgx.CollectRows(rows, pgx.RowTo[int64])
			}
			if qerr == nil && len(f.orgs) == f.n {
				conn.Close(ctx)
				f.day, f.userID, f.buildTook = day.Format(time.DateOnly), userID, time.Duration(took*float64(time.Second))
				b.Logf("reusing the kept fleet of %d tenants in database %s (day %s)", f.n, name, f.day)
				migrateKept(b, f)
				return true
			}
		}
		conn.Close(ctx)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	return false
}

// connectMigrated connects to the database at url and applies the public migrations there.
func connectMigrated(b *testing.B, url string) *pgx.Conn {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrate.ApplyPublic(ctx, conn, migrate.Public(), migrate.Options{}); err != nil {
		conn.Close(ctx)
		b.Fatalf("migrating public: %v", err)
	}
	return conn
}

// migrateKept brings a kept fleet built by an older binary to the latest migrations, as an
// operator's appcitas migrate_all_tenants would (public first, then every tenant).
func migrateKept(b *testing.B, f *fleet) {
	ctx := context.Background()
	if err := connectMigrated(b, f.url).Close(ctx); err != nil {
		b.Fatal(err)
	}
	m := newManager(b, f.url, tenancy.PoolOptions{SharedConns: envWorkers})
	defer m.Close()
	rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{Workers: envWorkers})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rep.Failed {
		b.Fatalf("migrating the kept fleet: %s failed (%d in all): %v", r.Tenant.Organization.SchemaName, len(rep.Failed), r.Err)
	}
	if len(rep.NotAttempted) > 0 {
		b.Fatalf("migrating the kept fleet: %d tenants not attempted", len(rep.NotAttempted))
	}
	if rep.Total > 0 {
		b.Logf("migrated %d kept tenants in %s", rep.Total, rep.Took.Round(time.Second))
	}
}

// serveFleet captures the SQL of each endpoint and starts the API server over f's database.
func serveFleet(b *testing.B, f *fleet) {
	ctx := context.Background()
	n := f.n
	user := auth.User{ID: f.userID, Username: "carga"}

	cfg := apiConfig()
	tokens, err := auth.NewTokens(cfg.JWTSecret, cfg.AccessTTL, nil)
	if err != nil {
		b.Fatal(err)
	}
	if f.token, _, err = tokens.Issue(user, 0); err != nil {
		b.Fatal(err)
	}

	// The SQL of each endpoint, captured from the API's own SQL log on a separate Manager.
	capture(b, f, cfg)

	// The server under test: default pools, as appcitas serve has them (or APPCITAS_LOADBENCH_POOL);
	// logs discarded. In a process of its own for paired runs.
	if envPaired {
		f.proc = startServerProcess(b, f)
		f.base = f.proc.base
	} else {
		m := newManager(b, f.url, poolOptions(b))
		b.Cleanup(m.Close)
		srvCtx, cancel := context.WithCancel(ctx) // ends the server's catalog watch before the database goes
		b.Cleanup(cancel)
		withBilling(srvCtx, b, m, &cfg)
		h, err := api.New(srvCtx, m, slog.New(slog.DiscardHandler), cfg)
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		f.base = srv.URL
	}
	for _, ep := range endpoints {
		for _, k := range []int{0, n / 2, n - 1} {
			status, body := get(b, f, ep, k)
			if status != http.StatusOK {
				b.Fatalf("%s for tenant %d: %d %s", ep.name, k+1, status, body)
			}
			if err := ep.check(body); err != nil {
				b.Fatalf("%s for tenant %d: %v", ep.name, k+1, err)
			}
		}
	}
}

func mustShared(b *testing.B, m *tenancy.Manager) *pgxpool.Pool {
	b.Helper()
	p, err := m.Servers().Shared(context.Background(), tenancy.DefaultServer)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// tenantData is the one script that fills a new tenant: a branch, an admin who is also the staff
// member (the benchmark's user), a 30-minute service, working hours 08:00-20:00 every day with a
// lunch break, and 20 appointments on day (two half hours left free for availability).
func tenantData(userID int64, day time.Time) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `INSERT INTO organizacion_sede (id, nombre, direccion, zona_horaria) VALUES (1, 'Sede Principal', 'Calle 45 #12-30', %s);
INSERT INTO usuarios_perfilusuario (id, user_id, role, nombre_visible, sede_id) VALUES (1, %d, 'admin', 'Profesional Uno', 1);
INSERT INTO citas_servicio (id, nombre, duracion_minutos, precio_centavos) VALUES (1, 'Corte clásico', 30, 2500000);
INSERT INTO citas_horario (id, profesional_id, sede_id, dia_semana, hora_inicio, hora_fin)
  SELECT d + 1, 1, 1, d, '08:00', '20:00' FROM generate_series(0, 6) d;
INSERT INTO citas_descanso (horario_id, hora_inicio, hora_fin) SELECT id, '13:00', '14:00' FROM citas_horario;
INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono, cliente_email,
  inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos) VALUES
`, quote(tenancy.DefaultTimeZone), userID)
	clientsNames := []string{"Camila Rojas", "Mateo Vargas", "Isabella Díaz", "Santiago Moreno", "Mariana Herrera", "Daniel Quintero"}
	booked := 0
	for mins := 8 * 60; booked < appointmentsPerTenant; mins += 30 {
		if mins >= 13*60 && mins < 14*60 || mins == 10*60 || mins == 16*60 {
			continue // lunch, and two free half hours
		}
		start := day.Add(time.Duration(mins) * time.Minute)
		end := start.Add(30 * time.Minute)
		if booked > 0 {
			sb.WriteString(",\n")
		}
		name := clientsNames[booked%len(clientsNames)]
		fmt.Fprintf(&sb, "  (1, 1, 1, %s, '+57 300 %03d %04d', %s, %s, %s, %s, %s, 2500000)", quote(name), booked, 1000+booked,
			quote(strings.ToLower(strings.Fields(name)[0])+"@example.com"), ts(start), ts(end), ts(start), ts(end))
		booked++
	}
	sb.WriteString(";\n")
	return sb.String()
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func ts(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00'::timestamptz"
}

// --- capturing the API's SQL ---

// captured is one SQL log record of the API.
type captured struct {
	msg  string // Query, BatchQuery, BatchClose, ...
	sql  string
	args []any
}

type captureHandler struct {
	mu   sync.Mutex
	recs []captured
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	c := captured{msg: strings.TrimPrefix(r.Message, "sql ")}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "sql":
			c.sql = a.Value.String()
		case "args":
			c.args, _ = a.Value.Any().([]any)
		}
		return true
	})
	if c.msg == "Query" || c.msg == "BatchQuery" || c.msg == "BatchClose" || c.msg == "Exec" {
		h.mu.Lock()
		h.recs = append(h.recs, c)
		h.mu.Unlock()
	}
	return nil
}

func (h *captureHandler) take() []captured {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.recs
	h.recs = nil
	return r
}

// capture sends each endpoint's request three times through an API whose Manager logs SQL (the
// first fills the organization cache), and turns the last request's statements into pgbench
// scripts.
func capture(b *testing.B, f *fleet, cfg api.Config) {
	ctx := context.Background()
	h := &captureHandler{}
	log := slog.New(h)
	m := newManager(b, f.url, tenancy.PoolOptions{LogSQL: true, Logger: log})
	defer m.Close()
	srvCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := api.New(srvCtx, m, log, cfg)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the catalog watch comes up (and empties the cache)
	leads := map[string]string{}       // lead statements prepared by the openings so far (the endpoints share them)
	for _, ep := range endpoints {
		// recs[0] is a cache miss, recs[2] a hit; recs[1] is thrown away (the catalog watch may
		// have come up, and emptied the cache, after the first).
		var recs [3][]captured
		for i := range recs {
			req := httptest.NewRequest("GET", ep.path(f.day), nil)
			req.Header.Set("Authorization", "Bearer "+f.token)
			req.Header.Set("X-Organization-ID", strconv.FormatInt(f.orgs[0], 10))
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", ep.name, rec.Code, rec.Body)
			}
			recs[i] = h.take()
		}
		maps.Copy(leads, preparedLeads(slices.Concat(recs[:]...)))
		s, trips, err := makeScripts(ep.name, recs[2], leads, f.n)
		if err != nil {
			b.Fatalf("%s: %v", ep.name, err)
		}
		f.scripts[ep.name] = s
		if envProfileDir != "" {
			for kind, text := range map[string]string{"query": s.query, "door": s.door} {
				name := filepath.Join(envProfileDir, fmt.Sprintf("pgbench-%s-%s-%d.sql", ep.name, kind, f.n))
				if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		f.roundTrip[ep.name] = fmt.Sprintf("%d round trips with the organization cached (%s); %d on a cache miss",
			len(trips), strings.Join(trips, ", "), len(roundTrips(recs[0])))
		b.Logf("%s: %s", ep.name, f.roundTrip[ep.name])
	}
}

// roundTrips groups SQL log records into round trips: each Query is one, each batch (its
// BatchQuery records up to BatchClose) is one. It returns their statements.
func roundTrips(recs []captured) [][]captured {
	var out [][]captured
	var batch []captured
	for _, r := range recs {
		switch r.msg {
		case "BatchQuery":
			batch = append(batch, r)
		case "BatchClose":
			out = append(out, batch)
			batch = nil
		default:
			out = append(out, []captured{r})
		}
	}
	return out
}

var firstWord = regexp.MustCompile(`^\s*(\w+)(?:\s+\S+\s+FROM\s+)?`)

// describe names a round trip for the report: "BEGIN+SET LOCAL", "SELECT usuarios_perfilusuario"...
func describe(trip []captured) string {
	parts := make([]string, len(trip))
	for i, r := range trip {
		s := strings.Join(strings.Fields(r.sql), " ")
		switch {
		case strings.HasPrefix(s, "BEGIN"):
			parts[i] = "BEGIN+SET LOCAL"
		case strings.Contains(r.sql, oneTripOpening):
			parts[i] = "set_config"
		case strings.EqualFold(s, "commit"):
			parts[i] = "COMMIT"
		default:
			from := tableName.FindStringSubmatch(s)
			if from != nil {
				parts[i] = "SELECT " + from[1]
			} else {
				parts[i] = firstWord.FindString(s)
			}
		}
	}
	if len(parts) > 1 {
		return "batch[" + strings.Join(parts, "; ") + "]"
	}
	return parts[0]
}

// oneTripOpening marks the statement of a read in one round trip that sets its search_path and
// role (tenancy's scope.OpeningSQL).
const oneTripOpening = "set_config('search_path', $1, true)"

var tableName = regexp.MustCompile(`\bFROM\s+((?:public\.)?(?:citas|organizacion|usuarios)_\w+)`)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// inline returns sql with its $n placeholders replaced by args as SQL literals.
func inline(sql string, args []any) (string, error) {
	var err error
	out := placeholder.ReplaceAllStringFunc(sql, func(p string) string {
		i, _ := strconv.Atoi(p[1:])
		if i < 1 || i > len(args) {
			err = fmt.Errorf("placeholder %s with %d arguments", p, len(args))
			return p
		}
		lit, e := literal(args[i-1])
		if e != nil {
			err = e
		}
		return lit
	})
	return out, err
}

func literal(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return quote(x), nil
	case time.Time:
		return ts(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), nil
	case []int64:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = strconv.FormatInt(n, 10)
		}
		return "'{" + strings.Join(parts, ",") + "}'", nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL", nil
		}
		return literal(rv.Elem().Interface())
	}
	return "", fmt.Errorf("no SQL literal for %T", v)
}

var (
	prepareLead = regexp.MustCompile(`^PREPARE (appcitas_lead_\w+)(?: \([^)]*\))? AS (.*)$`)
	executeLead = regexp.MustCompile(`^EXECUTE (appcitas_lead_\w+)(?:\((.*)\))?$`)
)

// preparedLeads returns the lead statements that the captured openings prepare (tenancy prepares
// the membership check in the opening, PREPARE … AS, the first time a connection serves a tenant),
// by name.
func preparedLeads(recs []captured) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		for _, part := range strings.Split(r.sql, "; ") {
			if m := prepareLead.FindStringSubmatch(part); m != nil {
				out[m[1]] = m[2]
			}
		}
	}
	return out
}

// inlineLead turns an opening's PREPARE or EXECUTE of its lead statement into the lead query with
// its arguments written in (what the opening sends without the statement cache): ok is false for
// any other part. pgbench's clients run random tenants, so they cannot keep the tenants' statements.
func inlineLead(part string, leads map[string]string) (sql string, ok bool, err error) {
	if prepareLead.MatchString(part) {
		return "", true, nil
	}
	m := executeLead.FindStringSubmatch(part)
	if m == nil {
		return "", false, nil
	}
	lead, found := leads[m[1]]
	if !found {
		return "", true, fmt.Errorf("EXECUTE of %s, whose PREPARE was not captured", m[1])
	}
	var args []any
	if m[2] != "" {
		for _, a := range strings.Split(m[2], ", ") {
			v, err := strconv.ParseInt(strings.Trim(a, "()"), 10, 64)
			if err != nil {
				return "", true, fmt.Errorf("argument %q of %s: %w", a, m[1], err)
			}
			args = append(args, v)
		}
	}
	sql, err = inline(lead, args)
	return sql, true, err
}

// makeScripts turns one request's captured statements into the two pgbench scripts (leads: the
// lead statements prepared by the captured openings, by name); trips describes its round trips.
func makeScripts(name string, recs []captured, leads map[string]string, n int) (s scripts, trips []string, err error) {
	rts := roundTrips(recs)
	var data []string // the data query's statements: everything between the membership check and COMMIT
	var door strings.Builder
	fmt.Fprintf(&door, "-- %s: every round trip the API sends (captured), for a random tenant of the client's share\n%s\n", name, pgbenchTenant(n))
	for i, rt := range rts {
		trips = append(trips, describe(rt))
		var stmts []string
		for _, r := range rt {
			sql := r.sql
			if strings.Contains(sql, oneTripOpening) {
				// A read in one round trip sets search_path and role in a statement of its own,
				// after BEGIN: the BEGIN below sets them for a random tenant.
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(sql), "BEGIN") {
				// BEGIN; SET LOCAL search_path TO <schema>, public; SET LOCAL ROLE <schema>[; lead
				// query]: the same settings, with the schema of a random tenant, and the lead query
				// (the membership check, its arguments already literals) in the same round trip.
				opening := []string{"BEGIN \\; SELECT set_config('search_path', s || ', public', true), set_config('role', s, true) " +
					"FROM (SELECT schema_name AS s FROM public.loadbench_tenant WHERE n = :tenant_n) x"}
				for _, part := range strings.Split(sql, "; ")[1:] {
					lead, isLead, err := inlineLead(part, leads)
					switch {
					case err != nil:
						return s, nil, err
					case isLead && lead != "":
						opening = append(opening, lead)
					case !isLead && !strings.HasPrefix(part, "SET LOCAL"):
						opening = append(opening, part)
					}
				}
				sql = strings.Join(opening, " \\; ")
			} else if sql, err = inline(sql, r.args); err != nil {
				return s, nil, err
			}
			stmts = append(stmts, sql)
		}
		door.WriteString(strings.Join(stmts, " \\;\n") + ";\n")
		// Data statements: not the scope (with the membership check), not COMMIT. A read in one
		// round trip sends them all at once: opening, lead, data, COMMIT.
		if i >= 1 && i < len(rts)-1 {
			data = stmts
		}
		if len(rts) == 1 && len(stmts) > 3 {
			data = stmts[2 : len(stmts)-1]
		}
	}
	last := rts[len(rts)-1]
	if (len(rts) < 3 && len(rts) != 1) || !strings.EqualFold(strings.TrimSpace(last[len(last)-1].sql), "commit") {
		return s, nil, fmt.Errorf("unexpected statements: %v", trips)
	}
	s.door = door.String()
	s.query = fmt.Sprintf("-- %s: the data query alone, one round trip, search_path of a random tenant of the client's share set in the same round trip\n"+
		"%s\n"+
		"SELECT set_config('search_path', (SELECT schema_name FROM public.loadbench_tenant WHERE n = :tenant_n) || ', public', true) \\;\n%s;\n",
		name, pgbenchTenant(n), strings.Join(data, " \\;\n"))
	return s, trips, nil
}

// pgbenchTenant is the pgbench line that picks a tenant among n: each client (so each of its
// backends) keeps to its own share, the tenants whose number is its client id modulo 8 (when n is a
// multiple of 8; otherwise shares overlap), as the API's pool slices keep each tenant on one
// backend. A backend that serves every tenant holds every tenant's catalog, and at 10,000 tenants
// takes minutes to fill it.
func pgbenchTenant(n int) string {
	return fmt.Sprintf("\\set tenant_n (:client_id + %d * random(0, %d)) %% %d + 1", clients, n-1, n)
}

// --- measuring ---

type rate struct {
	rps, p50ms, p99ms float64
	n                 int
	errors            int
}

type result struct {
	http, query, door rate
	// httpReps etc. keep every repetition.
	httpReps            []httpRep
	queryReps, doorReps []rate
	orgLookups, xacts   float64 // per HTTP request (median over repetitions)
}

// measure warms f up for ep, then runs envReps repetitions of HTTP and pgbench on it, one after the
// other (the sequential method; measurePaired takes turns between fleets instead).
func measure(b *testing.B, f *fleet, ep endpoint) result {
	warmUp(b, f, ep)
	var r result
	for rep := range envReps {
		if rep > 0 {
			settle(b, f, ep)
		}
		r.addHTTP(measureHTTP(b, f, ep, rep))
		r.addPgbench(b, f, ep, rep)
	}
	r.finish()
	return r
}

// warmUp fills the pools' connections and their backends' catalog caches. A backend caches the
// catalog entries of every tenant it serves, the first time it serves it, so at 10,000 tenants the
// caches take minutes to fill under uniformly random tenants: warm up until the warm-up has sent
// warmupVisits requests per tenant (then nearly every tenant has met every connection of its pool
// slice), in 10 s runs, for at least 20 s and at most APPCITAS_LOADBENCH_WARMUP seconds.
func warmUp(b *testing.B, f *fleet, ep endpoint) {
	if envWarmupSecs <= 0 {
		return
	}
	limit := time.Duration(envWarmupSecs) * time.Second
	window := min(10*time.Second, limit)
	sent := 0
	for spent := time.Duration(0); spent < limit && (spent < 20*time.Second || sent < warmupVisits*f.n); spent += window {
		w := runHTTP(b, f, ep, window, "", 0)
		sent += w.n
		b.Logf("warm-up %s, %d tenants, after %s (%d requests): %.0f req/s, p50 %.2f ms, p99 %.2f ms",
			ep.name, f.n, spent+window, sent, w.rps, w.p50ms, w.p99ms)
	}
}

// settle sends APPCITAS_LOADBENCH_SETTLE seconds of unmeasured HTTP before a repetition. pgbench's
// runs just before open 16 backends that each read the catalogs of thousands of tenants at 10,000;
// the HTTP repetitions that followed them at once were 10-15% slower than the first (BENCHMARKS.md,
// issue 3). Logged in 10 s windows, so that the log shows whether the API is back to its pace
// before the measured run.
func settle(b *testing.B, f *fleet, ep endpoint) {
	d := time.Duration(envSettleSecs) * time.Second
	for spent := time.Duration(0); spent < d; {
		window := min(10*time.Second, d-spent)
		w := runHTTP(b, f, ep, window, "", 0)
		spent += window
		b.Logf("settle %s, %d tenants, after %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms",
			ep.name, f.n, spent, w.rps, w.p50ms, w.p99ms)
	}
}

// httpRep is one measured HTTP run and what the database counted during it.
type httpRep struct {
	rate
	lookups, xacts float64 // per request
}

// measureHTTP runs repetition rep's measured HTTP run (with the server's CPU profile on the first
// one when APPCITAS_LOADBENCH_DIR is set).
func measureHTTP(b *testing.B, f *fleet, ep endpoint, rep int) httpRep {
	prof := ""
	if envProfileDir != "" && rep == 0 {
		prof = filepath.Join(envProfileDir, fmt.Sprintf("cpu-%s-%d.pprof", ep.name, f.n))
	}
	before := dbCounters(b, f)
	hr := runHTTP(b, f, ep, time.Duration(envHTTPSecs)*time.Second, prof, time.Duration(envPaceMS)*time.Millisecond)
	time.Sleep(600 * time.Millisecond) // let backends flush their statistics
	after := dbCounters(b, f)
	if hr.errors > 0 {
		b.Errorf("%s: %d of %d requests failed", ep.name, hr.errors, hr.n)
	}
	return httpRep{rate: hr, lookups: float64(after.orgScans-before.orgScans) / float64(hr.n),
		xacts: float64(after.xacts-before.xacts) / float64(hr.n)}
}

func (r *result) addHTTP(h httpRep) { r.httpReps = append(r.httpReps, h) }

// addPgbench runs pgbench-query and pgbench-door once each and logs repetition rep (whose HTTP run
// is the last one added).
func (r *result) addPgbench(b *testing.B, f *fleet, ep endpoint, rep int) {
	la := loadAvg()
	sc := f.scripts[ep.name]
	qr := runPgbench(b, f, sc.query)
	dr := runPgbench(b, f, sc.door)
	r.queryReps, r.doorReps = append(r.queryReps, qr), append(r.doorReps, dr)
	hr := r.httpReps[len(r.httpReps)-1]
	b.Logf("rep %d, %s, %d tenants, load %s: HTTP %.0f req/s p50 %.2f p99 %.2f ms (%d errors, %.2f catalog lookups and %.2f transactions per request) | pgbench-query %.0f tps p50 %.2f p99 %.2f | pgbench-door %.0f tps p50 %.2f p99 %.2f",
		rep+1, ep.name, f.n, la, hr.rps, hr.p50ms, hr.p99ms, hr.errors, hr.lookups, hr.xacts,
		qr.rps, qr.p50ms, qr.p99ms, dr.rps, dr.p50ms, dr.p99ms)
}

// finish sets the medians.
func (r *result) finish() {
	var rates []rate
	var lookups, xacts []float64
	for _, h := range r.httpReps {
		rates, lookups, xacts = append(rates, h.rate), append(lookups, h.lookups), append(xacts, h.xacts)
	}
	r.http, r.query, r.door = medianRate(rates), medianRate(r.queryReps), medianRate(r.doorReps)
	r.orgLookups, r.xacts = median(lookups), median(xacts)
}

// runHTTP runs clients goroutines sending ep's request for random tenants for d, and returns the
// rate and latency percentiles. With prof, the server's CPU profile of the run is written to that
// file.
// With pace (wrk only), each client waits that long after each response: a load below saturation,
// whose latencies are a request's own time rather than its time queued behind the others.
func runHTTP(b *testing.B, f *fleet, ep endpoint, d time.Duration, prof string, pace time.Duration) rate {
	if prof != "" {
		stop := startProfile(b, f, prof)
		defer stop()
	}
	if wrk := wrkPath(b); wrk != "" {
		return runWrk(b, wrk, f, ep, d, pace)
	}
	if pace > 0 {
		b.Fatal("APPCITAS_LOADBENCH_PACE_MS needs wrk")
	}
	return runGoClients(b, f, ep, d)
}

// httpClient names the HTTP load generator for the report.
func httpClient(b *testing.B) string {
	if wrkPath(b) != "" {
		if envPaceMS > 0 {
			return fmt.Sprintf("wrk (-t 2 -c 8, random tenant per request from a Lua script; in the measured runs each connection waits %d ms after each response)", envPaceMS)
		}
		return "wrk (-t 2 -c 8, random tenant per request from a Lua script)"
	}
	return "8 goroutines with net/http in the benchmark's process"
}

// wrkPath returns wrk's path when the HTTP load is to come from wrk (Debian's package wrk), or "".
// wrk, like pgbench, is a C load generator in a process of its own, so that the server's process
// pays only for serving.
func wrkPath(b *testing.B) string {
	switch envClient {
	case "go":
		return ""
	case "", "wrk":
		p, err := exec.LookPath("wrk")
		if err != nil {
			if envClient == "wrk" {
				b.Fatal("APPCITAS_LOADBENCH_CLIENT=wrk but no wrk: apt-get install wrk")
			}
			return ""
		}
		return p
	default:
		b.Fatalf("APPCITAS_LOADBENCH_CLIENT=%q: want wrk or go", envClient)
		return ""
	}
}

// runWrk runs wrk with clients connections for d against ep, each request for a random tenant, and
// returns its rate and latency percentiles; with pace, each connection waits that long after each
// response (wrk's delay, not counted in the latency).
func runWrk(b *testing.B, wrk string, f *fleet, ep endpoint, d time.Duration, pace time.Duration) rate {
	var ids strings.Builder
	for i, id := range f.orgs {
		if i > 0 {
			ids.WriteByte(',')
		}
		ids.WriteString(strconv.FormatInt(id, 10))
	}
	script := fmt.Sprintf(`local orgs = {%s}
local path = %q
local auth = %q
local counter = 0
local pace = %d
if pace > 0 then delay = function() return pace end end
setup = function(thread) counter = counter + 1; thread:set("seed", counter) end
init = function() math.randomseed(seed * 7919 + os.time()) end
request = function()
  return wrk.format("GET", path, {["Authorization"] = auth, ["X-Organization-ID"] = tostring(orgs[math.random(#orgs)])})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
`, ids.String(), ep.path(f.day), "Bearer "+f.token, pace.Milliseconds())
	file := filepath.Join(b.TempDir(), "wrk.lua")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		b.Fatal(err)
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.Command(wrk, "-t", "2", "-c", strconv.Itoa(clients), "-d", strconv.Itoa(secs)+"s", "--timeout", "30s",
		"-s", file, f.base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var n, durUS, p50US, p99US, errs int64
		if _, err := fmt.Sscanf(line, "RESULT %d %d %d %d %d", &n, &durUS, &p50US, &p99US, &errs); err == nil && durUS > 0 {
			return rate{rps: float64(n) / (float64(durUS) / 1e6), p50ms: float64(p50US) / 1000, p99ms: float64(p99US) / 1000,
				n: int(n), errors: int(errs)}
		}
	}
	b.Fatalf("wrk printed no result:\n%s", out)
	return rate{}
}

// runGoClients is runHTTP with clients goroutines of net/http in this process.
func runGoClients(b *testing.B, f *fleet, ep endpoint, d time.Duration) rate {
	tr := &http.Transport{MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: 2 * clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	path := ep.path(f.day)
	lat := make([][]time.Duration, clients)
	errCount := make([]int, clients)
	orgHeader := make([]string, len(f.orgs))
	for i, id := range f.orgs {
		orgHeader[i] = strconv.FormatInt(id, 10)
	}
	auth := "Bearer " + f.token
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			ls := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) {
				req, err := http.NewRequest("GET", f.base+path, nil)
				if err != nil {
					panic(err)
				}
				req.Header.Set("Authorization", auth)
				req.Header.Set("X-Organization-ID", orgHeader[rng.IntN(len(orgHeader))])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				ls = append(ls, time.Since(t0))
				if err != nil {
					errCount[c]++
				}
			}
			lat[c] = ls
		})
	}
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	errs := 0
	for c := range clients {
		all = append(all, lat[c]...)
		errs += errCount[c]
	}
	return summarize(all, took, errs)
}

func summarize(all []time.Duration, took time.Duration, errs int) rate {
	slices.Sort(all)
	if len(all) == 0 {
		return rate{}
	}
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	return rate{rps: float64(len(all)) / took.Seconds(), p50ms: ms(all[len(all)/2]), p99ms: ms(all[len(all)*99/100]), n: len(all), errors: errs}
}

// runPgbench runs script with clients connections for APPCITAS_LOADBENCH_PGBENCH_WARMUP plus
// APPCITAS_LOADBENCH_PGBENCH_SECONDS and returns, from its per-transaction log, the rate and
// latency percentiles of the transactions that ended in the second part: pgbench's backends are
// new on every run, and a new backend reads the catalog of each tenant the first time it serves
// it (at 10,000 tenants, a run's first 10 s are about twice as slow as its steady state), while the
// API's are warm.
func runPgbench(b *testing.B, f *fleet, script string) rate {
	dir := b.TempDir()
	file := filepath.Join(dir, "script.sql")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		b.Fatal(err)
	}
	args := []string{"-n", "-M", "simple", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, runtime.NumCPU())),
		// As the superuser, as before tests logged in as a NOINHERIT role: the bare query sets no role.
		"-T", strconv.Itoa(envPgbenchWarm + envPgbenchSecs), "-f", file, "-l", "--log-prefix", filepath.Join(dir, "tx"), pgtest.SuperuserURL(b, f.url)}
	cmd := exec.Command(pgbenchPath(b), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	failed := 0
	if m := regexp.MustCompile(`number of failed transactions: (\d+)`).FindSubmatch(out); m != nil {
		failed, _ = strconv.Atoi(string(m[1]))
	}
	if failed > 0 {
		b.Errorf("pgbench: %d failed transactions:\n%s", failed, out)
	}
	var txs []pgbenchTx
	logs, _ := filepath.Glob(filepath.Join(dir, "tx.*"))
	for _, l := range logs {
		fh, err := os.Open(l)
		if err != nil {
			b.Fatal(err)
		}
		txs = append(txs, parsePgbenchLog(fh)...)
		fh.Close()
	}
	r := steadyPart(txs, time.Duration(envPgbenchWarm)*time.Second)
	if r.n == 0 {
		b.Fatalf("pgbench logged no transaction after its %d s warm-up:\n%s", envPgbenchWarm, out)
	}
	r.errors = failed
	return r
}

// pgbenchTx is one line of pgbench's per-transaction log: when the transaction ended and how long
// it took.
type pgbenchTx struct {
	end     time.Time
	latency time.Duration
}

// parsePgbenchLog reads a per-transaction log ("client_id transaction_no time script_no
// time_epoch time_us ...", time in microseconds); lines it cannot read are skipped.
func parsePgbenchLog(r io.Reader) []pgbenchTx {
	var out []pgbenchTx
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		lat, err1 := strconv.ParseInt(f[2], 10, 64)
		sec, err2 := strconv.ParseInt(f[4], 10, 64)
		us, err3 := strconv.ParseInt(f[5], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, pgbenchTx{end: time.Unix(sec, us*1000), latency: time.Duration(lat) * time.Microsecond})
	}
	return out
}

// steadyPart is the rate and latencies of the transactions that ended at least warm after the
// first one began, over the time from then to the last one's end.
func steadyPart(txs []pgbenchTx, warm time.Duration) rate {
	if len(txs) == 0 {
		return rate{}
	}
	first, last := txs[0].end.Add(-txs[0].latency), txs[0].end
	for _, t := range txs {
		if s := t.end.Add(-t.latency); s.Before(first) {
			first = s
		}
		if t.end.After(last) {
			last = t.end
		}
	}
	from := first.Add(warm)
	var lat []time.Duration
	for _, t := range txs {
		if !t.end.Before(from) {
			lat = append(lat, t.latency)
		}
	}
	if len(lat) == 0 || !last.After(from) {
		return rate{}
	}
	return summarize(lat, last.Sub(from), 0)
}

func pgbenchPath(b *testing.B) string {
	if s := pgtest.Server(b); s != nil {
		if p := filepath.Join(s.BinDir(), "pgbench"); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("pgbench")
	if err != nil {
		b.Skip("no pgbench: install PostgreSQL's client programs")
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

type counters struct{ orgScans, xacts int64 }

// dbCounters reads how many times the catalog's organization table was read by index and how many
// transactions the database committed, to count them per request.
func dbCounters(b *testing.B, f *fleet) counters {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var c counters
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relid = 'public.organizacion_organizacion'::regclass),
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())`).Scan(&c.orgScans, &c.xacts); err != nil {
		b.Fatal(err)
	}
	return c
}

func get(b *testing.B, f *fleet, ep endpoint, k int) (int, []byte) {
	req, err := http.NewRequest("GET", f.base+ep.path(f.day), nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("X-Organization-ID", strconv.FormatInt(f.orgs[k], 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return resp.StatusCode, body
}

// --- summary ---

type summary struct {
	mu     sync.Mutex
	builds map[int]time.Duration
	rows   map[int]map[string]result
	// ratios are, by endpoint, the paired runs' p50 at the largest fleet over p50 at the smallest,
	// one per repetition.
	ratios map[string][]float64
	// windowRatios are, by endpoint, the same ratio for every pair of adjacent windows
	// (APPCITAS_LOADBENCH_WINDOW), over all repetitions.
	windowRatios map[string][]float64
}

func (s *summary) addFleet(n int, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.builds == nil {
		s.builds = map[int]time.Duration{}
	}
	s.builds[n] = took
}

func (s *summary) add(n int, ep string, r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows == nil {
		s.rows = map[int]map[string]result{}
	}
	if s.rows[n] == nil {
		s.rows[n] = map[string]result{}
	}
	s.rows[n][ep] = r
}

// print logs the summary table (markdown) and writes it to APPCITAS_LOADBENCH_OUT when set.
func (s *summary) print(b *testing.B) {
	var sb strings.Builder
	po := poolOptions(b)
	pool := "default tenant pools"
	if po.Slices > 0 {
		pool = fmt.Sprintf("tenant pools of %d slices x %d connections", po.Slices, po.ConnsPerSlice)
	}
	httpRuns := fmt.Sprintf("HTTP %ds each", envHTTPSecs)
	if envWindowSecs > 0 {
		httpRuns = fmt.Sprintf("HTTP %ds each in %d s windows alternating between the fleets; its p50 and p99 the medians of the windows'", envHTTPSecs, envWindowSecs)
	}
	fmt.Fprintf(&sb, "%d HTTP clients (%s), %d pgbench clients (each on its own share of the tenants), %s; medians of %d repetitions (%s, pgbench %d s measured after %d s of warm-up); load average at the end: %s\n\n",
		clients, httpClient(b), clients, pool, envReps, httpRuns, envPgbenchSecs, envPgbenchWarm, loadAvg())
	sb.WriteString("| tenants | endpoint | HTTP req/s | p50 ms | p99 ms | pgbench-query tps | p50 ms | p99 ms | HTTP / pgbench-query | pgbench-door tps | p50 ms | catalog lookups / req | xacts / req |\n")
	sb.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	sizes := slices.Sorted(func(yield func(int) bool) {
		for n := range s.rows {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range sizes {
		for _, ep := range endpoints {
			r, ok := s.rows[n][ep.name]
			if !ok {
				continue
			}
			fmt.Fprintf(&sb, "| %d | %s | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f |\n",
				n, ep.name, r.http.rps, r.http.p50ms, r.http.p99ms, r.query.rps, r.query.p50ms, r.query.p99ms,
				r.http.rps/r.query.rps, r.door.rps, r.door.p50ms, r.orgLookups, r.xacts)
		}
	}
	if len(sizes) >= 2 {
		lo, hi := sizes[0], sizes[len(sizes)-1]
		fmt.Fprintf(&sb, "\nLatency at %d tenants / at %d tenants (target ≤ 1.2):", hi, lo)
		for _, ep := range endpoints {
			a, okA := s.rows[lo][ep.name]
			z, okZ := s.rows[hi][ep.name]
			if okA && okZ {
				fmt.Fprintf(&sb, " %s p50 %.2f×, p99 %.2f×;", ep.name, z.http.p50ms/a.http.p50ms, z.http.p99ms/a.http.p99ms)
			}
		}
		sb.WriteString("\n")
		for _, ep := range endpoints {
			if rs := s.ratios[ep.name]; len(rs) > 0 {
				fmt.Fprintf(&sb, "Paired, %s: p50 at %d / p50 at %d tenants in each repetition %s; median %.2f×.\n",
					ep.name, hi, lo, formatRatios(rs), median(rs))
			}
			if ws := s.windowRatios[ep.name]; len(ws) > 0 {
				q1, q3 := quartiles(ws)
				fmt.Fprintf(&sb, "Windowed, %s: %d pairs of adjacent %d s windows; p50 at %d / p50 at %d tenants: median %.2f×, quartiles %.2f–%.2f×.\n",
					ep.name, len(ws), envWindowSecs, hi, lo, median(ws), q1, q3)
			}
		}
	}
	for _, n := range slices.Sorted(func(yield func(int) bool) {
		for n := range s.builds {
			if !yield(n) {
				return
			}
		}
	}) {
		fmt.Fprintf(&sb, "Fleet of %d tenants built in %s (%d goroutines).\n", n, s.builds[n].Round(time.Millisecond), envWorkers)
	}
	b.Logf("summary:\n%s", sb.String())
	fmt.Fprintf(os.Stderr, "\n%s\n", sb.String())
	if envOut != "" {
		if err := os.WriteFile(envOut, []byte(sb.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// --- helpers ---

func medianRate(rs []rate) rate {
	pick := func(get func(rate) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		return median(v)
	}
	return rate{
		rps:   pick(func(r rate) float64 { return r.rps }),
		p50ms: pick(func(r rate) float64 { return r.p50ms }),
		p99ms: pick(func(r rate) float64 { return r.p99ms }),
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quartiles returns the first and third quartiles of v (the medians of its lower and upper halves).
func quartiles(v []float64) (q1, q3 float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	h := len(s) / 2
	return median(s[:h]), median(s[len(s)-h:])
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

func envInts(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// dropRolesAtCleanup drops the fleet's database and then its tenant roles (cluster-wide), in
// batches, when the benchmark ends; it runs before pgtest's own DROP DATABASE IF EXISTS.
func dropRolesAtCleanup(b *testing.B, url string) {
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return
		}
		rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`)
		var roles []string
		if err == nil {
			roles, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		conn.Close(ctx)
		if err != nil {
			return
		}
		admin, err := pgx.Connect(ctx, pgtest.AdminURL(b))
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
			b.Logf("cleanup: %v", err)
			return
		}
		for batch := range slices.Chunk(roles, 500) {
			names := make([]string, len(batch))
			for i, r := range batch {
				names[i] = pgx.Identifier{r}.Sanitize()
			}
			if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+strings.Join(names, ", ")); err != nil {
				b.Logf("cleanup: %v", err)
				return
			}
		}
	})
}
