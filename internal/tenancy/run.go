package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
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

// RunWith is [Manager.Run] with options (a read-only scope, a statement timeout).
func (m *Manager) RunWith(ctx context.Context, t Tenant, opts RunOptions, fn func(tx pgx.Tx) error) error {
	q, err := Ident(t.Schema)
	if err != nil {
		return err
	}
	server := t.Server
	if server == "" {
		server = DefaultServer
	}
	pool, err := m.servers.tenantPool(ctx, server, t.Schema)
	if err != nil {
		return err
	}
	begin := "BEGIN"
	if opts.ReadOnly {
		begin += " READ ONLY"
	}
	begin += "; SET LOCAL search_path TO " + q + ", public; SET LOCAL ROLE " + q
	if opts.StatementTimeoutMillis > 0 {
		begin += fmt.Sprintf("; SET LOCAL statement_timeout = %d", opts.StatementTimeoutMillis)
	}
	ctx = withLogTenant(ctx, t.Schema)
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return fmt.Errorf("opening scope of %s: %w", t.Schema, translateScopeError(err))
	}
	// Roll back on every way out, a panic in fn included; after Commit it is a no-op.
	defer func() { _ = tx.Rollback(ctx) }()
	if m.servers.opts.LogSQL {
		m.servers.runConns.Store(tx.Conn(), t.Schema)
		defer m.servers.runConns.Delete(tx.Conn())
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing in %s: %w", t.Schema, err)
	}
	return nil
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
