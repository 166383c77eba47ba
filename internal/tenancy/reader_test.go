package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// readAll runs sql through r in t's schema and returns its rows as text.
func readAll(ctx context.Context, r *tenancy.Reader, t tenancy.Tenant, sql string) ([][]string, error) {
	rr, err := r.Query(ctx, t, sql)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for rr.NextRow() {
		var row []string
		for _, v := range rr.Values() {
			row = append(row, string(v))
		}
		rows = append(rows, row)
	}
	_, err = rr.Close()
	return rows, err
}

func openReader(t *testing.T, m *tenancy.Manager, server string, opts tenancy.ReaderOptions) *tenancy.Reader {
	t.Helper()
	r, err := m.OpenReader(t.Context(), server, opts)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func sqlStateOf(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestReader(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	orgs := createOrgs(t, m, "Lectora Uno", "Lectora Dos")
	one, two := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	r := openReader(t, m, "", tenancy.ReaderOptions{})

	t.Run("ReadsOnlyTheTenantsOwnTablesUnqualified", func(t *testing.T) {
		for _, ten := range []tenancy.Tenant{one, two} {
			rows, err := readAll(ctx, r, ten, `SELECT current_schemas(false)::text, count(*) FROM citas_servicio`)
			if err != nil || len(rows) != 1 || rows[0][0] != "{"+ten.Schema+"}" {
				t.Errorf("%s: rows %v, err %v; want its schema alone in search_path", ten.Schema, rows, err)
			}
		}
	})

	t.Run("CannotReadPublicTablesEvenIfAsked", func(t *testing.T) {
		for _, sql := range []string{`SELECT username, password FROM public.auth_user`, `SELECT clave FROM public.rol_consulta`,
			`SELECT * FROM public.organizacion_organizacion`} {
			if _, err := readAll(ctx, r, one, sql); sqlStateOf(err) != "42501" {
				t.Errorf("%s: err %v; want permission denied (42501)", sql, err)
			}
		}
	})

	t.Run("CannotBecomeAnotherRole", func(t *testing.T) {
		for _, sql := range []string{`SET ROLE ` + one.Schema, `SELECT set_config('role', '` + one.Schema + `', false)`, `SET SESSION AUTHORIZATION ` + one.Schema} {
			if _, err := readAll(ctx, r, one, sql); sqlStateOf(err) != "42501" {
				t.Errorf("%s: err %v; want permission denied (42501)", sql, err)
			}
		}
	})

	t.Run("IsReadOnly", func(t *testing.T) {
		if rows, err := readAll(ctx, r, one, `SHOW default_transaction_read_only`); err != nil || rows[0][0] != "on" {
			t.Errorf("default_transaction_read_only: %v, %v; want on", rows, err)
		}
		for _, sql := range []string{`DELETE FROM citas_servicio`, `CREATE TABLE x (i int)`, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('x', 1, 1)`} {
			if _, err := readAll(ctx, r, one, sql); sqlStateOf(err) != "25006" {
				t.Errorf("%s: err %v; want read-only transaction (25006)", sql, err)
			}
		}
	})

	t.Run("CannotReadServerFiles", func(t *testing.T) {
		if _, err := readAll(ctx, r, one, `SELECT pg_read_file('postgresql.conf')`); sqlStateOf(err) != "42501" {
			t.Errorf("err %v; want permission denied (42501)", err)
		}
	})

	t.Run("RunsOneStatementPerCall", func(t *testing.T) {
		if _, err := readAll(ctx, r, one, `SELECT 1; SELECT 2`); sqlStateOf(err) != "42601" {
			t.Errorf("err %v; want a syntax error (42601: cannot insert multiple commands)", err)
		}
	})

	t.Run("StatementTimeoutApplies", func(t *testing.T) {
		short := openReader(t, m, tenancy.DefaultServer, tenancy.ReaderOptions{StatementTimeout: 50 * time.Millisecond})
		if _, err := readAll(ctx, short, one, `SELECT count(*) FROM generate_series(1, 100000000)`); sqlStateOf(err) != "57014" {
			t.Errorf("err %v; want query_canceled (57014)", err)
		}
	})

	t.Run("MissingSchemaIsErrSchemaMissing", func(t *testing.T) {
		if _, err := readAll(ctx, r, tenancy.Tenant{Schema: "tenant_nadie_" + randomHex(t)}, `SELECT 1`); !errors.Is(err, tenancy.ErrSchemaMissing) {
			t.Errorf("err %v; want ErrSchemaMissing", err)
		}
	})

	t.Run("RefusesATenantOfAnotherServer", func(t *testing.T) {
		if _, err := readAll(ctx, r, tenancy.Tenant{Schema: one.Schema, Server: "otro"}, `SELECT 1`); err == nil || !strings.Contains(err.Error(), "not on this reader's") {
			t.Errorf("err %v; want a refusal", err)
		}
	})

	t.Run("RoleIsOneForTheServerAndNotASuperuser", func(t *testing.T) {
		roles := queryStrings(t, shared(t, m), `SELECT rol FROM public.rol_consulta`)
		if len(roles) != 1 || !strings.HasPrefix(roles[0], "consulta_") {
			t.Fatalf("roles %v; want one consulta_ role", roles)
		}
		got := queryStrings(t, shared(t, m), `SELECT format('%s %s %s %s', rolsuper, rolinherit, rolcreaterole,
			(SELECT count(*) FROM pg_auth_members WHERE member = r.oid)) FROM pg_roles r WHERE rolname = $1`, roles[0])
		if len(got) != 1 || got[0] != "f f f 0" {
			t.Errorf("superuser, inherit, createrole, memberships = %v; want f f f 0", got)
		}
	})
}

func TestReaderReadsTablesOfLaterMigrations(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Migrada Luego")[0])
	later, err := migrate.Tenant().With(migrate.Migration{Version: baseVersion + 1, Name: "notas", SQL: `CREATE TABLE notas_internas (id int PRIMARY KEY); INSERT INTO notas_internas VALUES (7);`})
	if err != nil {
		t.Fatal(err)
	}
	m2 := tenancytest.Open(t, databaseURL(t, m), tenancy.Config{TenantMigrations: &later})
	if _, err := m2.MigrateTenant(ctx, ten); err != nil {
		t.Fatalf("MigrateTenant: %v", err)
	}
	// Through the grants of provisioning alone: USAGE was there, so Query grants nothing itself.
	granted := queryStrings(t, shared(t, m), `SELECT has_table_privilege(rol, $1, 'SELECT')::text FROM public.rol_consulta`, ten.Schema+".notas_internas")
	if len(granted) != 1 || granted[0] != "true" {
		t.Fatalf("the query role's SELECT on a later migration's table: %v; want true", granted)
	}
	rows, err := readAll(ctx, openReader(t, m2, "", tenancy.ReaderOptions{}), ten, `SELECT id FROM notas_internas`)
	if err != nil || len(rows) != 1 || rows[0][0] != "7" {
		t.Errorf("rows %v, err %v; want [[7]]", rows, err)
	}
}

func TestReaderOnAnotherServer(t *testing.T) {
	t.Parallel()
	m0 := setup(t)
	ctx := t.Context()
	other := pgtest.NewDatabase(t)
	tenancytest.DropTenantsAtCleanup(t, other)
	m := tenancytest.Open(t, databaseURL(t, m0), tenancy.Config{Servers: map[string]string{"otro": other}})
	org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Lejana", Server: "otro"})
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	ten := tenantOf(t, org)
	rows, err := readAll(ctx, openReader(t, m, "otro", tenancy.ReaderOptions{}), ten, `SELECT count(*) FROM citas_servicio`)
	if err != nil || len(rows) != 1 || rows[0][0] != "0" {
		t.Errorf("rows %v, err %v; want [[0]]", rows, err)
	}
	if roles := queryStrings(t, shared(t, m), `SELECT database_name FROM public.rol_consulta ORDER BY 1`); strings.Join(roles, ",") != "otro" {
		t.Errorf("query roles recorded for %v; want otro (no tenant on default yet)", roles)
	}
	if err := m.DropSchema(ctx, ten); err != nil {
		t.Errorf("DropSchema with the query role's grants: %v", err)
	}
}

// TestReaderWorksForACreateRoleLoginRole runs the query role's creation and a tenant's grant as a
// login role that is not a superuser: CREATEROLE, a member of the tenant role with NOINHERIT.
func TestReaderWorksForACreateRoleLoginRole(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Sin Superusuario")[0])
	creator := "creador_" + randomHex(t)
	password := randomHex(t) + randomHex(t)
	db := shared(t, m)
	_, err := db.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN CREATEROLE NOINHERIT PASSWORD '%[2]s';
		GRANT SELECT, INSERT ON public.rol_consulta TO %[1]s;
		GRANT %[3]s TO %[1]s;
		DELETE FROM public.rol_consulta`, creator, password, ten.Schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), databaseURL(t, m))
		if err == nil {
			_, _ = conn.Exec(context.Background(), fmt.Sprintf(`DROP OWNED BY %[1]s CASCADE; DROP ROLE %[1]s`, creator))
			conn.Close(context.Background())
		}
	})
	u, err := url.Parse(databaseURL(t, m))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(creator, password)
	mc := tenancytest.Open(t, u.String(), tenancy.Config{})
	rows, err := readAll(ctx, openReader(t, mc, "", tenancy.ReaderOptions{}), ten, `SELECT count(*) FROM citas_servicio`)
	if err != nil || len(rows) != 1 || rows[0][0] != "0" {
		t.Fatalf("rows %v, err %v; want [[0]]", rows, err)
	}
	roles := queryStrings(t, db, `SELECT r.rolname FROM public.rol_consulta c JOIN pg_roles r ON r.rolname = c.rol WHERE NOT r.rolsuper`)
	if len(roles) != 1 {
		t.Errorf("query roles %v; want the one the CREATEROLE role made", roles)
	}
}
