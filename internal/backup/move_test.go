package backup_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestSeveralServers runs on two clusters: the default one and "second", started for this test.
func TestSeveralServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, srv := startCluster(t, nil)
	setup2 := func(t *testing.T) (*fixture, string) {
		second := srv.URLFor(newClusterDB(t, srv))
		return setup(t, setupOptions{servers: map[string]string{"second": second}}), second
	}
	port := func(url string) string {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(int(cfg.Port))
	}

	t.Run("RunUsesTheServerThatHoldsTheTenant", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		here := f.newOrg(t, "Aquí", "", 1)
		there := f.newOrg(t, "Allá", "second", 1)
		if there.DatabaseName != "second" {
			t.Fatalf("there.DatabaseName = %q; want %q", there.DatabaseName, "second")
		}
		if want, got := port(f.url), f.serverPort(t, here); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
		if want, got := port(second), f.serverPort(t, there); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
		if !schemaExists(t, second, there.SchemaName) {
			t.Fatal("schemaExists(t, second, there.SchemaName) is false; want true")
		}
		if schemaExists(t, f.url, there.SchemaName) {
			t.Fatal("schemaExists(t, f.url, there.SchemaName) is true; want false")
		}
		if schemaExists(t, second, here.SchemaName) {
			t.Fatal("schemaExists(t, second, here.SchemaName) is true; want false")
		}
	})

	t.Run("BacksUpAndRestoresAcrossServers", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		there := f.newOrg(t, "Remota", "second", 30)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, there)
		if err != nil {
			t.Fatal(err)
		}
		if res.Manifest.Organization.Server != "second" {
			t.Fatalf("res.Manifest.Organization.Server = %q; want %q", res.Manifest.Organization.Server, "second")
		}
		// A copy on the default server, and the same tenant replaced onto the default server.
		cp, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "remota-copia", KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		if cp.Organization.DatabaseName != tenancy.DefaultServer {
			t.Fatalf("cp.Organization.DatabaseName = %q; want %q", cp.Organization.DatabaseName, tenancy.DefaultServer)
		}
		if want, got := f.sums(t, there), f.sums(t, cp.Organization); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{ReplaceID: there.ID, Server: tenancy.DefaultServer, PreBackup: backup.Store{Root: f.dir}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.OldSchemaErr; err != nil {
			t.Fatal(err)
		}
		if r.Organization.DatabaseName != tenancy.DefaultServer {
			t.Fatalf("r.Organization.DatabaseName = %q; want %q", r.Organization.DatabaseName, tenancy.DefaultServer)
		}
		if want, got := port(f.url), f.serverPort(t, r.Organization); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
		if schemaExists(t, second, there.SchemaName) {
			t.Fatal("old schema dropped from the second server")
		}
	})

	t.Run("MigrateAllReachesEveryServer", func(t *testing.T) {
		t.Parallel()
		f, _ := setup2(t)
		here := f.newOrg(t, "Uno", "", 0)
		there := f.newOrg(t, "Dos", "second", 0)
		base := f.m.TenantMigrations()
		newer, err := base.With(migrateColor(base.Latest() + 1))
		if err != nil {
			t.Fatal(err)
		}
		f3 := setupWith(t, f, &newer)
		rep, err := f3.m.MigrateAll(ctx, tenancy.FleetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Succeeded) != 2 {
			t.Fatalf("len(rep.Succeeded) = %d; want %d: %v", len(rep.Succeeded), 2, rep.Succeeded)
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
		for _, org := range []tenancy.Organization{here, there} {
			if want, got := int64(newer.Latest()), f3.count(t, org, `SELECT max(version) FROM migraciones_tenant`); got != want {
				t.Fatalf("got %v; want %v", got, want)
			}
		}
		st, err := f3.m.TenantStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.Version != newer.Latest() {
				t.Fatalf("s.Version = %v; want %v", s.Version, newer.Latest())
			}
		}
	})

	t.Run("MovesTenantAndKeepsSourceUntilDropped", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		org := f.newOrg(t, "Viajera", "", 300)
		other := f.newOrg(t, "Quieta", "", 3)
		otherSums := f.sums(t, other)
		want := f.sums(t, org)

		res, err := backup.Move(ctx, f.m, org, "second")
		if err != nil {
			t.Fatal(err)
		}
		if res.Organization.DatabaseName != "second" {
			t.Fatalf("res.Organization.DatabaseName = %q; want %q", res.Organization.DatabaseName, "second")
		}
		if !reflect.DeepEqual(res.Sums, want) {
			t.Fatalf("res.Sums = %v; want %v", res.Sums, want)
		}
		moved, err := f.m.Organization(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if moved.DatabaseName != "second" {
			t.Fatalf("moved.DatabaseName = %q; want %q", moved.DatabaseName, "second")
		}
		if want, got := port(second), f.serverPort(t, moved); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
		if got := f.sums(t, moved); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		if got := f.sums(t, other); !reflect.DeepEqual(got, otherSums) {
			t.Fatalf("got %v; want %v", got, otherSums)
		}
		// New rows continue the ids.
		f.exec(t, moved, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Nueva', 'UTC')`)
		if want, got := int64(3), f.count(t, moved, `SELECT max(id) FROM organizacion_sede`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}

		// The source is kept, and is read-only for the tenant.
		if !schemaExists(t, f.url, org.SchemaName) {
			t.Fatal("schemaExists(t, f.url, org.SchemaName) is false; want true")
		}
		err = f.m.Run(ctx, tenancy.Tenant{Schema: org.SchemaName, Server: tenancy.DefaultServer}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Perdida', 'UTC')`)
			return err
		})
		if got := tenancy.SQLState(err); got != "42501" {
			t.Fatalf("%v: got %q; want %q", err, got, "42501")
		}

		dropped, err := backup.DropSourceCopies(ctx, f.m, moved)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dropped, []string{tenancy.DefaultServer}) {
			t.Fatalf("dropped = %v; want %v", dropped, []string{tenancy.DefaultServer})
		}
		if schemaExists(t, f.url, org.SchemaName) {
			t.Fatal("schemaExists(t, f.url, org.SchemaName) is true; want false")
		}
		st, err := f.m.TenantStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.ID == org.ID {
				if !s.Recorded {
					t.Fatal("ledger row kept for the schema in use")
				}
				if s.Version != f.m.TenantMigrations().Latest() {
					t.Fatalf("s.Version = %v; want %v", s.Version, f.m.TenantMigrations().Latest())
				}
			}
		}

		// And back again.
		back, err := backup.Move(ctx, f.m, moved, tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		if back.Organization.DatabaseName != tenancy.DefaultServer {
			t.Fatalf("back.Organization.DatabaseName = %q; want %q", back.Organization.DatabaseName, tenancy.DefaultServer)
		}
		if want, got := port(f.url), f.serverPort(t, back.Organization); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
	})

	t.Run("FailedMoveLeavesTenantWhereItWas", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		org := f.newOrg(t, "Terca", "", 20)
		want := f.sums(t, org)
		// A schema of that name already on the target: the copy step fails.
		conn, err := pgx.Connect(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{org.SchemaName}.Sanitize())
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = backup.Move(ctx, f.m, org, "second")
		if !errors.Is(err, tenancy.ErrConflict) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrConflict)
		}
		now, err := f.m.Organization(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if now.DatabaseName != tenancy.DefaultServer {
			t.Fatalf("now.DatabaseName = %q; want %q", now.DatabaseName, tenancy.DefaultServer)
		}
		if got := f.sums(t, now); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		f.exec(t, now, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Sigue', 'UTC')`)
		_, err = backup.Move(ctx, f.m, org, tenancy.DefaultServer)
		if !errors.Is(err, backup.ErrSameServer) {
			t.Fatalf("got error %v; want %v", err, backup.ErrSameServer)
		}
	})

	t.Run("WritesDuringAMoveAreNeitherLostNorDuplicated", func(t *testing.T) {
		t.Parallel()
		f, _ := setup2(t)
		const appointments = 2000
		org := f.newOrg(t, "Ocupada", "", appointments)
		// Writers keep booking during the whole move, there and back again.
		w := startWriters(f.m, org.ID, 4, 0)
		time.Sleep(200 * time.Millisecond)
		res, err := backup.Move(ctx, f.m, org, "second")
		if err != nil {
			t.Fatal(err)
		}
		_, err = backup.DropSourceCopies(ctx, f.m, res.Organization)
		if err != nil {
			t.Fatal(err)
		}
		back, err := backup.Move(ctx, f.m, res.Organization, tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		rep := requireWritersOK(t, w)
		if rep.Acked <= 0 {
			t.Fatalf("rep.Acked = %v; want it positive", rep.Acked)
		}
		if back.Organization.DatabaseName != tenancy.DefaultServer {
			t.Fatalf("back.Organization.DatabaseName = %q; want %q", back.Organization.DatabaseName, tenancy.DefaultServer)
		}
		t.Logf("moves of %d appointments with 4 writers: pauses %s and %s; %s", appointments,
			res.Pause.Round(time.Millisecond), back.Pause.Round(time.Millisecond), rep)
	})
}

// setupWith returns a fixture on f's servers with another migration set.
func setupWith(t *testing.T, f *fixture, set *migrate.Set) *fixture {
	t.Helper()
	servers := map[string]string{}
	for _, name := range f.m.Servers().Names() {
		if name != tenancy.DefaultServer {
			u, err := f.m.Servers().URL(name)
			if err != nil {
				t.Fatal(err)
			}
			servers[name] = u
		}
	}
	return setup(t, setupOptions{url: f.url, servers: servers, migrations: set})
}

// migrateColor is a tenant migration that adds a column with a default.
func migrateColor(version int) migrate.Migration {
	return migrate.Migration{Version: version, Name: "servicio_color",
		SQL: `ALTER TABLE citas_servicio ADD COLUMN color text NOT NULL DEFAULT 'azul'`}
}
