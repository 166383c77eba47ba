package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// Limit names a plan limit.
type Limit string

// The plan limits.
const (
	LimitBranches             Limit = "max_sedes"
	LimitStaff                Limit = "max_profesionales"
	LimitAppointmentsPerMonth Limit = "max_citas_mes"
)

// ErrLimitReached matches every [LimitError].
var ErrLimitReached = errors.New("plan limit reached")

// LimitError says which limit of which plan was reached, and which plan lifts it. The API
// answers it with 402 (the tenant must pay for a bigger plan).
type LimitError struct {
	Limit Limit
	Max   int
	Plan  string
	// Upgrade is the code of the cheapest active plan that allows more, or "" when none does.
	Upgrade string
}

// Error names the plan, the limit and the plan that lifts it, in Spanish (shown to the tenant).
func (e *LimitError) Error() string {
	what := map[Limit]string{LimitBranches: "sedes", LimitStaff: "profesionales", LimitAppointmentsPerMonth: "citas por mes"}[e.Limit]
	msg := fmt.Sprintf("el plan %s permite como máximo %d %s (%s)", e.Plan, e.Max, what, e.Limit)
	if e.Upgrade != "" {
		msg += fmt.Sprintf("; el plan %s lo amplía", e.Upgrade)
	}
	return msg
}

// Is makes errors.Is(err, ErrLimitReached) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimitReached }

// Entitlements are what an organization may do now: its subscription's state and plan.
type Entitlements struct {
	Status Status
	Plan   Plan
	// upgrades are the active plans, cheapest first, to name the one that lifts a limit.
	upgrades []Plan
}

// Max returns a limit of the plan, and false when it is unlimited.
func (e Entitlements) Max(l Limit) (int, bool) {
	return limitOf(e.Plan, l)
}

func limitOf(p Plan, l Limit) (int, bool) {
	var v *int
	switch l {
	case LimitBranches:
		v = p.MaxBranches
	case LimitStaff:
		v = p.MaxStaff
	case LimitAppointmentsPerMonth:
		v = p.MaxAppointmentsPerMonth
	}
	if v == nil {
		return 0, false
	}
	return *v, true
}

// Check returns a *LimitError when adding one more to current would pass the plan's limit.
func (e Entitlements) Check(l Limit, current int) error {
	max, limited := e.Max(l)
	if !limited || current < max {
		return nil
	}
	le := &LimitError{Limit: l, Max: max, Plan: e.Plan.Code}
	for _, p := range e.upgrades {
		if m, lim := limitOf(p, l); p.IsActive && (!lim || m > max) {
			le.Upgrade = p.Code
			break
		}
	}
	return le
}

// Entitlements reads an organization's subscription state and plan (one query for the plan and
// the subscription, one for the catalog).
func (s *Service) Entitlements(ctx context.Context, orgID int64) (Entitlements, error) {
	sub, err := s.Subscription(ctx, orgID)
	if err != nil {
		return Entitlements{}, err
	}
	plans, err := s.Plans(ctx)
	if err != nil {
		return Entitlements{}, err
	}
	e := Entitlements{Status: sub.Status, upgrades: plans}
	for _, p := range plans {
		if p.ID == sub.PlanID {
			e.Plan = p
		}
	}
	return e, nil
}

// CountUsage counts, inside a tenant's scoped transaction (tenancy.Manager.Run), what a limit
// measures: active branches, active staff profiles, or appointments (not cancelled) starting in
// the current calendar month in UTC.
func CountUsage(ctx context.Context, tx pgx.Tx, l Limit, now time.Time) (int, error) {
	var q string
	var args []any
	switch l {
	case LimitBranches:
		q = `SELECT count(*) FROM organizacion_sede WHERE is_active`
	case LimitStaff:
		// Members belong to booking.
		n, err := booking.CountActiveStaff(ctx, tx)
		if err != nil {
			return 0, fmt.Errorf("counting %s: %w", l, err)
		}
		return n, nil
	case LimitAppointmentsPerMonth:
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		q = `SELECT count(*) FROM citas_cita WHERE estado <> 'cancelada' AND inicio >= $1 AND inicio < $2`
		args = []any{start, start.AddDate(0, 1, 0)}
	default:
		return 0, fmt.Errorf("%w: unknown limit %q", ErrInvalid, l)
	}
	var n int
	if err := tx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s: %w", l, err)
	}
	return n, nil
}

// CheckAccess is the subscription check of the request path: nil when the organization may use
// the API, an error wrapping ErrPaymentRequired (answer 402 with its message) when its
// subscription is suspended or cancelled. Billing endpoints skip it. An organization with no
// subscription (created by the CLI, before billing) may use the API.
func (s *Service) CheckAccess(ctx context.Context, orgID int64) error {
	read := s.readAccess
	if s.access != nil {
		read = s.access.Get // kept in step by WatchAccess
	}
	a, err := read(ctx, orgID)
	if err != nil || !a.found {
		return err
	}
	switch a.status {
	case Suspended:
		return fmt.Errorf("%w: la suscripción de esta organización está suspendida por falta de pago; sus datos se conservan. Actualice el método de pago en /api/billing", ErrPaymentRequired)
	case Cancelled:
		return fmt.Errorf("%w: la suscripción de esta organización está cancelada; sus datos se conservan. Reactívela en /api/billing", ErrPaymentRequired)
	}
	return nil
}

// accessState is an organization's subscription state as CheckAccess reads it.
type accessState struct {
	status Status
	found  bool // whether the organization has a subscription
}

// readAccess reads an organization's subscription state from public.billing_suscripcion.
func (s *Service) readAccess(ctx context.Context, orgID int64) (accessState, error) {
	var st string
	err := s.pool.QueryRow(ctx, `SELECT estado FROM public.billing_suscripcion WHERE organizacion_id = $1`, orgID).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return accessState{}, nil
	}
	if err != nil {
		return accessState{}, fmt.Errorf("reading subscription state: %w", err)
	}
	return accessState{status: Status(st), found: true}, nil
}

// WatchAccess keeps CheckAccess's cache in step with public.billing_suscripcion until ctx ends,
// then returns ctx's error: every change to a subscription, made by any process, is announced on
// the organization channel (public migration 0008) and evicts that organization's state at once.
// While the watch is in place a state is reused for Options.AccessCacheTTL; while it is not (before
// it starts, after it is lost, in processes that do not run it), for 5 seconds at most. serve runs
// it: at 10,000 tenants most organizations see a request less often than every 5 seconds, so without
// it nearly every request read the subscription again.
func (s *Service) WatchAccess(ctx context.Context) error {
	if s.access == nil {
		<-ctx.Done() // no cache (AccessCacheTTL < 0): nothing to keep in step
		return ctx.Err()
	}
	return s.access.Watch(ctx, s.tenancy)
}

// CheckLimitTx checks, inside a tenant's scoped transaction, that the organization may create one
// more of what l measures.
// It returns nil:
//   - when the organization has no subscription (created from the CLI), so no limits;
//   - when its plan does not limit l;
//   - when one more stays within the plan's maximum.
//
// Otherwise it returns a [*LimitError].
// It serialises the tenant's creations under l until tx ends.
// So two concurrent creations cannot both pass at the boundary.
// now is the clock for the monthly count.
func (s *Service) CheckLimitTx(ctx context.Context, tx pgx.Tx, orgID int64, l Limit, now time.Time) error {
	e, err := s.Entitlements(ctx, orgID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, limited := e.Max(l); !limited {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('appcitas.plan_limit'), hashtext(current_schema() || ':' || $1::text))`, string(l)); err != nil {
		return fmt.Errorf("locking the %s limit: %w", l, err)
	}
	n, err := CountUsage(ctx, tx, l, now)
	if err != nil {
		return err
	}
	return e.Check(l, n)
}
