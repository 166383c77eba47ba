package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Suspension is the suspension of a past_due subscription whose grace period ended: the
// subscription and the end of its grace identify it.
type Suspension struct {
	SubscriptionID int64     `json:"subscription_id"`
	GraceEndsAt    time.Time `json:"grace_ends_at"`
}

// Due is the work the clock makes due: charges (trial expiries, renewals, retries), suspensions,
// and payments to reconcile.
type Due struct {
	Charges     []Charge
	Suspensions []Suspension
	// Reconcile lists payments PENDING for longer than the reconcile delay, and expired checkouts
	// due to be asked about again.
	Reconcile []int64
}

// ReconcileAfter is how long a payment stays PENDING before it is reconciled.
const ReconcileAfter = 10 * time.Minute

// An expired checkout is asked about again every ExpiredRecheckEvery until ExpiredRecheckFor after
// it was created, so that a late settlement whose event was lost is still applied.
const (
	ExpiredRecheckEvery = time.Hour
	ExpiredRecheckFor   = 7 * 24 * time.Hour
)

// DueWork lists what is due at the service's clock. Each item identifies itself (subscription,
// period, attempt), so scheduling one twice is harmless.
func (s *Service) DueWork(ctx context.Context) (Due, error) {
	now := s.now()
	var d Due
	// First charges: trials and periods that ended (trialing or active).
	rows, err := s.pool.Query(ctx, `SELECT id, periodo_actual_fin FROM public.billing_suscripcion
		WHERE estado IN ('trialing', 'active') AND periodo_actual_fin <= $1 ORDER BY id`, now)
	if err != nil {
		return Due{}, fmt.Errorf("listing due charges: %w", err)
	}
	first, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Charge, error) {
		c := Charge{Attempt: 1}
		err := r.Scan(&c.SubscriptionID, &c.PeriodStart)
		return c, err
	})
	if err != nil {
		return Due{}, fmt.Errorf("listing due charges: %w", err)
	}
	d.Charges = append(d.Charges, first...)

	// Retries: past_due with a saved source, no PENDING charge for the period, and the next retry
	// day (counted from the first failed attempt) reached.
	rows, err = s.pool.Query(ctx, `SELECT s.id, s.periodo_actual_fin, coalesce(max(p.intento), 0), min(p.created_at) FILTER (WHERE p.intento = 1),
			bool_or(p.estado = 'PENDING')
		FROM public.billing_suscripcion s
		LEFT JOIN public.billing_pago p ON p.suscripcion_id = s.id AND p.tipo = 'renovacion' AND p.periodo_inicio = s.periodo_actual_fin
		WHERE s.estado = 'past_due' AND s.wompi_fuente_pago_id IS NOT NULL
		GROUP BY s.id ORDER BY s.id`)
	if err != nil {
		return Due{}, fmt.Errorf("listing retries: %w", err)
	}
	type retry struct {
		sub     int64
		start   time.Time
		last    int
		first   *time.Time
		pending *bool
	}
	retries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (retry, error) {
		var x retry
		err := r.Scan(&x.sub, &x.start, &x.last, &x.first, &x.pending)
		return x, err
	})
	if err != nil {
		return Due{}, fmt.Errorf("listing retries: %w", err)
	}
	for _, x := range retries {
		if x.pending != nil && *x.pending {
			continue
		}
		if x.last == 0 || x.first == nil {
			// past_due without any charge for the period (no source at the time): charge now.
			d.Charges = append(d.Charges, Charge{SubscriptionID: x.sub, PeriodStart: x.start, Attempt: 1})
			continue
		}
		if x.last-1 >= len(s.opts.RetryDays) {
			continue // retries exhausted; suspension follows at the end of the grace period
		}
		if at := x.first.AddDate(0, 0, s.opts.RetryDays[x.last-1]); !now.Before(at) {
			d.Charges = append(d.Charges, Charge{SubscriptionID: x.sub, PeriodStart: x.start, Attempt: x.last + 1})
		}
	}

	rows, err = s.pool.Query(ctx, `SELECT id, gracia_termina_en FROM public.billing_suscripcion
		WHERE estado = 'past_due' AND gracia_termina_en <= $1 ORDER BY id`, now)
	if err != nil {
		return Due{}, fmt.Errorf("listing suspensions: %w", err)
	}
	if d.Suspensions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Suspension, error) {
		var x Suspension
		err := r.Scan(&x.SubscriptionID, &x.GraceEndsAt)
		return x, err
	}); err != nil {
		return Due{}, fmt.Errorf("listing suspensions: %w", err)
	}

	// PENDING payments (a checkout among them expires once it is old enough), and expired
	// checkouts not asked about for an hour during their first week.
	rows, err = s.pool.Query(ctx, `SELECT id FROM public.billing_pago
		WHERE (estado = 'PENDING' AND created_at <= $1)
			OR (estado = 'EXPIRED' AND tipo = 'checkout' AND updated_at <= $2 AND created_at > $3)
		ORDER BY id LIMIT 500`, now.Add(-ReconcileAfter), now.Add(-ExpiredRecheckEvery), now.Add(-ExpiredRecheckFor))
	if err != nil {
		return Due{}, fmt.Errorf("listing pending payments: %w", err)
	}
	if d.Reconcile, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return Due{}, fmt.Errorf("listing pending payments: %w", err)
	}
	return d, nil
}

// SuspendOverdue suspends a subscription whose grace period ended, if it is still past_due with
// that grace end (a payment meanwhile, or a run before, leaves it alone).
func (s *Service) SuspendOverdue(ctx context.Context, x Suspension) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sub, err := subscriptionByID(ctx, tx, x.SubscriptionID, true)
		if err != nil {
			return err
		}
		if sub.Status != PastDue || sub.GraceEndsAt == nil || sub.GraceEndsAt.After(s.now()) ||
			!sub.GraceEndsAt.Truncate(time.Microsecond).Equal(x.GraceEndsAt.Truncate(time.Microsecond)) {
			return nil
		}
		if err := s.apply(ctx, tx, &sub, change{to: Suspended, cause: "grace period ended", clearGrace: true}); err != nil {
			return err
		}
		return s.notifySuspended(ctx, tx, sub)
	})
	if err != nil {
		return fmt.Errorf("suspending subscription %d: %w", x.SubscriptionID, err)
	}
	return nil
}

// NotifyTrialsEnding writes the "trial ends in 3 days" notice of every trial ending within the
// notice period (once per trial end) and returns how many were new or already there.
func (s *Service) NotifyTrialsEnding(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+subColumns+subFrom+`WHERE s.estado = 'trialing' AND s.prueba_termina_en > $1 AND s.prueba_termina_en <= $2`,
			now, now.Add(s.opts.TrialNotice))
		if err != nil {
			return err
		}
		subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSub(r) })
		if err != nil {
			return err
		}
		for _, sub := range subs {
			if err := s.notifyTrialEnding(ctx, tx, sub); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("writing trial notices: %w", err)
	}
	return n, nil
}

// Sweep does all due work in this process, one item after another: trial notices, charges,
// suspensions, reconciliations, then delivery of notices. The River jobs of package jobs do the
// same work item by item; Sweep serves tests and a server without a job queue. It returns the
// first error after trying everything.
func (s *Service) Sweep(ctx context.Context) error {
	var errs []error
	if _, err := s.NotifyTrialsEnding(ctx); err != nil {
		errs = append(errs, err)
	}
	d, err := s.DueWork(ctx)
	if err != nil {
		return err
	}
	for _, c := range d.Charges {
		if _, err := s.Charge(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	for _, x := range d.Suspensions {
		if err := s.SuspendOverdue(ctx, x); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range d.Reconcile {
		if _, err := s.Reconcile(ctx, id); err != nil && !errors.Is(err, ErrPaymentsUnavailable) {
			errs = append(errs, err)
		}
	}
	if _, err := s.DeliverNotifications(ctx, 100); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
