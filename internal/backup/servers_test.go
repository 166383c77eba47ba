package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/pgserver"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestServerCatalog checks issue 20 item 3: the servers every process knows are the catalog's
// (public.servidores), so a serve started before a server was registered serves the tenants moved
// there afterwards.
func TestServerCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, srv := startCluster(t, nil)
	app, err := pgx.ParseConfig(srv.URL())
	require.NoError(t, err)
	// entry registers a fresh database of the second cluster; its password is in a passfile, the
	// catalog holds none.
	entry := func(t *testing.T, name string) tenancy.ServerEntry {
		t.Helper()
		db := newClusterDB(t, srv)
		passfile := filepath.Join(t.TempDir(), "pgpass")
		line := fmt.Sprintf("%s:%d:%s:%s:%s\n", app.Host, app.Port, db, app.User, app.Password)
		require.NoError(t, os.WriteFile(passfile, []byte(line), 0o600))
		return tenancy.ServerEntry{Name: name, Host: app.Host, Port: int(app.Port), Database: db,
			Params: "sslmode=disable&user=" + app.User + "&passfile=" + passfile}
	}

	t.Run("ServesATenantMovedToAServerRegisteredAfterStart", func(t *testing.T) {
		t.Parallel()
		serve := setup(t, setupOptions{})
		org := serve.newOrg(t, "Viajera", "", 5)
		want := serve.sums(t, org)
		// serve has looked for the server before it exists.
		require.ErrorIs(t, serve.m.Servers().Check(ctx, "segundo"), tenancy.ErrUnknownServer)

		cli := setup(t, setupOptions{url: serve.url})
		_, err := cli.m.AddServer(ctx, entry(t, "segundo"))
		require.NoError(t, err)
		res, err := backup.Move(ctx, cli.m, org, "segundo")
		require.NoError(t, err)
		require.Equal(t, "segundo", res.Organization.DatabaseName)

		moved, err := serve.m.Organization(ctx, org.ID)
		require.NoError(t, err)
		require.Equal(t, "segundo", moved.DatabaseName)
		require.Equal(t, want, serve.sums(t, moved), "serve reads the tenant on the registered server")
		serve.exec(t, moved, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Nueva', 'UTC')`)

		list, err := serve.m.ListServers(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, int64(1), list[0].Tenants)
		require.NotContains(t, list[0].Params, app.Password)
	})

	t.Run("RefusesAMoveToAnUnregisteredServer", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Quieta", "", 1)
		_, err := backup.Move(ctx, f.m, org, "nowhere")
		require.ErrorIs(t, err, tenancy.ErrUnknownServer)
		still, err := f.m.Organization(ctx, org.ID)
		require.NoError(t, err)
		require.Equal(t, tenancy.DefaultServer, still.DatabaseName)
	})

	t.Run("RefusesToRegisterAServerThatDoesNotAnswer", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		_, err := f.m.AddServer(ctx, tenancy.ServerEntry{Name: "muerto", Host: "127.0.0.1", Port: 1, Database: "x", Params: "connect_timeout=2"})
		require.ErrorIs(t, err, tenancy.ErrServerUnreachable)
		_, err = f.m.AddServer(ctx, tenancy.ServerEntry{Name: "clave", Host: "127.0.0.1", Database: "x", Params: "password=secreta"})
		require.ErrorIs(t, err, tenancy.ErrInvalidName)
		list, err := f.m.ListServers(ctx)
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("RemoveRefusesWhileTenantsLiveThereAndEveryProcessForgets", func(t *testing.T) {
		t.Parallel()
		serve := setup(t, setupOptions{})
		watchCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- serve.m.WatchOrganizations(watchCtx, tenancy.OrganizationWatch{}) }()
		t.Cleanup(func() { stop(); <-done })
		require.Eventually(t, serve.m.Watching, 10*time.Second, 10*time.Millisecond)

		cli := setup(t, setupOptions{url: serve.url})
		_, err := cli.m.AddServer(ctx, entry(t, "tercero"))
		require.NoError(t, err)
		org := serve.newOrg(t, "Allá", "tercero", 1)
		require.ErrorIs(t, cli.m.RemoveServer(ctx, "tercero"), tenancy.ErrServerInUse)
		require.NoError(t, serve.m.DeleteOrganization(ctx, org))
		require.NoError(t, cli.m.RemoveServer(ctx, "tercero"))
		require.ErrorIs(t, cli.m.RemoveServer(ctx, "tercero"), tenancy.ErrUnknownServer)
		// The watch heard the removal: serve no longer knows the server.
		require.Eventually(t, func() bool { return !serve.m.Servers().Has("tercero") }, 10*time.Second, 10*time.Millisecond)
		require.ErrorIs(t, serve.m.Servers().Check(ctx, "tercero"), tenancy.ErrUnknownServer)
	})

	t.Run("UnreachableRegisteredServerIsUnavailable", func(t *testing.T) {
		t.Parallel()
		_, down := startCluster(t, nil)
		f := setup(t, setupOptions{servers: map[string]string{"caido": down.URL()}})
		// What every command and serve do at start: the configured servers join the catalog.
		require.NoError(t, f.m.RegisterConfiguredServers(ctx))
		org := f.newOrg(t, "Caída", "caido", 1)
		require.NoError(t, down.Stop(ctx))
		other := setup(t, setupOptions{url: f.url})
		tn, err := org.Tenant()
		require.NoError(t, err)
		err = other.m.Run(ctx, tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT 1`)
			return err
		})
		require.Error(t, err)
		require.True(t, tenancy.Unavailable(err), "unreachable server counts as unavailable: %v", err)
	})
}

// newClusterDB creates a database on srv owned by the application's login role, as an operator
// would for a new server.
func newClusterDB(t *testing.T, srv *pgserver.Server) string {
	t.Helper()
	ctx := context.Background()
	name := "db_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
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
	return name
}
