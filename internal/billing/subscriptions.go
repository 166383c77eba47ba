package billing

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/jackc/pgx/v5"
)

// Subscription is a row of billing_suscripcion with its plan's code.
type Subscription struct {
	ID             int64
	OrganizationID int64
	PlanID         int64
	PlanCode       string
	Status         Status
	// TrialEndsAt is set while (and after) the subscription had a trial.
	TrialEndsAt *time.Time
	PeriodStart time.Time
	PeriodEnd   time.Time
	// BillingEmail receives notices and is the payer's e-mail at Wompi.
	BillingEmail string
	// PaymentSourceID is the saved Wompi payment source, or nil.
	PaymentSourceID    *int64
	PaymentSourceLabel string
	// GraceEndsAt is when a past_due subscription gets suspended.
	GraceEndsAt *time.Time
	CancelledAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const subColumns = `s.id, s.organizacion_id, s.plan_id, p.codigo, s.estado, s.prueba_termina_en, s.periodo_actual_inicio,
	s.periodo_actual_fin, s.email_facturacion, s.wompi_fuente_pago_id, s.fuente_pago_resumen, s.gracia_termina_en,
	s.cancelada_en, s.created_at, s.updated_at`

const subFrom = ` FROM public.billing_suscripcion s JOIN public.billing_plan p ON p.id = s.plan_id `

func scanSub(row pgx.Row) (Subscription, error) {
	var x Subscription
	var st string
	err := row.Scan(&x.ID, &x.OrganizationID, &x.PlanID, &x.PlanCode, &st, &x.TrialEndsAt, &x.PeriodStart, &x.PeriodEnd,
		&x.BillingEmail, &x.PaymentSourceID, &x.PaymentSourceLabel, &x.GraceEndsAt, &x.CancelledAt, &x.CreatedAt, &x.UpdatedAt)
	x.Status = Status(st)
	return x, err
}

// Subscription returns the subscription of an organization.
func (s *Service) Subscription(ctx context.Context, orgID int64) (Subscription, error) {
	return subscriptionOf(ctx, s.pool, orgID, false)
}

// SubscriptionTx is [Service.Subscription] inside the caller's transaction on the default server.
func (s *Service) SubscriptionTx(ctx context.Context, tx pgx.Tx, orgID int64) (Subscription, error) {
	return subscriptionOf(ctx, tx, orgID, false)
}

func subscriptionOf(ctx context.Context, db querier, orgID int64, forUpdate bool) (Subscription, error) {
	q := `SELECT ` + subColumns + subFrom + `WHERE s.organizacion_id = $1`
	if forUpdate {
		q += ` FOR UPDATE OF s`
	}
	x, err := scanSub(db.QueryRow(ctx, q, orgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, fmt.Errorf("%w: organization %d has no subscription", ErrNotFound, orgID)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("reading subscription of organization %d: %w", orgID, err)
	}
	return x, nil
}

func subscriptionByID(ctx context.Context, db querier, id int64, forUpdate bool) (Subscription, error) {
	q := `SELECT ` + subColumns + subFrom + `WHERE s.id = $1`
	if forUpdate {
		q += ` FOR UPDATE OF s`
	}
	x, err := scanSub(db.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, fmt.Errorf("%w: subscription %d", ErrNotFound, id)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("reading subscription %d: %w", id, err)
	}
	return x, nil
}

// SubscriptionRow is a subscription with its organization, for listings.
type SubscriptionRow struct {
	Subscription
	OrganizationName string
	OrganizationSlug string
}

// Subscriptions lists subscriptions by organization id, only those in status when it is not "".
func (s *Service) Subscriptions(ctx context.Context, status Status) ([]SubscriptionRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+subColumns+`, o.nombre, o.slug`+subFrom+`
		JOIN public.organizacion_organizacion o ON o.id = s.organizacion_id
		WHERE $1 = '' OR s.estado = $1 ORDER BY s.organizacion_id`, string(status))
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubscriptionRow, error) {
		var x SubscriptionRow
		var st string
		err := r.Scan(&x.ID, &x.OrganizationID, &x.PlanID, &x.PlanCode, &st, &x.TrialEndsAt, &x.PeriodStart, &x.PeriodEnd,
			&x.BillingEmail, &x.PaymentSourceID, &x.PaymentSourceLabel, &x.GraceEndsAt, &x.CancelledAt, &x.CreatedAt, &x.UpdatedAt,
			&x.OrganizationName, &x.OrganizationSlug)
		x.Status = Status(st)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	return out, nil
}

// Event is a row of the subscription's history.
type Event struct {
	From, To Status
	Cause    string
	Detail   string
	At       time.Time
}

// History returns the changes of an organization's subscription, oldest first.
func (s *Service) History(ctx context.Context, orgID int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.desde, e.hasta, e.causa, e.detalle, e.en
		FROM public.billing_suscripcion_evento e JOIN public.billing_suscripcion s ON s.id = e.suscripcion_id
		WHERE s.organizacion_id = $1 ORDER BY e.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("reading subscription history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var from, to string
		err := r.Scan(&from, &to, &e.Cause, &e.Detail, &e.At)
		e.From, e.To = Status(from), Status(to)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading subscription history: %w", err)
	}
	return out, nil
}

// NewTrial is the input of [Service.CreateTrialTx].
type NewTrial struct {
	OrganizationID int64
	// PlanCode defaults to "basico".
	PlanCode     string
	BillingEmail string
}

// CreateTrialTx creates an organization's subscription in trial, inside the caller's transaction
// on the default server (a signup creates the organization in the same one).
func (s *Service) CreateTrialTx(ctx context.Context, tx pgx.Tx, n NewTrial) (Subscription, error) {
	if n.PlanCode == "" {
		n.PlanCode = "basico"
	}
	if n.BillingEmail != "" {
		if _, err := mail.ParseAddress(n.BillingEmail); err != nil {
			return Subscription{}, fmt.Errorf("%w: billing e-mail %q", ErrInvalid, n.BillingEmail)
		}
	}
	plan, err := planByCode(ctx, tx, n.PlanCode)
	if err != nil {
		return Subscription{}, err
	}
	if !plan.IsActive {
		return Subscription{}, fmt.Errorf("%w: plan %q is not offered", ErrInvalid, n.PlanCode)
	}
	now := s.now()
	status := Trialing
	end := now.AddDate(0, 0, plan.TrialDays)
	var trialEnd *time.Time
	if plan.TrialDays > 0 {
		trialEnd = &end
	} else {
		// No trial: the first period is due now; the renewal job charges it (or it goes past_due).
		status, end = Active, now.Add(time.Second)
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO public.billing_suscripcion
			(organizacion_id, plan_id, estado, prueba_termina_en, periodo_actual_inicio, periodo_actual_fin, email_facturacion)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		n.OrganizationID, plan.ID, string(status), trialEnd, now, end, n.BillingEmail).Scan(&id)
	if err != nil {
		if sqlState(err) == "23505" {
			return Subscription{}, fmt.Errorf("%w: organization %d already has a subscription", ErrConflict, n.OrganizationID)
		}
		return Subscription{}, fmt.Errorf("creating subscription: %w", err)
	}
	if err := recordEvent(ctx, tx, id, "", status, "signup", "plan "+plan.Code, now); err != nil {
		return Subscription{}, err
	}
	return subscriptionByID(ctx, tx, id, false)
}

func recordEvent(ctx context.Context, tx pgx.Tx, subID int64, from, to Status, cause, detail string, at time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO public.billing_suscripcion_evento (suscripcion_id, desde, hasta, causa, detalle, en)
		VALUES ($1, $2, $3, $4, $5, $6)`, subID, string(from), string(to), cause, detail, at); err != nil {
		return fmt.Errorf("recording subscription event: %w", err)
	}
	return nil
}

// change is one transition: the new state and whatever else changes with it.
type change struct {
	to          Status
	cause       string
	detail      string
	periodStart *time.Time
	periodEnd   *time.Time
	trialEnd    *time.Time
	graceEnd    *time.Time // set for past_due
	clearGrace  bool
	cancelledAt *time.Time
	planID      *int64
}

// apply moves sub (locked FOR UPDATE in tx) through the state machine and records the change.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, sub *Subscription, c change) error {
	if !CanTransition(sub.Status, c.to) {
		return fmt.Errorf("%w: %s → %s (%s)", ErrTransition, sub.Status, c.to, c.cause)
	}
	now := s.now()
	x, err := scanSub(tx.QueryRow(ctx, `WITH u AS (UPDATE public.billing_suscripcion SET
			estado = $2,
			periodo_actual_inicio = coalesce($3, periodo_actual_inicio),
			periodo_actual_fin = coalesce($4, periodo_actual_fin),
			prueba_termina_en = coalesce($5, prueba_termina_en),
			gracia_termina_en = CASE WHEN $7 THEN NULL ELSE coalesce($6, gracia_termina_en) END,
			cancelada_en = CASE WHEN $2 = 'cancelled' THEN coalesce($8, now()) WHEN $2 = 'active' THEN NULL ELSE cancelada_en END,
			plan_id = coalesce($9, plan_id),
			updated_at = $10
		WHERE id = $1 RETURNING *)
		SELECT `+subColumns+` FROM u s JOIN public.billing_plan p ON p.id = s.plan_id`,
		sub.ID, string(c.to), c.periodStart, c.periodEnd, c.trialEnd, c.graceEnd, c.clearGrace, c.cancelledAt, c.planID, now))
	if err != nil {
		return fmt.Errorf("changing subscription %d to %s: %w", sub.ID, c.to, err)
	}
	if err := recordEvent(ctx, tx, sub.ID, sub.Status, c.to, c.cause, c.detail, now); err != nil {
		return err
	}
	*sub = x
	s.forgetAccess(sub.OrganizationID)
	return nil
}

// inSubscription runs fn with the organization's subscription locked in a transaction.
func (s *Service) inSubscription(ctx context.Context, orgID int64, fn func(tx pgx.Tx, sub *Subscription) error) (Subscription, error) {
	var sub Subscription
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if sub, err = subscriptionOf(ctx, tx, orgID, true); err != nil {
			return err
		}
		return fn(tx, &sub)
	})
	s.forgetAccess(orgID) // again after the commit: a reader between apply and commit cached the old state
	return sub, err
}

// ExtendTrial gives a subscription in trial (or one whose trial ended unpaid: past_due or
// suspended) days more of trial from the later of now and its trial's end.
func (s *Service) ExtendTrial(ctx context.Context, orgID int64, days int, cause string) (Subscription, error) {
	if days < 1 || days > 365 {
		return Subscription{}, fmt.Errorf("%w: days must be 1-365, got %d", ErrInvalid, days)
	}
	if cause == "" {
		cause = "operator: extend_trial"
	}
	return s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		if sub.Status == Active || sub.Status == Cancelled {
			return fmt.Errorf("%w: the subscription is %s, not in trial", ErrConflict, sub.Status)
		}
		if sub.TrialEndsAt == nil {
			return fmt.Errorf("%w: the subscription never had a trial", ErrConflict)
		}
		from := s.now()
		if sub.TrialEndsAt.After(from) {
			from = *sub.TrialEndsAt
		}
		end := from.AddDate(0, 0, days)
		return s.apply(ctx, tx, sub, change{to: Trialing, cause: cause, detail: fmt.Sprintf("+%d days, until %s", days, end.Format(time.RFC3339)),
			trialEnd: &end, periodEnd: &end, clearGrace: true})
	})
}

// ChangePlan moves an organization's subscription to another plan; the price applies from the
// next charge, the limits at once.
func (s *Service) ChangePlan(ctx context.Context, orgID int64, planCode, cause string) (Subscription, error) {
	if cause == "" {
		cause = "operator: set_plan"
	}
	return s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		plan, err := planByCode(ctx, tx, planCode)
		if err != nil {
			return err
		}
		if plan.ID == sub.PlanID {
			return nil
		}
		if sub.Status == Cancelled {
			return fmt.Errorf("%w: the subscription is cancelled", ErrConflict)
		}
		return s.apply(ctx, tx, sub, change{to: sub.Status, cause: cause, detail: sub.PlanCode + " → " + plan.Code, planID: &plan.ID})
	})
}

// Suspend suspends an organization's subscription (an operator's decision, or the end of the
// grace period): its API answers 402 except for billing; the data is kept.
func (s *Service) Suspend(ctx context.Context, orgID int64, cause string) (Subscription, error) {
	if cause == "" {
		cause = "operator: suspend"
	}
	return s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		if sub.Status == Suspended {
			return nil
		}
		if err := s.apply(ctx, tx, sub, change{to: Suspended, cause: cause, clearGrace: true}); err != nil {
			return err
		}
		return s.notifySuspended(ctx, tx, *sub)
	})
}

// Reactivate makes a suspended or cancelled subscription active again (an operator's decision,
// e.g. after a payment outside Wompi), for a new period from now.
func (s *Service) Reactivate(ctx context.Context, orgID int64, cause string) (Subscription, error) {
	if cause == "" {
		cause = "operator: reactivate"
	}
	return s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		if sub.Status == Active || sub.Status == Trialing {
			return nil
		}
		start := s.now()
		end := start.AddDate(0, 1, 0)
		return s.apply(ctx, tx, sub, change{to: Active, cause: cause, periodStart: &start, periodEnd: &end, clearGrace: true})
	})
}

// Cancel cancels an organization's subscription and voids its saved payment source at Wompi.
func (s *Service) Cancel(ctx context.Context, orgID int64, cause string) (Subscription, error) {
	if cause == "" {
		cause = "cancel"
	}
	var source *int64
	sub, err := s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		if sub.Status == Cancelled {
			return nil
		}
		source = sub.PaymentSourceID
		if _, err := tx.Exec(ctx, `UPDATE public.billing_suscripcion SET wompi_fuente_pago_id = NULL, fuente_pago_resumen = '' WHERE id = $1`, sub.ID); err != nil {
			return err
		}
		now := s.now()
		return s.apply(ctx, tx, sub, change{to: Cancelled, cause: cause, cancelledAt: &now, clearGrace: true})
	})
	if err != nil {
		return Subscription{}, err
	}
	if source != nil && s.wompi != nil {
		if err := s.wompi.VoidPaymentSource(ctx, *source); err != nil {
			s.log.Warn("voiding the payment source of a cancelled subscription", "organization", orgID, "source", *source, "err", err)
		}
	}
	return sub, nil
}
