package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestNewDatabase(t *testing.T) {
	t.Parallel()

	t.Run("GivesDistinctUsableDatabases", func(t *testing.T) {
		t.Parallel()
		urlA, urlB := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
		if urlA == urlB {
			t.Fatalf("two databases share the URL %s", urlA)
		}
		a, b := connect(t, urlA), connect(t, urlB)

		var nameA, nameB string
		queryRow(t, a, "SELECT current_database()", &nameA)
		queryRow(t, b, "SELECT current_database()", &nameB)
		if nameA == nameB {
			t.Fatalf("both URLs connect to database %s", nameA)
		}

		if _, err := a.Exec(t.Context(), "CREATE TABLE only_in_a (v int); INSERT INTO only_in_a VALUES (1)"); err != nil {
			t.Fatalf("using database %s: %v", nameA, err)
		}
		var count int
		queryRow(t, a, "SELECT count(*) FROM only_in_a", &count)
		var inB bool
		queryRow(t, b, "SELECT to_regclass('only_in_a') IS NOT NULL", &inB)
		if count != 1 || inB {
			t.Errorf("table of %s: %d rows there, visible in %s: %v; want 1 and false", nameA, count, nameB, inB)
		}
	})

	t.Run("DropsDatabaseAfterTest", func(t *testing.T) {
		t.Parallel()
		var name string
		t.Run("Inner", func(t *testing.T) {
			conn := connect(t, pgtest.NewDatabase(t))
			queryRow(t, conn, "SELECT current_database()", &name)
			conn.Close(context.Background()) // the drop forces out leftovers anyway
		})
		admin := connect(t, pgtest.AdminURL(t))
		var exists bool
		if err := admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	})

	t.Run("LogsInAsNoSuperuserNoInheritOwner", func(t *testing.T) {
		t.Parallel()
		if !pgtest.RolePerDatabase(t) {
			t.Skip("TEST_DATABASE_URL's role cannot create roles: the tests log in as it")
		}
		conn := connect(t, pgtest.NewDatabase(t))
		var super, inherit, createRole, owner bool
		queryRow(t, conn, `SELECT r.rolsuper, r.rolinherit, r.rolcreaterole, d.datdba = r.oid
			FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
			&super, &inherit, &createRole, &owner)
		if super || inherit || !createRole || !owner {
			t.Errorf("role: superuser %v, inherit %v, createrole %v, owns the database %v; want false, false, true, true",
				super, inherit, createRole, owner)
		}
		if _, err := conn.Exec(t.Context(), "CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public; CREATE TABLE public.t (v int)"); err != nil {
			t.Errorf("creating in public: %v", err)
		}
	})

	t.Run("SuperuserURLReachesTheSameDatabase", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		var name, suName string
		queryRow(t, connect(t, url), "SELECT current_database()", &name)
		var super bool
		queryRow(t, connect(t, pgtest.SuperuserURL(t, url)), "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user", &suName, &super)
		if suName != name || (!super && os.Getenv(pgtest.EnvURL) == "") {
			t.Errorf("SuperuserURL reached %q (superuser %v), want %q as a superuser", suName, super, name)
		}
	})

	t.Run("ServerMatchesMode", func(t *testing.T) {
		t.Parallel()
		if s := pgtest.Server(t); (s == nil) != (os.Getenv(pgtest.EnvURL) != "") {
			t.Errorf("Server() = %v with %s=%q", s, pgtest.EnvURL, os.Getenv(pgtest.EnvURL))
		}
	})
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryRow(t *testing.T, conn *pgx.Conn, sql string, dest ...any) {
	t.Helper()
	if err := conn.QueryRow(t.Context(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
