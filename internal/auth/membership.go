package auth

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Membership is a row of public.usuarios_membresia: the mirror of one tenant profile, kept so that
// GET /api/me can list a user's organizations without visiting every tenant. It never authorizes
// anything: the tenant's usuarios_perfilusuario does.
type Membership struct {
	UserID         int64
	OrganizationID int64
	Role           string
	IsActive       bool
}

// Execer runs a statement: a pool, a connection or a transaction on the server that holds public.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// SyncMembership writes m into the mirror (insert or update). Call it after the tenant's profile
// changed and committed; the tenant transaction itself cannot write public.
func SyncMembership(ctx context.Context, db Execer, m Membership) error {
	if _, err := db.Exec(ctx, `INSERT INTO public.usuarios_membresia (user_id, organizacion_id, role, is_active)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, organizacion_id) DO UPDATE SET role = EXCLUDED.role, is_active = EXCLUDED.is_active, updated_at = now()`,
		m.UserID, m.OrganizationID, m.Role, m.IsActive); err != nil {
		return fmt.Errorf("mirroring membership of user %d in organization %d: %w", m.UserID, m.OrganizationID, err)
	}
	return nil
}

// ReplaceMemberships makes ms the whole mirror of organization orgID: its other rows go, and a
// membership of a user that does not exist is skipped (a restored archive may name users deleted
// since). Run it in a transaction (db), with what the tenant committed or is committing.
func ReplaceMemberships(ctx context.Context, db Execer, orgID int64, ms []Membership) error {
	if _, err := db.Exec(ctx, `DELETE FROM public.usuarios_membresia WHERE organizacion_id = $1`, orgID); err != nil {
		return fmt.Errorf("clearing the memberships of organization %d: %w", orgID, err)
	}
	if len(ms) == 0 {
		return nil
	}
	users := make([]int64, len(ms))
	roles := make([]string, len(ms))
	active := make([]bool, len(ms))
	for i, m := range ms {
		users[i], roles[i], active[i] = m.UserID, m.Role, m.IsActive
	}
	if _, err := db.Exec(ctx, `INSERT INTO public.usuarios_membresia (user_id, organizacion_id, role, is_active)
		SELECT p.user_id, $1, p.role, p.is_active FROM unnest($2::bigint[], $3::text[], $4::boolean[]) AS p(user_id, role, is_active)
		WHERE EXISTS (SELECT 1 FROM public.auth_user u WHERE u.id = p.user_id)
		ON CONFLICT (user_id, organizacion_id) DO UPDATE SET role = EXCLUDED.role, is_active = EXCLUDED.is_active, updated_at = now()`,
		orgID, users, roles, active); err != nil {
		return fmt.Errorf("mirroring the memberships of organization %d: %w", orgID, err)
	}
	return nil
}

// UserOrganization is one organization a user belongs to, for GET /api/me.
type UserOrganization struct {
	ID       int64  `json:"id"`
	Name     string `json:"nombre"`
	Slug     string `json:"slug"`
	Role     string `json:"role"`
	IsActive bool   `json:"is_active"`
}

// Organizations lists the organizations where the user has an active membership, by id.
func (s *Store) Organizations(ctx context.Context, userID int64) ([]UserOrganization, error) {
	rows, err := s.db.Query(ctx, `SELECT o.id, o.nombre, o.slug, m.role, o.is_active
		FROM public.usuarios_membresia m JOIN public.organizacion_organizacion o ON o.id = m.organizacion_id
		WHERE m.user_id = $1 AND m.is_active ORDER BY o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing organizations of user %d: %w", userID, err)
	}
	orgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserOrganization, error) {
		var o UserOrganization
		err := r.Scan(&o.ID, &o.Name, &o.Slug, &o.Role, &o.IsActive)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing organizations of user %d: %w", userID, err)
	}
	return orgs, nil
}
