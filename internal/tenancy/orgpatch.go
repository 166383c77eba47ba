package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// OrganizationPatch changes an organization's name or time zone; nil fields stay as they are.
type OrganizationPatch struct {
	// Name is 1-200 characters.
	Name *string
	// TimeZone is an IANA zone.
	TimeZone *string
}

// UpdateOrganization applies p to organization id and returns it as it now is. The catalog's
// trigger announces the change, so every process's organization cache drops the entry.
func (m *Manager) UpdateOrganization(ctx context.Context, id int64, p OrganizationPatch) (Organization, error) {
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if n == "" || utf8.RuneCountInString(n) > 200 {
			return Organization{}, fmt.Errorf("%w: organization name must be 1-200 characters", ErrInvalidName)
		}
		p.Name = &n
	}
	if p.TimeZone != nil {
		if err := ValidateTimeZone(*p.TimeZone); err != nil {
			return Organization{}, err
		}
	}
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return Organization{}, err
	}
	org, err := scanOrganization(pool.QueryRow(ctx, `UPDATE public.organizacion_organizacion
		SET nombre = coalesce($2, nombre), zona_horaria = coalesce($3, zona_horaria),
			updated_at = CASE WHEN nombre = coalesce($2, nombre) AND zona_horaria = coalesce($3, zona_horaria) THEN updated_at ELSE now() END
		WHERE id = $1 RETURNING `+orgColumns, id, p.Name, p.TimeZone))
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("updating organization %d: %w", id, err)
	}
	return org, nil
}
