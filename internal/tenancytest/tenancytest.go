// Package tenancytest gives tests a tenancy.Manager on a fresh, migrated database.
//
// It is the one test set-up for the packages that need tenants:
//
//	m, dbURL := tenancytest.NewManager(t, tenancy.Config{})
//
// The Manager's connections and the test's own ([Conn], [Pool]) run with an empty search_path.
// A query that forgot its schema fails there instead of finding public by chance.
// The package lives apart from pgtest so that pgtest does not import tenancy.
package tenancytest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// NewManager returns a Manager on a fresh database whose public schema is migrated, and that
// database's URL.
// cfg.Servers gains the default server at that database, with an empty search_path
// ([EmptySearchPath]).
// cfg.Logger defaults to a logger that discards everything.
// The Manager is closed when the test ends.
// The tenant schemas and roles are dropped after that.
func NewManager(t testing.TB, cfg tenancy.Config) (*tenancy.Manager, string) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	Migrate(t, dbURL)
	DropTenantsAtCleanup(t, dbURL)
	return Open(t, EmptySearchPath(t, dbURL), cfg), dbURL
}

// EmptySearchPath returns the postgres:// URL dbURL with an empty search_path as a run-time
// parameter.
// Every connection opened from it finds only pg_catalog, so SQL that names no schema fails.
// Tenant SQL still runs: Run sets its own search_path.
// PgBouncer refuses the parameter, so a URL through PgBouncer must not get it.
func EmptySearchPath(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("tenancytest: EmptySearchPath needs a postgres:// URL: %q", dbURL)
	}
	q := u.Query()
	q.Set("search_path", "")
	u.RawQuery = q.Encode()
	return u.String()
}

// Migrate applies the embedded public migrations to the database at dbURL.
// It connects as the application does, with the server's search_path.
func Migrate(t testing.TB, dbURL string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("tenancytest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := migrate.ApplyPublic(ctx, conn, migrate.Public(), migrate.Options{}); err != nil {
		t.Fatalf("tenancytest: migrating public: %v", err)
	}
}

// Open opens a Manager with cfg on the database at dbURL and closes it when the test ends.
// cfg.Servers gains the default server at dbURL, unless it names one already.
// cfg.Logger defaults to a logger that discards everything.
func Open(t testing.TB, dbURL string, cfg tenancy.Config) *tenancy.Manager {
	t.Helper()
	m := OpenNoClose(t, dbURL, cfg)
	t.Cleanup(m.Close)
	return m
}

// OpenNoClose is Open without Close when the test ends.
// pgxpool's Close waits for every acquired connection, which never comes back after a leak.
func OpenNoClose(t testing.TB, dbURL string, cfg tenancy.Config) *tenancy.Manager {
	t.Helper()
	servers := map[string]string{tenancy.DefaultServer: dbURL}
	for name, u := range cfg.Servers {
		servers[name] = u
	}
	cfg.Servers = servers
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := tenancy.New(cfg)
	if err != nil {
		t.Fatalf("tenancytest: tenancy.New: %v", err)
	}
	return m
}

// DropTenantsAtCleanup drops, when the test ends, the tenant schemas of the database at dbURL,
// their roles and the query roles it recorded.
// Roles are cluster-wide and would otherwise pile up on a shared TEST_DATABASE_URL server.
// It connects as the superuser.
// It runs before pgtest drops the database.
func DropTenantsAtCleanup(t testing.TB, dbURL string) {
	t.Helper()
	admin := pgtest.SuperuserURL(t, dbURL)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		// One transaction per tenant: a hundred tenants' tables in one would exhaust the lock table.
		_, err = conn.Exec(ctx, `DO $$ DECLARE s text; BEGIN
			FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%' LOOP
				EXECUTE format('DROP SCHEMA %I CASCADE', s);
				IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = s) THEN
					EXECUTE format('DROP OWNED BY %I CASCADE', s);
					EXECUTE format('DROP ROLE %I', s);
				END IF;
				COMMIT;
			END LOOP; END $$`)
		if err != nil {
			t.Logf("cleanup: dropping tenant schemas and roles: %v", err)
		}
		// A query role still granted rights in another database of the cluster stays.
		_, err = conn.Exec(ctx, `DO $$ DECLARE r text; BEGIN
			IF to_regclass('public.rol_consulta') IS NULL THEN RETURN; END IF;
			FOR r IN SELECT rol FROM public.rol_consulta LOOP
				IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
					EXECUTE format('DROP OWNED BY %I CASCADE', r);
					BEGIN EXECUTE format('DROP ROLE %I', r);
					EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END;
				END IF;
			END LOOP; END $$`)
		if err != nil {
			t.Logf("cleanup: dropping query roles: %v", err)
		}
	})
}

// Conn connects to the database at dbURL with an empty search_path and closes the connection when the
// test ends.
func Conn(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("tenancytest: %v", err)
	}
	cfg.RuntimeParams["search_path"] = ""
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("tenancytest: connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Pool opens a pool on the database at dbURL with an empty search_path and closes it when the test ends.
func Pool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("tenancytest: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("tenancytest: opening a pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// PadMemberships makes the login role of dbURL a member of n bare roles, as a fleet of n tenants
// does, and drops the roles when the test ends. It skips the test when that role is a superuser.
// PostgreSQL 15 rebuilds a backend's list of the login role's memberships with one catalog lookup
// per role, so the list takes long to rebuild when n is large: tests use it to widen the window
// in which a backend can keep a stale list (see package tenancy's membership.go).
func PadMemberships(t testing.TB, dbURL string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("tenancytest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	var prefix string
	var superuser bool
	err = conn.QueryRow(ctx, "SELECT current_database() || '_pad_', rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&prefix, &superuser)
	if err != nil {
		t.Fatalf("tenancytest: %v", err)
	}
	if superuser {
		t.Skip("the login role is a superuser: PostgreSQL never checks its memberships")
	}
	// prefix is a pgtest database name: lower-case letters, digits and '_'.
	_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP
		EXECUTE format('CREATE ROLE %%I NOLOGIN', '%s' || i);
		EXECUTE format('GRANT %%I TO CURRENT_USER', '%s' || i);
	END LOOP; END $$`, n, prefix, prefix))
	if err != nil {
		t.Fatalf("tenancytest: padding memberships: %v", err)
	}
	admin := pgtest.SuperuserURL(t, dbURL)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ DECLARE r text; BEGIN
			FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, '%s') LOOP
				EXECUTE format('DROP ROLE %%I', r);
			END LOOP; END $$`, prefix))
		if err != nil {
			t.Logf("cleanup: dropping padding roles: %v", err)
		}
	})
}
