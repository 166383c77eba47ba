package tenancy_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestTenantFunctionsCompile compiles the body of every function a new tenant schema has.
// Provisioning creates them with check_function_bodies off (provision.go), so this test is what
// finds a body that does not compile.
func TestTenantFunctionsCompile(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Funciones Compiladas")[0])

	// validateAll calls each function's language validator, with bodies checked, and returns how
	// many functions it compiled.
	validateAll := func(tx pgx.Tx) (int, error) {
		rows, err := tx.Query(ctx, `SELECT p.oid, p.proname, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
			WHERE p.pronamespace = current_schema()::regnamespace AND l.lanname IN ('plpgsql', 'sql') ORDER BY p.proname`)
		if err != nil {
			return 0, err
		}
		type fn struct {
			OID        uint32
			Name, Lang string
		}
		fns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fn])
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL check_function_bodies = on"); err != nil {
			return 0, err
		}
		for _, f := range fns {
			validator := "plpgsql_validator"
			if f.Lang == "sql" {
				validator = "fmgr_sql_validator"
			}
			if _, err := tx.Exec(ctx, "SELECT "+validator+"($1)", f.OID); err != nil {
				return 0, err
			}
		}
		return len(fns), nil
	}

	t.Run("EveryBodyCompiles", func(t *testing.T) {
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			n, err := validateAll(tx)
			if err == nil && n == 0 {
				t.Error("no function found: the test checks nothing")
			}
			return err
		})
		if err != nil {
			t.Fatalf("a tenant function does not compile: %v", err)
		}
	})

	t.Run("FindsABodyThatDoesNotCompile", func(t *testing.T) {
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL check_function_bodies = off;
				CREATE FUNCTION rota() RETURNS integer LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT FROM; END $$`); err != nil {
				return err
			}
			_, err := validateAll(tx)
			return err
		})
		if sqlStateOf(err) != "42601" {
			t.Fatalf("a function with a syntax error: err %v; want a syntax error (42601) from the validator", err)
		}
	})
}

// TestConnectionsCloseAfterManySchemas checks that a connection that has created DDLRunsPerConn
// tenant schemas is closed when it returns to its pool, so that no backend's catalog caches grow
// with the whole fleet.
func TestConnectionsCloseAfterManySchemas(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{SharedConns: 1, DDLRunsPerConn: 2}})
	ctx := t.Context()
	backend := func() int32 {
		t.Helper()
		pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		var pid int32
		if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	first := backend()
	createOrgs(t, m, "Primera Conexión")
	if got := backend(); got != first {
		t.Fatalf("after one schema the shared connection changed backend (%d → %d); want it kept", first, got)
	}
	createOrgs(t, m, "Segunda Conexión")
	if got := backend(); got == first {
		t.Fatalf("after %d schemas the shared connection still runs on backend %d; want a new one", 2, got)
	}
}

// TestBulkConnectionsCloseAfterManyTenants checks that a bulk connection that has served
// BulkRunsPerConn tenant runs is closed when it returns to its pool.
func TestBulkConnectionsCloseAfterManyTenants(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{BulkConns: 1, BulkRunsPerConn: 2}})
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Conexión Masiva")[0])
	backend := func() int32 {
		t.Helper()
		var pid int32
		err := m.RunWith(ctx, ten, tenancy.RunOptions{Bulk: true}, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
		})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	first, second, third := backend(), backend(), backend()
	if second != first {
		t.Errorf("the second bulk run moved from backend %d to %d; want the same", first, second)
	}
	if third == first {
		t.Errorf("the third bulk run still ran on backend %d; want a new one after 2 runs", third)
	}
}
