package migrate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// publicLockKey is the advisory lock (two-int form, first half) that serialises public migration runs.
const publicLockKey = 0x61707063 // "appc"

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options bounds a migration run.
type Options struct {
	// LockTimeout bounds the wait for any lock (the advisory lock, or a table a migration alters).
	// Defaults to 10s.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement. Defaults to 5m.
	StatementTimeout time.Duration
}

// LocalSettings returns the SET LOCAL statements that apply o to the current transaction.
func (o Options) LocalSettings() string {
	lock, stmt := o.LockTimeout, o.StatementTimeout
	if lock <= 0 {
		lock = 10 * time.Second
	}
	if stmt <= 0 {
		stmt = 5 * time.Minute
	}
	return fmt.Sprintf("SET LOCAL lock_timeout = %d; SET LOCAL statement_timeout = %d; ", lock.Milliseconds(), stmt.Milliseconds())
}

// PublicVersion returns the version of the public schema (0 when nothing was ever applied).
func PublicVersion(ctx context.Context, db Beginner) (int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading public migration version: %w", err)
	}
	defer tx.Rollback(ctx)
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('public.migraciones_public') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("reading public migration version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM public.migraciones_public`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading public migration version: %w", err)
	}
	return v, nil
}

// ApplyPublic applies the pending migrations of set to the public schema in one transaction,
// holding an advisory lock so that concurrent runners wait for each other. It returns what it
// applied (nothing when public is up to date).
func ApplyPublic(ctx context.Context, db Beginner, set Set, opts Options) ([]Migration, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrating public: %w", err)
	}
	defer tx.Rollback(ctx)
	setup := opts.LocalSettings() + fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, 0); ", publicLockKey) +
		`CREATE TABLE IF NOT EXISTS public.migraciones_public (
			version    integer PRIMARY KEY,
			nombre     text NOT NULL,
			aplicada_en timestamptz NOT NULL DEFAULT now()
		)`
	if _, err := tx.Exec(ctx, setup); err != nil {
		return nil, fmt.Errorf("migrating public: preparing: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM public.migraciones_public`).Scan(&current); err != nil {
		return nil, fmt.Errorf("migrating public: reading version: %w", err)
	}
	if current > set.Latest() {
		return nil, fmt.Errorf("public schema is at version %d, newer than this binary knows (%d): upgrade appcitas", current, set.Latest())
	}
	pending := set.Pending(current)
	for _, m := range pending {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("public migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO public.migraciones_public (version, nombre) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return nil, fmt.Errorf("recording public migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("migrating public: committing: %w", err)
	}
	return pending, nil
}

// Script joins migrations into one multi-statement script, each followed by the INSERT that
// records it in recordTable (a quoted, schema-local table name), so that a tenant's pending
// migrations travel to the server in one round trip.
func Script(ms []Migration, recordTable string) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.SQL)
		b.WriteString("\n;\n")
		fmt.Fprintf(&b, "INSERT INTO %s (version, nombre) VALUES (%d, '%s');\n", recordTable, m.Version, m.Name)
	}
	return b.String()
}
