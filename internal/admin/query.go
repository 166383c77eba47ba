// Package admin holds superuser operations that span tenants.
//   - [Query] runs read-only queries over every active tenant: the guide's cross-tenant UNION ALL,
//     done safely (parsed by PostgreSQL's parser, sent with the extended protocol, run as a query
//     role that can only read tenant tables).
//   - [Overview] is the fleet overview that the tenant dashboard and list_tenants read.
package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// ErrColumnsDiffer is a tenant whose result columns differ from the first tenant's (e.g. it is at
// another migration version); its rows are left out.
var ErrColumnsDiffer = errors.New("result columns differ from the other tenants'")

// Format is an output format of [Query].
type Format string

const (
	// CSV writes a header line then one line per row (RFC 4180).
	CSV Format = "csv"
	// JSON writes one JSON object per line (NDJSON): numbers, booleans and json values as such,
	// everything else as strings, NULL as null.
	JSON Format = "json"
)

// QueryOptions configures [Query].
type QueryOptions struct {
	// Format defaults to CSV.
	Format Format
	// Timeout bounds the whole run; each statement also gets it as statement_timeout. Defaults to 30s.
	Timeout time.Duration
	// MaxRows caps the rows written over all tenants. Defaults to 10,000.
	MaxRows int
	// Batch is how many tenants are queried at once. Defaults to 4.
	Batch int
	// Organizations, when set, limits the run to these organization ids.
	Organizations []int64
}

// QueryReport sums up a [Query] run.
type QueryReport struct {
	// Tenants is how many tenants were queried; Rows how many rows were written.
	Tenants, Rows int
	// Truncated is true when MaxRows stopped the run.
	Truncated bool
	// Failed maps organization ids to their error; their rows are left out.
	Failed map[int64]error
	// Took is the run's duration.
	Took time.Duration
}

// tenantResult is one tenant's rows, gathered before writing so that tenants do not interleave.
type tenantResult struct {
	org    tenancy.Organization
	fields []string
	oids   []uint32
	rows   [][][]byte
	err    error
}

// Query runs sql in every active tenant's schema and streams the rows to w, each prefixed with the
// organization's id and name. sql must pass [CheckReadOnly] (a syntax error or a refusal is
// returned once, before anything runs). It runs as each server's query role
// ([tenancy.Manager.OpenReader]): read-only, a member of no tenant role, with SELECT on tenant
// tables only, on connections opened for this run and closed at its end. Each tenant's statement
// has opts.Timeout as its statement timeout. Tenants are queried opts.Batch at a time; the run
// stops at opts.MaxRows or opts.Timeout. A tenant whose query fails is reported in the report's
// Failed and the others go on; the returned error is for the run as a whole.
func Query(ctx context.Context, m *tenancy.Manager, sql string, w io.Writer, opts QueryOptions) (QueryReport, error) {
	start := time.Now()
	if err := CheckReadOnly(sql); err != nil {
		return QueryReport{}, err
	}
	if opts.Format == "" {
		opts.Format = CSV
	}
	if opts.Format != CSV && opts.Format != JSON {
		return QueryReport{}, fmt.Errorf("unknown format %q (csv or json)", opts.Format)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 10000
	}
	if opts.Batch <= 0 {
		opts.Batch = 4
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	orgs, err := m.Organizations(ctx)
	if err != nil {
		return QueryReport{}, err
	}
	only := map[int64]bool{}
	for _, id := range opts.Organizations {
		only[id] = true
	}
	var targets []tenancy.Organization
	for _, o := range orgs {
		if o.IsActive && o.SchemaName != "" && (len(only) == 0 || only[o.ID]) {
			targets = append(targets, o)
		}
	}
	rep := QueryReport{Failed: map[int64]error{}}
	out := newRowWriter(w, opts.Format)
	// One set of reader connections per batch position, each used by one goroutine at a time.
	readers := make([]readerSet, opts.Batch)
	for i := range readers {
		readers[i] = readerSet{m: m, opts: tenancy.ReaderOptions{StatementTimeout: opts.Timeout}}
	}
	defer func() {
		for i := range readers {
			readers[i].close()
		}
	}()
	if len(targets) > 0 {
		// A query role that cannot log in fails the run once, not once per tenant.
		if _, err := readers[0].get(ctx, targets[0].DatabaseName); err != nil {
			return rep, err
		}
	}
	for i := 0; i < len(targets) && !rep.Truncated; i += opts.Batch {
		batch := targets[i:min(i+opts.Batch, len(targets))]
		results := make([]tenantResult, len(batch))
		// Each tenant returns at most what is still allowed, plus one row to tell "exactly
		// MaxRows" from "more".
		limit := opts.MaxRows - rep.Rows + 1
		var wg sync.WaitGroup
		for j, o := range batch {
			wg.Go(func() { results[j] = queryTenant(ctx, &readers[j], o, sql, limit) })
		}
		wg.Wait()
		for _, r := range results {
			rep.Tenants++
			if r.err != nil {
				rep.Failed[r.org.ID] = r.err
				continue
			}
			if err := out.header(r.fields); err != nil {
				if errors.Is(err, ErrColumnsDiffer) {
					rep.Failed[r.org.ID] = err
					continue
				}
				return rep, err
			}
			for _, row := range r.rows {
				if rep.Rows == opts.MaxRows {
					rep.Truncated = true
					break
				}
				if err := out.row(r.org, r.oids, row); err != nil {
					return rep, fmt.Errorf("writing results: %w", err)
				}
				rep.Rows++
			}
		}
		if err := out.flush(); err != nil {
			return rep, fmt.Errorf("writing results: %w", err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Took = time.Since(start)
	if ctx.Err() != nil {
		return rep, fmt.Errorf("query_all_tenants stopped after %s (timeout): %w", opts.Timeout, ctx.Err())
	}
	return rep, nil
}

// readerSet holds one query-role connection per server, opened when first needed.
type readerSet struct {
	m       *tenancy.Manager
	opts    tenancy.ReaderOptions
	servers map[string]*tenancy.Reader
}

// get returns the open connection to server, opening one if there is none (or it was closed).
func (rs *readerSet) get(ctx context.Context, server string) (*tenancy.Reader, error) {
	if r := rs.servers[server]; r != nil && !r.IsClosed() {
		return r, nil
	}
	r, err := rs.m.OpenReader(ctx, server, rs.opts)
	if err != nil {
		return nil, err
	}
	if rs.servers == nil {
		rs.servers = map[string]*tenancy.Reader{}
	}
	rs.servers[server] = r
	return r, nil
}

// close closes every connection; a query run leaves none open.
func (rs *readerSet) close() {
	for _, r := range rs.servers {
		// A fresh context: the run's may be done, and the connection must close anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.Close(ctx)
		cancel()
	}
}

// queryTenant runs sql in one tenant's schema through a reader of rs, keeping at most limit rows.
func queryTenant(ctx context.Context, rs *readerSet, org tenancy.Organization, sql string, limit int) tenantResult {
	res := tenantResult{org: org}
	t, err := org.Tenant()
	if err != nil {
		res.err = err
		return res
	}
	rd, err := rs.get(ctx, t.Server)
	if err != nil {
		res.err = err
		return res
	}
	rr, err := rd.Query(ctx, t, sql)
	if err != nil {
		res.err = err
		return res
	}
	for _, fd := range rr.FieldDescriptions() {
		res.fields = append(res.fields, fd.Name)
		res.oids = append(res.oids, fd.DataTypeOID)
	}
	for rr.NextRow() {
		if len(res.rows) == limit {
			break
		}
		raw := rr.Values()
		row := make([][]byte, len(raw))
		for i, v := range raw {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		res.rows = append(res.rows, row)
	}
	if _, err := rr.Close(); err != nil {
		res.err = err
	}
	return res
}

// rowWriter writes rows in one format; the first tenant's columns set the header.
type rowWriter struct {
	format Format
	w      io.Writer
	csv    *csv.Writer
	enc    *json.Encoder
	fields []string
}

func newRowWriter(w io.Writer, f Format) *rowWriter {
	rw := &rowWriter{format: f, w: w}
	if f == CSV {
		rw.csv = csv.NewWriter(w)
	} else {
		rw.enc = json.NewEncoder(w)
	}
	return rw
}

func (rw *rowWriter) header(fields []string) error {
	if rw.fields != nil {
		if strings.Join(fields, "\x00") != strings.Join(rw.fields, "\x00") {
			return fmt.Errorf("%w: %v instead of %v", ErrColumnsDiffer, fields, rw.fields)
		}
		return nil
	}
	rw.fields = fields
	if rw.csv != nil {
		return rw.csv.Write(append([]string{"organization_id", "organization_name"}, fields...))
	}
	return nil
}

func (rw *rowWriter) row(org tenancy.Organization, oids []uint32, row [][]byte) error {
	if rw.csv != nil {
		rec := make([]string, 0, len(row)+2)
		rec = append(rec, strconv.FormatInt(org.ID, 10), org.Name)
		for _, v := range row {
			rec = append(rec, string(v)) // NULL as the empty field
		}
		return rw.csv.Write(rec)
	}
	obj := orderedObject{keys: []string{"organization_id", "organization_name"}, values: []any{org.ID, org.Name}}
	for i, v := range row {
		obj.keys = append(obj.keys, rw.fields[i])
		obj.values = append(obj.values, jsonValue(oids[i], v))
	}
	return rw.enc.Encode(obj)
}

func (rw *rowWriter) flush() error {
	if rw.csv != nil {
		rw.csv.Flush()
		return rw.csv.Error()
	}
	return nil
}

// jsonValue turns a value's text form into JSON: numbers, booleans and json as such, the rest as a
// string, NULL as null.
func jsonValue(oid uint32, v []byte) any {
	if v == nil {
		return nil
	}
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		if json.Valid(v) {
			return json.RawMessage(v)
		}
	case pgtype.BoolOID:
		return string(v) == "t"
	case pgtype.JSONOID, pgtype.JSONBOID:
		if json.Valid(v) {
			return json.RawMessage(v)
		}
	}
	return string(v)
}

// orderedObject is a JSON object that keeps its keys in column order.
type orderedObject struct {
	keys   []string
	values []any
}

// MarshalJSON writes the object with its keys in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.values[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// IsReadOnlyViolation reports whether err is PostgreSQL refusing a write in a read-only
// transaction (SQLSTATE 25006) or a privilege the query role lacks (42501).
func IsReadOnlyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "25006" || pgErr.Code == "42501")
}
