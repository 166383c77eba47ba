package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// tableInfo is what the catalog says about one tenant table.
type tableInfo struct {
	name    string
	columns []string
	pk      []string
	deps    []string // tables of the same schema this one references
	// hashable is true when every column's type has a default hash operator class, so that
	// hash_record_extended can sum the table's rows.
	hashable bool
}

// tenantTablesSQL lists the tables of the scope's schema with their copyable columns, primary key
// and in-schema foreign-key targets. It finds the tables through pg_depend's index on the schema's
// oid instead of scanning pg_class, so its cost does not grow with the number of other schemas.
const tenantTablesSQL = `
WITH ns AS (SELECT to_regnamespace(current_schema())::oid AS oid),
rels AS (
	SELECT c.oid, c.relname FROM pg_depend d
	JOIN pg_class c ON c.oid = d.objid
	WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = (SELECT oid FROM ns)
	  AND d.classid = 'pg_class'::regclass AND c.relnamespace = (SELECT oid FROM ns)
	  AND c.relkind IN ('r', 'p') AND NOT c.relispartition
)
SELECT r.relname,
	array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0
		AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum),
	array(SELECT a.attname::text FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
		WHERE i.indrelid = r.oid AND i.indisprimary AND a.attrelid = r.oid AND a.attnum = k.attnum ORDER BY k.ord),
	array(SELECT DISTINCT t.relname::text FROM pg_constraint f JOIN pg_class t ON t.oid = f.confrelid
		WHERE f.conrelid = r.oid AND f.contype = 'f' AND f.confrelid <> r.oid AND t.relnamespace = (SELECT oid FROM ns)),
	NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
		AND a.attgenerated = '' AND NOT EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
			WHERE am.amname = 'hash' AND oc.opcdefault AND oc.opcintype = a.atttypid))
FROM rels r WHERE r.relname <> ALL ($1)`

// uncopiedTables are the tenant tables whose rows are bookkeeping, not data: the schema's applied
// migrations and its set-up version. A restored or moved schema gets its own from its migrations.
func uncopiedTables() []string { return []string{tenancy.VersionTable, migrate.SetupVersionTable} }

// tenantTables reads the scope's tables, ordered so that referenced tables come first.
func tenantTables(ctx context.Context, tx pgx.Tx) ([]tableInfo, error) {
	rows, err := tx.Query(ctx, tenantTablesSQL, uncopiedTables())
	if err != nil {
		return nil, fmt.Errorf("reading tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tableInfo, error) {
		var t tableInfo
		err := r.Scan(&t.name, &t.columns, &t.pk, &t.deps, &t.hashable)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading tables: %w", err)
	}
	for _, t := range tables {
		if !sqlName.MatchString(t.name) {
			return nil, fmt.Errorf("table name %q is not supported by backups", t.name)
		}
		for _, c := range t.columns {
			if !sqlName.MatchString(c) {
				return nil, fmt.Errorf("table %s: column name %q is not supported by backups", t.name, c)
			}
		}
	}
	return loadOrder(tables)
}

// loadOrder sorts tables so that every table comes after the tables it references, by name where
// the order is free.
func loadOrder(tables []tableInfo) ([]tableInfo, error) {
	sort.Slice(tables, func(i, j int) bool { return tables[i].name < tables[j].name })
	byName := make(map[string]tableInfo, len(tables))
	for _, t := range tables {
		byName[t.name] = t
	}
	state := map[string]int{} // 1 visiting, 2 done
	out := make([]tableInfo, 0, len(tables))
	var visit func(t tableInfo) error
	visit = func(t tableInfo) error {
		switch state[t.name] {
		case 1:
			return fmt.Errorf("tables reference each other in a cycle through %s", t.name)
		case 2:
			return nil
		}
		state[t.name] = 1
		deps := append([]string(nil), t.deps...)
		sort.Strings(deps)
		for _, d := range deps {
			if dt, ok := byName[d]; ok {
				if err := visit(dt); err != nil {
					return err
				}
			}
		}
		state[t.name] = 2
		out = append(out, t)
		return nil
	}
	for _, t := range tables {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// selectSQL returns the SELECT of a table's copyable columns, ordered by primary key (or all
// columns) when ordered.
func (t tableInfo) selectSQL(schema string, ordered bool) (string, error) {
	q, err := tenancy.Ident(schema)
	if err != nil {
		return "", err
	}
	sql := "SELECT " + identList(t.columns) + " FROM " + q + "." + pgx.Identifier{t.name}.Sanitize()
	if ordered {
		sql += " ORDER BY " + identList(t.orderBy())
	}
	return sql, nil
}

// orderBy returns the primary key, or every column for a table without one.
func (t tableInfo) orderBy() []string {
	if len(t.pk) > 0 {
		return t.pk
	}
	return t.columns
}

// identList quotes names (already checked against sqlName) as a comma-separated list.
func identList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(quoted, ", ")
}

// backupLockKey is the first half of the per-schema advisory lock a backup holds while it reads the
// tenant ("bkup"); the second half is hashtext(schema).
const backupLockKey = 0x626b7570

// ErrInProgress is returned when another backup of the same tenant is reading it, from this
// process or any other (the dashboard, backup_tenant, the schedule): one at a time per tenant.
var ErrInProgress = errors.New("another backup of this tenant is running")

// Write takes a backup of org's tenant and writes the archive to w. The rows are read in one
// REPEATABLE READ READ ONLY transaction of the tenant's scope ([tenancy.Manager.RunSnapshot]) and
// spooled to temporary files (the manifest, which goes first, needs their checksums). The
// transaction holds the tenant's backup lock: while another backup of the tenant reads it, Write
// returns [ErrInProgress] at once.
func Write(ctx context.Context, m *tenancy.Manager, org tenancy.Organization, w io.Writer) (Manifest, error) {
	t, err := org.Tenant()
	if err != nil {
		return Manifest{}, err
	}
	spool, err := os.MkdirTemp("", "appcitas-backup-")
	if err != nil {
		return Manifest{}, fmt.Errorf("creating spool directory: %w", err)
	}
	defer os.RemoveAll(spool)

	man := Manifest{Format: FormatName, FormatVersion: FormatVersion, Organization: Organization{
		ID: org.ID, Name: org.Name, Slug: org.Slug, SchemaName: org.SchemaName, TimeZone: org.TimeZone,
		Server: org.DatabaseName, IsActive: org.IsActive,
	}}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	err = m.RunSnapshot(ctx, t, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", backupLockKey, t.Schema).Scan(&locked); err != nil {
			return fmt.Errorf("taking the backup lock: %w", err)
		}
		if !locked {
			return ErrInProgress
		}
		if err := tx.QueryRow(ctx, `SELECT now(), current_setting('server_version'), coalesce(max(version), 0) FROM `+
			tenancy.VersionTable).Scan(&man.CreatedAt, &man.ServerVersion, &man.MigrationVersion); err != nil {
			return fmt.Errorf("reading migration version: %w", err)
		}
		tables, err := tenantTables(ctx, tx)
		if err != nil {
			return err
		}
		for i, ti := range tables {
			sel, err := ti.selectSQL(t.Schema, true)
			if err != nil {
				return err
			}
			f, err := os.CreateTemp(spool, "table-")
			if err != nil {
				return fmt.Errorf("spooling %s: %w", ti.name, err)
			}
			files = append(files, f)
			sink := newTableSink()
			if _, err := tx.Conn().PgConn().CopyTo(ctx, io.MultiWriter(f, sink), "COPY ("+sel+") TO STDOUT"); err != nil {
				return fmt.Errorf("copying %s: %w", ti.name, err)
			}
			man.Tables = append(man.Tables, Table{Name: ti.name, Columns: ti.columns, OrderBy: ti.pk,
				File: tableFile(i, ti.name), Rows: sink.rows, Bytes: sink.bytes, SHA256: sink.sum()})
		}
		return nil
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("backing up %s: %w", org.SchemaName, err)
	}
	man.CreatedAt = man.CreatedAt.UTC()
	set := m.TenantMigrations().All()
	if man.MigrationVersion > len(set) || man.MigrationVersion < 1 {
		return Manifest{}, fmt.Errorf("backing up %s: schema is at migration version %d, this binary knows 1..%d", org.SchemaName, man.MigrationVersion, len(set))
	}
	for _, mg := range set[:man.MigrationVersion] {
		man.Migrations = append(man.Migrations, MigrationName{Version: mg.Version, Name: mg.Name})
	}
	spooled := make([]spooledTable, len(man.Tables))
	for i, tb := range man.Tables {
		if _, err := files[i].Seek(0, io.SeekStart); err != nil {
			return Manifest{}, fmt.Errorf("reading spool of %s: %w", tb.Name, err)
		}
		spooled[i] = spooledTable{Table: tb, data: files[i]}
	}
	if err := writeArchive(w, man, spooled); err != nil {
		return Manifest{}, fmt.Errorf("backing up %s: %w", org.SchemaName, err)
	}
	return man, nil
}

// Result is a backup written to a file.
type Result struct {
	// Path is the archive written.
	Path string
	// Manifest is its manifest.
	Manifest Manifest
	// Size is the archive's size on disk.
	Size int64
	// Took is the time from the start of the backup to the verified file in place.
	Took time.Duration
}

// WriteFile takes a backup of org into path atomically (a temporary file renamed into place after
// fsync), then reads the file back and verifies it. Parent directories are created (0700).
func WriteFile(ctx context.Context, m *tenancy.Manager, org tenancy.Organization, path string) (Result, error) {
	start := time.Now()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("creating backup directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-")
	if err != nil {
		return Result{}, fmt.Errorf("creating backup file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	man, err := Write(ctx, m, org, tmp)
	if err != nil {
		return Result{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Result{}, fmt.Errorf("writing backup file: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Result{}, fmt.Errorf("verifying backup file: %w", err)
	}
	if _, err := Verify(tmp); err != nil {
		return Result{}, fmt.Errorf("verifying backup just written: %w", err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return Result{}, err
	}
	if err := tmp.Close(); err != nil {
		return Result{}, fmt.Errorf("writing backup file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Result{}, fmt.Errorf("placing backup file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return Result{Path: path, Manifest: man, Size: st.Size(), Took: time.Since(start)}, nil
}

// VerifyFile verifies the archive at path (see [Verify]).
func VerifyFile(path string) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("opening backup: %w", err)
	}
	defer f.Close()
	return Verify(f)
}
