package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// ErrIncompatible is returned for an intact archive this binary cannot restore (a newer or
// different migration history).
var ErrIncompatible = errors.New("backup is not compatible with this binary")

// RestoreOptions says where [Restore] puts an archive's tenant.
type RestoreOptions struct {
	// ReplaceID, when set, replaces the data of that existing organization: a backup of its
	// current state is taken into PreBackup first, the archive is loaded into a fresh schema, the
	// organization is switched to it, and its old schema is dropped.
	ReplaceID int64
	// NewSlug and NewName, used when ReplaceID is 0, create a new organization (a copy under a
	// new schema name). NewName defaults to the archived name, NewSlug to one made from the name.
	NewSlug, NewName string
	// Server is the configured server that will hold the restored schema. Defaults to the
	// replaced organization's server, or DefaultServer for a new organization.
	Server string
	// PreBackup is where the pre-restore backup of a replaced organization goes. Required with
	// ReplaceID.
	PreBackup Store
	// KeepMembers, for a new organization, keeps the archived profiles (usuarios_perfilusuario) as
	// they are, so the archived organization's members reach the copy. Defaults to false: every
	// profile of the copy is deactivated, and only superusers reach it until a member is added.
	// A replaced organization always keeps its restored profiles.
	KeepMembers bool
}

// RestoreResult is what [Restore] did.
type RestoreResult struct {
	// Organization is the restored organization, as it now is.
	Organization tenancy.Organization
	// Manifest is the archive's.
	Manifest Manifest
	// Migration tells the version the data came at and the one it was migrated to.
	Migration tenancy.Migration
	// PreBackup is the backup of the replaced organization's previous state.
	PreBackup string
	// OldSchema and OldServer name the replaced schema ("" for a new organization).
	OldSchema, OldServer string
	// OldSchemaErr is set when the replaced schema could not be dropped (it is left, unused).
	OldSchemaErr error
	// ActiveMembers is how many active profiles the restored organization has. The
	// organization's rows of public.usuarios_membresia mirror its profiles (of users that exist).
	ActiveMembers int
	// DeactivatedMembers is how many profiles a copy without KeepMembers deactivated.
	DeactivatedMembers int64
	// Took is the whole restore, verification included.
	Took time.Duration
}

// Restore verifies the archive at path and restores it (see the package documentation and
// [RestoreOptions]). A corrupt or incompatible archive changes nothing.
func Restore(ctx context.Context, m *tenancy.Manager, path string, opts RestoreOptions) (RestoreResult, error) {
	start := time.Now()
	man, err := VerifyFile(path)
	if err != nil {
		return RestoreResult{}, err
	}
	if err := checkCompatible(m, man); err != nil {
		return RestoreResult{}, err
	}
	res := RestoreResult{Manifest: man}

	var spec tenancy.LoadSpec
	var org tenancy.Organization
	// members are the restored profiles, mirrored into public.usuarios_membresia by the catalog
	// step so that GET /api/me lists what the tenant's profiles grant, nothing more.
	var members []booking.MemberStanding
	mirror := func(ctx context.Context, tx pgx.Tx) error {
		ms := make([]auth.Membership, len(members))
		for i, p := range members {
			ms[i] = auth.Membership{UserID: p.UserID, OrganizationID: org.ID, Role: p.Role, IsActive: p.Active}
		}
		return auth.ReplaceMemberships(ctx, tx, org.ID, ms)
	}
	if opts.ReplaceID != 0 {
		if org, err = m.Organization(ctx, opts.ReplaceID); err != nil {
			return res, err
		}
		if org.SchemaName == "" {
			return res, fmt.Errorf("organization %d: %w", org.ID, tenancy.ErrNoSchemaName)
		}
		if opts.Server == "" {
			opts.Server = org.DatabaseName
		}
		if opts.PreBackup.Root == "" {
			return res, errors.New("restoring over an organization needs a directory for the backup of its current state")
		}
		pre, err := opts.PreBackup.Backup(ctx, m, org)
		if err != nil && !errors.Is(err, tenancy.ErrSchemaMissing) {
			return res, fmt.Errorf("backing up the current state first: %w", err)
		}
		res.PreBackup = pre.Path
		res.OldSchema, res.OldServer = org.SchemaName, org.DatabaseName
		if spec.Schema, err = tenancy.NewSchemaName(org.Slug); err != nil {
			return res, err
		}
		spec.Catalog = func(ctx context.Context, tx pgx.Tx) error {
			if org, err = m.RepointOrganizationTx(ctx, tx, org.ID, res.OldSchema, res.OldServer, spec.Schema, opts.Server); err != nil {
				return err
			}
			return mirror(ctx, tx)
		}
	} else {
		n := tenancy.NewOrganization{Name: opts.NewName, Slug: opts.NewSlug, TimeZone: man.Organization.TimeZone, Server: opts.Server}
		if n.Name == "" {
			n.Name = man.Organization.Name
		}
		base := n.Slug
		if base == "" {
			base = tenancy.Slugify(n.Name)
		}
		if spec.Schema, err = tenancy.NewSchemaName(base); err != nil {
			return res, err
		}
		spec.Catalog = func(ctx context.Context, tx pgx.Tx) error {
			if org, err = m.InsertOrganizationTx(ctx, tx, n, spec.Schema); err != nil {
				return err
			}
			return mirror(ctx, tx)
		}
	}
	spec.Server = opts.Server
	spec.Version = man.MigrationVersion
	spec.Load = func(ctx context.Context, tx pgx.Tx) error {
		if err := loadArchive(ctx, tx, path, spec.Schema, man); err != nil {
			return err
		}
		// A copy grants nobody access unless asked: its profiles are the archived organization's.
		if opts.ReplaceID == 0 && !opts.KeepMembers {
			if res.DeactivatedMembers, err = booking.DeactivateMembers(ctx, tx); err != nil {
				return err
			}
		}
		members, err = booking.MemberStandings(ctx, tx)
		return err
	}
	if res.Migration, err = m.LoadTenant(ctx, spec); err != nil {
		return res, fmt.Errorf("restoring %s: %w", path, err)
	}
	res.Organization = org
	for _, p := range members {
		if p.Active {
			res.ActiveMembers++
		}
	}
	if res.OldSchema != "" {
		if err := m.DropSchemaCopy(ctx, org, res.OldSchema, res.OldServer); err != nil {
			res.OldSchemaErr = err
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

// checkCompatible refuses archives from a newer binary or another migration history.
func checkCompatible(m *tenancy.Manager, man Manifest) error {
	set := m.TenantMigrations().All()
	if man.MigrationVersion > len(set) {
		return fmt.Errorf("%w: archive is at tenant migration version %d, this binary knows up to %d: upgrade appcitas",
			ErrIncompatible, man.MigrationVersion, len(set))
	}
	for i, mg := range man.Migrations {
		if set[i].Name != mg.Name {
			return fmt.Errorf("%w: archive's migration %d is %q, this binary's is %q", ErrIncompatible, mg.Version, mg.Name, set[i].Name)
		}
	}
	return nil
}

// markCopy tells the tenant's triggers that tx copies rows (appcitas.copia = 'on', transaction
// scope): a copy is not a change, so the appointment history and webhook events are not written
// again; they come with the copied rows.
func markCopy(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('appcitas.copia', 'on', true)`); err != nil {
		return fmt.Errorf("marking the copy: %w", err)
	}
	return nil
}

// loadArchive streams the archive's tables into the scope's fresh schema with COPY FROM, checking
// each table's checksum as it streams (the file could have changed since it was verified) and
// its row count, then resets the identity and serial sequences past the loaded ids.
func loadArchive(ctx context.Context, tx pgx.Tx, path, schema string, want Manifest) error {
	q, err := tenancy.Ident(schema)
	if err != nil {
		return err
	}
	// Restored rows are not changes: no history, no webhook events.
	if err := markCopy(ctx, tx); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening backup: %w", err)
	}
	defer f.Close()
	man, err := readArchive(f, func(t Table, rows io.Reader) error {
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, rows,
			"COPY "+q+"."+pgx.Identifier{t.Name}.Sanitize()+" ("+identList(t.Columns)+") FROM STDIN")
		if err != nil {
			return fmt.Errorf("loading %s: %w", t.Name, err)
		}
		if tag.RowsAffected() != t.Rows {
			return fmt.Errorf("loading %s: %d rows loaded, archive has %d", t.Name, tag.RowsAffected(), t.Rows)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if man.CreatedAt != want.CreatedAt || len(man.Tables) != len(want.Tables) {
		return fmt.Errorf("%w: the file changed after it was verified", ErrCorrupt)
	}
	// Every table of the schema at this version must come from the archive: a table the archive
	// lacks would silently restore empty.
	present, err := tenantTables(ctx, tx)
	if err != nil {
		return err
	}
	inArchive := map[string]bool{}
	for _, t := range man.Tables {
		inArchive[t.Name] = true
	}
	for _, t := range present {
		if !inArchive[t.name] {
			return fmt.Errorf("%w: table %s of migration version %d is missing from the archive", ErrCorrupt, t.name, man.MigrationVersion)
		}
	}
	return resetSequences(ctx, tx, q, man.Tables)
}

// resetSequences moves every identity or serial sequence of tables past the largest loaded value,
// so that new rows do not collide with restored ones.
func resetSequences(ctx context.Context, tx pgx.Tx, q string, tables []Table) error {
	for _, t := range tables {
		rel := q + "." + pgx.Identifier{t.Name}.Sanitize()
		rows, err := tx.Query(ctx, `SELECT a.attname::text, pg_get_serial_sequence($1, a.attname)
			FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
			AND pg_get_serial_sequence($1, a.attname) IS NOT NULL`, rel)
		if err != nil {
			return fmt.Errorf("finding sequences of %s: %w", t.Name, err)
		}
		type seq struct{ column, sequence string }
		seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seq, error) {
			var s seq
			err := r.Scan(&s.column, &s.sequence)
			return s, err
		})
		if err != nil {
			return fmt.Errorf("finding sequences of %s: %w", t.Name, err)
		}
		for _, s := range seqs {
			if !sqlName.MatchString(s.column) {
				return fmt.Errorf("table %s: column name %q is not supported by backups", t.Name, s.column)
			}
			col := pgx.Identifier{s.column}.Sanitize()
			if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, coalesce((SELECT max(`+col+`) FROM `+rel+`), 0) + 1, false)`, s.sequence); err != nil {
				return fmt.Errorf("resetting sequence of %s.%s: %w", t.Name, s.column, err)
			}
		}
	}
	return nil
}
