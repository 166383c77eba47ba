package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	if err != nil {
		t.Fatal(err)
	}
	// entry registers a fresh database of the second cluster; its password is in a passfile, the
	// catalog holds none.
	entry := func(t *testing.T, name string) tenancy.ServerEntry {
		t.Helper()
		db := newClusterDB(t, srv)
		passfile := filepath.Join(t.TempDir(), "pgpass")
		line := fmt.Sprintf("%s:%d:%s:%s:%s\n", app.Host, app.Port, db, app.User, app.Password)
		if err := os.WriteFile(passfile, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		return tenancy.ServerEntry{Name: name, Host: app.Host, Port: int(app.Port), Database: db,
			Params: "sslmode=disable&user=" + app.User + "&passfile=" + passfile}
	}

	t.Run("ServesATenantMovedToAServerRegisteredAfterStart", func(t *testing.T) {
		t.Parallel()
		serve := setup(t, setupOptions{})
		org := serve.newOrg(t, "Viajera", "", 5)
		want := serve.sums(t, org)
		// serve has looked for the server before it exists.
		if err := serve.m.Servers().Check(ctx, "segundo"); !errors.Is(err, tenancy.ErrUnknownServer) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrUnknownServer)
		}

		cli := setup(t, setupOptions{url: serve.url})
		_, err := cli.m.AddServer(ctx, entry(t, "segundo"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := backup.Move(ctx, cli.m, org, "segundo")
		if err != nil {
			t.Fatal(err)
		}
		if res.Organization.DatabaseName != "segundo" {
			t.Fatalf("res.Organization.DatabaseName = %q; want %q", res.Organization.DatabaseName, "segundo")
		}

		moved, err := serve.m.Organization(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if moved.DatabaseName != "segundo" {
			t.Fatalf("moved.DatabaseName = %q; want %q", moved.DatabaseName, "segundo")
		}
		if got := serve.sums(t, moved); !reflect.DeepEqual(got, want) {
			t.Fatalf("serve reads the tenant on the registered server: got %v; want %v", got, want)
		}
		serve.exec(t, moved, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Nueva', 'UTC')`)

		list, err := serve.m.ListServers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("len(list) = %d; want %d: %v", len(list), 1, list)
		}
		if list[0].Tenants != int64(1) {
			t.Fatalf("list[0].Tenants = %v; want %v", list[0].Tenants, int64(1))
		}
		if strings.Contains(list[0].Params, app.Password) {
			t.Fatalf("list[0].Params = %v; want it without %v", list[0].Params, app.Password)
		}
	})

	t.Run("RefusesAMoveToAnUnregisteredServer", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Quieta", "", 1)
		_, err := backup.Move(ctx, f.m, org, "nowhere")
		if !errors.Is(err, tenancy.ErrUnknownServer) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrUnknownServer)
		}
		still, err := f.m.Organization(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if still.DatabaseName != tenancy.DefaultServer {
			t.Fatalf("still.DatabaseName = %q; want %q", still.DatabaseName, tenancy.DefaultServer)
		}
	})

	t.Run("RefusesToRegisterAServerThatDoesNotAnswer", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		_, err := f.m.AddServer(ctx, tenancy.ServerEntry{Name: "muerto", Host: "127.0.0.1", Port: 1, Database: "x", Params: "connect_timeout=2"})
		if !errors.Is(err, tenancy.ErrServerUnreachable) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrServerUnreachable)
		}
		_, err = f.m.AddServer(ctx, tenancy.ServerEntry{Name: "clave", Host: "127.0.0.1", Database: "x", Params: "password=secreta"})
		if !errors.Is(err, tenancy.ErrInvalidName) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrInvalidName)
		}
		list, err := f.m.ListServers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("list = %v; want 0", list)
		}
	})

	t.Run("RemoveRefusesWhileTenantsLiveThereAndEveryProcessForgets", func(t *testing.T) {
		t.Parallel()
		serve := setup(t, setupOptions{})
		watchCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- serve.m.WatchOrganizations(watchCtx, tenancy.OrganizationWatch{}) }()
		t.Cleanup(func() { stop(); <-done })
		for deadline := time.Now().Add(10 * time.Second); !serve.m.Watching(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the watch did not start within 10 s")
			}
		}

		cli := setup(t, setupOptions{url: serve.url})
		_, err := cli.m.AddServer(ctx, entry(t, "tercero"))
		if err != nil {
			t.Fatal(err)
		}
		org := serve.newOrg(t, "Allá", "tercero", 1)
		if err := cli.m.RemoveServer(ctx, "tercero"); !errors.Is(err, tenancy.ErrServerInUse) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrServerInUse)
		}
		if err := serve.m.DeleteOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		if err := cli.m.RemoveServer(ctx, "tercero"); err != nil {
			t.Fatal(err)
		}
		if err := cli.m.RemoveServer(ctx, "tercero"); !errors.Is(err, tenancy.ErrUnknownServer) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrUnknownServer)
		}
		// The watch heard the removal: serve no longer knows the server.
		for deadline := time.Now().Add(10 * time.Second); serve.m.Servers().Has("tercero"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("serve still knows the server tercero after 10 s")
			}
		}
		if err := serve.m.Servers().Check(ctx, "tercero"); !errors.Is(err, tenancy.ErrUnknownServer) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrUnknownServer)
		}
	})

	t.Run("UnreachableRegisteredServerIsUnavailable", func(t *testing.T) {
		t.Parallel()
		_, down := startCluster(t, nil)
		f := setup(t, setupOptions{servers: map[string]string{"caido": down.URL()}})
		// What every command and serve do at start: the configured servers join the catalog.
		if err := f.m.RegisterConfiguredServers(ctx); err != nil {
			t.Fatal(err)
		}
		org := f.newOrg(t, "Caída", "caido", 1)
		if err := down.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		other := setup(t, setupOptions{url: f.url})
		tn, err := org.Tenant()
		if err != nil {
			t.Fatal(err)
		}
		err = other.m.Run(ctx, tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT 1`)
			return err
		})
		if err == nil {
			t.Fatal("got no error; want one")
		}
		if !tenancy.Unavailable(err) {
			t.Fatalf("unreachable server counts as unavailable: %v", err)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	role := pgx.Identifier{app.User}.Sanitize()
	conn, err := pgx.Connect(ctx, srv.SuperuserURLFor("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+role)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, srv.SuperuserURLFor(name))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	_, err = db.Exec(ctx, `ALTER SCHEMA public OWNER TO `+role)
	if err != nil {
		t.Fatal(err)
	}
	return name
}
