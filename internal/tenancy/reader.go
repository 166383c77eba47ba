package tenancy

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// readerLockKey is the first half of the advisory lock taken while a server's query role is looked
// up or created ("cons").
const readerLockKey = 0x636f6e73

// readerRoleTimeout is the statement_timeout set on the query role itself. A [Reader] connection
// asks for its own timeout when it logs in.
const readerRoleTimeout = "30s"

// readerCredentials are a server's query role and its password.
type readerCredentials struct {
	role, password string
}

// readerCache keeps, per server, the query role known to exist there.
type readerCache struct {
	mu    sync.Mutex
	creds map[string]readerCredentials
}

// ReaderOptions configures [Manager.OpenReader].
type ReaderOptions struct {
	// StatementTimeout bounds each statement of the connection. Defaults to 30s.
	StatementTimeout time.Duration
}

// Reader is the door for SQL that a person typed (the superusers' cross-tenant query): one
// connection to one server, opened for this use only and closed afterwards, as the server's query
// role. That role is not a superuser and a member of no role; it may only read tenant tables (USAGE
// on tenant schemas, SELECT on their tables) and has no privilege on any table of public. Every
// transaction on the connection is read-only and every statement has a timeout. Statements go
// through the extended protocol, so each call runs one statement. A Reader is not safe for
// concurrent use.
type Reader struct {
	m      *Manager
	server string
	role   string
	conn   *pgconn.PgConn
}

// OpenReader connects to server as its query role, creating the role first if it does not exist
// yet. The caller must Close the Reader. It does not use any pool: no setting of this connection
// can reach another.
func (m *Manager) OpenReader(ctx context.Context, server string, opts ReaderOptions) (*Reader, error) {
	if server == "" {
		server = DefaultServer
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 30 * time.Second
	}
	creds, err := m.readerCredentials(ctx, server)
	if err != nil {
		return nil, err
	}
	// A session of its own, with startup parameters: never through a pooler when a direct URL is known.
	url, err := m.directURL(ctx, server)
	if err != nil {
		return nil, err
	}
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	cfg.User = creds.role
	cfg.Password = creds.password
	cfg.RuntimeParams["application_name"] = "appcitas consulta"
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(opts.StatementTimeout.Milliseconds(), 1), 10)
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to server %s as its query role %s: %w", server, creds.role, err)
	}
	return &Reader{m: m, server: server, role: creds.role, conn: conn}, nil
}

// IsClosed reports whether the connection is closed (it is after a cancelled statement).
func (r *Reader) IsClosed() bool { return r.conn.IsClosed() }

// Close closes the connection.
func (r *Reader) Close(ctx context.Context) error {
	return r.conn.Close(ctx)
}

// Query runs sql, one statement, in t's schema: search_path is t's schema alone (the catalogs
// pg_catalog and pg_temp are still searched first, as always), so unqualified tables are t's. The
// caller must check sql beforehand (no schema-qualified names, no catalog relations, no session
// functions): the query role can read every tenant. Every value comes back in text form. The
// caller must Close the returned ResultReader; the statement's error, if any, comes from its Close.
// When t's schema has not yet granted the query role its rights (a tenant created before the role
// existed), Query grants them first, as the tenant's role.
func (r *Reader) Query(ctx context.Context, t Tenant, sql string) (*pgconn.ResultReader, error) {
	q, err := Ident(t.Schema)
	if err != nil {
		return nil, err
	}
	if server := cmpOr(t.Server, DefaultServer); server != r.server {
		return nil, fmt.Errorf("tenant %s is on server %s, not on this reader's %s", t.Schema, server, r.server)
	}
	ctx = withLogTenant(ctx, t.Schema)
	res := r.conn.ExecParams(ctx, `SELECT pg_catalog.set_config('search_path', $1, false), pg_catalog.has_schema_privilege($2, 'USAGE')`,
		[][]byte{[]byte(q), []byte(t.Schema)}, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, fmt.Errorf("opening read scope of %s: %w", t.Schema, translateScopeError(res.Err))
	}
	if len(res.Rows) != 1 || string(res.Rows[0][1]) != "t" {
		if err := r.m.grantReader(ctx, t, r.role); err != nil {
			return nil, err
		}
	}
	if r.m.servers.opts.LogSQL {
		r.m.servers.logStatement(ctx, sql, []any{})
	}
	return r.conn.ExecParams(ctx, sql, nil, nil, nil, nil), nil
}

// cmpOr returns s, or def when s is empty.
func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// grantReaderSQL grants the query role reader (quoted) its rights on tenant schema q (quoted):
// USAGE on the schema, SELECT on its tables, now and on the tables its later migrations create. It
// acts as the tenant's role, which owns them, and ends with the role reset.
func grantReaderSQL(q, reader string) string {
	return fmt.Sprintf(`SET LOCAL ROLE %[1]s;
GRANT USAGE ON SCHEMA %[1]s TO %[2]s;
GRANT SELECT ON ALL TABLES IN SCHEMA %[1]s TO %[2]s;
ALTER DEFAULT PRIVILEGES FOR ROLE %[1]s IN SCHEMA %[1]s GRANT SELECT ON TABLES TO %[2]s;
SET LOCAL ROLE NONE;
`, q, reader)
}

// grantReaderNewSchemaSQL is grantReaderSQL for a schema that has no tables yet. It leaves out
// GRANT ... ON ALL TABLES, which reads the whole of pg_class five times (once per kind of
// relation): with 10,000 tenants that was most of a provisioning's time. The default privileges
// give the query role SELECT on each table as the migrations create it.
func grantReaderNewSchemaSQL(q, reader string) string {
	return fmt.Sprintf(`SET LOCAL ROLE %[1]s;
GRANT USAGE ON SCHEMA %[1]s TO %[2]s;
ALTER DEFAULT PRIVILEGES FOR ROLE %[1]s IN SCHEMA %[1]s GRANT SELECT ON TABLES TO %[2]s;
SET LOCAL ROLE NONE;
`, q, reader)
}

// grantReader grants the query role its rights on t's schema, in a transaction of its own that
// holds the tenant's advisory lock.
func (m *Manager) grantReader(ctx context.Context, t Tenant, role string) error {
	q, err := Ident(t.Schema)
	if err != nil {
		return err
	}
	r, err := readerIdent(role)
	if err != nil {
		return err
	}
	err = m.sharedTx(ctx, cmpOr(t.Server, DefaultServer), t.Schema, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext('%s'));\n", tenantLockKey, t.Schema)+grantReaderSQL(q, r))
		return err
	})
	if err != nil {
		return fmt.Errorf("granting the query role read access to %s: %w", t.Schema, translateScopeError(err))
	}
	return nil
}

// readerCredentials returns server's query role and its password, creating the role (and its row
// in public.rol_consulta) when it does not exist yet. It remembers them for the process.
func (m *Manager) readerCredentials(ctx context.Context, server string) (readerCredentials, error) {
	if err := ValidateServerName(server); err != nil {
		return readerCredentials{}, err
	}
	m.readers.mu.Lock()
	defer m.readers.mu.Unlock()
	if c, ok := m.readers.creds[server]; ok {
		return c, nil
	}
	// Connections of their own, not the pools': a caller may hold a pooled connection in a
	// transaction (provisioning), and a pool it waits for could then be exhausted.
	main, err := m.connectDirect(ctx, DefaultServer)
	if err != nil {
		return readerCredentials{}, err
	}
	defer main.Close(ctx)
	var c readerCredentials
	// The lock makes one process create the role while the others wait, then read its row.
	err = pgx.BeginFunc(ctx, main, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, readerLockKey, server); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT rol, clave FROM public.rol_consulta WHERE database_name = $1`, server).Scan(&c.role, &c.password)
		if errors.Is(err, pgx.ErrNoRows) {
			if c.role, err = newReaderName(); err != nil {
				return err
			}
			c.password = rand.Text()
			_, err = tx.Exec(ctx, `INSERT INTO public.rol_consulta (database_name, rol, clave) VALUES ($1, $2, $3)`, server, c.role, c.password)
		}
		if err != nil {
			return err
		}
		return m.ensureReaderRole(ctx, server, c)
	})
	if err != nil {
		return readerCredentials{}, fmt.Errorf("preparing the query role of server %s: %w", server, err)
	}
	if m.readers.creds == nil {
		m.readers.creds = map[string]readerCredentials{}
	}
	m.readers.creds[server] = c
	return c, nil
}

// ensureReaderRole creates the query role c on server when it does not exist there (a new role, or
// a server whose roles were not copied with its data): a login role with a password, NOINHERIT,
// member of nothing, read-only with a statement timeout. A CREATEROLE role may run this.
func (m *Manager) ensureReaderRole(ctx context.Context, server string, c readerCredentials) error {
	r, err := readerIdent(c.role)
	if err != nil {
		return err
	}
	// The server receives a SCRAM verifier, never the password: statement logs cannot leak it.
	verifier, err := scramVerifier(c.password)
	if err != nil {
		return err
	}
	conn, err := m.connectDirect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`, c.role).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	// The verifier is base64 and '$', ':' only: safe as a literal.
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '%[2]s';
ALTER ROLE %[1]s SET default_transaction_read_only = on;
ALTER ROLE %[1]s SET statement_timeout = '%[3]s';`, r, verifier, readerRoleTimeout))
	return err
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for password (RFC 5803 form,
// as pg_authid.rolpassword holds it). password must be ASCII letters and digits, which SASLprep
// leaves as they are.
func scramVerifier(password string) (string, error) {
	for _, ch := range password {
		if !('A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9') {
			return "", errors.New("the query role's password must be ASCII letters and digits")
		}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generating a salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(msg string) []byte {
		h := hmac.New(sha256.New, salted)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac("Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored[:]), b64(mac("Server Key"))), nil
}

// connectDirect opens a connection of its own to server as the application's login role: through
// [Manager.directURL], and with unnamed statements only, so it works through a transaction-mode
// pooler too.
func (m *Manager) connectDirect(ctx context.Context, server string) (*pgx.Conn, error) {
	url, err := m.directURL(ctx, server)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to server %s: %w", server, err)
	}
	return conn, nil
}
