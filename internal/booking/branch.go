package booking

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Branch is a location of the business (organizacion_sede).
type Branch struct {
	ID       int64  `json:"id"`
	Name     string `json:"nombre"`
	Address  string `json:"direccion"`
	Phone    string `json:"telefono"`
	TimeZone string `json:"zona_horaria"`
	Active   bool   `json:"is_active"`
	// CreatedAt and UpdatedAt are set by the database.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// BranchPatch is a change to a branch; nil fields stay as they are. CreateBranch requires Name and
// TimeZone.
type BranchPatch struct {
	Name     *string `json:"nombre"`
	Address  *string `json:"direccion"`
	Phone    *string `json:"telefono"`
	TimeZone *string `json:"zona_horaria"`
	Active   *bool   `json:"is_active"`
}

const branchColumns = `id, nombre, direccion, telefono, zona_horaria, is_active, created_at, updated_at`

func scanBranch(row pgx.Row) (Branch, error) {
	var b Branch
	err := row.Scan(&b.ID, &b.Name, &b.Address, &b.Phone, &b.TimeZone, &b.Active, &b.CreatedAt, &b.UpdatedAt)
	return b, err
}

// validate checks the fields that are set.
func (p *BranchPatch) validate() error {
	if p.Name != nil {
		*p.Name = strings.TrimSpace(*p.Name)
		if *p.Name == "" || utf8.RuneCountInString(*p.Name) > 200 {
			return invalidField("nombre", "must be 1-200 characters")
		}
	}
	if p.Address != nil && utf8.RuneCountInString(*p.Address) > 500 {
		return invalidField("direccion", "must be at most 500 characters")
	}
	if p.Phone != nil && utf8.RuneCountInString(*p.Phone) > 50 {
		return invalidField("telefono", "must be at most 50 characters")
	}
	if p.TimeZone != nil {
		if _, err := LoadZone(*p.TimeZone); err != nil {
			return invalidField("zona_horaria", "%q is not an IANA time zone (e.g. America/Bogota)", *p.TimeZone)
		}
	}
	return nil
}

// LoadZone loads an IANA time zone; "" and "Local" are refused.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time zone %q: use an IANA name such as America/Bogota", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("loading time zone %q: %w", name, err)
	}
	return loc, nil
}

// Zones loads IANA time zones once each (time.LoadLocation reads the zone's file on every call)
// and keeps them for the life of the value. Only zones that loaded are kept, so it holds at most
// the IANA database's few hundred. Safe for concurrent use; the zero value is ready, and a nil
// *Zones loads every time.
type Zones struct{ m sync.Map }

// Load is [LoadZone] through the cache.
func (z *Zones) Load(name string) (*time.Location, error) {
	if z == nil {
		return LoadZone(name)
	}
	if loc, ok := z.m.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := LoadZone(name)
	if err != nil {
		return nil, err
	}
	z.m.Store(name, loc)
	return loc, nil
}

// ListBranches returns the branches by id; inactive ones only when includeInactive.
func ListBranches(ctx context.Context, tx pgx.Tx, includeInactive bool) ([]Branch, error) {
	rows, err := tx.Query(ctx, `SELECT `+branchColumns+` FROM organizacion_sede
		WHERE is_active OR $1 ORDER BY id`, includeInactive)
	if err != nil {
		return nil, fmt.Errorf("listing branches: %w", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Branch, error) { return scanBranch(r) })
	if err != nil {
		return nil, fmt.Errorf("listing branches: %w", err)
	}
	return bs, nil
}

// GetBranch returns the branch with id.
func GetBranch(ctx context.Context, tx pgx.Tx, id int64) (Branch, error) {
	b, err := scanBranch(tx.QueryRow(ctx, `SELECT `+branchColumns+` FROM organizacion_sede WHERE id = $1`, id))
	if err != nil {
		return Branch{}, translate(err, fmt.Sprintf("branch %d", id))
	}
	return b, nil
}

// CreateBranch creates a branch; Name and TimeZone are required.
func CreateBranch(ctx context.Context, tx pgx.Tx, in BranchPatch) (Branch, error) {
	if in.Name == nil {
		return Branch{}, invalidField("nombre", "is required")
	}
	if in.TimeZone == nil {
		return Branch{}, invalidField("zona_horaria", "is required")
	}
	if err := in.validate(); err != nil {
		return Branch{}, err
	}
	active := in.Active == nil || *in.Active
	b, err := scanBranch(tx.QueryRow(ctx, `INSERT INTO organizacion_sede
		(nombre, direccion, telefono, zona_horaria, is_active) VALUES ($1, $2, $3, $4, $5)
		RETURNING `+branchColumns, *in.Name, deref(in.Address), deref(in.Phone), *in.TimeZone, active))
	if err != nil {
		return Branch{}, translate(err, "branch")
	}
	return b, nil
}

// UpdateBranch changes the fields of p that are set.
func UpdateBranch(ctx context.Context, tx pgx.Tx, id int64, p BranchPatch) (Branch, error) {
	if err := p.validate(); err != nil {
		return Branch{}, err
	}
	b, err := scanBranch(tx.QueryRow(ctx, `UPDATE organizacion_sede SET
			nombre = coalesce($2, nombre), direccion = coalesce($3, direccion),
			telefono = coalesce($4, telefono), zona_horaria = coalesce($5, zona_horaria),
			is_active = coalesce($6, is_active), updated_at = now()
		WHERE id = $1 RETURNING `+branchColumns, id, p.Name, p.Address, p.Phone, p.TimeZone, p.Active))
	if err != nil {
		return Branch{}, translate(err, fmt.Sprintf("branch %d", id))
	}
	return b, nil
}

// DeactivateBranch marks a branch inactive (its rows stay for history).
func DeactivateBranch(ctx context.Context, tx pgx.Tx, id int64) (Branch, error) {
	inactive := false
	return UpdateBranch(ctx, tx, id, BranchPatch{Active: &inactive})
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
