package tenancy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/tenancy/internal/scope"
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

// Lead is a one-row query sent with the scope's opening ([RunOptions.Lead]).
type Lead = scope.Lead

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
	// Actor, when set, names who acts in the scope: the transaction-local setting appcitas.actor,
	// which the tenant's triggers read (citas_historial). It is set in the opening's round trip.
	// Lower-case letters, digits and '_' only, at most 64.
	Actor string
	// Bulk runs the scope on the server's bulk pool ([PoolOptions.BulkConns]) instead of the
	// tenant's slice: for work that visits many tenants once each (backups, checksums,
	// cross-tenant queries), which should neither wait behind the tenant's requests nor leave its
	// catalog and statements in the backends that serve them. Its statements are not kept: each is
	// parsed and planned on every run.
	Bulk bool
}

// validActor is what RunOptions.Actor may be: it is written into the opening as a literal.
var validActor = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Run is the one door into a tenant's data. It takes a connection from the pool of the server that
// holds t, opens a transaction whose search_path is "<schema>, public" and whose role is the
// tenant's own role, both set with transaction scope (SET LOCAL) in the same round trip as BEGIN,
// runs fn, and commits (or rolls back when fn returns an error). Nothing is set at session level, so
// the pooled connection leaves Run exactly as it came. Inside fn, SQL that names another tenant's
// schema fails with "permission denied": the tenant role owns only its own schema.
// A backend that refuses the tenant's role although the login role is a member (PostgreSQL 15 can
// keep a stale list of memberships, see membership.go) is closed, and another opens the scope.
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
		if err := opts.Lead.Check(); err != nil {
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
	if opts.Actor != "" {
		if !validActor.MatchString(opts.Actor) {
			return fmt.Errorf("actor %q: want lower-case letters, digits and _ (at most 64)", opts.Actor)
		}
		b.WriteString("; SET LOCAL appcitas.actor = '" + opts.Actor + "'")
	}
	server := t.Server
	if server == "" {
		server = DefaultServer
	}
	ctx = withLogTenant(ctx, t.Schema)
	var log func(ctx context.Context, sql string, args []any)
	if m.servers.opts.LogSQL {
		log = func(ctx context.Context, sql string, args []any) {
			m.servers.logStatement(withLogTenant(ctx, t.Schema), sql, args)
		}
	}
	var conn *pgx.Conn
	var keep int
	for attempt := 1; ; attempt++ {
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
		conn = pc.Conn()
		// The connection says whether it keeps statements (see newPool): the bulk pool's never do,
		// nor the tenant pools' of a server behind a pooler.
		keep, _ = conn.PgConn().CustomData()[statementCacheKey].(int)
		err = scope.Open(ctx, conn, b.String(), t.Schema, opts.Lead, keep, log)
		if err == nil {
			defer release()
			break
		}
		// A backend with a stale list of the login role's memberships refuses SET ROLE to a tenant
		// granted moments ago (see membership.go): it is closed, and another opens the scope.
		retry := attempt < openingAttempts && m.refusedByStaleBackend(ctx, conn.PgConn(), t.Schema, err)
		release()
		if !retry {
			return fmt.Errorf("opening scope of %s: %w", t.Schema, classifyUnavailable(translateScopeError(err)))
		}
	}
	if m.servers.opts.LogSQL {
		m.servers.runConns.Store(conn, t.Schema)
		defer m.servers.runConns.Delete(conn)
	}
	var key string
	if keep > 0 {
		key = "/*" + t.Schema + "*/ " // t.Schema passed Ident: tenant_[a-z0-9_]
	}
	tx := scope.NewTx(conn, key, log)
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
