package billing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Plan is a row of billing_plan. A nil limit is unlimited.
type Plan struct {
	ID   int64
	Code string // codigo, e.g. "basico"
	Name string
	// PriceCents is the monthly price in the currency's cents (COP: 4990000 is $49.900).
	PriceCents int64
	Currency   string
	TrialDays  int
	// MaxBranches, MaxStaff and MaxAppointmentsPerMonth are the plan's limits; nil is unlimited.
	MaxBranches             *int
	MaxStaff                *int
	MaxAppointmentsPerMonth *int
	IsActive                bool
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

const planColumns = `id, codigo, nombre, precio_mensual_centavos, moneda, dias_prueba, max_sedes, max_profesionales, max_citas_mes, is_active, created_at, updated_at`

func scanPlan(row pgx.Row) (Plan, error) {
	var p Plan
	err := row.Scan(&p.ID, &p.Code, &p.Name, &p.PriceCents, &p.Currency, &p.TrialDays, &p.MaxBranches, &p.MaxStaff,
		&p.MaxAppointmentsPerMonth, &p.IsActive, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// Plans returns every plan, cheapest first.
func (s *Service) Plans(ctx context.Context) ([]Plan, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+planColumns+` FROM public.billing_plan ORDER BY precio_mensual_centavos, id`)
	if err != nil {
		return nil, fmt.Errorf("listing plans: %w", err)
	}
	plans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Plan, error) { return scanPlan(r) })
	if err != nil {
		return nil, fmt.Errorf("listing plans: %w", err)
	}
	return plans, nil
}

// Plan returns the plan with code.
func (s *Service) Plan(ctx context.Context, code string) (Plan, error) {
	return planByCode(ctx, s.pool, code)
}

func planByCode(ctx context.Context, db querier, code string) (Plan, error) {
	p, err := scanPlan(db.QueryRow(ctx, `SELECT `+planColumns+` FROM public.billing_plan WHERE codigo = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return Plan{}, fmt.Errorf("%w: plan %q", ErrNotFound, code)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("reading plan %q: %w", code, err)
	}
	return p, nil
}

var planCode = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// PlanChange is the input of [Service.SetPlan]: a new plan, or the fields of an existing one to
// change (nil fields are left as they are). Limits take -1 for "unlimited".
type PlanChange struct {
	Code                    string
	Name                    *string
	PriceCents              *int64
	Currency                *string
	TrialDays               *int
	MaxBranches             *int
	MaxStaff                *int
	MaxAppointmentsPerMonth *int
	IsActive                *bool
}

// SetPlan creates the plan with c.Code or changes the given fields of it, and returns it. A new
// plan needs a name and a price.
func (s *Service) SetPlan(ctx context.Context, c PlanChange) (Plan, error) {
	if !planCode.MatchString(c.Code) {
		return Plan{}, fmt.Errorf("%w: plan code %q must be 1-40 of a-z, 0-9, _", ErrInvalid, c.Code)
	}
	if c.Name != nil && (strings.TrimSpace(*c.Name) == "" || len(*c.Name) > 100) {
		return Plan{}, fmt.Errorf("%w: plan name must be 1-100 characters", ErrInvalid)
	}
	if c.PriceCents != nil && *c.PriceCents < 0 {
		return Plan{}, fmt.Errorf("%w: price must not be negative", ErrInvalid)
	}
	if c.TrialDays != nil && (*c.TrialDays < 0 || *c.TrialDays > 365) {
		return Plan{}, fmt.Errorf("%w: trial days must be 0-365", ErrInvalid)
	}
	if c.Currency != nil && !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(*c.Currency) {
		return Plan{}, fmt.Errorf("%w: currency %q must be an ISO 4217 code such as COP", ErrInvalid, *c.Currency)
	}
	limit := func(v *int) (set bool, val *int, err error) {
		if v == nil {
			return false, nil, nil
		}
		switch {
		case *v == -1:
			return true, nil, nil
		case *v <= 0:
			return false, nil, fmt.Errorf("%w: a limit must be positive (or -1 for unlimited), got %d", ErrInvalid, *v)
		case *v > math.MaxInt32: // the columns are integer
			return false, nil, fmt.Errorf("%w: a limit must be at most %d (or -1 for unlimited), got %d", ErrInvalid, math.MaxInt32, *v)
		}
		return true, v, nil
	}
	setB, maxB, err := limit(c.MaxBranches)
	if err != nil {
		return Plan{}, err
	}
	setS, maxS, err := limit(c.MaxStaff)
	if err != nil {
		return Plan{}, err
	}
	setA, maxA, err := limit(c.MaxAppointmentsPerMonth)
	if err != nil {
		return Plan{}, err
	}
	var p Plan
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := planByCode(ctx, tx, c.Code)
		if errors.Is(err, ErrNotFound) {
			if c.Name == nil || c.PriceCents == nil {
				return fmt.Errorf("%w: a new plan needs --name and --price", ErrInvalid)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO public.billing_plan (codigo, nombre, precio_mensual_centavos) VALUES ($1, $2, $3)`,
				c.Code, *c.Name, *c.PriceCents); err != nil {
				return fmt.Errorf("creating plan %q: %w", c.Code, err)
			}
		} else if err != nil {
			return err
		}
		p, err = scanPlan(tx.QueryRow(ctx, `UPDATE public.billing_plan SET
				nombre = coalesce($2, nombre),
				precio_mensual_centavos = coalesce($3, precio_mensual_centavos),
				moneda = coalesce($4, moneda),
				dias_prueba = coalesce($5, dias_prueba),
				max_sedes = CASE WHEN $6 THEN $7 ELSE max_sedes END,
				max_profesionales = CASE WHEN $8 THEN $9 ELSE max_profesionales END,
				max_citas_mes = CASE WHEN $10 THEN $11 ELSE max_citas_mes END,
				is_active = coalesce($12, is_active),
				updated_at = now()
			WHERE codigo = $1 RETURNING `+planColumns,
			c.Code, c.Name, c.PriceCents, c.Currency, c.TrialDays, setB, maxB, setS, maxS, setA, maxA, c.IsActive))
		if err != nil {
			return fmt.Errorf("changing plan %q: %w", c.Code, err)
		}
		return nil
	})
	if err != nil {
		return Plan{}, err
	}
	return p, nil
}

// querier is a pool or a transaction on the default server.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
