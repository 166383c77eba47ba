package tenancy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
)

// Config configures a [Manager].
type Config struct {
	// Servers maps server names to connection strings; DefaultServer (holding public) is required.
	// The other servers may also come from the server catalog ([Servers.Lookup]).
	Servers map[string]string
	// ListenURL is a direct connection (never through a pooler) to the default server, for the
	// LISTEN of [Manager.WatchOrganizations]: a pooler in transaction mode hands the LISTEN's
	// session to other clients, and its notifications never arrive. Defaults to
	// Servers[DefaultServer].
	ListenURL string
	// Pool sizes the pools of every server.
	Pool PoolOptions
	// Migrations bounds lock waits and statements of migration runs.
	Migrations migrate.Options
	// TenantMigrations overrides the tenant migration set. Defaults to migrate.Tenant(); tests use
	// it to add migrations.
	TenantMigrations *migrate.Set
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// HeartbeatInterval is how often the organization watch ([Manager.WatchOrganizations]) proves
	// that notifications arrive: it sends one through the shared pool and must hear it on its
	// LISTEN connection. Defaults to [DefaultHeartbeatInterval] (5s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long the watch waits to hear its heartbeat; past it, the watch is
	// reported lost (caches keep values 5s at most) and reconnects. Defaults to
	// [DefaultHeartbeatTimeout] (5s).
	HeartbeatTimeout time.Duration
}

// Manager owns the tenant catalog, the pools of every server, provisioning and tenant migrations,
// and [Manager.Run], the only way tenant SQL is executed.
type Manager struct {
	servers   *Servers
	tenantSet migrate.Set
	migOpts   migrate.Options
	log       *slog.Logger
	// listenURL is Config.ListenURL; empty: the default server's URL.
	listenURL string
	// orgHub is the one LISTEN connection that every WatchOrganizations shares.
	orgHub organizationHub
	// readers caches each server's query role ([Manager.OpenReader]).
	readers readerCache
}

// New builds a Manager. It does not connect: pools open when first used.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Pool.Logger == nil {
		cfg.Pool.Logger = cfg.Logger
	}
	servers, err := newServers(cfg.Servers, cfg.Pool)
	if err != nil {
		return nil, err
	}
	if cfg.ListenURL != "" {
		if _, err := pgx.ParseConfig(cfg.ListenURL); err != nil {
			return nil, fmt.Errorf("listen url: %w", err)
		}
	}
	set := migrate.Tenant()
	if cfg.TenantMigrations != nil {
		set = *cfg.TenantMigrations
	}
	m := &Manager{servers: servers, tenantSet: set, migOpts: cfg.Migrations, log: cfg.Logger, listenURL: cfg.ListenURL}
	m.orgHub.interval, m.orgHub.timeout = cfg.HeartbeatInterval, cfg.HeartbeatTimeout
	if m.orgHub.interval <= 0 {
		m.orgHub.interval = DefaultHeartbeatInterval
	}
	if m.orgHub.timeout <= 0 {
		m.orgHub.timeout = DefaultHeartbeatTimeout
	}
	return m, nil
}

// listenConnString returns the connection string of the LISTEN connection: Config.ListenURL, else
// the default server's.
func (m *Manager) listenConnString() (string, error) {
	return m.directURL(context.Background(), DefaultServer)
}

// directURL returns a connection string that reaches server without a pooler in between, for
// connections that need a session of their own (LISTEN, the query role's): Config.ListenURL for
// the default server when set, else the server's configured URL.
func (m *Manager) directURL(ctx context.Context, server string) (string, error) {
	if server == DefaultServer && m.listenURL != "" {
		return m.listenURL, nil
	}
	return m.servers.Lookup(ctx, server)
}

// Servers returns the server pools.
func (m *Manager) Servers() *Servers { return m.servers }

// TenantMigrations returns the migration set tenants are migrated to.
func (m *Manager) TenantMigrations() migrate.Set { return m.tenantSet }

// Close closes every pool.
func (m *Manager) Close() { m.servers.Close() }
