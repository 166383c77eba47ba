package tenancy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/tracelog"
)

// DefaultServer is the name of the server that holds public (DATABASE_URL).
const DefaultServer = "default"

// ErrUnknownServer is returned for a server name that is neither the default server, nor named in
// the configuration, nor registered in the server catalog (public.servidores).
var ErrUnknownServer = errors.New("unknown database server")

// PoolOptions sizes the connection pools of every server.
type PoolOptions struct {
	// Slices is how many slices a server's tenant pool is cut into.
	// A tenant is served by one slice, chosen by a hash of its schema.
	// When that slice stays busy (see SpillAfter), the next slices serve it in turn.
	// One backend per slice caches the catalog and statements of 1/Slices of the tenants.
	// The server's max_connections must leave room for Slices × ConnsPerSlice + SharedConns per
	// appcitas process.
	// BENCHMARKS.md (issue 3) has the measurements behind the default.
	// Defaults to 32.
	Slices int
	// ConnsPerSlice is the size of each slice. Defaults to 1.
	ConnsPerSlice int
	// Pooler says whether the servers are reached through a connection pooler in transaction mode
	// (PgBouncer with pool_mode = transaction), which hands each transaction to any of its server
	// connections: statements prepared on one are unknown to the next. Behind one, tenant
	// connections keep no statements whatever StatementCache says, and send no plan_cache_mode.
	// Defaults to PoolerAuto.
	Pooler Pooler
	// StatementCache is how many prepared statements each tenant connection keeps (least recently
	// used out first), each a tenant's own (see [Manager.RunWith]), with a generic plan
	// (plan_cache_mode=force_generic_plan on those connections): a statement found there is neither
	// parsed nor planned again; one that is not is prepared first, one more round trip. PostgreSQL
	// spends about 45 KB of the backend's memory on each. Defaults to 4096; negative: none, every
	// statement unnamed, parsed and planned on every run. Switched off on a server behind a pooler
	// (see Pooler).
	StatementCache int
	// SpillAfter is how long a tenant waits for its own slice, busy with other tenants, before
	// another slice serves it (a slice busy with the same tenant is not waited for). Defaults to
	// 100ms (measured at 10,000 tenants: 10ms spills so often that every backend ends up with more
	// tenants' statements than it keeps); negative: no wait.
	SpillAfter time.Duration
	// SharedConns sizes the pool for non-tenant SQL (the catalog, logins). Defaults to 4.
	SharedConns int
	// BulkConns sizes each server's pool for work that visits many tenants once each
	// ([RunOptions.Bulk]: backups, checksums, cross-tenant queries, the dashboard's counts), so
	// that such work neither waits for the request path's slices nor fills their backends with
	// the catalog and statements of every tenant it passes through (measured: scheduled backups of
	// 10,000 tenants through the slices left 350 MB of plans in each backend). Its connections keep
	// no statements and live at most 5 minutes. Defaults to 2.
	BulkConns int
	// MaxConnLifetime bounds how long a connection lives, so that no backend's catalog cache grows
	// without bound. Defaults to 30m.
	MaxConnLifetime time.Duration
	// DDLRunsPerConn is how many tenant schemas one connection creates or migrates before it is
	// closed (see ddlRunsPerConn). Defaults to 500.
	DDLRunsPerConn int
	// BulkRunsPerConn is how many tenant runs one bulk connection serves before it is closed, for
	// the same reason. Defaults to 500.
	BulkRunsPerConn int
	// LogSQL logs every statement, with its tenant (APPCITAS_LOG_SQL=1).
	LogSQL bool
	// Logger receives SQL logs. Defaults to slog.Default().
	Logger *slog.Logger
}

func (o PoolOptions) withDefaults() PoolOptions {
	if o.Slices <= 0 {
		o.Slices = 32
	}
	if o.ConnsPerSlice <= 0 {
		o.ConnsPerSlice = 1
	}
	if o.SharedConns <= 0 {
		o.SharedConns = 4
	}
	if o.BulkConns <= 0 {
		o.BulkConns = 2
	}
	if o.StatementCache == 0 {
		o.StatementCache = 4096
	}
	if o.SpillAfter == 0 {
		o.SpillAfter = 100 * time.Millisecond
	}
	if o.MaxConnLifetime <= 0 {
		o.MaxConnLifetime = 30 * time.Minute
	}
	if o.DDLRunsPerConn <= 0 {
		o.DDLRunsPerConn = ddlRunsPerConn
	}
	if o.BulkRunsPerConn <= 0 {
		o.BulkRunsPerConn = ddlRunsPerConn
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Servers owns the connection pools of every PostgreSQL server, opened when first used. A server
// is the default one, one named in the configuration, or one registered in the server catalog
// (public.servidores, read through [Servers.Lookup]).
type Servers struct {
	urls map[string]string
	opts PoolOptions
	// catalog caches the server catalog (servercatalog.go).
	catalog serverCatalog

	mu    sync.Mutex
	pools map[string]*serverPools
	// prepared records the tenant servers prepareServer has run on.
	prepared map[string]bool
	// runConns maps each connection inside a Run transaction to its tenant schema, so that SQL logs
	// name the tenant whatever context the caller passes to its statements.
	runConns sync.Map
}

type serverPools struct {
	// pooled reports whether the server is reached through a pooler in transaction mode.
	pooled bool
	shared *pgxpool.Pool
	bulk   *pgxpool.Pool // RunOptions.Bulk scopes: no statements kept, short-lived connections
	slices []*pgxpool.Pool
	inUse  []sliceUse // by slice, in the order of slices
}

// newServers prepares pools for the servers named in urls (name → connection string). urls must
// name DefaultServer. Nothing connects until a pool is first used.
func newServers(urls map[string]string, opts PoolOptions) (*Servers, error) {
	if _, ok := urls[DefaultServer]; !ok {
		return nil, fmt.Errorf("no %q server configured", DefaultServer)
	}
	copied := make(map[string]string, len(urls))
	for name, url := range urls {
		if err := ValidateServerName(name); err != nil {
			return nil, err
		}
		if _, err := pgxpool.ParseConfig(url); err != nil {
			return nil, fmt.Errorf("server %s: %w", name, err)
		}
		copied[name] = url
	}
	s := &Servers{urls: copied, opts: opts.withDefaults(), pools: map[string]*serverPools{}, prepared: map[string]bool{}}
	if err := s.catalog.init(copied[DefaultServer]); err != nil {
		return nil, err
	}
	return s, nil
}

// Names returns the names of the configured servers and of those of the server catalog read so
// far, sorted, DefaultServer first. The catalog is read anew by [Manager.Schemas] and by lookups of unknown names.
func (s *Servers) Names() []string {
	seen := map[string]bool{DefaultServer: true}
	var names []string
	for n := range s.urls {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range s.catalog.names() {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{DefaultServer}, names...)
}

// Has reports whether name is a configured server or one of the server catalog read so far.
// [Servers.Lookup] also reads the catalog anew.
func (s *Servers) Has(name string) bool {
	_, err := s.URL(name)
	return err == nil
}

// URL returns the connection string of a configured server, or of one of the server catalog read
// so far. [Servers.Lookup] also reads the catalog anew.
func (s *Servers) URL(name string) (string, error) {
	if u, ok := s.urls[name]; ok {
		return u, nil
	}
	if u, ok := s.catalog.get(name); ok {
		return u, nil
	}
	return "", fmt.Errorf("%w %q (known: %v)", ErrUnknownServer, name, s.Names())
}

// Shared returns the pool for non-tenant SQL on a server (the catalog lives on DefaultServer).
func (s *Servers) Shared(ctx context.Context, server string) (*pgxpool.Pool, error) {
	p, err := s.open(ctx, server)
	if err != nil {
		return nil, err
	}
	return p.shared, nil
}

// acquireTenantConn takes a connection for schema on server from the pool slice that serves it:
// its own slice (by hash) when that has an idle connection or room for one; when it has not, and
// what keeps it busy is another tenant, its own slice still if a connection frees up within
// SpillAfter; else (or at once, when the slice is busy with this same tenant: a tenant with
// several requests in flight deserves several backends) the next slice in turn that has room, else
// its own (to wait there). Trying the next slices in a fixed order, rather than whichever has the
// most room, keeps each tenant on few backends even when its slice is busy, so that every backend
// caches the catalog (and, with StatementCache, the plans) of a small, stable set of tenants. The
// returned release gives the connection back.
func (s *Servers) acquireTenantConn(ctx context.Context, server, schema string) (*pgxpool.Conn, func(), error) {
	p, err := s.open(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	h := fnv.New32a()
	h.Write([]byte(schema))
	n := len(p.slices)
	home := int(h.Sum32() % uint32(n))
	if hasRoom(p.slices[home]) {
		return p.acquire(ctx, home, schema)
	}
	if s.opts.SpillAfter > 0 && !p.inUse[home].serving(schema) {
		wait, cancel := context.WithTimeout(ctx, s.opts.SpillAfter)
		c, release, err := p.acquire(wait, home, schema)
		cancel()
		if err == nil || ctx.Err() != nil {
			return c, release, err
		}
	}
	for i := 1; i < n; i++ {
		if next := (home + i) % n; hasRoom(p.slices[next]) {
			return p.acquire(ctx, next, schema)
		}
	}
	return p.acquire(ctx, home, schema)
}

// acquireBulkConn takes a connection of server's bulk pool; the returned release gives it back.
func (s *Servers) acquireBulkConn(ctx context.Context, server string) (*pgxpool.Conn, func(), error) {
	p, err := s.open(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	c, err := p.bulk.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	data := c.Conn().PgConn().CustomData()
	n, _ := data[bulkRunsKey].(int)
	data[bulkRunsKey] = n + 1
	return c, c.Release, nil
}

// acquire takes a connection of slice i for schema and counts it in the slice's use until the
// returned release gives it back.
func (p *serverPools) acquire(ctx context.Context, i int, schema string) (*pgxpool.Conn, func(), error) {
	c, err := p.slices[i].Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	use := &p.inUse[i]
	use.add(schema, 1)
	return c, func() {
		c.Release()
		use.add(schema, -1)
	}, nil
}

// sliceUse counts the scopes in flight on one pool slice, by tenant schema.
type sliceUse struct {
	mu sync.Mutex
	n  map[string]int
}

// add changes schema's count by d.
func (u *sliceUse) add(schema string, d int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[string]int{}
	}
	if u.n[schema] += d; u.n[schema] <= 0 {
		delete(u.n, schema)
	}
}

// serving reports whether the slice has a scope of schema in flight.
func (u *sliceUse) serving(schema string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[schema] > 0
}

// hasRoom reports whether a pool has an idle connection or room to open one.
func hasRoom(p *pgxpool.Pool) bool {
	st := p.Stat()
	return st.IdleConns() > 0 || st.TotalConns() < st.MaxConns()
}

func (s *Servers) open(ctx context.Context, server string) (*serverPools, error) {
	s.mu.Lock()
	p, ok := s.pools[server]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	// Outside mu: reading the catalog opens the default server's pools.
	url, err := s.Lookup(ctx, server)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[server]; ok {
		return p, nil
	}
	pooled, how, err := s.behindPooler(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	statements := s.opts.StatementCache
	if pooled && statements > 0 {
		s.opts.Logger.Warn("statement cache off: the server is reached through a connection pooler in transaction mode",
			"server", server, "known_by", how)
		statements = -1
	}
	shared, err := s.newPool(ctx, url, int32(s.opts.SharedConns), 0, s.opts.MaxConnLifetime)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	p = &serverPools{pooled: pooled, shared: shared}
	if p.bulk, err = s.newPool(ctx, url, int32(s.opts.BulkConns), 0, min(s.opts.MaxConnLifetime, bulkConnLifetime)); err != nil {
		p.close()
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	for range s.opts.Slices {
		slice, err := s.newPool(ctx, url, int32(s.opts.ConnsPerSlice), statements, s.opts.MaxConnLifetime)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("server %s: %w", server, err)
		}
		p.slices = append(p.slices, slice)
	}
	p.inUse = make([]sliceUse, len(p.slices))
	s.pools[server] = p
	return p, nil
}

// statementCacheKey is where a connection that keeps statements records, in pgconn's CustomData,
// how many it keeps; [Manager.RunWith] reads it.
const statementCacheKey = "appcitas.tenancy.statements"

// ddlRunsKey is where a connection records, in pgconn's CustomData, how many tenant schemas it
// has created or migrated ([Manager.migrateTenantTx]).
const ddlRunsKey = "appcitas.tenancy.ddl_runs"

// bulkRunsKey is where a bulk connection records, in pgconn's CustomData, how many tenant runs it
// has served.
const bulkRunsKey = "appcitas.tenancy.bulk_runs"

// ddlRunsPerConn is how many tenant schemas one connection creates or migrates, by default, before
// the pool closes it. A backend keeps the catalog entries of every relation it has created; PostgreSQL 15
// walks some of those caches whole on each invalidation and each commit of a transaction that
// creates many relations. Building a fleet through long-lived connections grew slower with every
// thousand tenants for that reason (profiled in BENCHMARKS.md, issue 2). A new connection costs its
// first SET ROLE, which on PostgreSQL 15 grows with the square of the number of tenants (200 ms at
// 10,000), once every ddlRunsPerConn schemas.
const ddlRunsPerConn = 500

// bulkConnLifetime bounds the life of a bulk pool's connections: a backend that has served a
// backup of each of thousands of tenants holds each one's catalog entries until it ends.
const bulkConnLifetime = 5 * time.Minute

// newPool opens a pool of size connections that live at most lifetime; statements > 0 makes them
// keep that many prepared statements (tenant pools, whose scopes key every statement by tenant).
func (s *Servers) newPool(ctx context.Context, url string, size int32, statements int, lifetime time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = size
	cfg.MinConns = 0
	cfg.MaxConnLifetime = lifetime
	cfg.MaxConnLifetimeJitter = lifetime / 10
	cfg.MaxConnIdleTime = 5 * time.Minute
	// Without a statement cache, exec mode: unnamed statements, nothing kept between runs. With
	// one (tenant pools), every statement's text carries its tenant's key, so no tenant runs another
	// tenant's statement, even on another migration version.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	if statements > 0 {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
		cfg.ConnConfig.StatementCacheCapacity = statements
		// A kept statement is planned once, not on each of its first five runs: a tenant's
		// statement runs on one backend only every so often. Tenant SQL is written for this: every
		// bound on a large table is an index condition even with its parameters unknown.
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
		cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
			c.PgConn().CustomData()[statementCacheKey] = statements
			return nil
		}
	}
	// A backend that has created or migrated many schemas, or served many bulk runs, is closed:
	// PostgreSQL never shrinks its catalog caches, and every later DDL statement pays for their size
	// (see ddlRunsPerConn). The check runs when the connection is next taken, so that releasing a
	// connection stays synchronous (pgxpool releases through a goroutine when AfterRelease is set).
	cfg.PrepareConn = func(_ context.Context, c *pgx.Conn) (bool, error) {
		data := c.PgConn().CustomData()
		ddl, _ := data[ddlRunsKey].(int)
		bulk, _ := data[bulkRunsKey].(int)
		return ddl < s.opts.DDLRunsPerConn && bulk < s.opts.BulkRunsPerConn, nil
	}
	if s.opts.LogSQL {
		cfg.ConnConfig.Tracer = tenantTracer{TraceLog: &tracelog.TraceLog{Logger: sqlLogger{s.opts.Logger}, LogLevel: tracelog.LogLevelDebug}, conns: &s.runConns}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening pool: %w", err)
	}
	return pool, nil
}

// Ping checks that a server answers.
func (s *Servers) Ping(ctx context.Context, server string) error {
	p, err := s.Shared(ctx, server)
	if err != nil {
		return err
	}
	if err := p.Ping(ctx); err != nil {
		return fmt.Errorf("server %s unreachable: %w", server, err)
	}
	return nil
}

// PoolStats are the statistics of one server's pools.
type PoolStats struct {
	// Shared is the pool for non-tenant SQL.
	Shared *pgxpool.Stat
	// Bulk is the pool of the scopes run with [RunOptions.Bulk].
	Bulk *pgxpool.Stat
	// Slices are the tenant pool's slices, in order.
	Slices []*pgxpool.Stat
}

// All returns every pool's statistics: the shared pool, the bulk pool, then the slices.
func (p PoolStats) All() []*pgxpool.Stat {
	return append([]*pgxpool.Stat{p.Shared, p.Bulk}, p.Slices...)
}

// Stats returns the pool statistics of every opened server, by server name.
func (s *Servers) Stats() map[string]PoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]PoolStats, len(s.pools))
	for name, p := range s.pools {
		st := PoolStats{Shared: p.shared.Stat(), Bulk: p.bulk.Stat()}
		for _, c := range p.slices {
			st.Slices = append(st.Slices, c.Stat())
		}
		out[name] = st
	}
	return out
}

// Close closes every opened pool.
func (s *Servers) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.pools {
		p.close()
		delete(s.pools, name)
	}
}

func (p *serverPools) close() {
	if p.shared != nil {
		p.shared.Close()
	}
	if p.bulk != nil {
		p.bulk.Close()
	}
	for _, c := range p.slices {
		c.Close()
	}
}

type logTenantKey struct{}

// withLogTenant marks ctx so that SQL logs name the tenant. Only logging reads it: SQL never
// depends on it.
func withLogTenant(ctx context.Context, schema string) context.Context {
	return context.WithValue(ctx, logTenantKey{}, schema)
}

type sqlLogger struct{ log *slog.Logger }

// logStatement logs, as pgx's tracer would, a statement sent past the tracer (a scope's opening,
// QueryUnkept's batch), with the tenant ctx names.
func (s *Servers) logStatement(ctx context.Context, sql string, args []any) {
	sqlLogger{s.opts.Logger}.Log(ctx, tracelog.LogLevelInfo, "Query", map[string]any{"sql": sql, "args": redactArgs(sql, args)})
}

func (l sqlLogger) Log(ctx context.Context, level tracelog.LogLevel, msg string, data map[string]any) {
	attrs := make([]slog.Attr, 0, len(data)+1)
	tenant, _ := ctx.Value(logTenantKey{}).(string)
	if tenant == "" {
		tenant = "public"
	}
	attrs = append(attrs, slog.String("tenant", tenant))
	for k, v := range data {
		attrs = append(attrs, slog.Any(k, v))
	}
	lvl := slog.LevelInfo
	if level <= tracelog.LogLevelError {
		lvl = slog.LevelError
	}
	l.log.LogAttrs(ctx, lvl, "sql "+msg, attrs...)
}

// tenantTracer marks each statement run on a connection inside Run with its tenant, for sqlLogger.
type tenantTracer struct {
	*tracelog.TraceLog
	conns *sync.Map // *pgx.Conn → schema
}

// TraceQueryStart names the connection's tenant in ctx, then logs as tracelog does, with the
// arguments redacted (redactArgs).
func (t tenantTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if schema, ok := t.conns.Load(conn); ok {
		ctx = withLogTenant(ctx, schema.(string))
	}
	data.Args = redactArgs(data.SQL, data.Args)
	return t.TraceLog.TraceQueryStart(ctx, conn, data)
}
