package backup

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// TableSum is one table's row count and the sum of a 64-bit hash of each of its rows: two copies of
// a tenant on servers of the same PostgreSQL major version hold the same data when their sums are
// equal. The hash is hash_record_extended (the hash of every column's value, the one hash
// partitioning uses), or, for a table with a column type that has no hash function (json, xml,
// ...), the first 60 bits of the MD5 of the row's text form. A sum needs no sort.
type TableSum struct {
	// Table is the table's name.
	Table string
	// Rows is its row count.
	Rows int64
	// Sum is the sum of its rows' hashes, as a decimal number.
	Sum string
}

// Checksums returns the sums of every table of a tenant, in load order, read in one consistent
// snapshot of its scope.
func Checksums(ctx context.Context, m *tenancy.Manager, t tenancy.Tenant) ([]TableSum, error) {
	var sums []TableSum
	err := m.RunSnapshot(ctx, t, func(tx pgx.Tx) error {
		var err error
		sums, err = checksumScope(ctx, tx, t.Schema)
		return err
	})
	return sums, err
}

// checksumScope sums the tables of the scope's schema inside tx (a scope with stable output
// settings, so that the text form of values is the same on every server).
func checksumScope(ctx context.Context, tx pgx.Tx, schema string) ([]TableSum, error) {
	tables, err := tenantTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	sums := make([]TableSum, 0, len(tables))
	for _, t := range tables {
		sel, err := t.selectSQL(schema, false)
		if err != nil {
			return nil, err
		}
		hash := `('x' || substr(md5(x::text), 1, 15))::bit(60)::bigint`
		if t.hashable {
			hash = `hash_record_extended(x, 0)`
		}
		s := TableSum{Table: t.name}
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(`+hash+`), 0)::text FROM (`+sel+`) x`).Scan(&s.Rows, &s.Sum); err != nil {
			return nil, fmt.Errorf("summing %s: %w", t.name, err)
		}
		sums = append(sums, s)
	}
	return sums, nil
}
