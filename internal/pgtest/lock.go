package pgtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BlockTable locks schema.table in ACCESS EXCLUSIVE mode from a connection of its own (as the
// superuser, to connString's database), so that
// whatever reads the table next (a backup, a listing) stops there, holding whatever it took
// before. Blocked waits, at most 30 s, until some backend waits for the table; release lets it
// go on (and is also done when the test ends).
func BlockTable(t testing.TB, connString, schema, table string) (blocked, release func()) {
	t.Helper()
	ctx := context.Background()
	name := pgx.Identifier{schema, table}.Sanitize()
	// The test's own role may not reach the table (a NOINHERIT member of its owner); the
	// superuser may.
	connString = SuperuserURL(t, connString)
	holder := connect(ctx, t, connString)
	t.Cleanup(func() { holder.Close(ctx) })
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatalf("pgtest: beginning the lock's transaction: %v", err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+name+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("pgtest: locking %s: %v", name, err)
	}
	watch := connect(ctx, t, connString)
	t.Cleanup(func() { watch.Close(ctx) })
	blocked = func() {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var waiting bool
			if err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE NOT granted AND relation = $1::regclass)`, name).Scan(&waiting); err != nil {
				t.Fatalf("pgtest: watching the lock on %s: %v", name, err)
			}
			if waiting {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pgtest: no backend waited for %s within 30 s", name)
			}
		}
	}
	release = func() {
		t.Helper()
		if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			t.Fatalf("pgtest: releasing the lock on %s: %v", name, err)
		}
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	return blocked, release
}
