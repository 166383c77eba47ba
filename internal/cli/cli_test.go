package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/cli"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// result is what one command did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// appcitas runs one command in-process, as main would, with env as its whole environment.
type appcitas struct {
	env map[string]string
	// set overrides the tenant migrations (nil: the embedded ones).
	set *migrate.Set
}

func (a appcitas) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code := cli.Main(ctx, cli.Env{
		Args:             args,
		Stdin:            strings.NewReader(""),
		Stdout:           &stdout,
		Stderr:           &stderr,
		Getenv:           func(k string) string { return a.env[k] },
		TenantMigrations: a.set,
	})
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("appcitas %s printed a Go stack trace:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// must runs a command that must succeed.
func (a appcitas) must(t *testing.T, args ...string) result {
	t.Helper()
	r := a.run(t, args...)
	if r.code != 0 {
		t.Fatalf("appcitas %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// newApp returns an appcitas whose DATABASE_URL is a fresh, empty database (as a login role that
// is not a superuser), and a connection to it as the superuser, to look at what commands did.
// The connection runs with an empty search_path.
func newApp(t *testing.T) (appcitas, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	conn := tenancytest.Conn(t, pgtest.SuperuserURL(t, url))
	tenancytest.DropTenantsAtCleanup(t, url)
	return appcitas{env: map[string]string{"DATABASE_URL": url, "APPCITAS_DATA": t.TempDir()}}, conn
}

// tenantSet returns the embedded tenant migrations plus extra ones, numbered after them.
func tenantSet(t *testing.T, sqls ...string) *migrate.Set {
	t.Helper()
	set := migrate.Tenant()
	for _, sql := range sqls {
		var err error
		if set, err = set.With(migrate.Migration{Version: set.Latest() + 1, Name: fmt.Sprintf("prueba_%d", set.Latest()+1), SQL: sql}); err != nil {
			t.Fatal(err)
		}
	}
	return &set
}

// inOrder checks that out contains each of want, in that order.
func inOrder(t *testing.T, out string, want ...string) {
	t.Helper()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("output lacks %q (after the previous expected lines):\n%s", w, out)
			return
		}
		rest = rest[i+len(w):]
	}
}

func matches(t *testing.T, out, pattern string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)` + pattern).MatchString(out) {
		t.Errorf("output has no line matching %s:\n%s", pattern, out)
	}
}

type org struct {
	id           int64
	name, schema string
}

func organizations(t *testing.T, conn *pgx.Conn) []org {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT id, nombre, schema_name FROM public.organizacion_organizacion ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []org
	for rows.Next() {
		var o org
		if err := rows.Scan(&o.id, &o.name, &o.schema); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGuideWorkflow follows the guide: migrate, create organizations, list them, migrate every
// tenant, survive a failing tenant, complete schemas. The steps run in order on one database.
func TestGuideWorkflow(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	ctx := t.Context()
	base := migrate.Tenant().Latest()

	t.Run("BeforeMigrateCommandsSayRunMigrate", func(t *testing.T) {
		for _, args := range [][]string{{"list_tenants"}, {"migrate_all_tenants", "--skip-public"}, {"create_organization", "--nombre", "X"}} {
			r := app.run(t, args...)
			if r.code != 1 || !strings.Contains(r.stderr, "appcitas migrate") {
				t.Errorf("appcitas %s before migrate: %s\nwant exit 1 and a hint to run `appcitas migrate`", strings.Join(args, " "), r)
			}
		}
	})

	t.Run("Migrate", func(t *testing.T) {
		r := app.must(t, "migrate")
		if !strings.Contains(r.stdout, "✓ Schema public migrado exitosamente") {
			t.Errorf("migrate: %s", r)
		}
		if r = app.must(t, "migrate"); !strings.Contains(r.stdout, "✓ Schema public migrado exitosamente") {
			t.Errorf("second migrate: %s", r)
		}
	})

	names := []string{"Barbería Juan", "Clínica Dental", "Spa Belleza"}
	slugs := []string{"barberia-juan", "clinica-dental", "spa-belleza"}
	t.Run("CreateOrganization", func(t *testing.T) {
		for i, name := range names {
			r := app.must(t, "create_organization", "--nombre", name)
			inOrder(t, r.stdout, "✓ Organización creada: "+name, "slug: "+slugs[i], "✓ Schema tenant_"+strings.ReplaceAll(slugs[i], "-", "_")+"_")
		}
	})
	orgs := organizations(t, conn)
	if len(orgs) != 3 {
		t.Fatalf("organizations = %+v; want 3", orgs)
	}
	for i, o := range orgs {
		if !regexp.MustCompile(`^tenant_` + strings.ReplaceAll(slugs[i], "-", "_") + `_[0-9a-f]{8}$`).MatchString(o.schema) {
			t.Errorf("schema of %s = %q", o.name, o.schema)
		}
	}

	checkList := func(t *testing.T, out string, version int) {
		t.Helper()
		inOrder(t, out, "TENANTS REGISTRADOS", "ID", "Nombre", "Schema", "Estado", "SCHEMAS EN POSTGRESQL", "✓ public")
		for _, o := range orgs {
			matches(t, out, fmt.Sprintf(`^%d\s+%s\s+%s\s+✓ Activo\s+%d/%d\b`, o.id, regexp.QuoteMeta(o.name), o.schema, version, version))
			matches(t, out, `^✓ `+o.schema+`\s+→ `+regexp.QuoteMeta(o.name)+`$`)
		}
		matches(t, out, `^✓ public\s+→ \(Schema compartido\)$`)
	}

	t.Run("ListTenants", func(t *testing.T) {
		r := app.must(t, "list_tenants")
		checkList(t, r.stdout, base)
		if strings.Contains(r.stdout, "⚠") {
			t.Errorf("warnings on a healthy fleet:\n%s", r.stdout)
		}
	})

	t.Run("ListTenantsFlagsOrphanSchema", func(t *testing.T) {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA tenant_huerfano_deadbeef`); err != nil {
			t.Fatal(err)
		}
		r := app.must(t, "list_tenants")
		checkList(t, r.stdout, base)
		matches(t, r.stdout, `^⚠ tenant_huerfano_deadbeef\s+→ .*huérfano`)
	})

	t.Run("CreateTenantSchemaOnCompleteSchemaChangesNothing", func(t *testing.T) {
		for _, args := range [][]string{
			{"create_tenant_schema", fmt.Sprintf("--organization_id=%d", orgs[0].id)},
			{"create_tenant_schema", "--slug=" + slugs[1]},
		} {
			r := app.must(t, args...)
			if !strings.Contains(r.stdout, "ya existe y está al día") {
				t.Errorf("appcitas %s: %s", strings.Join(args, " "), r)
			}
		}
	})

	// A new release adds a tenant migration: every tenant is behind.
	release1 := appcitas{env: app.env, set: tenantSet(t, `ALTER TABLE citas_servicio ADD COLUMN codigo text NOT NULL DEFAULT ''`)}
	t.Run("MigrateAllTenants", func(t *testing.T) {
		r := release1.must(t, "migrate_all_tenants")
		out := r.stdout
		inOrder(t, out,
			"=== Migrando schema PUBLIC (compartido) ===",
			"✓ Schema public migrado exitosamente",
			"=== Migrando 3 tenants ===",
			fmt.Sprintf("[1/3] Migrando: %s (schema: %s)", orgs[0].name, orgs[0].schema),
			fmt.Sprintf("✓ %s migrado", orgs[0].name),
			strings.Repeat("=", 60),
			"✓ Exitosos: 3",
			strings.Repeat("=", 60),
		)
		for _, o := range orgs[1:] {
			matches(t, out, fmt.Sprintf(`^\[[23]/3\] Migrando: %s \(schema: %s\)$`, regexp.QuoteMeta(o.name), o.schema))
			matches(t, out, fmt.Sprintf(`^  ✓ %s migrado`, regexp.QuoteMeta(o.name)))
		}
		checkList(t, release1.must(t, "list_tenants").stdout, base+1)
	})

	t.Run("MigrateAllTenantsWithNothingToDo", func(t *testing.T) {
		r := release1.must(t, "migrate_all_tenants", "--skip-public")
		inOrder(t, r.stdout, "=== Migrando 0 tenants (3 ya al día) ===", "✓ Exitosos: 0", "Ya al día: 3")
		if strings.Contains(r.stdout, "PUBLIC") {
			t.Errorf("--skip-public migrated public:\n%s", r.stdout)
		}
	})

	// The next release adds a CHECK that Clínica Dental's free service violates.
	release2 := appcitas{env: app.env, set: tenantSet(t,
		`ALTER TABLE citas_servicio ADD COLUMN codigo text NOT NULL DEFAULT ''`,
		`ALTER TABLE citas_servicio ADD CONSTRAINT citas_servicio_precio_positivo CHECK (precio_centavos > 0)`)}
	t.Run("MigrateAllTenantsWithFailingTenant", func(t *testing.T) {
		if _, err := conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{orgs[1].schema, "citas_servicio"}.Sanitize()+
			` (nombre, duracion_minutos, precio_centavos) VALUES ('Valoración gratis', 30, 0)`); err != nil {
			t.Fatal(err)
		}
		r := release2.run(t, "migrate_all_tenants")
		if r.code != 1 {
			t.Fatalf("want exit 1 with a failing tenant: %s", r)
		}
		inOrder(t, r.stdout, "=== Migrando 3 tenants ===", "✓ Exitosos: 2", "✗ Fallidos: 1", orgs[1].name)
		matches(t, r.stdout, `^  ✗ `+regexp.QuoteMeta(orgs[1].name)+` falló: .*citas_servicio_precio_positivo`)
		matches(t, r.stdout, `^  - `+regexp.QuoteMeta(orgs[1].name)+` \(schema: `+orgs[1].schema+`\): .*23514`)

		list := release2.must(t, "list_tenants").stdout
		matches(t, list, fmt.Sprintf(`^%d\s+%s\s+%s\s+✓ Activo\s+%d/%d ⚠`, orgs[1].id, regexp.QuoteMeta(orgs[1].name), orgs[1].schema, base+1, base+2))
		matches(t, list, fmt.Sprintf(`^⚠ %s está en la versión %d de %d: appcitas migrate_all_tenants$`, orgs[1].schema, base+1, base+2))
	})

	t.Run("ReRunAfterFixingDataCompletes", func(t *testing.T) {
		if _, err := conn.Exec(ctx, `UPDATE `+pgx.Identifier{orgs[1].schema, "citas_servicio"}.Sanitize()+` SET precio_centavos = 100`); err != nil {
			t.Fatal(err)
		}
		r := release2.must(t, "migrate_all_tenants", "--skip-public")
		inOrder(t, r.stdout, "=== Migrando 1 tenants (2 ya al día) ===", fmt.Sprintf("[1/1] Migrando: %s (schema: %s)", orgs[1].name, orgs[1].schema), "✓ Exitosos: 1")
	})

	t.Run("AssignSchemaNamesThenCreateTenantSchema", func(t *testing.T) {
		if _, err := conn.Exec(ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug) VALUES ('Nueva Peluquería', 'nueva-peluqueria')`); err != nil {
			t.Fatal(err)
		}
		r := release2.must(t, "assign_schema_names")
		matches(t, r.stdout, `^✓ Nueva Peluquería → tenant_nueva_peluqueria_[0-9a-f]{8}$`)
		if r := release2.must(t, "assign_schema_names"); !strings.Contains(r.stdout, "ya tienen schema_name") {
			t.Errorf("second assign_schema_names: %s", r)
		}
		list := release2.must(t, "list_tenants").stdout
		matches(t, list, `sin schema +default$`) // its own column: "sin schemadefault" ran together
		matches(t, list, `^⚠ falta el schema tenant_nueva_peluqueria_[0-9a-f]{8} de Nueva Peluquería: appcitas create_tenant_schema --organization_id=4$`)

		r = release2.must(t, "create_tenant_schema", "--slug=nueva-peluqueria")
		matches(t, r.stdout, fmt.Sprintf(`^✓ Schema tenant_nueva_peluqueria_[0-9a-f]{8} creado para Nueva Peluquería \(versión %d\)$`, base+2))
		if r := release2.must(t, "create_tenant_schema", "--organization_id=4"); !strings.Contains(r.stdout, "ya existe y está al día") {
			t.Errorf("second create_tenant_schema: %s", r)
		}
		if list := release2.must(t, "list_tenants").stdout; strings.Contains(list, "falta el schema") || strings.Contains(list, "sin schema") {
			t.Errorf("list_tenants still reports a missing schema:\n%s", list)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan")

	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"UnknownOrganizationID", []string{"create_tenant_schema", "--organization_id=999"}, "organization not found"},
		{"UnknownSlug", []string{"create_tenant_schema", "--slug=no-existe"}, "organization not found"},
		{"InjectionInSlug", []string{"create_tenant_schema", "--slug=x'; drop"}, "invalid name"},
		{"BothFlags", []string{"create_tenant_schema", "--organization_id=1", "--slug=barberia-juan"}, "not both"},
		{"NoFlag", []string{"create_tenant_schema"}, "--organization_id"},
		{"NegativeID", []string{"create_tenant_schema", "--organization_id=-3"}, "número entero positivo"},
		{"IDNotANumber", []string{"create_tenant_schema", "--organization_id=uno"}, "número entero positivo"},
		{"UnknownFlag", []string{"list_tenants", "--todos"}, "unknown flag"},
		{"UnknownCommand", []string{"migrar_todo"}, "unknown command"},
		{"PositionalArgument", []string{"migrate", "ahora"}, "takes no arguments"},
		{"CreateOrganizationWithoutName", []string{"create_organization"}, "--name is required"},
		{"CreateOrganizationBadSlug", []string{"create_organization", "--nombre", "X", "--slug", "Mi Slug"}, "invalid name"},
		{"CreateOrganizationTakenSlug", []string{"create_organization", "--nombre", "X", "--slug", "barberia-juan"}, "already used"},
		{"CreateOrganizationBadTimeZone", []string{"create_organization", "--nombre", "X", "--time-zone", "Marte/Olimpo"}, "IANA"},
		{"CreateOrganizationUnknownServer", []string{"create_organization", "--nombre", "X", "--server", "otro"}, "unknown database server"},
		{"ZeroWorkers", []string{"migrate_all_tenants", "--workers", "0"}, "--workers"},
		{"SchemaNotATenant", []string{"migrate_all_tenants", "--schema", "public"}, "invalid name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.run(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || !strings.HasPrefix(r.stderr, "Error: ") {
				t.Errorf("appcitas %s: %s\nwant exit 2 and \"Error: ...%s...\"", strings.Join(tt.args, " "), r, tt.want)
			}
		})
	}
	if n := len(organizationsOf(t, app)); n != 1 {
		t.Errorf("%d organizations after the rejected commands; want 1", n)
	}
}

func organizationsOf(t *testing.T, app appcitas) []org {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), app.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	return organizations(t, conn)
}

func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	app := appcitas{env: map[string]string{
		"DATABASE_URL":  "postgres://appcitas:secreto@127.0.0.1:1/appcitas?sslmode=disable&connect_timeout=5",
		"APPCITAS_DATA": t.TempDir(),
	}}
	for _, args := range [][]string{{"migrate"}, {"list_tenants"}, {"migrate_all_tenants"}, {"create_tenant_schema", "--organization_id=1"}} {
		r := app.run(t, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "Error: cannot reach the database") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("appcitas %s with the database down: %s\nwant exit 1 and one line \"Error: cannot reach the database...\"", strings.Join(args, " "), r)
		}
		if strings.Contains(r.stderr, "secreto") {
			t.Errorf("the error shows the database password: %s", r.stderr)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	app := appcitas{env: map[string]string{"APPCITAS_LOG_LEVEL": "ruidoso"}}
	r := app.run(t, "list_tenants")
	if r.code != 2 || !strings.Contains(r.stderr, "APPCITAS_LOG_LEVEL") {
		t.Errorf("bad APPCITAS_LOG_LEVEL: %s\nwant exit 2 naming the variable", r)
	}
}

// subcommands returns the commands a help text lists under "Available Commands:" or a command
// group's title (such as "Tenants:"), without cobra's own help and completion. Only the part after
// "Usage:" is read: a command's long description may have lists of its own.
func subcommands(help string) []string {
	var commands []string
	inList := false
	_, help, _ = strings.Cut(help, "\nUsage:\n")
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "":
			inList = false
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":"):
			switch line {
			case "Usage:", "Aliases:", "Examples:", "Flags:", "Global Flags:", "Additional help topics:":
				inList = false
			default:
				inList = true
			}
		case inList:
			if fields := strings.Fields(line); fields[0] != "help" && fields[0] != "completion" {
				commands = append(commands, fields[0])
			}
		}
	}
	return commands
}

// TestHelpHasExamples checks every command's --help, walking command groups down to their
// commands: each shows an example of itself.
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	app := appcitas{env: map[string]string{"APPCITAS_DATA": t.TempDir()}}
	commands := subcommands(app.must(t, "--help").stdout)
	for _, want := range []string{"migrate", "create_organization", "create_tenant_schema", "assign_schema_names", "list_tenants", "migrate_all_tenants", "serve", "dbshell"} {
		found := false
		for _, c := range commands {
			found = found || c == want
		}
		if !found {
			t.Errorf("appcitas --help does not list %s: %v", want, commands)
		}
	}
	var check func(t *testing.T, path []string)
	check = func(t *testing.T, path []string) {
		r := app.must(t, append(slices.Clone(path), "--help")...)
		if subs := subcommands(r.stdout); len(subs) > 0 {
			if !strings.Contains(r.stdout, "Examples:") {
				t.Logf("command group appcitas %s has no example of its own; checking its commands", strings.Join(path, " "))
			}
			for _, sub := range subs {
				t.Run(sub, func(t *testing.T) { check(t, append(slices.Clone(path), sub)) })
			}
			return
		}
		_, examples, ok := strings.Cut(r.stdout, "Examples:\n")
		if !ok || !strings.Contains(examples, "appcitas "+strings.Join(path, " ")) {
			t.Errorf("appcitas %s --help has no example of the command:\n%s", strings.Join(path, " "), r.stdout)
		}
	}
	for _, c := range commands {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			check(t, []string{c})
		})
	}
}

// TestLoginRoleCheck: every command that opens the database checks the role it logs in as.
func TestLoginRoleCheck(t *testing.T) {
	t.Parallel()
	if !pgtest.RolePerDatabase(t) {
		t.Skip("TEST_DATABASE_URL's role cannot create roles: the tests log in as it")
	}

	t.Run("WarnsThatASuperuserShouldNotBeTheLoginRole", func(t *testing.T) {
		t.Parallel()
		app, _ := newApp(t)
		app.env["DATABASE_URL"] = pgtest.SuperuserURL(t, app.env["DATABASE_URL"])
		r := app.must(t, "migrate")
		if !strings.Contains(r.stderr, "the database login role is a superuser; it should not be") {
			t.Errorf("no warning about the superuser:\n%s", r)
		}
	})

	t.Run("SaysNothingForTheRecommendedRole", func(t *testing.T) {
		t.Parallel()
		app, _ := newApp(t)
		r := app.must(t, "migrate")
		if strings.Contains(r.stderr, "login role") {
			t.Errorf("a warning for a NOINHERIT CREATEROLE owner:\n%s", r)
		}
	})

	t.Run("RefusesARoleThatCannotProvisionAndSaysHowToFixIt", func(t *testing.T) {
		t.Parallel()
		app, conn := newApp(t)
		name := "sin_createrole_" + strings.ToLower(rand.Text()[:8])
		opsExec(t, conn, `CREATE ROLE `+name+` LOGIN NOINHERIT PASSWORD 'clave'`)
		t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `DROP ROLE IF EXISTS `+name) })
		u, err := url.Parse(app.env["DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(name, "clave")
		app.env["DATABASE_URL"] = u.String()
		r := app.run(t, "migrate")
		if r.code == 0 {
			t.Fatalf("migrate as a role without CREATEROLE succeeded:\n%s", r)
		}
		for _, want := range []string{"lacks CREATEROLE", `ALTER ROLE "` + name + `" CREATEROLE`, `ALTER SCHEMA public OWNER TO "` + name + `"`} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r)
			}
		}
		if strings.Contains(r.stderr, "SQLSTATE") {
			t.Errorf("a raw database error instead of the check's message:\n%s", r)
		}
	})
}

func TestDbshellGivesPsqlTheWholeURL(t *testing.T) {
	// A stand-in psql on PATH prints what it was given.
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"args: $*\"\necho \"password: $PGPASSWORD\"\n"
	if err := os.WriteFile(filepath.Join(dir, "psql"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	url := "postgres://app:s3cret@db.invalid:5432/appcitas?sslmode=verify-full&application_name=appcitas-shell"
	r := appcitas{env: map[string]string{"DATABASE_URL": url}}.must(t, "dbshell", "--", "-c", "SELECT 1")
	want := "args: -d postgres://app@db.invalid:5432/appcitas?application_name=appcitas-shell&sslmode=verify-full -c SELECT 1\npassword: s3cret\n"
	if r.stdout != want {
		t.Errorf("psql got\n%s\nwant\n%s", r.stdout, want)
	}
}

func TestDemoPrintsTheAddressServeListensOn(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	app.must(t, "migrate")
	app.env["APPCITAS_JWT_SECRET"] = strings.Repeat("demo-secret-", 4)
	r := app.must(t, "demo", "--days", "1", "--addr", "127.0.0.1:9000")
	if !strings.Contains(r.stdout, "export BASE=http://127.0.0.1:9000\n") {
		t.Errorf("demo --addr 127.0.0.1:9000 does not print that BASE:\n%s", r)
	}
	app.env["APPCITAS_ADDR"] = "0.0.0.0:9100"
	r = app.must(t, "demo", "--days", "1")
	if !strings.Contains(r.stdout, "export BASE=http://127.0.0.1:9100\n") {
		t.Errorf("demo with APPCITAS_ADDR=0.0.0.0:9100 does not print BASE=http://127.0.0.1:9100:\n%s", r)
	}
}

// embeddedApp returns an appcitas on its own embedded cluster (no DATABASE_URL).
func embeddedApp(t *testing.T) appcitas {
	t.Helper()
	dir, err := os.MkdirTemp("", "appcitas-cli-embedded-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// As root, PostgreSQL runs as the postgres user, which must enter the directory.
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return appcitas{env: map[string]string{"APPCITAS_DATA": filepath.Join(dir, "data")}}
}

func TestCommandsAreQuietUnlessVerbose(t *testing.T) {
	t.Parallel()
	app := embeddedApp(t)
	t.Run("PrintsOnlyTheOutput", func(t *testing.T) {
		r := app.must(t, "migrate")
		if r.stderr != "" {
			t.Errorf("migrate on the embedded cluster wrote to stderr:\n%s", r)
		}
	})
	t.Run("PrintsAnErrorOnOneLine", func(t *testing.T) {
		r := app.run(t, "create_tenant_schema", "--organization_id=999")
		if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("want a failure with exactly one line on stderr:\n%s", r)
		}
	})
	t.Run("LogsTheClusterWithVerbose", func(t *testing.T) {
		for _, flag := range []string{"-v", "--verbose"} {
			r := app.must(t, "list_tenants", flag)
			if !strings.Contains(r.stderr, "postgres ready") || !strings.Contains(r.stderr, "stopping postgres") {
				t.Errorf("list_tenants %s does not log the cluster's start and stop:\n%s", flag, r)
			}
		}
	})
}

// TestAnErrorOfSeveralLinesIsPrintedOnOne: with sslmode=prefer (the default) pgx tries TLS,
// then plain, and joins both failures with a newline.
func TestAnErrorOfSeveralLinesIsPrintedOnOne(t *testing.T) {
	t.Parallel()
	r := appcitas{env: map[string]string{"DATABASE_URL": "postgres://nobody:secreto@127.0.0.1:1/none?connect_timeout=1"}}.run(t, "list_tenants")
	if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "secreto") {
		t.Errorf("want one line on stderr, without the password:\n%s", r)
	}
}

func TestSmallCommandLineDefects(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)

	t.Run("MigrateAllTenantsRefusesAnUnknownSchemaBeforeMigratingAnything", func(t *testing.T) {
		r := app.run(t, "migrate_all_tenants", "--schema", "tenant_unknown_12345678")
		if r.code != 2 || strings.Contains(r.stdout, "PUBLIC") || !strings.Contains(r.stderr, "tenant_unknown_12345678") {
			t.Errorf("want exit 2 before migrating public:\n%s", r)
		}
		var public bool
		if err := conn.QueryRow(t.Context(), `SELECT to_regclass('public.organizacion_organizacion') IS NOT NULL`).Scan(&public); err != nil {
			t.Fatal(err)
		}
		if public {
			t.Errorf("public was migrated")
		}
		app.must(t, "migrate")
		if r := app.run(t, "migrate_all_tenants", "--schema", "tenant_unknown_12345678"); r.code != 2 || strings.Contains(r.stdout, "Migrando") {
			t.Errorf("with public migrated: want exit 2 and nothing migrated:\n%s", r)
		}
	})

	app.must(t, "create_organization", "--nombre", "Barbería Juan")
	t.Run("OrganizationIDFlagsSayWhatIsWrong", func(t *testing.T) {
		tests := []struct {
			args []string
			want string
		}{
			{[]string{"create_tenant_schema", "--organization_id=abc"}, "--organization_id debe ser un número entero positivo"},
			{[]string{"create_tenant_schema", "--organization_id=-3"}, "--organization_id debe ser un número entero positivo"},
			{[]string{"create_tenant_schema", "--organization_id=0"}, "--organization_id=0 no es un id válido"},
			{[]string{"subscriptions", "history", "--organization_id=x1"}, "--organization_id debe ser un número entero positivo"},
			{[]string{"list_backups", "--organization_id=abc"}, "--organization_id debe ser un número entero positivo"},
			{[]string{"restore_tenant", "x.appcitas-backup", "--organization_id=0"}, "--organization_id=0 no es un id válido"},
			{[]string{"create_tenant_schema", "--organization_id=99999999999999999999"}, "--organization_id debe ser un número entero positivo"},
		}
		for _, tt := range tests {
			r := app.run(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "strconv") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("appcitas %s: want exit 2 and one line with %q:\n%s", strings.Join(tt.args, " "), tt.want, r)
			}
		}
	})

	t.Run("SubscriptionHistoryWithoutASubscriptionIsAnError", func(t *testing.T) {
		// Every organization starts with a subscription (public migration 0012); this one lost it.
		if _, err := conn.Exec(t.Context(), `DELETE FROM public.billing_suscripcion WHERE organizacion_id =
			(SELECT id FROM public.organizacion_organizacion WHERE slug = 'barberia-juan')`); err != nil {
			t.Fatal(err)
		}
		r := app.run(t, "subscriptions", "history", "--slug=barberia-juan")
		if r.code == 0 || !strings.Contains(r.stderr, "no tiene suscripción") || strings.Contains(r.stdout, "EN") {
			t.Errorf("want a clear error and a non-zero exit:\n%s", r)
		}
	})
}
