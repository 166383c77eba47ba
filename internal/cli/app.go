package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appcitas/appcitas/internal/config"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgserver"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// app is what every command shares: configuration, output, and the database, opened on demand.
type app struct {
	cfg    config.Config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	// logLevel is log's level: serve's is APPCITAS_LOG_LEVEL, other commands' warn unless -v.
	logLevel *slog.LevelVar

	embedded *pgserver.Server
	manager  *tenancy.Manager
	// tenantMigrations overrides the tenant migration set (tests).
	tenantMigrations *migrate.Set
	// getenv is the environment the command line runs with (Env.Getenv).
	getenv func(string) string
	// build is the binary's version and commit (version.go).
	build buildVersion
	// billingRT is serve's billing, signup and job queue (serve.go).
	billingRT *billingRuntime
	// serversRegistered records that registerConfiguredServers ran.
	serversRegistered bool
}

// databaseURL returns DATABASE_URL, or starts (or attaches to) the embedded cluster under DataDir.
func (a *app) databaseURL(ctx context.Context) (string, error) {
	if a.cfg.DatabaseURL != "" {
		return a.cfg.DatabaseURL, nil
	}
	if a.embedded == nil {
		srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: a.cfg.DataDir, Logger: a.log})
		if err != nil {
			return "", fmt.Errorf("starting the embedded PostgreSQL (set DATABASE_URL to use your own server): %w", err)
		}
		a.embedded = srv
	}
	return a.embedded.URL(), nil
}

// open returns the tenancy manager, connecting to the configured servers.
func (a *app) open(ctx context.Context) (*tenancy.Manager, error) {
	if a.manager != nil {
		return a.manager, nil
	}
	url, err := a.databaseURL(ctx)
	if err != nil {
		return nil, err
	}
	servers := map[string]string{tenancy.DefaultServer: url}
	for name, u := range a.cfg.Servers {
		servers[name] = u
	}
	statements := a.cfg.StatementCache
	if statements == 0 {
		statements = -1 // tenancy's "none"
	}
	pooler, err := tenancy.ParsePooler(a.cfg.Pooler)
	if err != nil {
		return nil, userError{fmt.Errorf("APPCITAS_POOLER: %w", err)}
	}
	if a.cfg.ListenURL != "" {
		if _, err := pgconn.ParseConfig(a.cfg.ListenURL); err != nil {
			return nil, userError{errors.New("APPCITAS_LISTEN_URL is not a PostgreSQL connection string (postgres://user:password@host:port/database)")}
		}
	}
	m, err := tenancy.New(tenancy.Config{
		Servers:          servers,
		ListenURL:        a.cfg.ListenURL,
		Pool:             tenancy.PoolOptions{LogSQL: a.cfg.LogSQL, Logger: a.log, StatementCache: statements, Pooler: pooler},
		Migrations:       migrate.Options{LockTimeout: a.cfg.LockTimeout, StatementTimeout: a.cfg.StatementTimeout},
		TenantMigrations: a.tenantMigrations,
		Logger:           a.log,
	})
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.Servers().Ping(pingCtx, tenancy.DefaultServer); err != nil {
		m.Close()
		return nil, fmt.Errorf("cannot reach the database: %w", err)
	}
	if err := a.checkLoginRole(pingCtx, m); err != nil {
		m.Close()
		return nil, err
	}
	a.manager = m
	return m, nil
}

// checkListenURL warns when the organization watch would LISTEN through a pooler in transaction
// mode: DATABASE_URL goes through one and APPCITAS_LISTEN_URL is not set. Its notifications would
// never arrive, so cached organizations and subscriptions would stay stale until they expire.
func (a *app) checkListenURL(ctx context.Context, m *tenancy.Manager) error {
	if a.cfg.ListenURL != "" {
		return nil
	}
	pooled, err := m.Servers().BehindPooler(ctx, tenancy.DefaultServer)
	if err != nil {
		return err
	}
	if pooled {
		a.log.Warn("DATABASE_URL goes through a connection pooler and APPCITAS_LISTEN_URL is not set: " +
			"the organization watch cannot hear changes; set APPCITAS_LISTEN_URL to a direct connection")
	}
	return nil
}

// checkLoginRole refuses a login role that cannot provision tenants, and warns when it is a
// superuser or INHERITs its tenant roles' rights: serve should run as neither.
func (a *app) checkLoginRole(ctx context.Context, m *tenancy.Manager) error {
	r, err := m.CheckLoginRole(ctx, tenancy.DefaultServer)
	if err != nil {
		return fmt.Errorf("checking the database login role: %w", err)
	}
	if r.Superuser {
		a.log.Warn("the database login role is a superuser; it should not be: connect as a role that is not a superuser "+
			"(NOINHERIT, CREATEROLE, owner of the database and of schema public), so the database itself keeps tenants apart",
			"role", r.Name, "database", r.Database)
	} else if r.Inherit {
		a.log.Warn("the database login role has INHERIT; it should be NOINHERIT, so a tenant's rights apply only inside its scope",
			"role", r.Name, "fix", "ALTER ROLE "+pgx.Identifier{r.Name}.Sanitize()+" NOINHERIT")
	}
	return nil
}

// openMigrated is open plus a check that public is fully migrated, with a clear hint when not.
func (a *app) openMigrated(ctx context.Context) (*tenancy.Manager, error) {
	m, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return nil, err
	}
	v, err := migrate.PublicVersion(ctx, pool)
	if err != nil {
		return nil, err
	}
	if latest := migrate.Public().Latest(); v < latest {
		return nil, fmt.Errorf("the public schema is at version %d of %d: run `appcitas migrate` first", v, latest)
	}
	a.registerConfiguredServers(ctx, m)
	return m, nil
}

// registerConfiguredServers registers in the server catalog the servers of APPCITAS_SERVERS that
// it lacks, once per process; a failure is only logged: this process knows them anyway.
func (a *app) registerConfiguredServers(ctx context.Context, m *tenancy.Manager) {
	if a.serversRegistered || len(a.cfg.Servers) == 0 {
		return
	}
	a.serversRegistered = true
	if err := m.RegisterConfiguredServers(ctx); err != nil {
		a.log.Warn("could not register the servers of APPCITAS_SERVERS in the server catalog", "err", err)
	}
}

// close releases the pools and stops the embedded cluster if this process started it.
func (a *app) close() {
	if a.manager != nil {
		a.manager.Close()
		a.manager = nil
	}
	if a.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.embedded.Stop(ctx); err != nil {
			a.log.Error("stopping the embedded PostgreSQL", "err", err)
		}
		a.embedded = nil
	}
}

// userError marks errors caused by the command line itself (exit status 2).
type userError struct{ error }

func usageErrorf(format string, args ...any) error {
	return userError{fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	var ue userError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
