package tenancy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// guideTables are the tables the guide puts in every tenant schema, plus the schema's own
// migration table.
var guideTables = []string{"citas_cita", "citas_servicio", "migraciones_tenant", "organizacion_sede", "usuarios_perfilusuario"}

// tenantTables is every table a provisioned tenant schema holds, sorted: the guide's, and those
// that later tenant migrations declare (the set grows as features land).
var tenantTables = func() []string {
	tables := slices.Clone(guideTables)
	create := regexp.MustCompile(`(?i)CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z0-9_]+)\s*\(`)
	for _, m := range migrate.Tenant().All() {
		for _, sub := range create.FindAllStringSubmatch(m.SQL, -1) {
			tables = append(tables, sub[1])
		}
	}
	slices.Sort(tables)
	return slices.Compact(tables)
}()

// baseVersion is the latest embedded tenant migration; extraMigration comes after it.
var baseVersion = migrate.Tenant().Latest()

// setup returns a Manager on a fresh database whose public schema is migrated.
func setup(t *testing.T) *tenancy.Manager {
	t.Helper()
	return setupConfig(t, tenancy.Config{})
}

// setupConfig is setup with a Manager configuration (Servers is filled in).
func setupConfig(t *testing.T, cfg tenancy.Config) *tenancy.Manager {
	t.Helper()
	m, _ := tenancytest.NewManager(t, cfg)
	return m
}

func databaseURL(t *testing.T, m *tenancy.Manager) string {
	t.Helper()
	u, err := m.Servers().URL(tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// shared returns a pool on the Manager's default database as the superuser (the Manager's own
// login role is NOINHERIT and cannot read tenant tables outside Run), for inspecting what tenants
// did.
// It runs with an empty search_path, so every query names its schema.
// It is closed when the test ends.
func shared(t *testing.T, m *tenancy.Manager) *pgxpool.Pool {
	t.Helper()
	return tenancytest.Pool(t, pgtest.SuperuserURL(t, databaseURL(t, m)))
}

func createOrgs(t *testing.T, m *tenancy.Manager, names ...string) []tenancy.Organization {
	t.Helper()
	orgs := make([]tenancy.Organization, 0, len(names))
	for _, n := range names {
		org, err := m.CreateOrganization(t.Context(), tenancy.NewOrganization{Name: n})
		if err != nil {
			t.Fatalf("creating organization %q: %v", n, err)
		}
		orgs = append(orgs, org)
	}
	return orgs
}

func tenantOf(t *testing.T, org tenancy.Organization) tenancy.Tenant {
	t.Helper()
	ten, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	return ten
}

func quote(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

func randomHex(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func queryStrings(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func tablesOf(t *testing.T, m *tenancy.Manager, schema string) []string {
	t.Helper()
	return queryStrings(t, shared(t, m), `SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, schema)
}

// insertService adds a service to a tenant through Run and returns its id.
func insertService(t *testing.T, m *tenancy.Manager, ten tenancy.Tenant, name string, priceCents int) int64 {
	t.Helper()
	var id int64
	err := m.Run(t.Context(), ten, func(tx pgx.Tx) error {
		return tx.QueryRow(t.Context(), `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos)
			VALUES ($1, 30, $2) RETURNING id`, name, priceCents).Scan(&id)
	})
	if err != nil {
		t.Fatalf("inserting service %q in %s: %v", name, ten.Schema, err)
	}
	return id
}

// schemaState is what a tenant schema records about its migrations, read as superuser.
type schemaState struct {
	Versions      []int32 // migraciones_tenant, in order
	Ledger        int     // public.migraciones_ledger; -1 when absent
	HasCodigo     bool    // the column added by extraMigration
	HasEtiquetas  bool    // the table added by extraMigration
	HasPriceCheck bool    // the constraint added by extraMigration
}

func stateOf(t *testing.T, m *tenancy.Manager, schema string) schemaState {
	t.Helper()
	ctx := t.Context()
	db := shared(t, m)
	var s schemaState
	if err := db.QueryRow(ctx, `SELECT coalesce(array_agg(version ORDER BY version), '{}') FROM `+quote(schema, "migraciones_tenant")).Scan(&s.Versions); err != nil {
		t.Fatalf("reading versions of %s: %v", schema, err)
	}
	err := db.QueryRow(ctx, `SELECT
			coalesce((SELECT version FROM public.migraciones_ledger WHERE schema_name = $1), -1),
			EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = $1 AND c.relname = 'citas_servicio' AND a.attname = 'codigo' AND NOT a.attisdropped),
			to_regclass($2) IS NOT NULL,
			EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
				WHERE n.nspname = $1 AND c.conname = 'citas_servicio_precio_positivo')`,
		schema, quote(schema, "citas_etiqueta")).Scan(&s.Ledger, &s.HasCodigo, &s.HasEtiquetas, &s.HasPriceCheck)
	if err != nil {
		t.Fatalf("reading state of %s: %v", schema, err)
	}
	return s
}

func versionsUpTo(n int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(i + 1)
	}
	return v
}

// extraMigration is a second tenant migration that adds a column, a table and a CHECK: it fails,
// after the column and table were created in the same script, for a tenant that has a free
// service (precio_centavos = 0), so a half-applied migration would be visible.
var extraMigration = migrate.Migration{Version: baseVersion + 1, Name: "precio_positivo", SQL: `
ALTER TABLE citas_servicio ADD COLUMN codigo text NOT NULL DEFAULT '';
CREATE TABLE citas_etiqueta (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, nombre text NOT NULL);
ALTER TABLE citas_servicio ADD CONSTRAINT citas_servicio_precio_positivo CHECK (precio_centavos > 0);
`}

// withExtraMigration returns the embedded tenant set plus extraMigration.
func withExtraMigration(t *testing.T) *migrate.Set {
	t.Helper()
	set, err := migrate.Tenant().With(extraMigration)
	if err != nil {
		t.Fatal(err)
	}
	return &set
}

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	db := shared(t, m)
	latest := m.TenantMigrations().Latest()
	publicBefore := queryStrings(t, db, `SELECT c.relkind::text || ' ' || c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1`)

	org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "  Barbería Juan "})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("FillsTheCatalogRow", func(t *testing.T) {
		t.Parallel()
		if org.Name != "Barbería Juan" || org.Slug != "barberia-juan" || !org.IsActive ||
			org.DatabaseName != tenancy.DefaultServer || org.TimeZone != tenancy.DefaultTimeZone {
			t.Errorf("organization = %+v; want name %q, slug barberia-juan, active, server %q, zone %q",
				org, "Barbería Juan", tenancy.DefaultServer, tenancy.DefaultTimeZone)
		}
		if !regexp.MustCompile(`^tenant_barberia_juan_[0-9a-f]{8}$`).MatchString(org.SchemaName) {
			t.Errorf("schema name %q does not look like tenant_barberia_juan_<8 hex>", org.SchemaName)
		}
		got, err := m.Organization(ctx, org.ID)
		if err != nil || got.SchemaName != org.SchemaName || got.Slug != org.Slug {
			t.Errorf("Organization(%d) = %+v, %v; want the created row", org.ID, got, err)
		}
	})

	t.Run("CreatesExactlyTheTenantTables", func(t *testing.T) {
		t.Parallel()
		got := tablesOf(t, m, org.SchemaName)
		if !slices.Equal(got, tenantTables) {
			t.Errorf("tables in %s = %v; want %v", org.SchemaName, got, tenantTables)
		}
		for _, table := range guideTables {
			if !slices.Contains(got, table) {
				t.Errorf("the guide's table %s is missing from %s", table, org.SchemaName)
			}
		}
	})

	t.Run("NologinRoleOwnsSchemaAndEveryObject", func(t *testing.T) {
		t.Parallel()
		var canLogin, ownsSchema bool
		var notOwned []string
		err := db.QueryRow(ctx, `SELECT r.rolcanlogin, n.nspowner = r.oid,
				coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
					WHERE c.relnamespace = n.oid AND c.relowner <> r.oid), '{}')
			FROM pg_roles r, pg_namespace n WHERE r.rolname = $1 AND n.nspname = $1`, org.SchemaName).
			Scan(&canLogin, &ownsSchema, &notOwned)
		if err != nil {
			t.Fatalf("reading role %s: %v", org.SchemaName, err)
		}
		if canLogin || !ownsSchema || len(notOwned) > 0 {
			t.Errorf("role %s: can login %v, owns schema %v, objects owned by someone else %v; want false, true, none",
				org.SchemaName, canLogin, ownsSchema, notOwned)
		}
	})

	t.Run("RecordsLatestVersionInSchemaAndLedger", func(t *testing.T) {
		t.Parallel()
		s := stateOf(t, m, org.SchemaName)
		if !slices.Equal(s.Versions, versionsUpTo(latest)) || s.Ledger != latest {
			t.Errorf("versions %v, ledger %d; want %v and %d", s.Versions, s.Ledger, versionsUpTo(latest), latest)
		}
		statuses, err := m.TenantStatuses(ctx)
		if err != nil || len(statuses) != 1 || statuses[0].Version != latest || !statuses[0].Recorded {
			t.Errorf("TenantStatuses = %+v, %v; want one, recorded at version %d", statuses, err, latest)
		}
	})

	t.Run("LeavesPublicUnchanged", func(t *testing.T) {
		t.Parallel()
		after := queryStrings(t, db, `SELECT c.relkind::text || ' ' || c.relname FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1`)
		if !slices.Equal(after, publicBefore) {
			t.Errorf("relations in public changed:\nbefore %v\nafter  %v", publicBefore, after)
		}
		var owned int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)`, org.SchemaName).Scan(&owned); err != nil {
			t.Fatal(err)
		}
		if owned != 0 {
			t.Errorf("%d objects in public are owned by the tenant role", owned)
		}
	})
}

func TestCreateOrganizationInput(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()

	t.Run("SameNameGetsNextFreeSlug", func(t *testing.T) {
		orgs := createOrgs(t, m, "Spa Belleza", "Spa Belleza", "Spa Belleza")
		var slugs []string
		for _, o := range orgs {
			slugs = append(slugs, o.Slug)
		}
		if want := []string{"spa-belleza", "spa-belleza-2", "spa-belleza-3"}; !slices.Equal(slugs, want) {
			t.Errorf("slugs = %v; want %v", slugs, want)
		}
		if orgs[0].SchemaName == orgs[1].SchemaName {
			t.Errorf("two organizations share schema %s", orgs[0].SchemaName)
		}
	})

	t.Run("ConcurrentSameNameGetsDistinctSlugs", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Mismo Nombre"})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("CreateOrganization: %v", err)
			}
		}
	})

	t.Run("TakenSlugIsAConflict", func(t *testing.T) {
		createOrgs(t, m, "Clínica Dental")
		_, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Otra", Slug: "clinica-dental"})
		if !errors.Is(err, tenancy.ErrConflict) {
			t.Errorf("err = %v; want ErrConflict", err)
		}
	})

	tests := []struct {
		name string
		in   tenancy.NewOrganization
		want error
	}{
		{"EmptyName", tenancy.NewOrganization{Name: "   "}, tenancy.ErrInvalidName},
		{"LongName", tenancy.NewOrganization{Name: strings.Repeat("ñ", 201)}, tenancy.ErrInvalidName},
		{"BadSlug", tenancy.NewOrganization{Name: "X", Slug: "x'; drop"}, tenancy.ErrInvalidName},
		{"UpperCaseSlug", tenancy.NewOrganization{Name: "X", Slug: "Barberia"}, tenancy.ErrInvalidName},
		{"BadTimeZone", tenancy.NewOrganization{Name: "X", TimeZone: "Mars/Olympus"}, tenancy.ErrInvalidName},
		{"LocalTimeZone", tenancy.NewOrganization{Name: "X", TimeZone: "Local"}, tenancy.ErrInvalidName},
		{"UnknownServer", tenancy.NewOrganization{Name: "X", Server: "otro"}, tenancy.ErrUnknownServer},
	}
	for _, tt := range tests {
		t.Run("Rejects"+tt.name, func(t *testing.T) {
			before, err := m.Organizations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.CreateOrganization(ctx, tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v; want %v", err, tt.want)
			}
			after, err := m.Organizations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("a rejected organization was stored: %d organizations, want %d", len(after), len(before))
			}
		})
	}
}

func TestRunIsolation(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	orgs := createOrgs(t, m, "Clínica A", "Clínica B")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	insertService(t, m, a, "servicio de A", 1000)
	insertService(t, m, b, "servicio de B", 2000)
	qb := quote(b.Schema)

	t.Run("OtherTenantAndPublicArePermissionDenied", func(t *testing.T) {
		for _, sql := range []string{
			`SELECT * FROM ` + qb + `.citas_cita`,
			`SELECT * FROM ` + qb + `.citas_servicio`,
			`INSERT INTO ` + qb + `.citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('intruso', 30, 1)`,
			`INSERT INTO ` + qb + `.citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
				VALUES (1, 1, 1, 'x', now(), now() + interval '1 hour', now(), now() + interval '1 hour', 0)`,
			`UPDATE ` + qb + `.citas_servicio SET nombre = 'robado'`,
			`DELETE FROM ` + qb + `.citas_servicio`,
			`CREATE TABLE ` + qb + `.intrusa (id int)`,
			`SELECT * FROM public.auth_user`,
			`SELECT * FROM public.organizacion_organizacion`,
			`SELECT * FROM public.migraciones_ledger`,
		} {
			err := m.Run(ctx, a, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, sql)
				return err
			})
			if code := tenancy.SQLState(err); code != "42501" {
				t.Errorf("in %s: %s\n  err = %v (SQLSTATE %q); want SQLSTATE 42501", a.Schema, sql, err, code)
			}
		}
	})

	t.Run("LoginRoleIsNoSuperuserAndNoInherit", func(t *testing.T) {
		if !pgtest.RolePerDatabase(t) {
			t.Skip("TEST_DATABASE_URL's role cannot create roles: the tests log in as it")
		}
		pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		var super, inherit, member bool
		if err := pool.QueryRow(ctx, `SELECT rolsuper, rolinherit, pg_has_role(current_user, $1, 'MEMBER')
			FROM pg_roles WHERE rolname = current_user`, a.Schema).Scan(&super, &inherit, &member); err != nil {
			t.Fatal(err)
		}
		if super || inherit || !member {
			t.Errorf("login role: superuser %v, inherit %v, member of %s %v; want false, false, true", super, inherit, a.Schema, member)
		}
	})

	t.Run("LoginRoleReadsTenantTablesOnlyInsideRun", func(t *testing.T) {
		if !pgtest.RolePerDatabase(t) {
			t.Skip("TEST_DATABASE_URL's role cannot create roles: the tests log in as it")
		}
		pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pool.Exec(ctx, `SELECT nombre FROM `+quote(a.Schema)+`.citas_servicio`)
		if code := tenancy.SQLState(err); code != "42501" {
			t.Errorf("outside a scope: err = %v (SQLSTATE %q); want SQLSTATE 42501", err, code)
		}
		var names []string
		err = m.Run(ctx, a, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT nombre FROM `+quote(a.Schema)+`.citas_servicio`)
			if err != nil {
				return err
			}
			names, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil || !slices.Equal(names, []string{"servicio de A"}) {
			t.Errorf("inside Run: %v, %v; want [servicio de A]", names, err)
		}
	})

	t.Run("OtherTenantDataUntouched", func(t *testing.T) {
		names := queryStrings(t, shared(t, m), `SELECT nombre FROM `+qb+`.citas_servicio ORDER BY id`)
		if !slices.Equal(names, []string{"servicio de B"}) {
			t.Errorf("services of B = %v; want [servicio de B]", names)
		}
	})

	t.Run("UnqualifiedNamesResolveToOwnSchema", func(t *testing.T) {
		for _, tc := range []struct {
			ten  tenancy.Tenant
			want string
		}{{a, "servicio de A"}, {b, "servicio de B"}} {
			var schema, table string
			var names []string
			err := m.Run(ctx, tc.ten, func(tx pgx.Tx) error {
				if err := tx.QueryRow(ctx, `SELECT current_schema()::text, (SELECT relnamespace::regnamespace::text || '.' || relname FROM pg_class WHERE oid = 'citas_cita'::regclass)`).Scan(&schema, &table); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, `SELECT nombre FROM citas_servicio ORDER BY id`)
				if err != nil {
					return err
				}
				names, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if schema != tc.ten.Schema || table != tc.ten.Schema+".citas_cita" || !slices.Equal(names, []string{tc.want}) {
				t.Errorf("in %s: current_schema %s, citas_cita is %s, services %v; want %s, %s.citas_cita, [%s]",
					tc.ten.Schema, schema, table, names, tc.ten.Schema, tc.ten.Schema, tc.want)
			}
		}
	})

	t.Run("SearchPathToOtherSchemaFindsNothing", func(t *testing.T) {
		// Without USAGE on B's schema, PostgreSQL skips it in search_path.
		err := m.Run(ctx, a, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SET LOCAL search_path TO `+qb+`; SELECT * FROM citas_servicio`)
			return err
		})
		if code := tenancy.SQLState(err); code != "42P01" {
			t.Errorf("err = %v (SQLSTATE %q); want 42P01 undefined_table", err, code)
		}
	})
}

func TestRun(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Peluquería")[0])

	t.Run("RejectsInvalidSchemaName", func(t *testing.T) {
		called := false
		err := m.Run(ctx, tenancy.Tenant{Schema: `tenant_x"; DROP SCHEMA public; --`}, func(pgx.Tx) error { called = true; return nil })
		if !errors.Is(err, tenancy.ErrInvalidName) || called {
			t.Errorf("err = %v, fn called %v; want ErrInvalidName and fn not called", err, called)
		}
	})

	t.Run("MissingSchemaIsErrSchemaMissing", func(t *testing.T) {
		err := m.Run(ctx, tenancy.Tenant{Schema: "tenant_nadie_" + randomHex(t)}, func(pgx.Tx) error { return nil })
		if !errors.Is(err, tenancy.ErrSchemaMissing) {
			t.Errorf("err = %v; want ErrSchemaMissing", err)
		}
	})

	t.Run("UnknownServer", func(t *testing.T) {
		err := m.Run(ctx, tenancy.Tenant{Schema: ten.Schema, Server: "otro"}, func(pgx.Tx) error { return nil })
		if !errors.Is(err, tenancy.ErrUnknownServer) {
			t.Errorf("err = %v; want ErrUnknownServer", err)
		}
	})

	t.Run("FnErrorRollsBack", func(t *testing.T) {
		boom := errors.New("boom")
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('revertido', 30, 1)`); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v; want fn's error", err)
		}
		if n := queryStrings(t, shared(t, m), `SELECT nombre FROM `+quote(ten.Schema, "citas_servicio")+` WHERE nombre = 'revertido'`); len(n) != 0 {
			t.Errorf("the insert of a failed Run was committed")
		}
	})

	t.Run("ReadOnlyRejectsWrites", func(t *testing.T) {
		err := m.RunWith(ctx, ten, tenancy.RunOptions{ReadOnly: true}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('x', 30, 1)`)
			return err
		})
		if code := tenancy.SQLState(err); code != "25006" {
			t.Errorf("err = %v; want SQLSTATE 25006 read_only_sql_transaction", err)
		}
	})

	t.Run("StatementTimeoutCancelsSlowStatement", func(t *testing.T) {
		err := m.RunWith(ctx, ten, tenancy.RunOptions{StatementTimeoutMillis: 50}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT pg_sleep(5)`)
			return err
		})
		if code := tenancy.SQLState(err); code != "57014" {
			t.Errorf("err = %v; want SQLSTATE 57014 query_canceled", err)
		}
	})

	t.Run("ActorIsSetForTheScopeOnly", func(t *testing.T) {
		var got string
		err := m.RunWith(ctx, ten, tenancy.RunOptions{Actor: "42"}, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT current_setting('appcitas.actor')`).Scan(&got)
		})
		if err != nil || got != "42" {
			t.Fatalf("actor in the scope = %q, %v; want 42", got, err)
		}
		err = m.Run(ctx, ten, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT coalesce(current_setting('appcitas.actor', true), '')`).Scan(&got)
		})
		if err != nil || got != "" {
			t.Fatalf("actor in the next scope = %q, %v; want none", got, err)
		}
	})

	t.Run("RefusesAnActorThatIsNotAName", func(t *testing.T) {
		err := m.RunWith(ctx, ten, tenancy.RunOptions{Actor: "x'; DROP TABLE citas_cita; --"}, func(pgx.Tx) error {
			t.Error("the scope opened")
			return nil
		})
		if err == nil {
			t.Fatal("an actor with a quote was accepted")
		}
	})
}

// sessionState is what a backend carries that Run must not leave behind.
type sessionState struct {
	PID                                 uint32
	User, SearchPath, Role, StmtTimeout string
	ReadOnly                            string
}

const sessionStateSQL = `SELECT pg_backend_pid(), current_user::text, current_setting('search_path'),
	current_setting('role'), current_setting('statement_timeout'), current_setting('transaction_read_only')`

func scanSession(row pgx.Row) (sessionState, error) {
	var s sessionState
	err := row.Scan(&s.PID, &s.User, &s.SearchPath, &s.Role, &s.StmtTimeout, &s.ReadOnly)
	return s, err
}

// TestRunLeavesNoSessionState checks that a pooled connection carries no tenant setting after Run.
//
// Method: the Manager's tenant pool has one slice of one connection, so every Run borrows the same
// backend (asserted with pg_backend_pid: pgxpool destroys a connection released inside a
// transaction, which would hide a leak behind a fresh backend). After each scenario a probe Run, on
// another tenant, first reads the settings at the start of its transaction (they must be only the
// ones Run sets: that tenant's role and search_path), then ends Run's transaction on the very same
// backend by sending COMMIT through tx.Conn(), reads the session-level values the previous
// borrower left (they must equal a fresh connection's defaults), and sends BEGIN again so that Run
// commits an empty transaction as usual. A control scenario leaks a session-level setting on
// purpose to show that the probe sees one.
func TestRunLeavesNoSessionState(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
	ctx := t.Context()
	orgs := createOrgs(t, m, "Tenant Uno", "Tenant Dos")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])

	fresh, err := pgx.Connect(ctx, databaseURL(t, m))
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := scanSession(fresh.QueryRow(ctx, sessionStateSQL))
	fresh.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var pid uint32
	probe := func(t *testing.T) (inside, outside sessionState) {
		t.Helper()
		err := m.Run(ctx, b, func(tx pgx.Tx) error {
			var err error
			if inside, err = scanSession(tx.QueryRow(ctx, sessionStateSQL)); err != nil {
				return err
			}
			conn := tx.Conn()
			if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
				return err
			}
			if outside, err = scanSession(conn.QueryRow(ctx, sessionStateSQL)); err != nil {
				return err
			}
			_, err = conn.Exec(ctx, "BEGIN")
			return err
		})
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		if pid == 0 {
			pid = inside.PID
		}
		if inside.PID != pid || outside.PID != pid {
			t.Fatalf("probe ran on backend %d/%d, earlier on %d: the one pooled connection was replaced", inside.PID, outside.PID, pid)
		}
		wantInside := sessionState{PID: pid, User: b.Schema, SearchPath: b.Schema + ", public", Role: b.Schema,
			StmtTimeout: defaults.StmtTimeout, ReadOnly: "off"}
		if inside != wantInside {
			t.Errorf("settings at the start of Run = %+v; want only Run's: %+v", inside, wantInside)
		}
		return inside, outside
	}
	_, outside := probe(t)
	defaults.PID = pid
	if outside != defaults {
		t.Fatalf("before any scenario, session = %+v; want defaults %+v", outside, defaults)
	}

	insert := `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('x', 30, 1)`
	tests := []struct {
		name    string
		opts    tenancy.RunOptions
		fn      func(tx pgx.Tx) error
		wantErr bool
	}{
		{"AfterCommit", tenancy.RunOptions{}, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, insert); return err }, false},
		{"AfterFnError", tenancy.RunOptions{}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insert); err != nil {
				return err
			}
			return errors.New("boom")
		}, true},
		{"AfterSQLErrorReturned", tenancy.RunOptions{}, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, "SELECT 1/0"); return err }, true},
		{"AfterSQLErrorSwallowed", tenancy.RunOptions{}, func(tx pgx.Tx) error { _, _ = tx.Exec(ctx, "SELECT 1/0"); return nil }, true},
		{"AfterPermissionDenied", tenancy.RunOptions{}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT * FROM "+quote(b.Schema, "citas_cita"))
			return err
		}, true},
		{"AfterReadOnlyWithTimeout", tenancy.RunOptions{ReadOnly: true, StatementTimeoutMillis: 1234}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT count(*) FROM citas_cita")
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.RunWith(ctx, a, tt.opts, tt.fn)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run err = %v; want error %v", err, tt.wantErr)
			}
			if _, outside := probe(t); outside != defaults {
				t.Errorf("session after Run = %+v; want defaults %+v", outside, defaults)
			}
		})
	}

	t.Run("ProbeSeesASessionLevelLeak", func(t *testing.T) {
		// Control: fn sets search_path at session level (is_local false), which Run cannot undo.
		err := m.Run(ctx, a, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT set_config('search_path', 'pg_catalog', false)")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, outside := probe(t); outside.SearchPath != "pg_catalog" {
			t.Errorf("probe saw search_path %q after a session-level leak; want pg_catalog (the probe is blind)", outside.SearchPath)
		}
	})
}

func TestRunReleasesConnectionAfterPanic(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	// Migrate with a first manager, then use one without Close at cleanup: if the panic leaks the
	// connection, pgxpool's Close would wait for it forever.
	first := setupOn(t, url)
	ten := tenantOf(t, createOrgs(t, first, "Pánico")[0])
	m := tenancytest.OpenNoClose(t, url, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
	ctx := t.Context()

	func() {
		defer func() { _ = recover() }()
		_ = m.Run(ctx, ten, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `LOCK TABLE citas_servicio`); err != nil {
				return err
			}
			panic("handler bug")
		})
	}()
	waitCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := m.Run(waitCtx, ten, func(tx pgx.Tx) error { return nil })
	if err != nil {
		// End the leaked transaction so that cleanup (DROP SCHEMA) is not stuck behind its lock.
		if _, terr := shared(t, first).Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`); terr != nil {
			t.Logf("terminating the leaked backend: %v", terr)
		}
		t.Fatalf("after a panic in fn the pooled connection must be rolled back and released; next Run: %v", err)
	}
	m.Close()
}

// setupOn migrates public on the database at url and returns a Manager for it.
func setupOn(t *testing.T, url string) *tenancy.Manager {
	t.Helper()
	tenancytest.Migrate(t, url)
	tenancytest.DropTenantsAtCleanup(t, url)
	return tenancytest.Open(t, url, tenancy.Config{})
}

func TestMigrateAllFailingTenant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		failing      int // index of the tenant whose data breaks the migration (orgs are migrated in id order)
		noCanary     bool
		wantOK       int
		wantNotTried int
	}{
		{"CanaryFailureStopsTheFleet", 0, false, 0, 2},
		{"NoCanaryMigratesTheOthers", 0, true, 2, 0},
		{"FailureAfterCanaryMigratesTheOthers", 1, false, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old := setup(t)
			ctx := t.Context()
			orgs := createOrgs(t, old, "Uno", "Dos", "Tres")
			for i, o := range orgs {
				price := 1000
				if i == tt.failing {
					price = 0 // valid at version 1, violates version 2's CHECK
				}
				insertService(t, old, tenantOf(t, o), "corte", price)
			}
			m := tenancytest.Open(t, databaseURL(t, old), tenancy.Config{TenantMigrations: withExtraMigration(t)})

			rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{NoCanary: tt.noCanary})
			if err != nil {
				t.Fatalf("MigrateAll: %v", err)
			}
			if rep.Total != 3 || len(rep.Failed) != 1 || len(rep.Succeeded) != tt.wantOK || len(rep.NotAttempted) != tt.wantNotTried {
				t.Fatalf("report: total %d, %d failed, %d succeeded, %d not attempted; want 3, 1, %d, %d",
					rep.Total, len(rep.Failed), len(rep.Succeeded), len(rep.NotAttempted), tt.wantOK, tt.wantNotTried)
			}
			failed := rep.Failed[0]
			if failed.Tenant.ID != orgs[tt.failing].ID || tenancy.SQLState(failed.Err) != "23514" {
				t.Errorf("failed tenant %d with %v; want %d with SQLSTATE 23514 check_violation", failed.Tenant.ID, failed.Err, orgs[tt.failing].ID)
			}
			for i, o := range orgs {
				s := stateOf(t, m, o.SchemaName)
				migrated := i != tt.failing && (tt.noCanary || tt.failing != 0)
				want := schemaState{Versions: versionsUpTo(baseVersion), Ledger: baseVersion}
				if migrated {
					want = schemaState{Versions: versionsUpTo(baseVersion + 1), Ledger: baseVersion + 1, HasCodigo: true, HasEtiquetas: true, HasPriceCheck: true}
				}
				if !slices.Equal(s.Versions, want.Versions) || s.Ledger != want.Ledger || s.HasCodigo != want.HasCodigo ||
					s.HasEtiquetas != want.HasEtiquetas || s.HasPriceCheck != want.HasPriceCheck {
					t.Errorf("%s (%s) after the run = %+v; want %+v", o.Name, o.SchemaName, s, want)
				}
			}

			// Fix the data and run again: only what is behind is migrated, and it completes.
			err = m.Run(ctx, tenantOf(t, orgs[tt.failing]), func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE citas_servicio SET precio_centavos = 500 WHERE precio_centavos = 0`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			rep, err = m.MigrateAll(ctx, tenancy.FleetOptions{NoCanary: tt.noCanary})
			if err != nil {
				t.Fatalf("second MigrateAll: %v", err)
			}
			if behind := 1 + tt.wantNotTried; rep.Total != behind || len(rep.Succeeded) != behind || len(rep.Failed) != 0 || rep.UpToDate != 3-behind {
				t.Errorf("second run: total %d, %d succeeded, %d failed, %d up to date; want %d, %d, 0, %d",
					rep.Total, len(rep.Succeeded), len(rep.Failed), rep.UpToDate, behind, behind, 3-behind)
			}
			for _, o := range orgs {
				if s := stateOf(t, m, o.SchemaName); !slices.Equal(s.Versions, versionsUpTo(baseVersion+1)) || s.Ledger != baseVersion+1 || !s.HasCodigo || !s.HasEtiquetas {
					t.Errorf("%s after the re-run = %+v; want fully at version %d", o.SchemaName, s, baseVersion+1)
				}
			}
		})
	}
}

func TestMigrateAllConcurrentRuns(t *testing.T) {
	t.Parallel()
	const tenants = 10
	tests := []struct {
		name string
		// prepare leaves tenants behind: created at version 1, or only named (no schema yet).
		prepare func(t *testing.T, m *tenancy.Manager) []string
	}{
		{"MigrateExistingSchemas", func(t *testing.T, m *tenancy.Manager) []string {
			var schemas []string
			for i := range tenants {
				schemas = append(schemas, createOrgs(t, m, fmt.Sprintf("Negocio %d", i))[0].SchemaName)
			}
			return schemas
		}},
		{"CreateMissingSchemas", func(t *testing.T, m *tenancy.Manager) []string {
			for i := range tenants {
				if _, err := shared(t, m).Exec(t.Context(), `INSERT INTO public.organizacion_organizacion (nombre, slug) VALUES ($1, $2)`,
					fmt.Sprintf("Negocio %d", i), fmt.Sprintf("negocio-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			assigned, err := m.AssignSchemaNames(t.Context())
			if err != nil || len(assigned) != tenants {
				t.Fatalf("AssignSchemaNames = %d organizations, %v; want %d", len(assigned), err, tenants)
			}
			var schemas []string
			for _, o := range assigned {
				schemas = append(schemas, o.SchemaName)
			}
			return schemas
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old := setup(t)
			schemas := tt.prepare(t, old)
			url := databaseURL(t, old)
			set := withExtraMigration(t)
			// Two Managers stand for two processes running migrate_all_tenants at once.
			runners := []*tenancy.Manager{
				tenancytest.Open(t, url, tenancy.Config{TenantMigrations: set}),
				tenancytest.Open(t, url, tenancy.Config{TenantMigrations: set}),
			}
			reports := make([]tenancy.FleetReport, len(runners))
			errs := make([]error, len(runners))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, r := range runners {
				wg.Go(func() {
					<-start
					reports[i], errs[i] = r.MigrateAll(t.Context(), tenancy.FleetOptions{Workers: 4, NoCanary: i == 1})
				})
			}
			close(start)
			wg.Wait()
			for i := range runners {
				if errs[i] != nil || len(reports[i].Failed) != 0 || len(reports[i].NotAttempted) != 0 {
					t.Errorf("runner %d: err %v, failed %v, not attempted %d; want no failure", i, errs[i], reports[i].Failed, len(reports[i].NotAttempted))
				}
			}
			for _, s := range schemas {
				if st := stateOf(t, old, s); !slices.Equal(st.Versions, versionsUpTo(baseVersion+1)) || st.Ledger != baseVersion+1 || !st.HasCodigo {
					t.Errorf("%s = %+v; want versions 1..%d once each, ledger %d", s, st, baseVersion+1, baseVersion+1)
				}
				want := slices.Sorted(slices.Values(append(slices.Clone(tenantTables), "citas_etiqueta")))
				if got := tablesOf(t, old, s); !slices.Equal(got, want) {
					t.Errorf("tables of %s = %v; want %v", s, got, want)
				}
			}
		})
	}
}

func TestTenantsOnDifferentVersionsShareAConnection(t *testing.T) {
	t.Parallel()
	old := setup(t)
	ctx := t.Context()
	orgs := createOrgs(t, old, "Versión Uno", "Versión Dos")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	for _, ten := range []tenancy.Tenant{a, b} {
		insertService(t, old, ten, "corte", 1000)
		insertService(t, old, ten, "barba", 800)
	}
	m := tenancytest.Open(t, databaseURL(t, old), tenancy.Config{
		TenantMigrations: withExtraMigration(t),
		Pool:             tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1},
	})
	if rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{Schema: b.Schema}); err != nil || len(rep.Succeeded) != 1 {
		t.Fatalf("migrating %s alone: %+v, %v", b.Schema, rep, err)
	}
	if sa, sb := stateOf(t, m, a.Schema), stateOf(t, m, b.Schema); sa.HasCodigo || !sb.HasCodigo {
		t.Fatalf("want %s at version 1 and %s at version 2; got %+v and %+v", a.Schema, b.Schema, sa, sb)
	}

	var baseCols int
	if err := shared(t, m).QueryRow(ctx, `SELECT count(*) FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
		quote(a.Schema, "citas_servicio")).Scan(&baseCols); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{a.Schema: baseCols, b.Schema: baseCols + 1}
	pids := map[uint32]bool{}
	for i := range 40 {
		ten := []tenancy.Tenant{a, b}[i%2]
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`SELECT * FROM citas_servicio ORDER BY id`, nil},
			{`SELECT * FROM citas_servicio WHERE id > $1 ORDER BY id`, []any{0}},
		} {
			err := m.Run(ctx, ten, func(tx pgx.Tx) error {
				var pid uint32
				if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
					return err
				}
				pids[pid] = true
				rows, err := tx.Query(ctx, q.sql, q.args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				n := 0
				for rows.Next() {
					vals, err := rows.Values()
					if err != nil {
						return err
					}
					if len(vals) != want[ten.Schema] {
						return fmt.Errorf("row with %d columns; want %d", len(vals), want[ten.Schema])
					}
					n++
				}
				if err := rows.Err(); err != nil {
					return err
				}
				if n != 2 {
					return fmt.Errorf("%d rows; want 2", n)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("iteration %d in %s, %s: %v", i, ten.Schema, q.sql, err)
			}
		}
	}
	if len(pids) != 1 {
		t.Errorf("served by %d backends; the test needs one shared connection", len(pids))
	}
}

func TestDoubleBooking(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Barbería Turnos")[0])

	var sede, servicio, staff1, staff2 int64
	err := m.Run(ctx, ten, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Centro', 'America/Bogota') RETURNING id`).Scan(&sede); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('Corte', 60, 2500000) RETURNING id`).Scan(&servicio); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO usuarios_perfilusuario (user_id, role, sede_id) VALUES (101, 'staff', $1) RETURNING id`, sede).Scan(&staff1); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO usuarios_perfilusuario (user_id, role, sede_id) VALUES (102, 'staff', $1) RETURNING id`, sede).Scan(&staff2)
	})
	if err != nil {
		t.Fatal(err)
	}

	bogota, err := time.LoadLocation("America/Bogota")
	if err != nil {
		t.Fatal(err)
	}
	at := func(hhmm string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", "2030-03-04 "+hhmm, bogota)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	book := func(staff int64, start, end, blockStart, blockEnd, estado string) (int64, error) {
		if blockStart == "" {
			blockStart, blockEnd = start, end
		}
		var id int64
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre,
					inicio, fin, bloqueo_inicio, bloqueo_fin, estado, precio_centavos)
				VALUES ($1, $2, $3, 'Cliente', $4, $5, $6, $7, $8, 2500000) RETURNING id`,
				sede, servicio, staff, at(start), at(end), at(blockStart), at(blockEnd), estado).Scan(&id)
		})
		return id, err
	}

	// The cases run in order: each may rely on the appointments the earlier ones booked.
	tests := []struct {
		name                 string
		staff                int64
		start, end           string
		blockStart, blockEnd string
		estado               string
		wantCode             string // "" when accepted
	}{
		{"FirstAppointmentAccepted", staff1, "10:00", "11:00", "", "", "pendiente", ""},
		{"OverlapSameStaffRejected", staff1, "10:30", "11:30", "", "", "pendiente", "23P01"},
		{"SameSlotSameStaffRejected", staff1, "10:00", "11:00", "", "", "confirmada", "23P01"},
		{"ContainedRejected", staff1, "10:15", "10:45", "", "", "pendiente", "23P01"},
		{"BackToBackAfterAllowed", staff1, "11:00", "12:00", "", "", "pendiente", ""},
		{"BackToBackBeforeAllowed", staff1, "09:00", "10:00", "", "", "pendiente", ""},
		{"OtherStaffSameTimeAllowed", staff2, "10:00", "11:00", "", "", "pendiente", ""},
		{"CancelledBooked", staff1, "14:00", "15:00", "", "", "cancelada", ""},
		{"OverlapWithCancelledAllowed", staff1, "14:30", "15:30", "", "", "pendiente", ""},
		{"SecondCancelledOverlapAllowed", staff1, "14:00", "15:00", "", "", "cancelada", ""},
		{"BufferedBooked", staff1, "16:00", "16:30", "15:45", "16:45", "pendiente", ""},
		{"OverlapWithBufferRejected", staff1, "16:40", "17:00", "", "", "pendiente", "23P01"},
	}
	accepted := map[int64]int{}
	var cancelledID int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := book(tt.staff, tt.start, tt.end, tt.blockStart, tt.blockEnd, tt.estado)
			if code := tenancy.SQLState(err); code != tt.wantCode || (tt.wantCode == "" && err != nil) {
				t.Fatalf("booking %s-%s: err = %v (SQLSTATE %q); want SQLSTATE %q", tt.start, tt.end, err, code, tt.wantCode)
			}
			if err == nil {
				accepted[tt.staff]++
				if tt.name == "CancelledBooked" {
					cancelledID = id
				}
			}
		})
	}

	t.Run("ReactivatingCancelledOverlapRejected", func(t *testing.T) {
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE citas_cita SET estado = 'confirmada' WHERE id = $1`, cancelledID)
			return err
		})
		if code := tenancy.SQLState(err); code != "23P01" {
			t.Errorf("err = %v; want SQLSTATE 23P01", err)
		}
	})

	t.Run("RejectedBookingsLeftNoRows", func(t *testing.T) {
		for staff, want := range accepted {
			var n int
			if err := shared(t, m).QueryRow(ctx, `SELECT count(*) FROM `+quote(ten.Schema, "citas_cita")+` WHERE profesional_id = $1`, staff).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("staff %d has %d appointments; want %d", staff, n, want)
			}
		}
	})
}

func TestMigrateAllNothingToDo(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	createOrgs(t, m, "Uno", "Dos", "Tres")
	ledger := func() []string {
		return queryStrings(t, shared(t, m), `SELECT schema_name || ' ' || version || ' ' || migrado_en FROM public.migraciones_ledger ORDER BY 1`)
	}
	before := ledger()
	started := false
	rep, err := m.MigrateAll(ctx, tenancy.FleetOptions{
		OnStart:  func(behind []tenancy.TenantStatus, upToDate int) { started = len(behind) == 0 && upToDate == 3 },
		OnResult: func(r tenancy.FleetResult) { t.Errorf("OnResult called for %s", r.Tenant.SchemaName) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 0 || rep.UpToDate != 3 || len(rep.Succeeded)+len(rep.Failed)+len(rep.NotAttempted) != 0 || !started {
		t.Errorf("report %+v, OnStart(0 behind, 3 up to date) called %v; want Total 0, UpToDate 3, nothing done", rep, started)
	}
	if after := ledger(); !slices.Equal(before, after) {
		t.Errorf("the ledger changed on a run with nothing to do:\nbefore %v\nafter  %v", before, after)
	}

	t.Run("UnknownSchemaIsNotFound", func(t *testing.T) {
		_, err := m.MigrateAll(ctx, tenancy.FleetOptions{Schema: "tenant_nadie_" + randomHex(t)})
		if !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("err = %v; want ErrNotFound", err)
		}
	})
	t.Run("InvalidSchemaIsInvalidName", func(t *testing.T) {
		_, err := m.MigrateAll(ctx, tenancy.FleetOptions{Schema: "public"})
		if !errors.Is(err, tenancy.ErrInvalidName) {
			t.Errorf("err = %v; want ErrInvalidName", err)
		}
	})
}

func TestEnsureSchema(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	db := shared(t, m)
	latest := m.TenantMigrations().Latest()

	// newOrgRow stores an organization with a schema_name by SQL, without provisioning it.
	newOrgRow := func(t *testing.T, slug string) tenancy.Organization {
		t.Helper()
		schema := "tenant_" + strings.ReplaceAll(slug, "-", "_") + "_" + randomHex(t)
		var id int64
		if err := db.QueryRow(ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug, schema_name) VALUES ($1, $1, $2) RETURNING id`,
			slug, schema).Scan(&id); err != nil {
			t.Fatal(err)
		}
		org, err := m.Organization(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return org
	}
	checkComplete := func(t *testing.T, schema string) {
		t.Helper()
		if got := tablesOf(t, m, schema); !slices.Equal(got, tenantTables) {
			t.Errorf("tables of %s = %v; want %v", schema, got, tenantTables)
		}
		if s := stateOf(t, m, schema); !slices.Equal(s.Versions, versionsUpTo(latest)) || s.Ledger != latest {
			t.Errorf("%s = %+v; want at version %d in schema and ledger", schema, s, latest)
		}
		var notOwned int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)`, schema).Scan(&notOwned); err != nil {
			t.Fatal(err)
		}
		if notOwned != 0 {
			t.Errorf("%d objects of %s are not owned by its role", notOwned, schema)
		}
	}

	t.Run("IsIdempotent", func(t *testing.T) {
		t.Parallel()
		org := createOrgs(t, m, "Idempotente")[0]
		for range 2 {
			res, err := m.EnsureSchema(ctx, org)
			if err != nil || res.Created || res.From != latest || res.To != latest {
				t.Errorf("EnsureSchema = %+v, %v; want not created, from %d to %d", res, err, latest, latest)
			}
		}
		checkComplete(t, org.SchemaName)
	})

	t.Run("CreatesMissingSchema", func(t *testing.T) {
		t.Parallel()
		org := newOrgRow(t, "sin-schema")
		res, err := m.EnsureSchema(ctx, org)
		if err != nil || !res.Created || res.From != 0 || res.To != latest {
			t.Errorf("EnsureSchema = %+v, %v; want created, from 0 to %d", res, err, latest)
		}
		checkComplete(t, org.SchemaName)
	})

	t.Run("CompletesSchemaWithoutTables", func(t *testing.T) {
		t.Parallel()
		org := newOrgRow(t, "a-medias")
		q := quote(org.SchemaName)
		if _, err := db.Exec(ctx, `CREATE ROLE `+q+` NOLOGIN; CREATE SCHEMA `+q+` AUTHORIZATION `+q); err != nil {
			t.Fatal(err)
		}
		res, err := m.EnsureSchema(ctx, org)
		if err != nil || res.Created || res.From != 0 || res.To != latest {
			t.Errorf("EnsureSchema = %+v, %v; want not created, from 0 to %d", res, err, latest)
		}
		checkComplete(t, org.SchemaName)
		if _, err := m.EnsureSchema(ctx, org); err != nil {
			t.Errorf("second EnsureSchema: %v", err)
		}
	})

	t.Run("WithoutSchemaNameIsErrNoSchemaName", func(t *testing.T) {
		t.Parallel()
		_, err := m.EnsureSchema(ctx, tenancy.Organization{ID: 99, Name: "Sin nombre"})
		if !errors.Is(err, tenancy.ErrNoSchemaName) {
			t.Errorf("err = %v; want ErrNoSchemaName", err)
		}
	})
}

func TestAssignSchemaNames(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	db := shared(t, m)
	preset := "tenant_ya_tiene_" + randomHex(t)
	if _, err := db.Exec(ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug, schema_name, is_active) VALUES
		('Sin Schema Uno', 'sin-schema-uno', '', false),
		('Ya Tiene', 'ya-tiene', $1, true),
		('Sin Schema Dos Con Un Nombre Muy Largo', 'sin-schema-dos-con-un-nombre-muy-largo', '', true)`, preset); err != nil {
		t.Fatal(err)
	}
	changed, err := m.AssignSchemaNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefixes := []string{"tenant_sin_schema_uno_", "tenant_sin_schema_dos_con_u_"}
	if len(changed) != 2 {
		t.Fatalf("AssignSchemaNames changed %d organizations; want 2: %+v", len(changed), changed)
	}
	for i, o := range changed {
		rest, ok := strings.CutPrefix(o.SchemaName, prefixes[i])
		if !ok || !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(rest) || !o.IsActive || tenancy.ValidateSchemaName(o.SchemaName) != nil {
			t.Errorf("organization %q got schema %q (active %v); want %s<8 hex>, active", o.Name, o.SchemaName, o.IsActive, prefixes[i])
		}
	}
	org, err := m.OrganizationBySlug(ctx, "ya-tiene")
	if err != nil || org.SchemaName != preset {
		t.Errorf("organization with a schema_name: %+v, %v; want schema %s unchanged", org, err, preset)
	}
	var schemas int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("%d tenant schemas exist (%v); AssignSchemaNames must create none", schemas, err)
	}
	again, err := m.AssignSchemaNames(ctx)
	if err != nil || len(again) != 0 {
		t.Errorf("second AssignSchemaNames = %+v, %v; want nothing to do", again, err)
	}
}

func TestCheckLoginRole(t *testing.T) {
	t.Parallel()
	if !pgtest.RolePerDatabase(t) {
		t.Skip("TEST_DATABASE_URL's role cannot create roles: the tests log in as it")
	}
	m := setup(t)
	ctx := t.Context()

	t.Run("AcceptsANoInheritCreateRoleOwner", func(t *testing.T) {
		t.Parallel()
		r, err := m.CheckLoginRole(ctx, tenancy.DefaultServer)
		if err != nil || r.Superuser || r.Inherit || !r.CreateRole || !r.CreateOnDatabase || !r.CreateOnPublic {
			t.Errorf("CheckLoginRole = %+v, %v; want no superuser, NOINHERIT, every privilege, no error", r, err)
		}
	})

	t.Run("ReportsASuperuser", func(t *testing.T) {
		t.Parallel()
		su := tenancytest.Open(t, pgtest.SuperuserURL(t, databaseURL(t, m)), tenancy.Config{})
		r, err := su.CheckLoginRole(ctx, tenancy.DefaultServer)
		if err != nil || !r.Superuser {
			t.Errorf("CheckLoginRole = %+v, %v; want a superuser and no error", r, err)
		}
	})

	t.Run("RejectsARoleThatCannotProvision", func(t *testing.T) {
		t.Parallel()
		name := "sin_privilegios_" + randomHex(t)
		admin := shared(t, m)
		if _, err := admin.Exec(ctx, `CREATE ROLE `+quote(name)+` LOGIN NOINHERIT PASSWORD 'clave'`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP ROLE IF EXISTS `+quote(name)) })
		u, err := url.Parse(databaseURL(t, m))
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(name, "clave")
		weak := tenancytest.Open(t, u.String(), tenancy.Config{})
		_, err = weak.CheckLoginRole(ctx, tenancy.DefaultServer)
		if !errors.Is(err, tenancy.ErrPrivilege) {
			t.Fatalf("CheckLoginRole: err = %v; want ErrPrivilege", err)
		}
		for _, want := range []string{"CREATEROLE", "CREATE on database", "CREATE on schema public",
			"ALTER ROLE " + quote(name) + " CREATEROLE", "GRANT CREATE ON DATABASE", "ALTER SCHEMA public OWNER TO " + quote(name)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
}
