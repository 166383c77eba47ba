package scope

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Open sends the scope's opening as one message: BEGIN and the SET LOCALs in head, then the lead.
// It reads the lead's row into lead.Dest.
// With no lead, it sends head alone.
// With keep <= 0, the lead's SQL is sent inline, with its arguments as literals.
// With keep > 0 (the connection's statement cache size), the lead is a prepared statement of the
// tenant's.
// It is prepared in the opening the first time the connection serves the tenant.
// If the connection's statement is not as expected (see isLeadStatementError), it is prepared
// afresh and the opening is sent again, once.
// On failure the connection is left outside any transaction, or closed.
// log, when not nil, logs each message sent.
func Open(ctx context.Context, conn *pgx.Conn, head, schema string, lead *Lead, keep int, log func(ctx context.Context, sql string, args []any)) error {
	if lead == nil {
		return send(ctx, conn, head, nil, log)
	}
	if keep <= 0 {
		return send(ctx, conn, head+"; "+lead.inline(), lead, log)
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
		err := send(ctx, conn, sql, lead, log)
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
func send(ctx context.Context, conn *pgx.Conn, sql string, lead *Lead, log func(ctx context.Context, sql string, args []any)) error {
	if log != nil {
		log(ctx, sql, []any{})
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
