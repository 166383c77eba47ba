package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// OnceQuery is one statement of [QueryOnce]: its SQL, its arguments, and what reads its rows.
type OnceQuery struct {
	// SQL is one statement, with placeholders $1 … for Args.
	SQL string
	// Args are the values of the placeholders.
	Args []any
	// Read reads the statement's rows; it need not read them all.
	Read func(pgx.Rows) error
}

// QueryOnce runs queries in tx (a transaction [Manager.RunWith] handed out, or a savepoint of
// one) in one round trip, each as an unnamed statement that the connection does not
// keep, and hands each one's rows to its Read, in order. It stops at the first failure.
//
// It is for statements a scope runs once in a long while, such as a tenant's set-up, read again
// only when it changes: through the statement cache each would keep, for every tenant a backend
// serves and for as long as the backend lives, a plan of tens of KB there and a statement
// description in this process (measured at 10,000 tenants: the set-up's five statements were
// two thirds of each backend's 180 MB of plans).
func QueryOnce(ctx context.Context, tx pgx.Tx, queries ...OnceQuery) error {
	var log func(ctx context.Context, sql string, args []any)
	switch t := tx.(type) {
	case *scopeTx:
		if t.closed {
			return pgx.ErrTxClosed
		}
		log = t.log
	case *savepointTx:
		if t.closed || t.parent.closed {
			return pgx.ErrTxClosed
		}
		log = t.parent.log
	}
	conn := tx.Conn()
	if conn == nil {
		return errors.New("tenancy.QueryOnce: the transaction has no connection")
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
