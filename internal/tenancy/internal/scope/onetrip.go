package scope

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// OpeningSQL sets a one-trip scope's search_path and role with transaction scope, as SET LOCAL
// does. set_config('role', …) runs the same permission check as SET ROLE.
const OpeningSQL = `SELECT set_config('search_path', $1, true), set_config('role', $2, true)`

// ReadInOneTrip runs a read-only scope in one round trip.
// It sends BEGIN READ ONLY, [OpeningSQL] with searchPath and role, each query and COMMIT as one
// pipeline with one Sync.
// Then it hands each query's rows to its Read, in order.
// A Read that fails stops the reading: the later queries' rows are discarded, and that error is
// returned.
//
// With keep > 0 each query is a statement the connection keeps, named for key (the tenant's
// statement key) and its SQL, at most keep of them, least recently used out first.
// A statement is prepared inside the scope, in the pipeline itself, so its names resolve in the
// tenant's schema.
// With keep <= 0 each query is an unnamed statement.
// On failure the connection is left outside any transaction, or closed.
func ReadInOneTrip(ctx context.Context, conn *pgx.Conn, searchPath, role, key string, keep int, queries []Query,
	log func(ctx context.Context, sql string, args []any)) error {
	pc := conn.PgConn()
	var kept *keptStatements
	if keep > 0 {
		kept = keptOf(pc, keep)
	}
	type sent struct {
		sd      *pgconn.StatementDescription // kept, already prepared
		prepare string                       // prepared in this pipeline under this name
		formats []int16
	}
	plan := make([]sent, len(queries))
	var evict []string
	for i, q := range queries {
		if kept == nil {
			continue
		}
		if sd := kept.use(stmtKey{key, q.SQL}); sd != nil {
			plan[i].sd = sd
			continue
		}
		plan[i].prepare = keptName(key + q.SQL)
	}

	if log != nil {
		log(ctx, "BEGIN READ ONLY", []any{})
		log(ctx, OpeningSQL, []any{searchPath, role})
	}
	p := pc.StartPipeline(ctx)
	// A Read that panics leaves the pipeline open: close the network connection, so that the pool
	// discards it.
	defer func() {
		if v := recover(); v != nil {
			_ = pc.Conn().Close()
			panic(v)
		}
	}()
	p.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
	// The opening names no table: with kept statements, one statement of the connection serves
	// every tenant.
	openArgs := [][]byte{[]byte(searchPath), []byte(role)}
	var openSD *pgconn.StatementDescription
	prepareOpening := false
	switch {
	case kept == nil:
		p.SendQueryParams(OpeningSQL, openArgs, []uint32{pgtype.TextOID, pgtype.TextOID}, nil, nil)
	case kept.opening != nil:
		openSD = kept.opening
		p.SendQueryStatement(openSD, openArgs, nil, nil)
	default:
		prepareOpening = true
		p.SendPrepare(openingName, OpeningSQL, []uint32{pgtype.TextOID, pgtype.TextOID})
		p.SendQueryPrepared(openingName, openArgs, nil, nil)
	}
	for i, q := range queries {
		if log != nil {
			log(ctx, key+q.SQL, q.Args)
		}
		var eqb pgx.ExtendedQueryBuilder // a new one each time: Build reuses its buffers
		switch s := &plan[i]; {
		case s.sd != nil:
			if err := eqb.Build(conn.TypeMap(), s.sd, q.Args); err != nil {
				_ = p.Close()
				return fmt.Errorf("query %d: %w", i+1, err)
			}
			s.formats = append([]int16(nil), eqb.ResultFormats...)
			p.SendQueryStatement(s.sd, eqb.ParamValues, eqb.ParamFormats, s.formats)
		case s.prepare != "":
			if err := eqb.Build(conn.TypeMap(), nil, q.Args); err != nil {
				_ = p.Close()
				return fmt.Errorf("query %d: %w", i+1, err)
			}
			p.SendPrepare(s.prepare, key+q.SQL, nil)
			p.SendQueryPrepared(s.prepare, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
		default:
			if err := eqb.Build(conn.TypeMap(), nil, q.Args); err != nil {
				_ = p.Close()
				return fmt.Errorf("query %d: %w", i+1, err)
			}
			p.SendQueryParams(q.SQL, eqb.ParamValues, nil, eqb.ParamFormats, eqb.ResultFormats)
		}
	}
	if log != nil {
		log(ctx, "COMMIT", []any{})
	}
	p.SendQueryParams("COMMIT", nil, nil, nil, nil)
	if kept != nil {
		for i := range plan {
			if plan[i].prepare != "" {
				evict = append(evict, kept.add(stmtKey{key, queries[i].SQL}, plan[i].prepare)...)
			}
		}
		for _, name := range evict {
			p.SendDeallocate(name)
		}
	}
	err := p.Sync()

	// Read the results in the order they were sent.
	next := func() (any, error) {
		if err != nil {
			return nil, err
		}
		return p.GetResults()
	}
	closeResult := func() (pgconn.CommandTag, error) {
		res, rerr := next()
		if rerr != nil {
			return pgconn.CommandTag{}, rerr
		}
		rr, ok := res.(*pgconn.ResultReader)
		if !ok {
			return pgconn.CommandTag{}, fmt.Errorf("one-trip read: unexpected %T", res)
		}
		return rr.Close()
	}
	if _, err = closeResult(); err == nil && prepareOpening { // BEGIN
		var res any
		if res, err = next(); err == nil {
			if sd, ok := res.(*pgconn.StatementDescription); ok {
				sd.Name, sd.SQL = openingName, OpeningSQL
				kept.opening = sd
			}
		}
	}
	if err == nil {
		_, err = closeResult() // the opening
	}
	var readErr error
	for i, q := range queries {
		if err != nil {
			break
		}
		if plan[i].prepare != "" {
			var res any
			if res, err = next(); err != nil {
				break
			}
			if sd, ok := res.(*pgconn.StatementDescription); ok {
				sd.Name, sd.SQL = plan[i].prepare, key+q.SQL
				kept.describe(stmtKey{key, q.SQL}, sd)
			}
		}
		var res any
		if res, err = next(); err != nil {
			break
		}
		rr, ok := res.(*pgconn.ResultReader)
		if !ok {
			err = fmt.Errorf("one-trip read: unexpected %T", res)
			break
		}
		rows := pgx.RowsFromResultReader(conn.TypeMap(), rr)
		if readErr == nil {
			readErr = q.Read(rows)
		}
		rows.Close()
		if err = rows.Err(); err != nil {
			break
		}
	}
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = closeResult() // COMMIT
	}
	if err == nil && tag.String() != "COMMIT" {
		err = pgx.ErrTxCommitRollback
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return readErr
	}
	// The statements of this pipeline may be missing or stale on the connection: forget them, and
	// deallocate them (closing a statement that does not exist is no error).
	if kept != nil {
		kept.opening = nil
		for i, q := range queries {
			if name := kept.forget(stmtKey{key, q.SQL}); name != "" {
				plan[i].prepare = name
			}
		}
	}
	if pc.IsClosed() {
		return err
	}
	if pc.TxStatus() != 'I' {
		if _, rbErr := pc.Exec(ctx, "ROLLBACK").ReadAll(); rbErr != nil || pc.TxStatus() != 'I' {
			_ = conn.Close(ctx)
			return err
		}
	}
	if kept != nil {
		d := pc.StartPipeline(ctx)
		for _, s := range plan {
			if s.sd != nil {
				d.SendDeallocate(s.sd.Name)
			} else if s.prepare != "" {
				d.SendDeallocate(s.prepare)
			}
		}
		for _, name := range evict {
			d.SendDeallocate(name)
		}
		if openSD != nil || prepareOpening {
			d.SendDeallocate(openingName)
		}
		if derr := d.Sync(); derr == nil {
			_ = d.Close()
		} else {
			_ = d.Close()
			_ = conn.Close(ctx)
		}
	}
	return err
}

// openingName names the connection's statement of OpeningSQL.
const openingName = "appcitas_read_opening"

// keptStatementsKey is where a connection's [keptStatements] live in pgconn's CustomData.
const keptStatementsKey = "appcitas.tenancy.onetrip"

// stmtKey identifies a kept statement: the tenant's statement key and the SQL (the statement's
// text is key + sql), so that a lookup builds no string.
type stmtKey struct{ key, sql string }

// keptStatements are the statements [ReadInOneTrip] prepared on one connection, by stmtKey,
// least recently used first, at most limit of them. A connection serves one scope at a time, so
// no lock is needed.
type keptStatements struct {
	// opening is the connection's statement of OpeningSQL, once prepared.
	opening *pgconn.StatementDescription
	limit   int
	order   *list.List // of *keptStatement, front = most recently used
	bySQL   map[stmtKey]*list.Element
}

type keptStatement struct {
	sql  stmtKey
	name string
	sd   *pgconn.StatementDescription // nil until its description is read
}

// keptOf returns conn's kept statements, creating the set with room for limit.
func keptOf(conn *pgconn.PgConn, limit int) *keptStatements {
	data := conn.CustomData()
	if s, ok := data[keptStatementsKey].(*keptStatements); ok {
		return s
	}
	s := &keptStatements{limit: max(limit, 1), order: list.New(), bySQL: map[stmtKey]*list.Element{}}
	data[keptStatementsKey] = s
	return s
}

// keptName names the statement of keyed SQL: a hash, so that no two tenants (their keys differ)
// share a statement.
func keptName(keyed string) string {
	h := sha256.Sum256([]byte(keyed))
	return "appcitas_read_" + hex.EncodeToString(h[:16])
}

// use returns the description of sql's statement when it is prepared, and marks it recently used.
func (s *keptStatements) use(sql stmtKey) *pgconn.StatementDescription {
	e, ok := s.bySQL[sql]
	if !ok {
		return nil
	}
	st := e.Value.(*keptStatement)
	if st.sd == nil {
		return nil
	}
	s.order.MoveToFront(e)
	return st.sd
}

// add records sql as prepared under name and returns the statements to deallocate to keep the set
// within its limit.
func (s *keptStatements) add(sql stmtKey, name string) (evict []string) {
	if e, ok := s.bySQL[sql]; ok {
		s.order.Remove(e)
		delete(s.bySQL, sql)
	}
	for s.order.Len() >= s.limit {
		old := s.order.Remove(s.order.Back()).(*keptStatement)
		delete(s.bySQL, old.sql)
		evict = append(evict, old.name)
	}
	s.bySQL[sql] = s.order.PushFront(&keptStatement{sql: sql, name: name})
	return evict
}

// describe records the description of sql's statement, read when it was prepared.
func (s *keptStatements) describe(sql stmtKey, sd *pgconn.StatementDescription) {
	if e, ok := s.bySQL[sql]; ok {
		e.Value.(*keptStatement).sd = sd
	}
}

// forget drops sql's statement from the set and returns its name ("" when it was not there).
func (s *keptStatements) forget(sql stmtKey) string {
	e, ok := s.bySQL[sql]
	if !ok {
		return ""
	}
	s.order.Remove(e)
	delete(s.bySQL, sql)
	return e.Value.(*keptStatement).name
}
