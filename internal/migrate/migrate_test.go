package migrate_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// setup returns a pool on a fresh, empty database.
func setup(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestEmbeddedSets(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]migrate.Set{"public": migrate.Public(), "tenant": migrate.Tenant()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			all := set.All()
			if len(all) == 0 || set.Latest() != len(all) {
				t.Fatalf("%s: %d migrations, Latest %d", name, len(all), set.Latest())
			}
			for i, m := range all {
				if m.Version != i+1 || m.Name == "" || strings.TrimSpace(m.SQL) == "" {
					t.Errorf("%s migration %d = %d_%s (%d bytes of SQL)", name, i, m.Version, m.Name, len(m.SQL))
				}
			}
		})
	}
	t.Run("TenantSQLNamesNoSchema", func(t *testing.T) {
		t.Parallel()
		// Tenant migrations run with search_path = <schema>, public: a schema-qualified name would
		// put an object outside the tenant (or fail for the tenant role).
		qualified := regexp.MustCompile(`(?i)\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|SEQUENCE|VIEW|TYPE|FUNCTION)\s+(IF\s+(NOT\s+)?EXISTS\s+)?[a-z_]+\.`)
		for _, m := range migrate.Tenant().All() {
			if loc := qualified.FindString(m.SQL); loc != "" {
				t.Errorf("tenant migration %04d_%s qualifies a name: %q", m.Version, m.Name, loc)
			}
		}
	})
}

func TestLoad(t *testing.T) {
	t.Parallel()
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string // "" when it loads
	}{
		{"Ordered", fstest.MapFS{"0002_b.sql": sql, "0001_a.sql": sql, "README.md": sql}, ""},
		{"Gap", fstest.MapFS{"0001_a.sql": sql, "0003_c.sql": sql}, "expected version 2"},
		{"StartsAtTwo", fstest.MapFS{"0002_b.sql": sql}, "expected version 1"},
		{"BadFileName", fstest.MapFS{"1_a.sql": sql}, "must look like"},
		{"UpperCaseName", fstest.MapFS{"0001_Inicial.sql": sql}, "must look like"},
		{"Empty", fstest.MapFS{"0001_a.sql": &fstest.MapFile{Data: []byte(" \n")}}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := migrate.Load(tt.files)
			if tt.wantErr == "" {
				if err != nil || set.Latest() != 2 || set.All()[0].Name != "a" || set.All()[1].Name != "b" {
					t.Errorf("Load = %+v, %v; want a, b", set.All(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load err = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	set, err := migrate.NewSet(migrate.Migration{Version: 2, Name: "b", SQL: "SELECT 2"}, migrate.Migration{Version: 1, Name: "a", SQL: "SELECT 1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("With", func(t *testing.T) {
		t.Parallel()
		more, err := set.With(migrate.Migration{Version: 3, Name: "c", SQL: "SELECT 3"})
		if err != nil || more.Latest() != 3 || set.Latest() != 2 {
			t.Errorf("With: latest %d (original %d), %v; want 3 and the original unchanged at 2", more.Latest(), set.Latest(), err)
		}
		if _, err := set.With(migrate.Migration{Version: 4, Name: "d", SQL: "SELECT 4"}); err == nil {
			t.Errorf("With accepted version 4 after 2")
		}
		if _, err := set.With(migrate.Migration{Version: 3, Name: "bad name", SQL: "SELECT 4"}); err == nil {
			t.Errorf("With accepted the name %q", "bad name")
		}
	})
	t.Run("Pending", func(t *testing.T) {
		t.Parallel()
		for current, want := range map[int][]int{-1: {1, 2}, 0: {1, 2}, 1: {2}, 2: nil, 5: nil} {
			var got []int
			for _, m := range set.Pending(current) {
				got = append(got, m.Version)
			}
			if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
				t.Errorf("Pending(%d) = %v; want %v", current, got, want)
			}
		}
	})
	t.Run("Script", func(t *testing.T) {
		t.Parallel()
		got := migrate.Script(set.All(), "migraciones_tenant")
		want := "SELECT 1\n;\nINSERT INTO migraciones_tenant (version, nombre) VALUES (1, 'a');\n" +
			"SELECT 2\n;\nINSERT INTO migraciones_tenant (version, nombre) VALUES (2, 'b');\n"
		if got != want {
			t.Errorf("Script =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("LocalSettings", func(t *testing.T) {
		t.Parallel()
		if got := (migrate.Options{}).LocalSettings(); got != "SET LOCAL lock_timeout = 10000; SET LOCAL statement_timeout = 300000; " {
			t.Errorf("default LocalSettings = %q", got)
		}
	})
}

func publicTables(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestApplyPublic(t *testing.T) {
	t.Parallel()

	t.Run("AppliesEverythingOnceAndIsIdempotent", func(t *testing.T) {
		t.Parallel()
		pool := setup(t)
		ctx := t.Context()
		if v, err := migrate.PublicVersion(ctx, pool); err != nil || v != 0 {
			t.Fatalf("PublicVersion of an empty database = %d, %v; want 0", v, err)
		}
		applied, err := migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{})
		if err != nil || len(applied) != migrate.Public().Latest() {
			t.Fatalf("ApplyPublic = %d applied, %v; want %d", len(applied), err, migrate.Public().Latest())
		}
		if v, err := migrate.PublicVersion(ctx, pool); err != nil || v != migrate.Public().Latest() {
			t.Errorf("PublicVersion = %d, %v; want %d", v, err, migrate.Public().Latest())
		}
		tables := publicTables(t, pool)
		for _, want := range []string{"auth_user", "billing_plan", "billing_suscripcion", "migraciones_ledger", "migraciones_public", "organizacion_organizacion"} {
			found := false
			for _, t := range tables {
				found = found || t == want
			}
			if !found {
				t.Errorf("public has %v; %s is missing", tables, want)
			}
		}
		again, err := migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{})
		if err != nil || len(again) != 0 {
			t.Errorf("second ApplyPublic = %d applied, %v; want nothing", len(again), err)
		}
	})

	t.Run("ConcurrentRunnersApplyOnce", func(t *testing.T) {
		t.Parallel()
		pool := setup(t)
		var wg sync.WaitGroup
		applied := make([]int, 3)
		errs := make([]error, 3)
		for i := range applied {
			wg.Go(func() {
				ms, err := migrate.ApplyPublic(t.Context(), pool, migrate.Public(), migrate.Options{})
				applied[i], errs[i] = len(ms), err
			})
		}
		wg.Wait()
		total := 0
		for i := range applied {
			if errs[i] != nil {
				t.Errorf("runner %d: %v", i, errs[i])
			}
			total += applied[i]
		}
		if total != migrate.Public().Latest() {
			t.Errorf("runners applied %v migrations; want %d in all (each exactly once)", applied, migrate.Public().Latest())
		}
	})

	t.Run("FailingMigrationLeavesNothing", func(t *testing.T) {
		t.Parallel()
		pool := setup(t)
		ctx := t.Context()
		broken, err := migrate.Public().With(
			migrate.Migration{Version: migrate.Public().Latest() + 1, Name: "roto", SQL: "CREATE TABLE public.a_medias (id int); SELECT 1/0;"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := migrate.ApplyPublic(ctx, pool, broken, migrate.Options{}); err == nil || !strings.Contains(err.Error(), "roto") {
			t.Fatalf("ApplyPublic with a broken migration: err = %v; want one naming it", err)
		}
		if v, err := migrate.PublicVersion(ctx, pool); err != nil || v != 0 {
			t.Errorf("PublicVersion after a failed run = %d, %v; want 0 (one transaction)", v, err)
		}
		if tables := publicTables(t, pool); len(tables) != 0 {
			t.Errorf("a failed run left tables in public: %v", tables)
		}
	})

	t.Run("RefusesNewerSchema", func(t *testing.T) {
		t.Parallel()
		pool := setup(t)
		ctx := t.Context()
		if _, err := migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO public.migraciones_public (version, nombre) VALUES (999, 'futura')`); err != nil {
			t.Fatal(err)
		}
		if _, err := migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("ApplyPublic on a newer schema: err = %v; want a refusal", err)
		}
	})

	t.Run("LockTimeoutBoundsTheWait", func(t *testing.T) {
		t.Parallel()
		pool := setup(t)
		ctx := t.Context()
		// Another runner holds the public migration lock.
		holder, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback(context.Background())
		if _, err := holder.Exec(ctx, `SELECT pg_advisory_xact_lock(x'61707063'::int, 0)`); err != nil {
			t.Fatal(err)
		}
		_, err = migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{LockTimeout: 100 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "lock timeout") {
			t.Errorf("ApplyPublic while the lock is held: err = %v; want a lock timeout", err)
		}
	})
}
