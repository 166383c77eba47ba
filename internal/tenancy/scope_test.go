package tenancy_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestScopeTx(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	orgs := createOrgs(t, m, "Scope A", "Scope B")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	pool := shared(t, m)

	t.Run("WritesInTheTenantAndLeavesTheScope", func(t *testing.T) {
		var sessionUser string
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT current_user`).Scan(&sessionUser); err != nil {
				return err
			}
			err := tenancy.WithinTx(ctx, tx, a, func(tx pgx.Tx) error {
				var who string
				if err := tx.QueryRow(ctx, `SELECT current_user`).Scan(&who); err != nil {
					return err
				}
				if who != a.Schema {
					t.Errorf("inside the scope current_user = %s, want %s", who, a.Schema)
				}
				_, err := tx.Exec(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Scoped', 'America/Bogota')`)
				return err
			})
			if err != nil {
				return err
			}
			var who, path string
			if err := tx.QueryRow(ctx, `SELECT current_user, current_setting('search_path')`).Scan(&who, &path); err != nil {
				return err
			}
			if who != sessionUser || path != "public" {
				t.Errorf("after the scope: user %s, search_path %q; want %s, public", who, path, sessionUser)
			}
			// Still the caller's transaction: public is writable again.
			_, err = tx.Exec(ctx, `UPDATE public.organizacion_organizacion SET updated_at = now() WHERE id = $1`, orgs[0].ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = m.Run(ctx, a, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM organizacion_sede WHERE nombre = 'Scoped'`).Scan(&n)
		})
		if err != nil || n != 1 {
			t.Fatalf("scoped row: %d, %v", n, err)
		}
	})

	t.Run("CannotReachAnotherTenant", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tenancy.WithinTx(ctx, tx, a, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `SELECT count(*) FROM `+quote(b.Schema, "organizacion_sede"))
				return err
			})
		})
		if tenancy.SQLState(err) != "42501" {
			t.Fatalf("reading tenant B inside A's scope: %v, want permission denied (42501)", err)
		}
	})

	t.Run("RefusesAnInvalidSchema", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tenancy.WithinTx(ctx, tx, tenancy.Tenant{Schema: "public; DROP TABLE x"}, func(pgx.Tx) error { return nil })
		})
		if err == nil {
			t.Fatal("an invalid schema name was accepted")
		}
	})
}
