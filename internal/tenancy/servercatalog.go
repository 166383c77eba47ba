package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrServerInUse is returned when a server to remove still holds tenants.
var ErrServerInUse = errors.New("the server still holds tenants")

// ErrServerUnreachable is returned when a server to register does not answer.
var ErrServerUnreachable = errors.New("the server does not answer")

// serverCatalogTTL is how long a read of the server catalog is trusted by [Servers.Lookup]. A
// change announced on [OrganizationChannel] ("servidor:<name>") drops its server at once.
const serverCatalogTTL = time.Minute

// serverPayload prefixes the announcement of a change to the server catalog.
const serverPayload = "servidor:"

// ServerEntry is a server of the catalog (public.servidores).
type ServerEntry struct {
	// Name names the server in organizations' database_name.
	Name string
	// Host is a host name, an address or a Unix socket directory.
	Host string
	// Port defaults to 5432.
	Port int
	// Database is the database that holds the tenants' schemas.
	Database string
	// Params are more connection parameters as a query string ("sslmode=require"); never a password.
	Params string
	// CreatedAt is when the server was registered.
	CreatedAt time.Time
	// Tenants counts the organizations on the server (ListServers).
	Tenants int64
	// Configured reports whether APPCITAS_SERVERS names the server in this process: its URL there
	// (with credentials) is used instead of the catalog's (ListServers).
	Configured bool
}

// serverCatalog caches the connection strings of the servers registered in public.servidores.
type serverCatalog struct {
	// user and password are the default server's login, used on every catalog server (a
	// password from the passfile wins).
	user, password string

	mu      sync.Mutex
	urls    map[string]string
	readAt  time.Time
	version uint64 // counts forgets, so that a read that raced with one is not trusted
}

func (c *serverCatalog) init(defaultURL string) error {
	cfg, err := pgconn.ParseConfig(defaultURL)
	if err != nil {
		return fmt.Errorf("server %s: %w", DefaultServer, err)
	}
	c.user, c.password = cfg.User, cfg.Password
	c.urls = map[string]string{}
	return nil
}

func (c *serverCatalog) get(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.urls[name]
	return u, ok
}

func (c *serverCatalog) fresh(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.urls[name]
	return u, ok && time.Since(c.readAt) < serverCatalogTTL
}

func (c *serverCatalog) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.urls))
	for n := range c.urls {
		out = append(out, n)
	}
	return out
}

// connString builds the connection string of a catalog server: its host, port, database and
// parameters, the default server's login role, and the passfile's password for it or else the
// default server's.
func (c *serverCatalog) connString(e ServerEntry) (string, error) {
	params, err := url.ParseQuery(e.Params)
	if err != nil {
		return "", fmt.Errorf("%w: server parameters %q are not name=value&...: %v", ErrInvalidName, e.Params, err)
	}
	user := c.user
	keys := make([]string, 0, len(params))
	for k, v := range params {
		switch k {
		case "password":
			return "", fmt.Errorf("%w: server parameters hold no password: give it in the passfile (PGPASSFILE) or in APPCITAS_SERVERS", ErrInvalidName)
		case "host", "port", "dbname", "database":
			return "", fmt.Errorf("%w: server parameter %q is a field of its own", ErrInvalidName, k)
		case "user":
			user = v[len(v)-1]
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{"host=" + dsnQuote(e.Host), "port=" + strconv.Itoa(e.Port), "dbname=" + dsnQuote(e.Database), "user=" + dsnQuote(user)}
	for _, k := range keys {
		parts = append(parts, k+"="+dsnQuote(params.Get(k)))
	}
	dsn := strings.Join(parts, " ")
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("%w: server %s: %v", ErrInvalidName, e.Name, err)
	}
	if cfg.Password == "" && c.password != "" && user == c.user {
		dsn += " password=" + dsnQuote(c.password)
	}
	return dsn, nil
}

// dsnQuote quotes a value of a keyword/value connection string.
func dsnQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Lookup returns the connection string of a server: the default one, one named in the
// configuration, or one registered in the server catalog (read anew when the name is not in the
// last read, or that read is older than a minute). A name found nowhere gives [ErrUnknownServer].
func (s *Servers) Lookup(ctx context.Context, name string) (string, error) {
	if u, ok := s.urls[name]; ok {
		return u, nil
	}
	if u, ok := s.catalog.fresh(name); ok {
		return u, nil
	}
	if err := s.refresh(ctx); err != nil {
		if u, ok := s.catalog.get(name); ok {
			return u, nil // the last read still serves while the catalog cannot be read
		}
		return "", err
	}
	return s.URL(name)
}

// Check returns nil when name is a known server ([Servers.Lookup]).
func (s *Servers) Check(ctx context.Context, name string) error {
	_, err := s.Lookup(ctx, name)
	return err
}

// refresh reads the server catalog anew. Before public migration 0011 the catalog is empty.
func (s *Servers) refresh(ctx context.Context) error {
	c := &s.catalog
	c.mu.Lock()
	version := c.version
	c.mu.Unlock()
	pool, err := s.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	rows, err := pool.Query(ctx, `SELECT nombre, host, puerto, base, parametros FROM public.servidores`)
	if err != nil {
		if sqlState(err) == "42P01" {
			return nil
		}
		return fmt.Errorf("reading the server catalog: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ServerEntry, error) {
		var e ServerEntry
		err := r.Scan(&e.Name, &e.Host, &e.Port, &e.Database, &e.Params)
		return e, err
	})
	if err != nil {
		return fmt.Errorf("reading the server catalog: %w", err)
	}
	urls := make(map[string]string, len(entries))
	for _, e := range entries {
		u, err := c.connString(e)
		if err != nil {
			s.opts.Logger.Warn("ignoring a server of the catalog", "server", e.Name, "err", err)
			continue
		}
		urls[e.Name] = u
	}
	c.mu.Lock()
	old := c.urls
	if c.version == version {
		c.urls, c.readAt = urls, time.Now()
	} else {
		// A change was announced while we read: keep what we read, but read again next time.
		c.urls, c.readAt = urls, time.Time{}
	}
	c.mu.Unlock()
	for name, u := range old {
		if urls[name] != u {
			s.detach(name)
		}
	}
	return nil
}

// forget drops what the process cached of a catalog server (announced as changed): the next
// lookup reads the catalog anew, and its pools are closed once their connections are back.
func (s *Servers) forget(name string) {
	c := &s.catalog
	c.mu.Lock()
	delete(c.urls, name)
	c.version++
	c.mu.Unlock()
	s.detach(name)
}

// detach closes, in the background, the pools of a server that is not named in the
// configuration, so that its next use opens them anew from the catalog.
func (s *Servers) detach(name string) {
	if _, ok := s.urls[name]; ok {
		return
	}
	s.mu.Lock()
	p := s.pools[name]
	delete(s.pools, name)
	delete(s.prepared, name)
	s.mu.Unlock()
	if p != nil {
		go p.close() // waits for the connections in use
	}
}

// normalizeEntry validates e and fills its defaults.
func normalizeEntry(e *ServerEntry) error {
	if err := ValidateServerName(e.Name); err != nil {
		return err
	}
	if e.Name == DefaultServer {
		return fmt.Errorf("%w: the server %q is DATABASE_URL's", ErrInvalidName, DefaultServer)
	}
	e.Host, e.Database = strings.TrimSpace(e.Host), strings.TrimSpace(e.Database)
	if e.Host == "" {
		return fmt.Errorf("%w: a server needs a host", ErrInvalidName)
	}
	if e.Database == "" {
		return fmt.Errorf("%w: a server needs a database", ErrInvalidName)
	}
	if e.Port == 0 {
		e.Port = 5432
	}
	if e.Port < 1 || e.Port > 65535 {
		return fmt.Errorf("%w: port %d is not 1-65535", ErrInvalidName, e.Port)
	}
	return nil
}

// AddServer registers a server in the catalog, after checking that it answers with the
// credentials it would be used with. Every process can then use it, a running serve included.
func (m *Manager) AddServer(ctx context.Context, e ServerEntry) (ServerEntry, error) {
	if err := normalizeEntry(&e); err != nil {
		return ServerEntry{}, err
	}
	connString, err := m.servers.catalog.connString(e)
	if err != nil {
		return ServerEntry{}, err
	}
	if u, ok := m.servers.urls[e.Name]; ok {
		connString = u // APPCITAS_SERVERS's URL wins in this process
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(pingCtx, connString)
	cancel()
	if err != nil {
		return ServerEntry{}, fmt.Errorf("%w: server %s (%s:%d, database %s): %w", ErrServerUnreachable, e.Name, e.Host, e.Port, e.Database, err)
	}
	_ = conn.Close(ctx)
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return ServerEntry{}, err
	}
	err = pool.QueryRow(ctx, `INSERT INTO public.servidores (nombre, host, puerto, base, parametros)
		VALUES ($1, $2, $3, $4, $5) RETURNING created_at`, e.Name, e.Host, e.Port, e.Database, e.Params).Scan(&e.CreatedAt)
	if sqlState(err) == "23505" {
		return ServerEntry{}, fmt.Errorf("%w: server %s is already registered", ErrConflict, e.Name)
	}
	if err != nil {
		return ServerEntry{}, fmt.Errorf("registering server %s: %w", e.Name, err)
	}
	m.servers.forget(e.Name)
	return e, nil
}

// ListServers returns the catalog's servers, by name, with how many organizations each holds.
func (m *Manager) ListServers(ctx context.Context) ([]ServerEntry, error) {
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT s.nombre, s.host, s.puerto, s.base, s.parametros, s.created_at,
			(SELECT count(*) FROM public.organizacion_organizacion o WHERE o.database_name = s.nombre)
		FROM public.servidores s ORDER BY s.nombre`)
	if err != nil {
		return nil, fmt.Errorf("listing servers: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ServerEntry, error) {
		var e ServerEntry
		err := r.Scan(&e.Name, &e.Host, &e.Port, &e.Database, &e.Params, &e.CreatedAt, &e.Tenants)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing servers: %w", err)
	}
	for i := range list {
		_, list[i].Configured = m.servers.urls[list[i].Name]
	}
	return list, nil
}

// RemoveServer removes a server from the catalog, refusing ([ErrServerInUse]) while an
// organization is on it.
func (m *Manager) RemoveServer(ctx context.Context, name string) error {
	if err := ValidateServerName(name); err != nil {
		return err
	}
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	var removed bool
	var tenants int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// The server's row stays locked until commit, so no concurrent removal passes the count.
		var found bool
		if err := tx.QueryRow(ctx, `SELECT true FROM public.servidores WHERE nombre = $1 FOR UPDATE`, name).Scan(&found); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM public.organizacion_organizacion WHERE database_name = $1`, name).Scan(&tenants); err != nil {
			return err
		}
		if tenants > 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `DELETE FROM public.servidores WHERE nombre = $1`, name)
		removed = err == nil
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("removing server %s: %w", name, err)
	case tenants > 0:
		return fmt.Errorf("%w: %d organizations are on %s; move them first (move_tenant --to)", ErrServerInUse, tenants, name)
	case !removed:
		return fmt.Errorf("%w %q: it is not registered", ErrUnknownServer, name)
	}
	m.servers.forget(name)
	return nil
}

// RegisterConfiguredServers registers in the catalog, when missing, each server named in the
// configuration (APPCITAS_SERVERS) but the default one, by its host, port, database and login role
// (when not the default server's), never its password, so that
// the processes without that configuration know it too. Before public migration 0011 it does
// nothing.
func (m *Manager) RegisterConfiguredServers(ctx context.Context) error {
	var entries []ServerEntry
	for name, u := range m.servers.urls {
		if name == DefaultServer {
			continue
		}
		cfg, err := pgconn.ParseConfig(u)
		if err != nil {
			return fmt.Errorf("server %s: %w", name, err)
		}
		e := ServerEntry{Name: name, Host: cfg.Host, Port: int(cfg.Port), Database: cfg.Database}
		if cfg.User != m.servers.catalog.user {
			e.Params = url.Values{"user": {cfg.User}}.Encode()
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil
	}
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := pool.Exec(ctx, `INSERT INTO public.servidores (nombre, host, puerto, base, parametros)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (nombre) DO NOTHING`, e.Name, e.Host, e.Port, e.Database, e.Params); err != nil {
			if sqlState(err) == "42P01" {
				return nil
			}
			return fmt.Errorf("registering server %s: %w", e.Name, err)
		}
	}
	return nil
}

// lockServerRow holds server's catalog row until tx ends, so that [Manager.RemoveServer] waits for
// an organization that tx puts there and then sees it. A configured server may have no row.
func lockServerRow(ctx context.Context, tx pgx.Tx, server string) error {
	if server == DefaultServer {
		return nil
	}
	var found bool
	err := tx.QueryRow(ctx, `SELECT true FROM public.servidores WHERE nombre = $1 FOR KEY SHARE`, server).Scan(&found)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("locking server %s: %w", server, err)
	}
	return nil
}
