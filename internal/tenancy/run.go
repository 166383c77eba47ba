package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tenant is what tenant SQL needs to know: which schema, on which server. Get one from an
// [Organization] with [Organization.Tenant]; it travels explicitly, never through a global or a
// context value.
type Tenant struct {
	// OrganizationID is the organization's id in public.organizacion_organizacion.
	OrganizationID int64
	// Schema is the tenant's schema, also the name of the role that owns it.
	Schema string
	// Server is the configured PostgreSQL server that holds the schema (database_name).
	Server string
}

// RunOptions changes how [Manager.RunWith] opens the scope.
type RunOptions struct {
	// ReadOnly opens a READ ONLY transaction.
	ReadOnly bool
	// StatementTimeoutMillis, when positive, bounds each statement (SET LOCAL statement_timeout).
	StatementTimeoutMillis int
	// Lead, when set, is a query run inside the scope in the same round trip that opens it, before
	// fn: what every call of a kind reads first (the API's read of the tenant's set-up version) then
	// costs no round trip of its own.
	Lead *Lead
	// Bulk runs the scope on the server's bulk pool ([PoolOptions.BulkConns]) instead of the
	// tenant's slice: for work that visits many tenants once each (backups, checksums,
	// cross-tenant queries), which should neither wait behind the tenant's requests nor leave its
	// catalog and statements in the backends that serve them. Its statements are not kept: each is
	// parsed and planned on every run.
	Bulk bool
}

// Run is the one door into a tenant's data. It takes a connection from the pool of the server that
// holds t, opens a transaction whose search_path is "<schema>, public" and whose role is the
// tenant's own role, both set with transaction scope (SET LOCAL) in the same round trip as BEGIN,
// runs fn, and commits (or rolls back when fn returns an error). Nothing is set at session level, so
// the pooled connection leaves Run exactly as it came. Inside fn, SQL that names another tenant's
// schema fails with "permission denied": the tenant role owns only its own schema.
func (m *Manager) Run(ctx context.Context, t Tenant, fn func(tx pgx.Tx) error) error {
	return m.RunWith(ctx, t, RunOptions{}, fn)
}

// RunWith is [Manager.Run] with options (a read-only scope, a statement timeout, a lead query).
func (m *Manager) RunWith(ctx context.Context, t Tenant, opts RunOptions, fn func(tx pgx.Tx) error) error {
	q, err := Ident(t.Schema)
	if err != nil {
		return err
	}
	if opts.Lead != nil {
		if err := opts.Lead.check(); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.WriteString("BEGIN")
	if opts.ReadOnly {
		b.WriteString(" READ ONLY")
	}
	b.WriteString("; SET LOCAL search_path TO " + q + ", public; SET LOCAL ROLE " + q)
	if opts.StatementTimeoutMillis > 0 {
		b.WriteString("; SET LOCAL statement_timeout = " + strconv.Itoa(opts.StatementTimeoutMillis))
	}
	server := t.Server
	if server == "" {
		server = DefaultServer
	}
	ctx = withLogTenant(ctx, t.Schema)
	var pc *pgxpool.Conn
	var release func()
	if opts.Bulk {
		pc, release, err = m.servers.acquireBulkConn(ctx, server)
	} else {
		pc, release, err = m.servers.acquireTenantConn(ctx, server, t.Schema)
	}
	if err != nil {
		return fmt.Errorf("opening scope of %s: %w", t.Schema, classifyUnavailable(err))
	}
	defer release()
	conn := pc.Conn()
	if m.servers.opts.LogSQL {
		m.servers.runConns.Store(conn, t.Schema)
		defer m.servers.runConns.Delete(conn)
	}
	// The connection says whether it keeps statements (see newPool): the bulk pool's never do, nor
	// the tenant pools' of a server behind a pooler.
	keep, _ := conn.PgConn().CustomData()[statementCacheKey].(int)
	if err := m.open(ctx, conn, b.String(), t.Schema, opts.Lead, keep); err != nil {
		return fmt.Errorf("opening scope of %s: %w", t.Schema, classifyUnavailable(translateScopeError(err)))
	}
	tx := &scopeTx{conn: conn}
	if m.servers.opts.LogSQL {
		tx.log = func(ctx context.Context, sql string, args []any) {
			m.servers.logStatement(withLogTenant(ctx, t.Schema), sql, args)
		}
	}
	if keep > 0 {
		tx.key = "/*" + t.Schema + "*/ " // t.Schema passed Ident: tenant_[a-z0-9_]
	}
	// Roll back on every way out, a panic in fn included; after Commit it is a no-op.
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return classifyUnavailable(err)
	}
	// A connection closed before COMMIT sends nothing: then the transaction certainly failed.
	closed := conn.IsClosed()
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing in %s: %w", t.Schema, classifyCommit(err, opts.ReadOnly || closed))
	}
	return nil
}

// open sends the scope's opening (BEGIN and the SET LOCALs in head, then the lead query) as one
// message and reads the lead's row. With keep > 0 (the size of the connection's statement cache)
// the lead is a statement of the tenant's, prepared in the opening the first time the connection
// serves it; should the connection's statement not be as expected (see isLeadStatementError), it
// is prepared afresh and the opening sent again, once. On failure the connection is left outside
// any transaction, or closed.
func (m *Manager) open(ctx context.Context, conn *pgx.Conn, head, schema string, lead *Lead, keep int) error {
	if lead == nil {
		return m.send(ctx, conn, head, nil)
	}
	if keep <= 0 {
		return m.send(ctx, conn, head+"; "+lead.inline(), lead)
	}
	leads := leadsOf(conn.PgConn(), keep)
	name := lead.statementName(schema)
	for attempt := 0; ; attempt++ {
		sql := head + "; "
		if leads.use(name) {
			sql += lead.executeSQL(name)
		} else {
			sql += lead.prepareSQL(name) + "; " + lead.executeSQL(name)
			if evict := leads.add(name); evict != "" {
				sql += "; DEALLOCATE " + evict
			}
		}
		err := m.send(ctx, conn, sql, lead)
		if err == nil {
			return nil
		}
		leads.forget(name)
		if attempt > 0 || !isLeadStatementError(err) || conn.IsClosed() {
			return err
		}
		// Whatever the connection holds under that name goes; the retry prepares it again.
		_, _ = conn.PgConn().Exec(ctx, "DEALLOCATE "+name).ReadAll()
	}
}

// send sends sql as one simple-protocol message and scans the first row of its result that has
// columns into lead. When a statement after BEGIN fails, the transaction is rolled back (the
// connection closed if even that fails), so that the connection goes back to the pool clean.
func (m *Manager) send(ctx context.Context, conn *pgx.Conn, sql string, lead *Lead) error {
	if m.servers.opts.LogSQL {
		m.servers.logStatement(ctx, sql, []any{})
	}
	mrr := conn.PgConn().Exec(ctx, sql)
	var scanErr error
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		if lead != nil && len(rr.FieldDescriptions()) > 0 {
			lead.Found = false
			for rr.NextRow() {
				if !lead.Found && scanErr == nil {
					lead.Found = true
					scanErr = pgx.ScanRow(conn.TypeMap(), rr.FieldDescriptions(), rr.Values(), lead.Dest...)
				}
			}
		}
		if _, err := rr.Close(); err != nil && scanErr == nil {
			scanErr = err
		}
	}
	err := mrr.Close()
	if err == nil {
		err = scanErr
	}
	if err == nil {
		return nil
	}
	if conn.PgConn().TxStatus() != 'I' {
		if _, rbErr := conn.PgConn().Exec(ctx, "ROLLBACK").ReadAll(); rbErr != nil || conn.PgConn().TxStatus() != 'I' {
			_ = conn.Close(ctx)
		}
	}
	return err
}

// ErrSchemaMissing is returned when a tenant's schema or role does not exist (create it with
// create_tenant_schema).
var ErrSchemaMissing = errors.New("tenant schema does not exist")

func translateScopeError(err error) error {
	if code := sqlState(err); code == "22023" || code == "3F000" || code == "42704" {
		// 22023 invalid_parameter_value: role does not exist; 3F000 invalid_schema_name.
		return fmt.Errorf("%w (run create_tenant_schema): %w", ErrSchemaMissing, err)
	}
	return err
}
