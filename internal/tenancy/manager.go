package tenancy

import (
	"log/slog"

	"github.com/appcitas/appcitas/internal/migrate"
)

// Config configures a [Manager].
type Config struct {
	// Servers maps server names to connection strings; DefaultServer (holding public) is required.
	Servers map[string]string
	// Pool sizes the pools of every server.
	Pool PoolOptions
	// Migrations bounds lock waits and statements of migration runs.
	Migrations migrate.Options
	// TenantMigrations overrides the tenant migration set. Defaults to migrate.Tenant(); tests use
	// it to add migrations.
	TenantMigrations *migrate.Set
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Manager owns the tenant catalog, the pools of every server, provisioning and tenant migrations,
// and [Manager.Run], the only way tenant SQL is executed.
type Manager struct {
	servers   *Servers
	tenantSet migrate.Set
	migOpts   migrate.Options
	log       *slog.Logger
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
	servers, err := NewServers(cfg.Servers, cfg.Pool)
	if err != nil {
		return nil, err
	}
	set := migrate.Tenant()
	if cfg.TenantMigrations != nil {
		set = *cfg.TenantMigrations
	}
	return &Manager{servers: servers, tenantSet: set, migOpts: cfg.Migrations, log: cfg.Logger}, nil
}

// Servers returns the server pools.
func (m *Manager) Servers() *Servers { return m.servers }

// TenantMigrations returns the migration set tenants are migrated to.
func (m *Manager) TenantMigrations() migrate.Set { return m.tenantSet }

// Close closes every pool.
func (m *Manager) Close() { m.servers.Close() }
