package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
)

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
		if err := m.prepareServer(ctx, spec.Server); err != nil {
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
