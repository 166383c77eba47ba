package tenancy

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// scopeTx is the transaction [Manager.RunWith] hands to fn. pgx's own transaction type can only
// be made by a BEGIN of its own, a round trip; the scope's BEGIN travels with its SET LOCALs and
// the lead query in one message instead, so this type carries the transaction from there. It
// behaves as pgx's: statements go to the connection, Begin makes a savepoint, Commit and
// Rollback end it and fail with pgx.ErrTxClosed afterwards.
//
// When the tenant pools cache prepared statements (PoolOptions.StatementCache), every statement's
// text is prefixed with key, a comment naming the tenant's schema: pgx caches statements by their
// text, PostgreSQL keeps each one's plan for the search_path it was planned under, so one key per
// tenant gives each tenant plans of its own that stay valid from one request to the next, instead
// of one statement replanned on every change of tenant.
type scopeTx struct {
	conn *pgx.Conn
	key  string
	// log, with APPCITAS_LOG_SQL, logs the statements that bypass pgx's tracer ([QueryOnce]).
	log        func(ctx context.Context, sql string, args []any)
	closed     bool
	savepoints int64
	prepared   map[string]bool
}

// keyed returns sql with the scope's statement key, unless sql names a statement prepared in this
// scope.
func (tx *scopeTx) keyed(sql string) string {
	if tx.key == "" || tx.prepared[sql] {
		return sql
	}
	return tx.key + sql
}

// Begin starts a pseudo nested transaction (a savepoint).
func (tx *scopeTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	tx.savepoints++
	sp := &savepointTx{parent: tx, name: "sp_" + strconv.FormatInt(tx.savepoints, 10)}
	if _, err := tx.conn.Exec(ctx, "SAVEPOINT "+sp.name); err != nil {
		return nil, err
	}
	return sp, nil
}

// Commit commits the transaction; a transaction that had failed is rolled back and Commit returns
// pgx.ErrTxCommitRollback.
func (tx *scopeTx) Commit(ctx context.Context) error {
	if tx.closed {
		return pgx.ErrTxClosed
	}
	tag, err := tx.conn.Exec(ctx, "COMMIT")
	tx.closed = true
	if err != nil {
		if tx.conn.PgConn().TxStatus() != 'I' {
			_ = tx.conn.Close(ctx)
		}
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback rolls the transaction back; a failed rollback closes the connection, which the pool
// then discards.
func (tx *scopeTx) Rollback(ctx context.Context) error {
	if tx.closed {
		return pgx.ErrTxClosed
	}
	_, err := tx.conn.Exec(ctx, "ROLLBACK")
	tx.closed = true
	if err != nil {
		_ = tx.conn.Close(ctx)
		return err
	}
	return nil
}

// CopyFrom runs COPY FROM STDIN on the transaction's connection.
func (tx *scopeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if tx.closed {
		return 0, pgx.ErrTxClosed
	}
	return tx.conn.CopyFrom(ctx, table, columns, src)
}

// SendBatch sends a batch on the transaction's connection.
func (tx *scopeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if tx.closed {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	if tx.key != "" {
		keyed := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, len(b.QueuedQueries))}
		for i, q := range b.QueuedQueries {
			c := *q
			c.SQL = tx.keyed(q.SQL)
			keyed.QueuedQueries[i] = &c
		}
		b = keyed
	}
	return tx.conn.SendBatch(ctx, b)
}

// LargeObjects is not supported in a tenant scope: the value it returns has no transaction, and
// its methods must not be called. Tenant data has no large objects (they live outside schemas).
func (tx *scopeTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Prepare prepares a statement on the transaction's connection, as given (no statement key):
// later calls in this scope may name it by name.
func (tx *scopeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	sd, err := tx.conn.Prepare(ctx, name, sql)
	if err == nil && name != "" {
		if tx.prepared == nil {
			tx.prepared = map[string]bool{}
		}
		tx.prepared[name] = true
	}
	return sd, err
}

// Exec runs a statement on the transaction's connection.
func (tx *scopeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return tx.conn.Exec(ctx, tx.keyed(sql), args...)
}

// Query runs a query on the transaction's connection.
func (tx *scopeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	return tx.conn.Query(ctx, tx.keyed(sql), args...)
}

// QueryRow runs a query that returns one row on the transaction's connection.
func (tx *scopeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if tx.closed {
		return errRow{pgx.ErrTxClosed}
	}
	return tx.conn.QueryRow(ctx, tx.keyed(sql), args...)
}

// Conn returns the transaction's connection.
func (tx *scopeTx) Conn() *pgx.Conn { return tx.conn }

// savepointTx is a pseudo nested transaction of a scopeTx.
type savepointTx struct {
	parent *scopeTx
	name   string
	closed bool
}

func (sp *savepointTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if sp.closed {
		return nil, pgx.ErrTxClosed
	}
	return sp.parent.Begin(ctx)
}

func (sp *savepointTx) Commit(ctx context.Context) error {
	if sp.closed {
		return pgx.ErrTxClosed
	}
	_, err := sp.parent.Exec(ctx, "RELEASE SAVEPOINT "+sp.name)
	sp.closed = true
	return err
}

func (sp *savepointTx) Rollback(ctx context.Context) error {
	if sp.closed {
		return pgx.ErrTxClosed
	}
	_, err := sp.parent.Exec(ctx, "ROLLBACK TO SAVEPOINT "+sp.name)
	sp.closed = true
	return err
}

func (sp *savepointTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if sp.closed {
		return 0, pgx.ErrTxClosed
	}
	return sp.parent.CopyFrom(ctx, table, columns, src)
}

func (sp *savepointTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if sp.closed {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	return sp.parent.SendBatch(ctx, b)
}

func (sp *savepointTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (sp *savepointTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if sp.closed {
		return nil, pgx.ErrTxClosed
	}
	return sp.parent.Prepare(ctx, name, sql)
}

func (sp *savepointTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if sp.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return sp.parent.Exec(ctx, sql, args...)
}

func (sp *savepointTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if sp.closed {
		return nil, pgx.ErrTxClosed
	}
	return sp.parent.Query(ctx, sql, args...)
}

func (sp *savepointTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if sp.closed {
		return errRow{pgx.ErrTxClosed}
	}
	return sp.parent.QueryRow(ctx, sql, args...)
}

func (sp *savepointTx) Conn() *pgx.Conn { return sp.parent.conn }

// errRow is a pgx.Row whose Scan fails.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
