package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
)

// VersionTable is the table inside each tenant schema that records its applied migrations. Backups
// leave it out: a restore recreates it by provisioning the schema at the archive's version.
const VersionTable = versionTable

// StableOutputSettings are SET LOCAL statements that make the text form of values independent of
// the server's and the session's configuration (time zone, date style, float digits), so that a
// COPY or a checksum taken on one server reads the same on another.
const StableOutputSettings = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; " +
	"SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'"

// RunSnapshot is [Manager.Run] in a REPEATABLE READ READ ONLY transaction: every statement of fn
// sees the same consistent snapshot of the tenant while other transactions keep writing, and fn
// cannot write. Backups read through it, on the bulk pool ([RunOptions.Bulk]). Value output is
// made stable with StableOutputSettings.
func (m *Manager) RunSnapshot(ctx context.Context, t Tenant, fn func(tx pgx.Tx) error) error {
	return m.RunWith(ctx, t, RunOptions{ReadOnly: true, Bulk: true}, func(tx pgx.Tx) error {
		// No statement of the scope's BEGIN took a snapshot (SET does not), so the isolation level
		// can still be chosen here, before the first query.
		if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; "+StableOutputSettings); err != nil {
			return fmt.Errorf("opening snapshot of %s: %w", t.Schema, err)
		}
		return fn(tx)
	})
}

// LoadSpec describes a tenant schema to create and fill in one transaction: see [Manager.LoadTenant].
type LoadSpec struct {
	// Schema is the new schema (and role); it must not exist on Server.
	Schema string
	// Server is the configured server that will hold it. Defaults to DefaultServer.
	Server string
	// Version is the tenant migration version to create the schema at before Load runs (the
	// version of the data being loaded); 1..latest.
	Version int
	// Load fills the schema. It runs inside the tenant's scope (search_path and role of the new
	// tenant, set with transaction scope) in the transaction that created the schema.
	Load func(ctx context.Context, tx pgx.Tx) error
	// Catalog, when set, records the tenant in public (e.g. inserts or updates its organization)
	// inside a transaction on DefaultServer: the same transaction as the schema's when Server is
	// DefaultServer, else one that runs after the schema is committed (the schema is dropped again
	// if Catalog fails).
	Catalog func(ctx context.Context, tx pgx.Tx) error
}

// LoadTenant creates spec.Schema on spec.Server at migration version spec.Version, runs spec.Load
// in the tenant's scope, migrates the schema forward to the latest version, records it in the
// ledger and runs spec.Catalog, all in one transaction when the server is the default one. A
// failure anywhere leaves nothing behind. It is how restores and moves write a tenant's data.
func (m *Manager) LoadTenant(ctx context.Context, spec LoadSpec) (Migration, error) {
	q, err := Ident(spec.Schema)
	if err != nil {
		return Migration{}, err
	}
	if spec.Server == "" {
		spec.Server = DefaultServer
	}
	if err := ValidateServerName(spec.Server); err != nil {
		return Migration{}, err
	}
	if spec.Version < 1 || spec.Version > m.tenantSet.Latest() {
		return Migration{}, fmt.Errorf("tenant migration version %d is not one this binary knows (1..%d)", spec.Version, m.tenantSet.Latest())
	}
	at, err := migrate.NewSet(m.tenantSet.All()[:spec.Version]...)
	if err != nil {
		return Migration{}, err
	}
	pool, err := m.servers.Shared(ctx, spec.Server)
	if err != nil {
		return Migration{}, err
	}
	local := spec.Server == DefaultServer
	if !local {
		if err := m.PrepareServer(ctx, spec.Server); err != nil {
			return Migration{}, err
		}
	}
	var res Migration
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, spec.Schema).Scan(&exists); err != nil {
			return fmt.Errorf("checking schema %s: %w", spec.Schema, err)
		}
		if exists {
			return fmt.Errorf("%w: schema %s already exists on server %s", ErrConflict, spec.Schema, spec.Server)
		}
		if _, err := m.migrateTenantTx(ctx, tx, spec.Schema, spec.Server, at, false); err != nil {
			return fmt.Errorf("creating %s at version %d: %w", spec.Schema, spec.Version, err)
		}
		if spec.Load != nil {
			// The migration statement timeout does not bound the data load (ctx does).
			if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0; SET LOCAL ROLE "+q+"; SET LOCAL search_path TO "+q+", public; "+StableOutputSettings); err != nil {
				return fmt.Errorf("entering scope of %s: %w", spec.Schema, err)
			}
			if err := spec.Load(ctx, tx); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE NONE; SET LOCAL search_path TO public"); err != nil {
				return fmt.Errorf("leaving scope of %s: %w", spec.Schema, err)
			}
		}
		if res, err = m.migrateTenantTx(ctx, tx, spec.Schema, spec.Server, m.tenantSet, local); err != nil {
			return err
		}
		res.From, res.Created = spec.Version, true
		if local && spec.Catalog != nil {
			return spec.Catalog(ctx, tx)
		}
		return nil
	})
	if err != nil || local {
		return res, err
	}
	main, err := m.servers.Shared(ctx, DefaultServer)
	if err == nil {
		err = pgx.BeginFunc(ctx, main, func(tx pgx.Tx) error {
			if err := upsertLedger(ctx, tx, spec.Schema, spec.Server, res.To); err != nil {
				return err
			}
			if spec.Catalog != nil {
				return spec.Catalog(ctx, tx)
			}
			return nil
		})
	}
	if err != nil {
		if derr := m.dropSchemaOnly(ctx, spec.Schema, spec.Server); derr != nil {
			m.log.Error("dropping a schema left by a failed load", "schema", spec.Schema, "server", spec.Server, "err", derr)
		}
		return res, err
	}
	return res, nil
}

// dropSchemaOnly drops a schema and its role on server without touching the ledger (whose row, if
// any, belongs to a copy of the same schema on another server).
func (m *Manager) dropSchemaOnly(ctx context.Context, schema, server string) error {
	main, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	var ledgerServer string
	var version int
	err = main.QueryRow(ctx, `SELECT database_name, version FROM public.migraciones_ledger WHERE schema_name = $1`, schema).Scan(&ledgerServer, &version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("reading ledger for %s: %w", schema, err)
	}
	if err := m.DropSchema(ctx, Tenant{Schema: schema, Server: server}); err != nil {
		return err
	}
	if ledgerServer != "" && ledgerServer != server {
		return upsertLedger(ctx, main, schema, ledgerServer, version)
	}
	return nil
}

// InsertOrganizationTx inserts an organization whose schema already has a name (a restored copy),
// inside tx on the default server. n is validated as in [Manager.CreateOrganization]; an empty
// slug is made from the name. It does not touch any schema.
func (m *Manager) InsertOrganizationTx(ctx context.Context, tx pgx.Tx, n NewOrganization, schema string) (Organization, error) {
	if err := n.normalize(ctx, m.servers); err != nil {
		return Organization{}, err
	}
	if err := ValidateSchemaName(schema); err != nil {
		return Organization{}, err
	}
	if err := lockServerRow(ctx, tx, n.Server); err != nil {
		return Organization{}, err
	}
	slug := n.Slug
	if slug == "" {
		var err error
		if slug, err = FreeSlug(ctx, tx, Slugify(n.Name), nil); err != nil {
			return Organization{}, err
		}
	}
	org, err := scanOrganization(tx.QueryRow(ctx, `INSERT INTO public.organizacion_organizacion
		(nombre, slug, schema_name, database_name, zona_horaria) VALUES ($1, $2, $3, $4, $5)
		RETURNING `+orgColumns, n.Name, slug, schema, n.Server, n.TimeZone))
	if err != nil {
		if sqlState(err) == "23505" {
			return Organization{}, fmt.Errorf("%w: slug %q is already used", ErrConflict, slug)
		}
		return Organization{}, fmt.Errorf("creating organization: %w", err)
	}
	return org, nil
}

// ErrChanged is returned when an organization changed (schema or server) while an operation on it
// was running; the operation is undone.
var ErrChanged = errors.New("organization changed meanwhile")

// RepointOrganizationTx points organization id at a schema on a server, inside tx on the default
// server, provided it still points at fromSchema on fromServer (else ErrChanged). Restores (a new
// schema) and moves (a new server) switch the catalog with it.
func (m *Manager) RepointOrganizationTx(ctx context.Context, tx pgx.Tx, id int64, fromSchema, fromServer, schema, server string) (Organization, error) {
	for _, s := range []string{fromSchema, schema} {
		if err := ValidateSchemaName(s); err != nil {
			return Organization{}, err
		}
	}
	if err := m.servers.Check(ctx, server); err != nil {
		return Organization{}, err
	}
	if err := lockServerRow(ctx, tx, server); err != nil {
		return Organization{}, err
	}
	org, err := scanOrganization(tx.QueryRow(ctx, `UPDATE public.organizacion_organizacion
		SET schema_name = $4, database_name = $5, updated_at = now()
		WHERE id = $1 AND schema_name = $2 AND database_name = $3 RETURNING `+orgColumns,
		id, fromSchema, fromServer, schema, server))
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, fmt.Errorf("%w: organization %d is no longer %s on %s", ErrChanged, id, fromSchema, fromServer)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("updating organization %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE public.migraciones_ledger SET database_name = $2 WHERE schema_name = $1`, schema, server); err != nil {
		return Organization{}, fmt.Errorf("updating ledger for %s: %w", schema, err)
	}
	return org, nil
}

// SetActive activates or deactivates an organization (is_active), returning it as it now is.
func (m *Manager) SetActive(ctx context.Context, id int64, active bool) (Organization, error) {
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return Organization{}, err
	}
	org, err := scanOrganization(pool.QueryRow(ctx, `UPDATE public.organizacion_organizacion
		SET is_active = $2, updated_at = CASE WHEN is_active = $2 THEN updated_at ELSE now() END
		WHERE id = $1 RETURNING `+orgColumns, id, active))
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("updating organization %d: %w", id, err)
	}
	return org, nil
}

// DeleteOrganization drops an organization's schema and role on its server (in batches, see
// [Manager.DropSchema]), its ledger row, and then its catalog row (its subscription goes with it).
// It is irreversible: drop_tenant takes a final backup and asks for confirmation first.
func (m *Manager) DeleteOrganization(ctx context.Context, org Organization) error {
	if org.SchemaName != "" {
		t, err := org.Tenant()
		if err != nil {
			return err
		}
		if err := m.DropSchema(ctx, t); err != nil {
			return err
		}
	}
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `DELETE FROM public.organizacion_organizacion WHERE id = $1`, org.ID); err != nil {
		return fmt.Errorf("deleting organization %d: %w", org.ID, err)
	}
	return nil
}

// DropSchemaCopy drops a copy of a tenant schema that the catalog no longer points at (the source
// left behind by a move, or the old schema replaced by a restore) and keeps the ledger row of the
// schema that is in use. It refuses to drop the schema the organization uses.
func (m *Manager) DropSchemaCopy(ctx context.Context, org Organization, schema, server string) error {
	if schema == org.SchemaName && server == org.DatabaseName {
		return fmt.Errorf("%w: %s on %s is the schema organization %d uses", ErrConflict, schema, server, org.ID)
	}
	if err := m.DropSchema(ctx, Tenant{OrganizationID: org.ID, Schema: schema, Server: server}); err != nil {
		return err
	}
	if schema != org.SchemaName {
		return nil
	}
	// DropSchema forgot the ledger row by name; the schema in use has the same name: record it again.
	var version int
	err := m.Run(ctx, Tenant{OrganizationID: org.ID, Schema: org.SchemaName, Server: org.DatabaseName}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+versionTable).Scan(&version)
	})
	if err != nil {
		return fmt.Errorf("reading version of %s: %w", org.SchemaName, err)
	}
	main, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	return upsertLedger(ctx, main, org.SchemaName, org.DatabaseName, version)
}

// PrepareServer installs on a tenant server what tenant migrations need from its public schema
// (the btree_gist extension, which public migrations install on the default server only). It is
// idempotent; btree_gist is a trusted extension, so the CREATE privilege on the database suffices.
func (m *Manager) PrepareServer(ctx context.Context, server string) error {
	pool, err := m.servers.Shared(ctx, server)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public`); err != nil {
		return fmt.Errorf("preparing server %s (btree_gist): %w", server, err)
	}
	return nil
}
