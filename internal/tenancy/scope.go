package tenancy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// WithinTx runs fn inside tx with the tenant's scope.
// tx is a transaction on the tenant's server that the caller owns.
// The scope is SET LOCAL ROLE to the tenant's role and search_path "<schema>, public".
// Before returning it sets back no role and search_path public.
// The caller can then go on writing public rows in the same transaction.
// A signup uses it to write the new tenant's first rows with [Manager.CreateOrganizationTx].
// Everywhere else, use [Manager.Run].
// If fn fails, the caller must roll tx back.
func WithinTx(ctx context.Context, tx pgx.Tx, t Tenant, fn func(tx pgx.Tx) error) error {
	q, err := Ident(t.Schema)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+q+", public; SET LOCAL ROLE "+q); err != nil {
		return fmt.Errorf("opening scope of %s: %w", t.Schema, translateScopeError(err))
	}
	if err := fn(tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE NONE; SET LOCAL search_path TO public"); err != nil {
		return fmt.Errorf("leaving scope of %s: %w", t.Schema, err)
	}
	return nil
}
