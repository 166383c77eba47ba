package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// ErrSameServer is returned when a tenant is asked to move to the server it is on.
var ErrSameServer = errors.New("tenant is already on that server")

// MoveResult is what [Move] did.
type MoveResult struct {
	// Organization is the moved organization, as it now is.
	Organization tenancy.Organization
	// From and To are the source and target servers.
	From, To string
	// Sums are the verified row counts and checksums ([TableSum]), equal on both servers.
	Sums []TableSum
	// Pause is how long the tenant's writes were held: from asking for the table locks on the
	// source to releasing them after the switch. Reads go on during the pause.
	Pause time.Duration
	// Took is the whole move.
	Took time.Duration
}

// Move copies org's schema to server to and switches the organization there, pausing the tenant's
// writes only for the last part of the copy:
//
//  1. the schema is created on the target at the source's migration version, in one transaction;
//  2. every table is bulk-copied into it with COPY from a REPEATABLE READ snapshot of the source,
//     while the tenant keeps working, then the rows written meanwhile are applied from newer
//     snapshots (up to 3 rounds) until few are left;
//  3. pause: every source table is locked IN EXCLUSIVE MODE (writes wait, reads go on); the rows
//     written since the snapshot (found by their xmin) are copied and upserted, rows deleted since
//     are deleted, and every table's row count and sum of row hashes ([TableSum]) is compared on
//     both sides;
//  4. the target commits, the catalog row is switched to it (database_name) and the ledger follows;
//  5. the source's tables are made read-only for the tenant role, so that a write that waited for
//     the lock fails instead of landing in the old copy, and the locks are released.
//
// If anything fails before step 4, everything is rolled back: the tenant stays where it was,
// working. A deadlock with a writer or a lock timeout is retried (up to 3 attempts). The source
// schema is kept (read-only) until [DropSourceCopies].
func Move(ctx context.Context, m *tenancy.Manager, org tenancy.Organization, to string) (MoveResult, error) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		res, err := moveOnce(ctx, m, org, to)
		if code := tenancy.SQLState(err); attempt < 3 && (code == "40P01" || code == "55P03") {
			continue
		}
		res.Took = time.Since(start)
		return res, err
	}
}

// ErrSourceNotSealed is returned when a move switched the tenant to the target but could not make
// the source copy read-only: drop the source copy (move_tenant --drop-source) right away.
var ErrSourceNotSealed = errors.New("tenant moved, but its source copy is still writable")

func moveOnce(ctx context.Context, m *tenancy.Manager, org tenancy.Organization, to string) (MoveResult, error) {
	src, err := org.Tenant()
	if err != nil {
		return MoveResult{}, err
	}
	if src.Server == to {
		return MoveResult{}, fmt.Errorf("%w: %s is on %s", ErrSameServer, org.SchemaName, to)
	}
	if err := m.Servers().Check(ctx, to); err != nil {
		return MoveResult{}, err
	}
	q, err := tenancy.Ident(src.Schema)
	if err != nil {
		return MoveResult{}, err
	}
	res := MoveResult{From: src.Server, To: to}
	var pauseStart time.Time
	// s1 is the source transaction that pauses the writes and stays open until the switch.
	err = m.Run(ctx, src, func(s1 pgx.Tx) error {
		if _, err := s1.Exec(ctx, tenancy.StableOutputSettings+"; SET LOCAL lock_timeout = '10s'"); err != nil {
			return err
		}
		tables, err := tenantTables(ctx, s1)
		if err != nil {
			return err
		}
		var version int
		if err := s1.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+tenancy.VersionTable).Scan(&version); err != nil {
			return fmt.Errorf("reading migration version: %w", err)
		}
		_, err = m.LoadTenant(ctx, tenancy.LoadSpec{
			Schema:  src.Schema,
			Server:  to,
			Version: version,
			Load: func(ctx context.Context, ttx pgx.Tx) error {
				// Copied rows are not changes: no history rows nor webhook events in the target.
				if err := markCopy(ctx, ttx); err != nil {
					return err
				}
				snap, err := bulkCopy(ctx, m, src, ttx, tables)
				if err != nil {
					return err
				}
				// Catch up without pausing while much changed during the previous copy, so that
				// the paused round has little to copy.
				for round := 1; round <= maxLiveRounds; round++ {
					var changed int64
					if snap, changed, err = liveRound(ctx, m, src, ttx, tables, snap, round); err != nil {
						return err
					}
					if changed <= smallDelta {
						break
					}
				}
				pauseStart = time.Now()
				res.Sums, err = catchUp(ctx, s1, ttx, src.Schema, tables, snap)
				if err != nil {
					return err
				}
				mt := make([]Table, len(tables))
				for i, t := range tables {
					mt[i] = Table{Name: t.name}
				}
				return resetSequences(ctx, ttx, q, mt)
			},
			Catalog: func(ctx context.Context, tx pgx.Tx) error {
				moved, err := m.RepointOrganizationTx(ctx, tx, org.ID, src.Schema, src.Server, src.Schema, to)
				res.Organization = moved
				return err
			},
		})
		if err != nil {
			return fmt.Errorf("copying %s to %s: %w", src.Schema, to, err)
		}
		// The catalog now points at the target. Writes that waited for the locks must not land in
		// the source: take the tenant role's write rights on it before letting them through.
		if _, err := s1.Exec(ctx, "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "+q+" FROM "+q); err != nil {
			return fmt.Errorf("%w: sealing the source copy on %s failed (the tenant is already switched to %s; drop the source copy now): %w",
				ErrSourceNotSealed, src.Server, to, err)
		}
		return nil
	})
	if !pauseStart.IsZero() {
		res.Pause = time.Since(pauseStart)
	}
	return res, err
}

// xidSnapshot is the part of a source snapshot that tells rows written after it: their xmin is at
// or after xmax, or was in progress (xip), modulo 2^32 (a row's xmin is a 32-bit xid).
type xidSnapshot struct {
	xmax uint32
	xip  []uint32
}

func parseSnapshot(s string) (xidSnapshot, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return xidSnapshot{}, fmt.Errorf("unexpected snapshot %q", s)
	}
	var snap xidSnapshot
	xmax, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return xidSnapshot{}, fmt.Errorf("unexpected snapshot %q", s)
	}
	snap.xmax = uint32(xmax)
	if parts[2] != "" {
		for _, x := range strings.Split(parts[2], ",") {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return xidSnapshot{}, fmt.Errorf("unexpected snapshot %q", s)
			}
			snap.xip = append(snap.xip, uint32(v))
		}
	}
	return snap, nil
}

// newerSQL is a condition on the row alias x: written by a transaction the snapshot did not see.
// A row written in a subtransaction of a transaction that was in progress at the snapshot may be
// missed here; the final checksum comparison then fails the attempt rather than lose it.
func (s xidSnapshot) newerSQL() string {
	cond := fmt.Sprintf("((x.xmin::text::bigint - %d + 4294967296) %% 4294967296) < 2147483648", s.xmax)
	if len(s.xip) > 0 {
		ids := make([]string, len(s.xip))
		for i, x := range s.xip {
			ids[i] = strconv.FormatUint(uint64(x), 10)
		}
		cond += " OR x.xmin::text::bigint IN (" + strings.Join(ids, ", ") + ")"
	}
	return "(" + cond + ")"
}

// bulkCopy copies every table from a REPEATABLE READ snapshot of the source into the target
// transaction and returns the snapshot.
func bulkCopy(ctx context.Context, m *tenancy.Manager, src tenancy.Tenant, ttx pgx.Tx, tables []tableInfo) (xidSnapshot, error) {
	var snap xidSnapshot
	err := m.RunSnapshot(ctx, src, func(s0 pgx.Tx) error {
		var text string
		if err := s0.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
			return fmt.Errorf("reading snapshot: %w", err)
		}
		var err error
		if snap, err = parseSnapshot(text); err != nil {
			return err
		}
		for _, t := range tables {
			sel, err := t.selectSQL(src.Schema, false)
			if err != nil {
				return err
			}
			if err := pipeCopy(ctx, s0, ttx, sel, t.qualified(src.Schema), t); err != nil {
				return err
			}
		}
		return nil
	})
	return snap, err
}

// maxLiveRounds bounds the catch-up rounds taken while the tenant keeps writing; smallDelta is how
// many changed rows are left for the paused round.
const (
	maxLiveRounds = 3
	smallDelta    = 500
)

// liveRound applies the changes since snap from a new snapshot of the source, without pausing
// writes, and returns that snapshot and how many rows changed.
func liveRound(ctx context.Context, m *tenancy.Manager, src tenancy.Tenant, ttx pgx.Tx, tables []tableInfo, snap xidSnapshot, round int) (xidSnapshot, int64, error) {
	var next xidSnapshot
	var changed int64
	err := m.RunSnapshot(ctx, src, func(sk pgx.Tx) error {
		var text string
		if err := sk.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
			return fmt.Errorf("reading snapshot: %w", err)
		}
		var err error
		if next, err = parseSnapshot(text); err != nil {
			return err
		}
		changed, err = applyChanges(ctx, sk, ttx, src.Schema, tables, snap, strconv.Itoa(round))
		return err
	})
	return next, changed, err
}

// lockWait bounds each try of the pause's LOCK; it is below PostgreSQL's default
// deadlock_timeout (1 s), so a writer caught in a lock cycle with the pause is never the one
// aborted.
const lockWait = 200 * time.Millisecond

// pauseWrites runs lock (a LOCK TABLE) in s1, giving way and trying again, up to 50 times, when it
// waits longer than lockWait or meets a deadlock. Each try runs in a savepoint, so the locks of a
// failed try are released at once.
func pauseWrites(ctx context.Context, s1 pgx.Tx, lock string) error {
	for attempt := 1; ; attempt++ {
		if _, err := s1.Exec(ctx, "SAVEPOINT appcitas_pausa"); err != nil {
			return err
		}
		if _, err := s1.Exec(ctx, "SET LOCAL lock_timeout = "+strconv.Itoa(int(lockWait/time.Millisecond))); err != nil {
			return err
		}
		_, err := s1.Exec(ctx, lock)
		if err == nil {
			_, err = s1.Exec(ctx, "RELEASE SAVEPOINT appcitas_pausa")
			if err == nil {
				_, err = s1.Exec(ctx, "SET LOCAL lock_timeout = DEFAULT")
			}
			return err
		}
		if code := tenancy.SQLState(err); attempt >= 50 || code != "55P03" && code != "40P01" {
			return err
		}
		if _, rerr := s1.Exec(ctx, "ROLLBACK TO SAVEPOINT appcitas_pausa"); rerr != nil {
			return errors.Join(err, rerr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
		}
	}
}

// catchUp pauses the source's writes (s1 locks its tables), brings the target up to date with the
// rows written since snap, and returns the sums of the tables, verified equal on both sides.
func catchUp(ctx context.Context, s1, ttx pgx.Tx, schema string, tables []tableInfo, snap xidSnapshot) ([]TableSum, error) {
	// Lock referencing tables before the tables they reference, in the order most writers take
	// them (its row, then the foreign-key checks). Some writers take another order (a booking adds
	// its client, then the appointment, whose triggers write history, reminders and webhook
	// events), so the lock may meet a writer the other way round: it then gives way within
	// lockWait, before PostgreSQL's deadlock detector could pick the writer, and tries again.
	names := make([]string, len(tables))
	for i, t := range tables {
		names[len(tables)-1-i] = t.qualified(schema)
	}
	if len(names) > 0 {
		if err := pauseWrites(ctx, s1, "LOCK TABLE "+strings.Join(names, ", ")+" IN EXCLUSIVE MODE"); err != nil {
			return nil, fmt.Errorf("pausing writes of %s: %w", schema, err)
		}
	}
	if _, err := applyChanges(ctx, s1, ttx, schema, tables, snap, "final"); err != nil {
		return nil, err
	}
	// Verify: both sides summed at once, each on its own connection.
	var srcSums []TableSum
	var srcErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		srcSums, srcErr = checksumScope(ctx, s1, schema)
	}()
	got, err := checksumScope(ctx, ttx, schema)
	<-done
	if srcErr != nil {
		return nil, srcErr
	}
	if err != nil {
		return nil, err
	}
	if err := compareSums(srcSums, got); err != nil {
		return nil, err
	}
	return srcSums, nil
}

// applyChanges applies to the target (ttx) the changes that from (a source transaction) shows since
// snap: new and updated rows (by xmin) are upserted, deleted rows deleted. It returns how many rows
// changed. round names its temporary tables.
func applyChanges(ctx context.Context, from, ttx pgx.Tx, schema string, tables []tableInfo, snap xidSnapshot, round string) (int64, error) {
	var changed int64
	s1 := from
	// 1. Rows written since the snapshot go to a temporary table per table; a table whose row
	// count differs from what the target would hold after the upsert also lost rows.
	type plan struct {
		delta   string
		deletes bool
	}
	plans := make([]plan, len(tables))
	for i, t := range tables {
		if len(t.pk) == 0 {
			continue // copied whole below
		}
		sel, err := t.selectSQL(schema, false)
		if err != nil {
			return 0, err
		}
		name := fmt.Sprintf("appcitas_delta_%s_%03d", round, i)
		if _, err := ttx.Exec(ctx, "CREATE TEMP TABLE "+name+" ON COMMIT DROP AS "+sel+" WITH NO DATA"); err != nil {
			return 0, fmt.Errorf("preparing %s: %w", t.name, err)
		}
		delta := "pg_temp." + name
		if err := pipeCopy(ctx, s1, ttx, sel+" x WHERE "+snap.newerSQL(), delta, t); err != nil {
			return 0, err
		}
		var srcRows, union int64
		if err := s1.QueryRow(ctx, "SELECT count(*) FROM "+t.qualified(schema)).Scan(&srcRows); err != nil {
			return 0, fmt.Errorf("counting %s: %w", t.name, err)
		}
		if err := ttx.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+t.qualified(schema)+") + (SELECT count(*) FROM "+delta+
			" d WHERE NOT EXISTS (SELECT 1 FROM "+t.qualified(schema)+" x WHERE "+pkMatch(t.pk, "x", "d")+"))").Scan(&union); err != nil {
			return 0, fmt.Errorf("counting %s: %w", t.name, err)
		}
		var deltaRows int64
		if err := ttx.QueryRow(ctx, "SELECT count(*) FROM "+delta).Scan(&deltaRows); err != nil {
			return 0, fmt.Errorf("counting changes of %s: %w", t.name, err)
		}
		changed += deltaRows
		if union != srcRows {
			changed += max(union-srcRows, 1)
		}
		plans[i] = plan{delta: delta, deletes: union != srcRows}
	}
	// 2. Deleted rows, referencing tables first.
	for i := len(tables) - 1; i >= 0; i-- {
		t := tables[i]
		switch {
		case len(t.pk) == 0:
			if _, err := ttx.Exec(ctx, "DELETE FROM "+t.qualified(schema)); err != nil {
				return 0, fmt.Errorf("emptying %s: %w", t.name, err)
			}
		case plans[i].deletes:
			keyTable := tableInfo{name: t.name, columns: t.pk}
			keySel := "SELECT " + identList(t.pk) + " FROM " + t.qualified(schema)
			name := fmt.Sprintf("appcitas_keys_%s_%03d", round, i)
			if _, err := ttx.Exec(ctx, "CREATE TEMP TABLE "+name+" ON COMMIT DROP AS "+keySel+" WITH NO DATA"); err != nil {
				return 0, fmt.Errorf("preparing %s: %w", t.name, err)
			}
			if err := pipeCopy(ctx, s1, ttx, keySel, "pg_temp."+name, keyTable); err != nil {
				return 0, err
			}
			if _, err := ttx.Exec(ctx, "DELETE FROM "+t.qualified(schema)+" x WHERE NOT EXISTS (SELECT 1 FROM pg_temp."+name+" k WHERE "+pkMatch(t.pk, "x", "k")+")"); err != nil {
				return 0, fmt.Errorf("deleting rows of %s: %w", t.name, err)
			}
		}
	}
	// 3. New and changed rows, referenced tables first, in key order.
	for i, t := range tables {
		if len(t.pk) == 0 {
			sel, err := t.selectSQL(schema, false)
			if err != nil {
				return 0, err
			}
			if err := pipeCopy(ctx, s1, ttx, sel, t.qualified(schema), t); err != nil {
				return 0, err
			}
			continue
		}
		set := make([]string, 0, len(t.columns))
		for _, c := range t.columns {
			set = append(set, pgx.Identifier{c}.Sanitize()+" = EXCLUDED."+pgx.Identifier{c}.Sanitize())
		}
		if _, err := ttx.Exec(ctx, "INSERT INTO "+t.qualified(schema)+" ("+identList(t.columns)+") SELECT "+identList(t.columns)+
			" FROM "+plans[i].delta+" ORDER BY "+identList(t.pk)+" ON CONFLICT ("+identList(t.pk)+") DO UPDATE SET "+strings.Join(set, ", ")); err != nil {
			return 0, fmt.Errorf("applying changes to %s: %w", t.name, err)
		}
	}
	return changed, nil
}

// pkMatch returns "a.k1 = b.k1 AND ..." for key columns.
func pkMatch(pk []string, a, b string) string {
	parts := make([]string, len(pk))
	for i, c := range pk {
		id := pgx.Identifier{c}.Sanitize()
		parts[i] = a + "." + id + " = " + b + "." + id
	}
	return strings.Join(parts, " AND ")
}

// qualified returns the table's schema-qualified, quoted name (schema and table already validated).
func (t tableInfo) qualified(schema string) string {
	return pgx.Identifier{schema, t.name}.Sanitize()
}

// pipeCopy streams the rows of sel from one transaction into dest (t's columns) in another, through
// a pipe, without touching disk.
func pipeCopy(ctx context.Context, from, to pgx.Tx, sel, dest string, t tableInfo) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := from.Conn().PgConn().CopyTo(ctx, pw, "COPY ("+sel+") TO STDOUT")
		pw.CloseWithError(err)
		done <- err
	}()
	_, err := to.Conn().PgConn().CopyFrom(ctx, pr, "COPY "+dest+" ("+identList(t.columns)+") FROM STDIN")
	pr.CloseWithError(errors.New("target stopped reading"))
	srcErr := <-done
	if err != nil {
		return fmt.Errorf("copying %s: %w", t.name, err)
	}
	if srcErr != nil {
		return fmt.Errorf("reading %s: %w", t.name, srcErr)
	}
	return nil
}

// compareSums checks that two sets of table sums are equal.
func compareSums(want, got []TableSum) error {
	if len(want) != len(got) {
		return fmt.Errorf("verification failed: %d tables on the source, %d on the target", len(want), len(got))
	}
	for i := range want {
		if want[i] != got[i] {
			return fmt.Errorf("verification failed: table %s: source %d rows sum %s, target %s %d rows sum %s",
				want[i].Table, want[i].Rows, want[i].Sum, got[i].Table, got[i].Rows, got[i].Sum)
		}
	}
	return nil
}

// DropSourceCopies drops the copies of org's schema left on servers other than the one it is on
// (the sources of earlier moves) and returns the servers it dropped them from.
func DropSourceCopies(ctx context.Context, m *tenancy.Manager, org tenancy.Organization) ([]string, error) {
	if org.SchemaName == "" {
		return nil, fmt.Errorf("organization %d: %w", org.ID, tenancy.ErrNoSchemaName)
	}
	schemas, errs := m.Schemas(ctx)
	var dropped []string
	for _, s := range schemas {
		if s.Name != org.SchemaName || s.Server == org.DatabaseName {
			continue
		}
		if err := m.DropSchemaCopy(ctx, org, s.Name, s.Server); err != nil {
			return dropped, err
		}
		dropped = append(dropped, s.Server)
	}
	for server, err := range errs {
		return dropped, fmt.Errorf("server %s: %w", server, err)
	}
	return dropped, nil
}
