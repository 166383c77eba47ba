package backup_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestSeveralServers runs on two clusters: the default one and "second", started for this test.
func TestSeveralServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, srv := startCluster(t, nil)
	newSecondDB := func(t *testing.T) string {
		t.Helper()
		name := "db_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
		if len(name) > 60 {
			name = name[len(name)-60:]
		}
		// The operator's step for another database: the superuser creates it, owned by the
		// application's login role, which must own public too (it is NOINHERIT, so
		// pg_database_owner's rights on public do not reach it).
		app, err := pgx.ParseConfig(srv.URL())
		require.NoError(t, err)
		role := pgx.Identifier{app.User}.Sanitize()
		conn, err := pgx.Connect(ctx, srv.SuperuserURLFor("postgres"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+role)
		require.NoError(t, err)
		db, err := pgx.Connect(ctx, srv.SuperuserURLFor(name))
		require.NoError(t, err)
		defer db.Close(ctx)
		_, err = db.Exec(ctx, `ALTER SCHEMA public OWNER TO `+role)
		require.NoError(t, err)
		return srv.URLFor(name)
	}
	setup2 := func(t *testing.T) (*fixture, string) {
		second := newSecondDB(t)
		return setup(t, setupOptions{servers: map[string]string{"second": second}}), second
	}
	port := func(url string) string {
		cfg, err := pgx.ParseConfig(url)
		require.NoError(t, err)
		return strconv.Itoa(int(cfg.Port))
	}

	t.Run("RunUsesTheServerThatHoldsTheTenant", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		here := f.newOrg(t, "Aquí", "", 1)
		there := f.newOrg(t, "Allá", "second", 1)
		require.Equal(t, "second", there.DatabaseName)
		require.Equal(t, port(f.url), f.serverPort(t, here))
		require.Equal(t, port(second), f.serverPort(t, there))
		require.True(t, schemaExists(t, second, there.SchemaName))
		require.False(t, schemaExists(t, f.url, there.SchemaName))
		require.False(t, schemaExists(t, second, here.SchemaName))
	})

	t.Run("BacksUpAndRestoresAcrossServers", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		there := f.newOrg(t, "Remota", "second", 30)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, there)
		require.NoError(t, err)
		require.Equal(t, "second", res.Manifest.Organization.Server)
		// A copy on the default server, and the same tenant replaced onto the default server.
		cp, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "remota-copia", KeepMembers: true})
		require.NoError(t, err)
		require.Equal(t, tenancy.DefaultServer, cp.Organization.DatabaseName)
		require.Equal(t, f.sums(t, there), f.sums(t, cp.Organization))
		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{ReplaceID: there.ID, Server: tenancy.DefaultServer, PreBackup: backup.Store{Root: f.dir}})
		require.NoError(t, err)
		require.NoError(t, r.OldSchemaErr)
		require.Equal(t, tenancy.DefaultServer, r.Organization.DatabaseName)
		require.Equal(t, port(f.url), f.serverPort(t, r.Organization))
		require.False(t, schemaExists(t, second, there.SchemaName), "old schema dropped from the second server")
	})

	t.Run("MigrateAllReachesEveryServer", func(t *testing.T) {
		t.Parallel()
		f, _ := setup2(t)
		here := f.newOrg(t, "Uno", "", 0)
		there := f.newOrg(t, "Dos", "second", 0)
		base := f.m.TenantMigrations()
		newer, err := base.With(migrateColor(base.Latest() + 1))
		require.NoError(t, err)
		f3 := setupWith(t, f, &newer)
		rep, err := f3.m.MigrateAll(ctx, tenancy.FleetOptions{})
		require.NoError(t, err)
		require.Len(t, rep.Succeeded, 2)
		require.Empty(t, rep.Failed)
		for _, org := range []tenancy.Organization{here, there} {
			require.Equal(t, int64(newer.Latest()), f3.count(t, org, `SELECT max(version) FROM migraciones_tenant`))
		}
		st, err := f3.m.TenantStatuses(ctx)
		require.NoError(t, err)
		for _, s := range st {
			require.Equal(t, newer.Latest(), s.Version)
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
		require.NoError(t, err)
		require.Equal(t, "second", res.Organization.DatabaseName)
		require.Equal(t, want, res.Sums)
		moved, err := f.m.Organization(ctx, org.ID)
		require.NoError(t, err)
		require.Equal(t, "second", moved.DatabaseName)
		require.Equal(t, port(second), f.serverPort(t, moved))
		require.Equal(t, want, f.sums(t, moved))
		require.Equal(t, otherSums, f.sums(t, other))
		// New rows continue the ids.
		f.exec(t, moved, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Nueva', 'UTC')`)
		require.Equal(t, int64(3), f.count(t, moved, `SELECT max(id) FROM organizacion_sede`))

		// The source is kept, and is read-only for the tenant.
		require.True(t, schemaExists(t, f.url, org.SchemaName))
		err = f.m.Run(ctx, tenancy.Tenant{Schema: org.SchemaName, Server: tenancy.DefaultServer}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Perdida', 'UTC')`)
			return err
		})
		require.Equal(t, "42501", tenancy.SQLState(err), "%v", err)

		dropped, err := backup.DropSourceCopies(ctx, f.m, moved)
		require.NoError(t, err)
		require.Equal(t, []string{tenancy.DefaultServer}, dropped)
		require.False(t, schemaExists(t, f.url, org.SchemaName))
		st, err := f.m.TenantStatuses(ctx)
		require.NoError(t, err)
		for _, s := range st {
			if s.ID == org.ID {
				require.True(t, s.Recorded, "ledger row kept for the schema in use")
				require.Equal(t, f.m.TenantMigrations().Latest(), s.Version)
			}
		}

		// And back again.
		back, err := backup.Move(ctx, f.m, moved, tenancy.DefaultServer)
		require.NoError(t, err)
		require.Equal(t, tenancy.DefaultServer, back.Organization.DatabaseName)
		require.Equal(t, port(f.url), f.serverPort(t, back.Organization))
	})

	t.Run("FailedMoveLeavesTenantWhereItWas", func(t *testing.T) {
		t.Parallel()
		f, second := setup2(t)
		org := f.newOrg(t, "Terca", "", 20)
		want := f.sums(t, org)
		// A schema of that name already on the target: the copy step fails.
		conn, err := pgx.Connect(ctx, second)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{org.SchemaName}.Sanitize())
		conn.Close(ctx)
		require.NoError(t, err)
		_, err = backup.Move(ctx, f.m, org, "second")
		require.ErrorIs(t, err, tenancy.ErrConflict)
		now, err := f.m.Organization(ctx, org.ID)
		require.NoError(t, err)
		require.Equal(t, tenancy.DefaultServer, now.DatabaseName)
		require.Equal(t, want, f.sums(t, now))
		f.exec(t, now, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Sigue', 'UTC')`)
		_, err = backup.Move(ctx, f.m, org, tenancy.DefaultServer)
		require.ErrorIs(t, err, backup.ErrSameServer)
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
		require.NoError(t, err)
		_, err = backup.DropSourceCopies(ctx, f.m, res.Organization)
		require.NoError(t, err)
		back, err := backup.Move(ctx, f.m, res.Organization, tenancy.DefaultServer)
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond)
		rep := requireWritersOK(t, w)
		require.Positive(t, rep.Acked)
		require.Equal(t, tenancy.DefaultServer, back.Organization.DatabaseName)
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
			require.NoError(t, err)
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
