package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

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
