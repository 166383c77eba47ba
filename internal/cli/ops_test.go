package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/cli"
	"github.com/appcitas/appcitas/internal/pgserver"
	"github.com/appcitas/appcitas/internal/pgtest"
)

// opsQuery reads one value with the test's superuser connection.
func opsQuery[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func opsExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// seedTenant adds two branches and n services to a tenant schema, as the superuser.
func seedTenant(t *testing.T, conn *pgx.Conn, schema string, n int) {
	t.Helper()
	opsExec(t, conn, fmt.Sprintf(`INSERT INTO %[1]s.organizacion_sede (nombre, zona_horaria) VALUES ('Centro', 'America/Bogota'), ('Norte', 'UTC');
		INSERT INTO %[1]s.citas_servicio (nombre, duracion_minutos, precio_centavos) SELECT 'S' || g, 30, g FROM generate_series(1, %[2]d) g`,
		pgx.Identifier{schema}.Sanitize(), n))
}

var backupPathLine = regexp.MustCompile(`(?m)^  (\S+\.appcitas-backup) \(verificado\)$`)

func backupPath(t *testing.T, r result) string {
	t.Helper()
	m := backupPathLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no backup path in the output:\n%s", r)
	}
	return m[1]
}

func schemaCount(t *testing.T, conn *pgx.Conn) int64 {
	return opsQuery[int64](t, conn, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`)
}

func TestBackupAndRestoreCommands(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan")
	orgs := organizations(t, conn)
	juan := orgs[0]
	seedTenant(t, conn, juan.schema, 12)

	r := app.must(t, "backup_tenant", "--organization_id", fmt.Sprint(juan.id))
	path := backupPath(t, r)
	if !strings.HasPrefix(path, filepath.Join(app.env["APPCITAS_DATA"], "backups", juan.schema)+"/") {
		t.Errorf("default backup path %s is not under $APPCITAS_DATA/backups/<schema>/", path)
	}
	matches(t, r.stdout, `Backup de Barbería Juan \(schema `+juan.schema+`, versión \d+\): \d+ tablas, 14 filas`)

	r = app.must(t, "list_backups", "--organization_id", fmt.Sprint(juan.id))
	if !strings.Contains(r.stdout, path) || !strings.Contains(r.stdout, juan.schema) {
		t.Errorf("list_backups does not show %s:\n%s", path, r)
	}

	t.Run("StreamsToStandardOutput", func(t *testing.T) {
		r := app.must(t, "backup_tenant", "--slug", "barberia-juan", "--out", "-")
		man, err := backup.Verify(bytes.NewReader([]byte(r.stdout)))
		if err != nil || man.Organization.ID != juan.id {
			t.Errorf("--out - did not write a valid archive of %d: %v", juan.id, err)
		}
	})

	t.Run("RefusesAmbiguousRestoreOfAnExistingTenant", func(t *testing.T) {
		r := app.run(t, "restore_tenant", path)
		if r.code != 2 || !strings.Contains(r.stderr, "--organization_id="+fmt.Sprint(juan.id)) {
			t.Errorf("want exit 2 suggesting --organization_id:\n%s", r)
		}
	})

	t.Run("RefusesCorruptArchiveAndChangesNothing", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "truncado.appcitas-backup")
		if err := os.WriteFile(bad, data[:len(data)*2/3], 0o600); err != nil {
			t.Fatal(err)
		}
		before := schemaCount(t, conn)
		for _, args := range [][]string{{"--new-slug", "copia"}, {"--organization_id", fmt.Sprint(juan.id)}} {
			r := app.run(t, append([]string{"restore_tenant", bad}, args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "corrupt") {
				t.Errorf("restore_tenant of a truncated file %v: want exit 2 and a clear error:\n%s", args, r)
			}
		}
		if len(organizations(t, conn)) != 1 || schemaCount(t, conn) != before {
			t.Errorf("a refused restore changed the catalog or the schemas")
		}
		r := app.run(t, "restore_tenant", filepath.Join(t.TempDir(), "no-existe.appcitas-backup"), "--new-slug", "x")
		if r.code != 2 {
			t.Errorf("missing file: want exit 2:\n%s", r)
		}
	})

	t.Run("RestoresACopyAndReplacesTheOriginal", func(t *testing.T) {
		r := app.must(t, "restore_tenant", path, "--new-slug", "juan-soporte", "--nombre", "Juan (soporte)")
		matches(t, r.stdout, `Restaurado Juan \(soporte\) \(id: \d+, slug: juan-soporte\) en el schema tenant_juan_soporte_[0-9a-f]{8}, servidor default`)
		var copySchema string
		for _, o := range organizations(t, conn) {
			if o.name == "Juan (soporte)" {
				copySchema = o.schema
			}
		}
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM `+pgx.Identifier{copySchema}.Sanitize()+`.citas_servicio`); n != 12 {
			t.Errorf("copy has %d services, want 12", n)
		}

		opsExec(t, conn, `DELETE FROM `+pgx.Identifier{juan.schema}.Sanitize()+`.citas_servicio`)
		r = app.must(t, "restore_tenant", path, "--organization_id", fmt.Sprint(juan.id))
		inOrder(t, r.stdout, "✓ Estado anterior respaldado en ", "✓ Restaurado Barbería Juan", "✓ Schema anterior "+juan.schema+" eliminado")
		now := opsQuery[string](t, conn, `SELECT schema_name FROM public.organizacion_organizacion WHERE id = $1`, juan.id)
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM `+pgx.Identifier{now}.Sanitize()+`.citas_servicio`); n != 12 {
			t.Errorf("replaced tenant has %d services, want 12", n)
		}
		r = app.must(t, "list_backups", "--organization_id", fmt.Sprint(juan.id))
		if got := strings.Count(r.stdout, ".appcitas-backup"); got < 2 {
			t.Errorf("want the pre-restore backup listed too:\n%s", r)
		}

		// The backup state follows the organization to its new schema.
		r = app.must(t, "list_backups", "--status")
		if line := lineWith(r.stdout, fmt.Sprintf("%-6d ", juan.id)); line == "" || strings.Contains(line, "nunca") {
			t.Errorf("list_backups --status shows no backup of the restored organization:\n%s", r)
		}
		r = app.must(t, "list_tenants")
		if i := strings.Index(r.stdout, now); i < 0 || strings.Contains(lineWith(r.stdout[i:], "último backup"), "nunca") {
			t.Errorf("list_tenants shows no backup of the restored organization:\n%s", r)
		}
	})

	t.Run("BadInputExitsTwo", func(t *testing.T) {
		for _, args := range [][]string{
			{"backup_tenant"},
			{"backup_tenant", "--organization_id", "999"},
			{"restore_tenant"},
			{"restore_tenant", path, "--organization_id", "1", "--new-slug", "x"},
			{"restore_tenant", path, "--new-slug", "Not A Slug"},
			{"restore_tenant", path, "--new-slug", "x", "--server", "nowhere"},
			{"list_backups", "--organization_id", "-1"},
		} {
			if r := app.run(t, args...); r.code != 2 {
				t.Errorf("appcitas %s: want exit 2:\n%s", strings.Join(args, " "), r)
			}
		}
	})
}

func TestDropAndPurgeCommands(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Se Va")
	app.must(t, "create_organization", "--nombre", "Se Purga")
	orgs := organizations(t, conn)
	va, purga := orgs[0], orgs[1]
	seedTenant(t, conn, va.schema, 5)
	exists := func(schema string) bool {
		return opsQuery[bool](t, conn, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema)
	}

	r := app.must(t, "drop_tenant", "--organization_id", fmt.Sprint(va.id))
	inOrder(t, r.stdout, "desactivada", "✓ Backup final: ", "Nada fue eliminado", "--confirm "+va.schema)
	if !exists(va.schema) || opsQuery[bool](t, conn, `SELECT is_active FROM public.organizacion_organizacion WHERE id = $1`, va.id) {
		t.Fatalf("drop_tenant without --confirm must deactivate and keep the schema")
	}
	r = app.run(t, "drop_tenant", "--organization_id", fmt.Sprint(va.id), "--confirm", purga.schema)
	if r.code != 2 || !exists(va.schema) {
		t.Fatalf("a --confirm naming another schema must exit 2 and drop nothing:\n%s", r)
	}
	r = app.must(t, "drop_tenant", "--organization_id", fmt.Sprint(va.id), "--confirm", va.schema)
	final := backupPath(t, result{stdout: finalBackupLine(r.stdout)})
	if exists(va.schema) || opsQuery[bool](t, conn, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, va.schema) {
		t.Errorf("schema or role of %s left behind", va.schema)
	}
	if len(organizations(t, conn)) != 1 {
		t.Errorf("organization %d not deleted", va.id)
	}

	t.Run("FinalBackupBringsTheTenantBack", func(t *testing.T) {
		r := app.must(t, "restore_tenant", final)
		matches(t, r.stdout, `Restaurado Se Va \(id: \d+, slug: se-va\)`)
		var back string
		for _, o := range organizations(t, conn) {
			if o.name == "Se Va" {
				back = o.schema
			}
		}
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM `+pgx.Identifier{back}.Sanitize()+`.citas_servicio`); n != 5 {
			t.Errorf("restored tenant has %d services, want 5", n)
		}
	})

	t.Run("PurgeDropsOnlyAfterRetention", func(t *testing.T) {
		app.must(t, "drop_tenant", "--organization_id", fmt.Sprint(purga.id))
		r := app.must(t, "purge_tenants", "--older-than", "720h")
		if !strings.Contains(r.stdout, "Ningún tenant") {
			t.Errorf("a tenant deactivated just now is not due:\n%s", r)
		}
		opsExec(t, conn, fmt.Sprintf(`UPDATE public.organizacion_organizacion SET updated_at = now() - interval '40 days' WHERE id = %d`, purga.id))
		r = app.must(t, "purge_tenants", "--older-than", "720h")
		if !strings.Contains(r.stdout, purga.schema) || !exists(purga.schema) {
			t.Errorf("without --confirm purge lists and keeps:\n%s", r)
		}
		r = app.must(t, "purge_tenants", "--older-than", "720h", "--confirm")
		inOrder(t, r.stdout, "✓ Backup final: ", "eliminados", "1 eliminados, 0 fallidos")
		if exists(purga.schema) {
			t.Errorf("purge left %s", purga.schema)
		}
		if r := app.run(t, "purge_tenants"); r.code != 2 {
			t.Errorf("purge_tenants without --older-than: want exit 2:\n%s", r)
		}
	})
}

// finalBackupLine turns drop_tenant's "✓ Backup final: PATH (...)" into backupPath's shape.
func finalBackupLine(stdout string) string {
	m := regexp.MustCompile(`✓ Backup final: (\S+)`).FindStringSubmatch(stdout)
	if m == nil {
		return ""
	}
	return "  " + m[1] + " (verificado)\n"
}

// TestDropTenantWithManyTables drops a tenant with hundreds of tables on a cluster whose lock table is
// too small for one DROP SCHEMA ... CASCADE of it.
func TestDropTenantWithManyTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "appcitas-locks-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: dir, Fast: true,
		// huge_pages off: with huge pages on the host, PostgreSQL rounds shared memory up to a
		// huge page and the lock table grows into the slack, so the DROP below would fit.
		Settings: map[string]string{"max_locks_per_transaction": "10", "max_connections": "20", "huge_pages": "off"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
		os.RemoveAll(dir)
	})
	app := appcitas{env: map[string]string{"DATABASE_URL": srv.URL(), "APPCITAS_DATA": t.TempDir()}}
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Muchas Tablas")
	// The test's own look and its tables come from the superuser: the app's role is NOINHERIT.
	conn, err := pgx.Connect(ctx, srv.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	o := organizations(t, conn)[0]
	q := pgx.Identifier{o.schema}.Sanitize()
	const tables = 150
	for i := 0; i < tables; i += 10 {
		var b strings.Builder
		for j := i; j < i+10; j++ {
			fmt.Fprintf(&b, "CREATE TABLE %s.extra_%03d (id bigint PRIMARY KEY, nota text); ALTER TABLE %s.extra_%03d OWNER TO %s;\n", q, j, q, j, q)
		}
		opsExec(t, conn, b.String())
	}
	// The lock table cannot hold one DROP SCHEMA ... CASCADE of this tenant.
	_, err = conn.Exec(ctx, "BEGIN; DROP SCHEMA "+q+" CASCADE; ROLLBACK;")
	if err == nil || !strings.Contains(err.Error(), "53200") { // out of shared memory: raise max_locks_per_transaction
		t.Fatalf("want DROP SCHEMA CASCADE to exhaust max_locks_per_transaction, got %v", err)
	}
	_, _ = conn.Exec(ctx, "ROLLBACK")

	r := app.must(t, "drop_tenant", "--organization_id", fmt.Sprint(o.id), "--confirm", o.schema)
	inOrder(t, r.stdout, "✓ Backup final: ", "eliminados")
	if n := opsQuery[int64](t, conn, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, o.schema); n != 0 {
		t.Errorf("schema %s still exists", o.schema)
	}
}

// TestCommandsOnSeveralServers runs the tenant commands with a second PostgreSQL cluster configured
// as server "second".
func TestCommandsOnSeveralServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "appcitas-second-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
		os.RemoveAll(dir)
	})
	second, err := pgx.Connect(ctx, srv.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctx)
	// The second cluster is fresh: provisioning there must install what tenant migrations need.
	secondPort := opsQuery[string](t, second, `SELECT current_setting('port')`)

	app, conn := newApp(t)
	app.env["APPCITAS_SERVERS"] = "second=" + srv.URL()
	defaultPort := opsQuery[string](t, conn, `SELECT current_setting('port')`)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Local")
	r := app.must(t, "create_organization", "--nombre", "Remota", "--server", "second")
	matches(t, r.stdout, `servidor second\)`)
	orgs := organizations(t, conn)
	local, remote := orgs[0], orgs[1]
	seedTenant(t, second, remote.schema, 4)
	seedTenant(t, conn, local.schema, 3)

	r = app.must(t, "list_tenants")
	matches(t, r.stdout, `^`+fmt.Sprint(remote.id)+`\s+Remota\s+`+remote.schema+`\s+.*second$`)
	matches(t, r.stdout, `second:`+remote.schema)

	t.Run("ConfiguredServersJoinTheCatalog", func(t *testing.T) {
		r := app.must(t, "list_servers")
		matches(t, r.stdout, `(?m)^second\s+127\.0\.0\.1\s+\d+\s+\S+\s+\S+\s+1\s+APPCITAS_SERVERS$`)
		if r := app.run(t, "remove_server", "--name", "second"); r.code != 2 || !strings.Contains(r.stderr, "still holds tenants") {
			t.Errorf("remove_server of a server with tenants: want exit 2:\n%s", r)
		}
		if r := app.run(t, "add_server", "--name", "muerto", "--host", "127.0.0.1", "--port", "1", "--database", "x"); r.code != 2 || !strings.Contains(r.stderr, "does not answer") {
			t.Errorf("add_server of a server that does not answer: want exit 2:\n%s", r)
		}
	})

	t.Run("MigrateAllTenantsCoversEveryServer", func(t *testing.T) {
		newer := app
		newer.set = tenantSet(t, `CREATE TABLE nota_prueba (id int)`)
		r := newer.must(t, "migrate_all_tenants", "--skip-public")
		matches(t, r.stdout, `Exitosos: 2`)
		for _, c := range []struct {
			conn   *pgx.Conn
			schema string
		}{{conn, local.schema}, {second, remote.schema}} {
			if v := opsQuery[int](t, c.conn, `SELECT max(version) FROM `+pgx.Identifier{c.schema}.Sanitize()+`.migraciones_tenant`); v != newer.set.Latest() {
				t.Errorf("%s at version %d, want %d", c.schema, v, newer.set.Latest())
			}
		}
		app.set = newer.set // the schemas are now at the newer version
	})

	t.Run("QueryAllTenantsRunsEachTenantOnItsServer", func(t *testing.T) {
		r := app.must(t, "query_all_tenants", "SELECT inet_server_port() AS port, count(*) AS servicios FROM citas_servicio")
		inOrder(t, r.stdout, "organization_id,organization_name,port,servicios\n",
			fmt.Sprintf("%d,Local,%s,3\n", local.id, defaultPort), fmt.Sprintf("%d,Remota,%s,4\n", remote.id, secondPort))
		r = app.run(t, "query_all_tenants", "DELETE FROM citas_servicio")
		if r.code != 2 {
			t.Errorf("a write statement: want exit 2:\n%s", r)
		}
		r = app.run(t, "query_all_tenants", "SELECT nombre FROM citas_servicio WHERE")
		if r.code != 2 || strings.Count(r.stderr, "syntax error") != 1 || !strings.Contains(r.stderr, "position 40") {
			t.Errorf("a syntax error: want exit 2 and one message with its position:\n%s", r)
		}
		r = app.must(t, "query_all_tenants", "SELECT nombre FROM citas_servicio ORDER BY id", "--format", "json", "--max-rows", "2")
		if got := strings.Count(r.stdout, "\n"); got != 2 || !strings.Contains(r.stderr, "cortado") {
			t.Errorf("--max-rows 2: want 2 JSON lines and a truncation note:\n%s", r)
		}
	})

	t.Run("BackupAndRestoreAcrossServers", func(t *testing.T) {
		path := backupPath(t, app.must(t, "backup_tenant", "--organization_id", fmt.Sprint(remote.id)))
		r := app.must(t, "restore_tenant", path, "--new-slug", "remota-en-default")
		matches(t, r.stdout, `servidor default: \d+ tablas`)
		r = app.must(t, "restore_tenant", path, "--new-slug", "remota-copia", "--server", "second")
		matches(t, r.stdout, `servidor second: \d+ tablas`)
	})

	t.Run("MoveTenantSwitchesServerAndKeepsSourceUntilDropped", func(t *testing.T) {
		r := app.must(t, "move_tenant", "--organization_id", fmt.Sprint(local.id), "--to", "second")
		inOrder(t, r.stdout, "movida de default a second", "escrituras en pausa: ", "--drop-source")
		r = app.must(t, "query_all_tenants", "SELECT inet_server_port() AS port, count(*) FROM citas_servicio", "--organization_id", fmt.Sprint(local.id))
		if !strings.Contains(r.stdout, fmt.Sprintf("%d,Local,%s,3\n", local.id, secondPort)) {
			t.Errorf("after the move the tenant is not served from the second server:\n%s", r)
		}
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, local.schema); n != 1 {
			t.Errorf("the source copy must be kept until --drop-source")
		}
		r = app.must(t, "list_tenants")
		matches(t, r.stdout, `^`+fmt.Sprint(local.id)+`\s+Local\s+`+local.schema+`\s+.*second$`)
		r = app.must(t, "move_tenant", "--organization_id", fmt.Sprint(local.id), "--drop-source")
		matches(t, r.stdout, `copia de `+local.schema+` eliminada del servidor default`)
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, local.schema); n != 0 {
			t.Errorf("--drop-source left the source copy")
		}
		if r := app.run(t, "move_tenant", "--organization_id", fmt.Sprint(local.id), "--to", "nowhere"); !strings.Contains(r.stderr, `server "nowhere" is not registered`) {
			t.Errorf("move_tenant to an unregistered server: want a clear message:\n%s", r)
		}
		for _, args := range [][]string{
			{"move_tenant", "--organization_id", fmt.Sprint(local.id), "--to", "nowhere"},
			{"move_tenant", "--organization_id", fmt.Sprint(local.id), "--to", "second"},
			{"move_tenant", "--organization_id", fmt.Sprint(local.id)},
		} {
			if r := app.run(t, args...); r.code != 2 {
				t.Errorf("appcitas %s: want exit 2:\n%s", strings.Join(args, " "), r)
			}
		}
	})
}

func TestBackupAllTenantsCommand(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Uno")
	app.must(t, "create_organization", "--nombre", "Dos")
	orgs := organizations(t, conn)
	// listed returns list_tenants' backup line of each organization (the line under its row).
	listed := func(t *testing.T) map[int64]string {
		t.Helper()
		out := app.must(t, "list_tenants").stdout
		lines := map[int64]string{}
		for _, o := range orgs {
			m := regexp.MustCompile(`(?m)^` + fmt.Sprint(o.id) + `\s+` + o.name + `\s+` + o.schema + `\s.*\n\s+└ (.*)$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("list_tenants has no backup line under %s:\n%s", o.name, out)
			}
			lines[o.id] = m[1]
		}
		return lines
	}
	const stamp = `\d{4}-\d\d-\d\d \d\d:\d\d UTC`

	r := app.must(t, "list_backups", "--status")
	matches(t, r.stdout, `^`+fmt.Sprint(orgs[0].id)+`\s+Uno\s+`+orgs[0].schema+`\s+nunca`)
	for _, line := range listed(t) {
		matches(t, line, `^último backup: nunca$`)
	}

	r = app.must(t, "backup_all_tenants")
	matches(t, r.stdout, `^2 respaldados, 0 fallidos`)
	r = app.must(t, "list_backups", "--status")
	matches(t, r.stdout, `^`+fmt.Sprint(orgs[1].id)+`\s+Dos\s+`+orgs[1].schema+`\s+\d{4}-\d\d-\d\d \d\d:\d\d \(hace 0s\)\s+-$`)
	for _, line := range listed(t) {
		matches(t, line, `^último backup: `+stamp+`$`)
	}
	if out := app.must(t, "list_tenants").stdout; strings.Contains(out, "⚠") {
		t.Errorf("warnings with every backup fine:\n%s", out)
	}

	opsExec(t, conn, "DROP SCHEMA "+pgx.Identifier{orgs[1].schema}.Sanitize()+" CASCADE")
	r = app.run(t, "backup_all_tenants")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ "+orgs[1].schema) {
		t.Errorf("a failing tenant: want exit 1 naming it:\n%s", r)
	}
	r = app.must(t, "list_backups", "--status")
	matches(t, r.stdout, `^`+fmt.Sprint(orgs[1].id)+`\s+Dos\s+.*\d\d:\d\d: .*does not exist`)
	lines := listed(t)
	matches(t, lines[orgs[0].id], `^último backup: `+stamp+`$`)
	matches(t, lines[orgs[1].id], `^último backup: `+stamp+` · ✗ FALLÓ `+stamp+`: .*does not exist`)
	matches(t, app.must(t, "list_tenants").stdout, `^⚠ falló el último backup de Dos \(id `+fmt.Sprint(orgs[1].id)+`\)`)
	if r := app.run(t, "backup_all_tenants", "--schedule", "extra"); r.code != 2 {
		t.Errorf("want exit 2 for a stray argument:\n%s", r)
	}
}

// TestBackupScheduleCommand runs `backup_all_tenants --schedule` until its backup jobs for every
// active tenant are queued in River (the worker itself is tested in internal/jobs), then stops it.
func TestBackupScheduleCommand(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Uno")
	app.must(t, "create_organization", "--nombre", "Dos")
	orgs := organizations(t, conn)
	app.env["APPCITAS_BACKUP_EVERY"] = "1h"

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"backup_all_tenants", "--schedule"}, Stdin: strings.NewReader(""),
			Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return app.env[k] }})
	}()
	queued := func() int64 {
		var n int64
		_ = conn.QueryRow(t.Context(), `SELECT count(DISTINCT args->>'schema') FROM river.river_job
			WHERE kind = 'backup_tenant' AND queue = 'backup' AND args->>'schema' = ANY($1)`, []string{orgs[0].schema, orgs[1].schema}).Scan(&n)
		return n
	}
	for queued() < 2 {
		select {
		case code := <-done:
			t.Fatalf("backup_all_tenants --schedule exited (%d) before queueing the backups:\n%s%s", code, stdout.String(), stderr.String())
		case <-ctx.Done():
			t.Fatalf("no backup jobs queued for both tenants:\n%s%s", stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("stopped schedule: exit %d, want 0:\n%s%s", code, stdout.String(), stderr.String())
	}
}

// TestPgDumpPathStillWorks follows the guide's interoperable path: pg_dump -n of one tenant schema,
// DROP SCHEMA, then psql to restore it, with the tenant's role created first (roles are not in a
// pg_dump -n file) and create_tenant_schema to check it and record it in the ledger.
func TestPgDumpPathStillWorks(t *testing.T) {
	t.Parallel()
	srv := pgtest.Server(t)
	if srv == nil {
		t.Skip("needs the throwaway cluster's pg_dump and psql (TEST_DATABASE_URL is set)")
	}
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Clásica")
	o := organizations(t, conn)[0]
	seedTenant(t, conn, o.schema, 6)
	// pg_dump and psql are an operator's tools: they run as the superuser.
	cfg, err := pgx.ParseConfig(pgtest.SuperuserURL(t, app.env["DATABASE_URL"]))
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PGHOST="+cfg.Host, fmt.Sprintf("PGPORT=%d", cfg.Port), "PGUSER="+cfg.User,
		"PGPASSWORD="+cfg.Password, "PGDATABASE="+cfg.Database)
	dump := filepath.Join(t.TempDir(), "clasica.sql")
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(srv.BinDir(), name), args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("pg_dump", "-n", o.schema, "-f", dump)
	q := pgx.Identifier{o.schema}.Sanitize()
	opsExec(t, conn, "DROP SCHEMA "+q+" CASCADE")
	// The role survives DROP SCHEMA (create it with CREATE ROLE ... NOLOGIN; GRANT ... TO <app user>
	// on a new server).
	run("psql", "-v", "ON_ERROR_STOP=1", "-q", "-f", dump)
	r := app.must(t, "create_tenant_schema", "--organization_id", fmt.Sprint(o.id))
	matches(t, r.stdout, `ya existe y está al día`)
	if n := opsQuery[int64](t, conn, `SELECT count(*) FROM `+q+`.citas_servicio`); n != 6 {
		t.Errorf("restored %d services, want 6", n)
	}
	// And backup_tenant reads the restored schema.
	app.must(t, "backup_tenant", "--organization_id", fmt.Sprint(o.id))
}

// lineWith returns the first line of out that contains substr ("" if none).
func lineWith(out, substr string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}
