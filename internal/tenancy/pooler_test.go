package tenancy_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBehindPgBouncer runs tenancy with DATABASE_URL pointing at PgBouncer in transaction mode,
// which multiplexes the Manager's many client connections over two server connections, and the
// LISTEN on a direct connection (ListenURL). The statement cache is left at its default, so the
// Manager must find the pooler itself.
func TestBehindPgBouncer(t *testing.T) {
	t.Parallel()
	direct := pgtest.NewDatabase(t)
	bouncer := pgtest.PgBouncer(t, direct, pgtest.BouncerOptions{PoolSize: 2})
	tenancytest.DropTenantsAtCleanup(t, direct)
	ctx := t.Context()

	// Public migrations through the pooler.
	conn, err := pgx.Connect(ctx, bouncer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.ApplyPublic(ctx, conn, migrate.Public(), migrate.Options{}); err != nil {
		t.Fatalf("migrating public through PgBouncer: %v", err)
	}
	conn.Close(ctx)

	var logs lockedBuffer
	m := tenancytest.Open(t, bouncer, tenancy.Config{
		ListenURL: direct,
		Pool:      tenancy.PoolOptions{Slices: 8},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	orgs := createOrgs(t, m, "Bouncer A", "Bouncer B")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])

	t.Run("DetectsThePoolerAndSwitchesTheStatementCacheOff", func(t *testing.T) {
		pooled, err := m.Servers().BehindPooler(ctx, tenancy.DefaultServer)
		if err != nil || !pooled {
			t.Fatalf("BehindPooler = %v, %v; want true", pooled, err)
		}
		if n := strings.Count(logs.String(), "statement cache off"); n != 1 {
			t.Fatalf("%d log lines say the statement cache is off; want 1:\n%s", n, logs.String())
		}
		plain := tenancytest.Open(t, direct, tenancy.Config{})
		if pooled, err := plain.Servers().BehindPooler(ctx, tenancy.DefaultServer); err != nil || pooled {
			t.Fatalf("BehindPooler on the direct URL = %v, %v; want false", pooled, err)
		}
	})

	t.Run("ExplicitSettingSkipsDetection", func(t *testing.T) {
		forced := tenancytest.Open(t, direct, tenancy.Config{Pool: tenancy.PoolOptions{Pooler: tenancy.PoolerTransaction}})
		if pooled, err := forced.Servers().BehindPooler(ctx, tenancy.DefaultServer); err != nil || !pooled {
			t.Fatalf("BehindPooler with PoolerTransaction = %v, %v; want true", pooled, err)
		}
	})

	t.Run("DetectsAPoolerThatDropsTheStartupParameter", func(t *testing.T) {
		lenient := pgtest.PgBouncer(t, direct, pgtest.BouncerOptions{PoolSize: 1, IgnoreStartupParameters: []string{"plan_cache_mode"}})
		mm := tenancytest.Open(t, lenient, tenancy.Config{})
		if pooled, err := mm.Servers().BehindPooler(ctx, tenancy.DefaultServer); err != nil || !pooled {
			t.Fatalf("BehindPooler = %v, %v; want true", pooled, err)
		}
	})

	t.Run("TenantsNeverSeeEachOtherOverSharedServerConnections", func(t *testing.T) {
		const workers, rounds = 16, 15
		var mu sync.Mutex
		pids := map[uint32]bool{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					ten, other := a, b
					if (w+r)%2 == 1 {
						ten, other = b, a
					}
					if err := checkScope(ctx, m, ten, other, fmt.Sprintf("w%d-r%d", w, r), &mu, pids); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		// More tenants, on other slices of the Manager's pool: more client connections.
		for i, org := range createOrgs(t, m, "Bouncer 1", "Bouncer 2", "Bouncer 3", "Bouncer 4", "Bouncer 5", "Bouncer 6") {
			if err := checkScope(ctx, m, tenantOf(t, org), a, fmt.Sprintf("extra-%d", i), &mu, pids); err != nil {
				t.Fatal(err)
			}
		}
		if len(pids) == 0 || len(pids) > 2 {
			t.Errorf("scopes ran on %d backends; want at most PgBouncer's 2", len(pids))
		}
		clients := 0
		for _, st := range m.Servers().Stats() {
			for _, s := range st.Slices {
				clients += int(s.TotalConns())
			}
		}
		if clients <= 2 {
			t.Errorf("the Manager holds %d tenant connections to PgBouncer; want more than its 2 server connections", clients)
		}
		// Every row of a and b landed in its own tenant's schema.
		for _, ten := range []tenancy.Tenant{a, b} {
			names := queryStrings(t, shared(t, m), `SELECT DISTINCT split_part(nombre, ' ', 1) FROM `+quote(ten.Schema)+`.citas_servicio`)
			if len(names) != 1 || names[0] != ten.Schema {
				t.Errorf("services in %s were written by %v; want only %s", ten.Schema, names, ten.Schema)
			}
		}
	})

	t.Run("ReadsInOneTripOverSharedServerConnections", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for r := range 10 {
					ten := a
					if (w+r)%2 == 1 {
						ten = b
					}
					var who string
					lead := &tenancy.Lead{SQL: `SELECT current_user::text || ' ' || current_setting('search_path') WHERE $1 > 0`, Args: []int64{1}, Dest: []any{&who}}
					var writers []string
					err := m.ReadInOneTrip(ctx, ten, lead, func() bool { return lead.Found }, tenancy.ReadQuery{
						SQL: `SELECT DISTINCT split_part(nombre, ' ', 1) FROM citas_servicio WHERE precio_centavos >= $1`, Args: []any{0},
						Read: func(rows pgx.Rows) (err error) {
							writers, err = pgx.CollectRows(rows, pgx.RowTo[string])
							return err
						}})
					if err != nil {
						t.Error(err)
						return
					}
					if want := ten.Schema + ` "` + ten.Schema + `", public`; who != want || len(writers) != 1 || writers[0] != ten.Schema {
						t.Errorf("a one-trip read of %s ran as %q and read rows of %v; want %q and its own rows", ten.Schema, who, writers, want)
						return
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("NoSettingSurvivesIntoTheNextBorrower", func(t *testing.T) {
		for range 8 {
			c, err := pgx.Connect(ctx, bouncer)
			if err != nil {
				t.Fatal(err)
			}
			s, err := scanSession(c.QueryRow(ctx, sessionStateSQL, pgx.QueryExecModeSimpleProtocol))
			c.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Role != "none" || strings.Contains(s.SearchPath, "tenant_") || strings.HasPrefix(s.User, "tenant_") || s.StmtTimeout != "0" {
				t.Fatalf("a borrower of backend %d found a tenant's setting: %+v", s.PID, s)
			}
		}
	})

	t.Run("ControlASessionSettingDoesLeakThroughThePooler", func(t *testing.T) {
		// What Run avoids: a session-level SET stays on the server connection for the next client.
		single := pgtest.PgBouncer(t, direct, pgtest.BouncerOptions{PoolSize: 1})
		leaker, err := pgx.Connect(ctx, single)
		if err != nil {
			t.Fatal(err)
		}
		defer leaker.Close(ctx)
		if _, err := leaker.Exec(ctx, "SET search_path TO "+quote(a.Schema)+", public", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		next, err := pgx.Connect(ctx, single)
		if err != nil {
			t.Fatal(err)
		}
		defer next.Close(ctx)
		s, err := scanSession(next.QueryRow(ctx, sessionStateSQL, pgx.QueryExecModeSimpleProtocol))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s.SearchPath, a.Schema) {
			t.Fatalf("the next client saw search_path %q; the control expects the leak", s.SearchPath)
		}
	})

	t.Run("WatchHearsChangesOnTheDirectListenURL", func(t *testing.T) {
		var r recorder
		startWatch(t, m, &r)
		eventually(t, "listening", func() bool { _, on := r.heard(0); return on })
		if _, err := m.SetActive(ctx, orgs[1].ID, false); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deactivation heard", func() bool { changed, _ := r.heard(orgs[1].ID); return changed })
	})
	t.Run("MigratesTenants", func(t *testing.T) {
		next := tenancytest.Open(t, bouncer, tenancy.Config{ListenURL: direct, TenantMigrations: withExtraMigration(t)})
		rep, err := next.MigrateAll(ctx, tenancy.FleetOptions{Workers: 4})
		if err != nil {
			t.Fatalf("MigrateAll through PgBouncer: %v", err)
		}
		if len(rep.Succeeded) != 8 || len(rep.Failed) != 0 || len(rep.NotAttempted) != 0 {
			t.Fatalf("MigrateAll through PgBouncer: %d migrated, %d failed, %d not attempted; want 8, 0, 0",
				len(rep.Succeeded), len(rep.Failed), len(rep.NotAttempted))
		}
		if st := stateOf(t, next, a.Schema); !st.HasEtiquetas || st.Ledger != baseVersion+1 {
			t.Fatalf("tenant %s after MigrateAll: %+v", a.Schema, st)
		}
	})
}

// checkScope runs one scope of ten through m with a lead query and checks, inside it, that it is
// ten's role and search_path, that ten's rows are the only ones it reads, and that other's schema
// is out of reach; it records the backend that served it in pids.
func checkScope(ctx context.Context, m *tenancy.Manager, ten, other tenancy.Tenant, tag string, mu *sync.Mutex, pids map[uint32]bool) error {
	var leadUser string
	lead := &tenancy.Lead{SQL: "SELECT current_user::text", Dest: []any{&leadUser}}
	return m.RunWith(ctx, ten, tenancy.RunOptions{Lead: lead}, func(tx pgx.Tx) error {
		s, err := scanSession(tx.QueryRow(ctx, sessionStateSQL))
		if err != nil {
			return fmt.Errorf("%s in %s: %w", tag, ten.Schema, err)
		}
		mu.Lock()
		pids[s.PID] = true
		mu.Unlock()
		if leadUser != ten.Schema || s.User != ten.Schema || !strings.HasPrefix(s.SearchPath, `"`+ten.Schema+`"`) && !strings.HasPrefix(s.SearchPath, ten.Schema) {
			return fmt.Errorf("%s: scope of %s runs as %s (lead: %s) with search_path %s", tag, ten.Schema, s.User, leadUser, s.SearchPath)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ($1, 30, 100)`, ten.Schema+" "+tag); err != nil {
			return fmt.Errorf("%s: inserting in %s: %w", tag, ten.Schema, err)
		}
		var foreign int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM citas_servicio WHERE nombre NOT LIKE $1`, ten.Schema+" %").Scan(&foreign); err != nil {
			return fmt.Errorf("%s: reading %s: %w", tag, ten.Schema, err)
		}
		if foreign != 0 {
			return fmt.Errorf("%s: the scope of %s reads %d rows of another tenant", tag, ten.Schema, foreign)
		}
		if _, err := tx.Exec(ctx, `SAVEPOINT probe`); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT count(*) FROM `+pgx.Identifier{other.Schema, "citas_servicio"}.Sanitize())
		if code := tenancy.SQLState(err); code != "42501" {
			return fmt.Errorf("%s: the scope of %s reading %s: %v (SQLSTATE %q); want 42501", tag, ten.Schema, other.Schema, err, code)
		}
		_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT probe`)
		return err
	})
}

func TestParsePooler(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want tenancy.Pooler
		ok   bool
	}{
		{"", tenancy.PoolerAuto, true},
		{"auto", tenancy.PoolerAuto, true},
		{"none", tenancy.PoolerNone, true},
		{"transaction", tenancy.PoolerTransaction, true},
		{"session", "", false},
		{"Transaction", "", false},
	} {
		got, err := tenancy.ParsePooler(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParsePooler(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
