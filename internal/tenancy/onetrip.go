package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/tracelog"

	"github.com/appcitas/appcitas/internal/tenancy/internal/scope"
)

// ReadQuery is one statement of a [Manager.ReadInOneTrip]: its SQL, its arguments, and what reads
// its rows.
type ReadQuery = scope.Query

// ErrLeadRefused is returned by [Manager.ReadInOneTrip] when its accept function refused the
// lead's answer: the query's rows were discarded unread.
var ErrLeadRefused = errors.New("the lead's answer was refused")

// ReadInOneTrip is a read-only [Manager.RunWith] in one round trip.
// It sends the scope's opening (BEGIN READ ONLY, then search_path and role with transaction scope,
// through set_config), the lead, the query and COMMIT together.
// Then it reads the lead's row into lead.Dest and sets lead.Found.
// accept, called next, decides whether the query's rows may be used.
// When it returns false, the rows are discarded unread, and the error is [ErrLeadRefused].
// Else q.Read gets the rows.
//
// The lead and the query are statements of the tenant's, named by its statement key, and
// prepared inside the scope the first time a connection runs them.
// lead.Args are bound as parameters here, not written into the SQL.
// Every error leaves nothing behind: the transaction only read, and it is over.
// Callers fall back to [Manager.RunWith] on any error.
// A connection whose backend refused the tenant's role by mistake (see membership.go) is closed
// first, so that the fallback runs on another.
func (m *Manager) ReadInOneTrip(ctx context.Context, t Tenant, lead *Lead, accept func() bool, q ReadQuery) error {
	ident, err := Ident(t.Schema)
	if err != nil {
		return err
	}
	if err := lead.Check(); err != nil {
		return err
	}
	server := t.Server
	if server == "" {
		server = DefaultServer
	}
	ctx = withLogTenant(ctx, t.Schema)
	pc, release, err := m.servers.acquireTenantConn(ctx, server, t.Schema)
	if err != nil {
		return fmt.Errorf("opening scope of %s: %w", t.Schema, classifyUnavailable(err))
	}
	defer release()
	conn := pc.Conn()
	// With LogSQL, the statements are logged as one batch, as pgx logs its own: one round trip.
	var log func(ctx context.Context, sql string, args []any)
	if m.servers.opts.LogSQL {
		logger := sqlLogger{m.servers.opts.Logger}
		log = func(ctx context.Context, sql string, args []any) {
			logger.Log(ctx, tracelog.LogLevelInfo, "BatchQuery", map[string]any{"sql": sql, "args": redactArgs(sql, args)})
		}
		defer logger.Log(ctx, tracelog.LogLevelInfo, "BatchClose", map[string]any{})
	}
	keep, _ := conn.PgConn().CustomData()[statementCacheKey].(int)
	var key string
	if keep > 0 {
		key = "/*" + t.Schema + "*/ " // t.Schema passed Ident: tenant_[a-z0-9_]
	}
	args := make([]any, len(lead.Args))
	for i, a := range lead.Args {
		args[i] = a
	}
	leadQuery := ReadQuery{SQL: lead.SQL, Args: args, Read: func(rows pgx.Rows) error {
		lead.Found = false
		if rows.Next() {
			lead.Found = true
			if err := rows.Scan(lead.Dest...); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !accept() {
			return ErrLeadRefused
		}
		return nil
	}}
	err = scope.ReadInOneTrip(ctx, conn, ident+", public", t.Schema, key, keep, []ReadQuery{leadQuery, q}, log)
	if err != nil && !errors.Is(err, ErrLeadRefused) {
		// A stale backend (see membership.go) is closed here; the caller's fallback, RunWith, runs
		// on another.
		m.refusedByStaleBackend(ctx, conn.PgConn(), t.Schema, err)
		return fmt.Errorf("reading in %s: %w", t.Schema, classifyUnavailable(translateScopeError(err)))
	}
	return err
}
