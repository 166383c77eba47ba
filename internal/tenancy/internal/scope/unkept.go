package scope

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Query is one statement of [QueryUnkept]: its SQL, its arguments, and what reads its rows.
type Query struct {
	// SQL is one statement, with placeholders $1 … for Args.
	SQL string
	// Args are the values of the placeholders.
	Args []any
	// Read reads the statement's rows; it need not read them all.
	Read func(pgx.Rows) error
}

// QueryUnkept runs queries in tx in one round trip and hands each one's rows to its Read, in order.
// Each query runs as an unnamed statement that the connection does not keep.
// It stops at the first failure.
func QueryUnkept(ctx context.Context, tx pgx.Tx, queries ...Query) error {
	var log func(ctx context.Context, sql string, args []any)
	if t, ok := tx.(*Tx); ok {
		if t.closed {
			return pgx.ErrTxClosed
		}
		log = t.log
	}
	conn := tx.Conn()
	if conn == nil {
		return errors.New("the transaction has no connection")
	}
	batch := &pgconn.Batch{}
	for i, q := range queries {
		if log != nil {
			log(ctx, q.SQL, q.Args)
		}
		var eqb pgx.ExtendedQueryBuilder // a new one each time: Build reuses its buffers
		if err := eqb.Build(conn.TypeMap(), nil, q.Args); err != nil {
			return fmt.Errorf("query %d: %w", i+1, err)
		}
		batch.ExecParams(q.SQL, eqb.ParamValues, nil, eqb.ParamFormats, eqb.ResultFormats)
	}
	mrr := conn.PgConn().ExecBatch(ctx, batch)
	var err error
	for i := 0; mrr.NextResult(); i++ {
		rows := pgx.RowsFromResultReader(conn.TypeMap(), mrr.ResultReader())
		if err == nil && i < len(queries) {
			err = queries[i].Read(rows)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if cerr := mrr.Close(); err == nil {
		err = cerr
	}
	return err
}
