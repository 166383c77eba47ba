package scope

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tx is the transaction a tenant scope hands to its caller.
// pgx's own transaction type needs a BEGIN of its own, a round trip.
// The scope's BEGIN travels with its SET LOCALs and the lead query in one message instead.
// Tx carries the transaction from there.
// Statements go to the connection, as with pgx's type.
// Commit and Rollback end it, and every method fails with pgx.ErrTxClosed afterwards.
// Begin fails: a scope has no nested transactions.
//
// When the tenant pools keep statements (tenancy.PoolOptions.StatementCache), key prefixes every
// statement's text.
// key is a comment naming the tenant's schema.
// pgx caches statements by their text.
// PostgreSQL keeps each plan for the search_path it was planned under.
// So one key per tenant gives each tenant plans of its own that stay valid between requests.
type Tx struct {
	conn *pgx.Conn
	key  string
	// log, with APPCITAS_LOG_SQL, logs the statements that bypass pgx's tracer ([QueryUnkept]).
	log      func(ctx context.Context, sql string, args []any)
	closed   bool
	prepared map[string]bool
}

// NewTx returns the Tx of the transaction that [Open] began on conn.
// key, when not empty, prefixes every statement's text.
// log, when not nil, logs the statements that bypass pgx's tracer.
func NewTx(conn *pgx.Conn, key string, log func(ctx context.Context, sql string, args []any)) *Tx {
	return &Tx{conn: conn, key: key, log: log}
}

// errNestedTx is returned by [Tx.Begin].
var errNestedTx = errors.New("a tenant scope has no nested transactions; use SAVEPOINT")

// keyed returns sql with the scope's statement key, unless sql names a statement prepared in this
// scope.
func (tx *Tx) keyed(sql string) string {
	if tx.key == "" || tx.prepared[sql] {
		return sql
	}
	return tx.key + sql
}

// Begin fails with errNestedTx: a scope has no nested transactions.
// Callers that need one send SAVEPOINT and ROLLBACK TO SAVEPOINT themselves.
func (tx *Tx) Begin(context.Context) (pgx.Tx, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	return nil, errNestedTx
}

// Commit commits the transaction; a transaction that had failed is rolled back and Commit returns
// pgx.ErrTxCommitRollback.
func (tx *Tx) Commit(ctx context.Context) error {
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
func (tx *Tx) Rollback(ctx context.Context) error {
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
func (tx *Tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if tx.closed {
		return 0, pgx.ErrTxClosed
	}
	return tx.conn.CopyFrom(ctx, table, columns, src)
}

// SendBatch sends a batch on the transaction's connection.
func (tx *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
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
func (tx *Tx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Prepare prepares a statement on the transaction's connection, as given (no statement key):
// later calls in this scope may name it by name.
func (tx *Tx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
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
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return tx.conn.Exec(ctx, tx.keyed(sql), args...)
}

// Query runs a query on the transaction's connection.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	return tx.conn.Query(ctx, tx.keyed(sql), args...)
}

// QueryRow runs a query that returns one row on the transaction's connection.
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if tx.closed {
		return errRow{pgx.ErrTxClosed}
	}
	return tx.conn.QueryRow(ctx, tx.keyed(sql), args...)
}

// Conn returns the transaction's connection.
func (tx *Tx) Conn() *pgx.Conn { return tx.conn }

// errRow is a pgx.Row whose Scan fails.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
