package billing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/wompi"
)

// Payment kinds.
const (
	KindRenewal  = "renovacion" // charged by us on the saved payment source
	KindCheckout = "checkout"   // paid by the customer in Wompi's widget / web checkout
)

// Payment is a row of billing_pago.
type Payment struct {
	ID             int64
	SubscriptionID int64
	Kind           string
	Reference      string
	PeriodStart    time.Time
	PeriodEnd      time.Time
	Attempt        int
	AmountCents    int64
	Currency       string
	PlanID         int64
	// TransactionID is Wompi's transaction id, "" until known.
	TransactionID string
	// State is PENDING, APPROVED, DECLINED, VOIDED or ERROR.
	State     string
	Message   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const payColumns = `id, suscripcion_id, tipo, referencia, periodo_inicio, periodo_fin, intento, monto_centavos, moneda, plan_id,
	coalesce(wompi_transaccion_id, ''), estado, mensaje, created_at, updated_at`

func scanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	err := row.Scan(&p.ID, &p.SubscriptionID, &p.Kind, &p.Reference, &p.PeriodStart, &p.PeriodEnd, &p.Attempt, &p.AmountCents,
		&p.Currency, &p.PlanID, &p.TransactionID, &p.State, &p.Message, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// Payments returns an organization's payments, newest first.
func (s *Service) Payments(ctx context.Context, orgID int64) ([]Payment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+payColumns+` FROM public.billing_pago
		WHERE suscripcion_id = (SELECT id FROM public.billing_suscripcion WHERE organizacion_id = $1) ORDER BY id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing payments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("listing payments: %w", err)
	}
	return out, nil
}

// StatusExpired is the state of a checkout abandoned at Wompi: left PENDING past
// [Options.CheckoutExpiry] while Wompi still reports it PENDING or has no transaction with its
// reference. It is ours, not one of Wompi's: a late Wompi state still settles the payment.
const StatusExpired = "EXPIRED"

// CanPaymentTransition reports whether a payment may go from one state to another: PENDING to any
// final state or to EXPIRED, an EXPIRED checkout to any of Wompi's final states (a late
// settlement), and an APPROVED payment to VOIDED. Nothing goes back to PENDING, and a final state
// never changes otherwise.
func CanPaymentTransition(from, to string) bool {
	final := to == wompi.StatusApproved || to == wompi.StatusDeclined || to == wompi.StatusVoided || to == wompi.StatusError
	switch {
	case from == to:
		return false
	case from == wompi.StatusPending:
		return final || to == StatusExpired
	case from == StatusExpired:
		return final
	case from == wompi.StatusApproved:
		return to == wompi.StatusVoided
	}
	return false
}

// wompiState reports whether st is one of the states Wompi gives a transaction.
func wompiState(st string) bool {
	switch st {
	case wompi.StatusPending, wompi.StatusApproved, wompi.StatusDeclined, wompi.StatusVoided, wompi.StatusError:
		return true
	}
	return false
}

// nextPeriod is the month a payment made now buys: from the end of the current period while the
// subscription is in trial or active and that end is ahead, else from now.
func nextPeriod(sub Subscription, now time.Time) (time.Time, time.Time) {
	start := now
	if (sub.Status == Trialing || sub.Status == Active || sub.Status == PastDue) && sub.PeriodEnd.After(now) {
		start = sub.PeriodEnd
	}
	return start, start.AddDate(0, 1, 0)
}

func reference(subID int64, periodStart time.Time, suffix string) string {
	return fmt.Sprintf("appcitas-%d-%s-%s", subID, periodStart.UTC().Format("20060102"), suffix)
}

// CheckoutSession is what Wompi's widget or web checkout needs to take a payment.
type CheckoutSession struct {
	PublicKey     string `json:"public_key"`
	Reference     string `json:"reference"`
	AmountInCents int64  `json:"amount_in_cents"`
	Currency      string `json:"currency"`
	// Signature is the integrity signature (signature:integrity in the widget).
	Signature     string    `json:"signature"`
	RedirectURL   string    `json:"redirect_url,omitempty"`
	CustomerEmail string    `json:"customer_email,omitempty"`
	PeriodStart   time.Time `json:"period_start"`
	PeriodEnd     time.Time `json:"period_end"`
	// CheckoutURL is Wompi's web checkout with these values, for a plain redirect.
	CheckoutURL string `json:"checkout_url,omitempty"`
	// Environment is "sandbox" or "production".
	Environment string `json:"environment"`
}

// Checkout prepares a payment of the next period through Wompi's checkout: a unique reference
// (recorded as a PENDING payment, so that the event that settles it finds it), the amount of the
// subscription's plan, and the integrity signature.
func (s *Service) Checkout(ctx context.Context, orgID int64) (CheckoutSession, error) {
	if s.wompi == nil {
		return CheckoutSession{}, ErrPaymentsUnavailable
	}
	var cs CheckoutSession
	_, err := s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		plan, err := planByID(ctx, tx, sub.PlanID)
		if err != nil {
			return err
		}
		if plan.PriceCents <= 0 {
			return fmt.Errorf("%w: plan %s is free", ErrConflict, plan.Code)
		}
		start, end := nextPeriod(*sub, s.now())
		ref := reference(sub.ID, start, "c"+strings.ToLower(rand.Text()[:8]))
		if _, err := tx.Exec(ctx, `INSERT INTO public.billing_pago
				(suscripcion_id, tipo, referencia, periodo_inicio, periodo_fin, monto_centavos, moneda, plan_id, created_at)
			VALUES ($1, 'checkout', $2, $3, $4, $5, $6, $7, $8)`, sub.ID, ref, start, end, plan.PriceCents, plan.Currency, plan.ID, s.now()); err != nil {
			return fmt.Errorf("recording checkout: %w", err)
		}
		cs = CheckoutSession{PublicKey: s.wompi.PublicKey(), Reference: ref, AmountInCents: plan.PriceCents, Currency: plan.Currency,
			Signature: s.wompi.IntegritySignature(ref, plan.PriceCents, plan.Currency, time.Time{}), RedirectURL: s.opts.RedirectURL,
			CustomerEmail: sub.BillingEmail, PeriodStart: start, PeriodEnd: end, Environment: string(s.wompi.Environment())}
		q := url.Values{"public-key": {cs.PublicKey}, "currency": {cs.Currency}, "amount-in-cents": {strconv.FormatInt(cs.AmountInCents, 10)},
			"reference": {cs.Reference}, "signature:integrity": {cs.Signature}}
		if cs.RedirectURL != "" {
			q.Set("redirect-url", cs.RedirectURL)
		}
		if cs.CustomerEmail != "" {
			q.Set("customer-data:email", cs.CustomerEmail)
		}
		if s.opts.CheckoutURL != "-" {
			cs.CheckoutURL = s.opts.CheckoutURL + "?" + q.Encode()
		}
		return nil
	})
	return cs, err
}

func planByID(ctx context.Context, db querier, id int64) (Plan, error) {
	p, err := scanPlan(db.QueryRow(ctx, `SELECT `+planColumns+` FROM public.billing_plan WHERE id = $1`, id))
	if err != nil {
		return Plan{}, fmt.Errorf("reading plan %d: %w", id, err)
	}
	return p, nil
}

// NewPaymentSource is the input of [Service.SavePaymentSource]: a card token the browser got from
// Wompi with the public key (the card number never reaches us) and the acceptance tokens the
// payer accepted.
type NewPaymentSource struct {
	CardToken          string
	AcceptanceToken    string
	AcceptPersonalAuth string
	// Email is the payer's e-mail; defaults to the subscription's billing e-mail.
	Email string
}

// SavePaymentSource creates a Wompi payment source from a card token, stores its id on the
// subscription (voiding the one it replaces), and, when the subscription is past_due or
// suspended, charges the period due right away.
func (s *Service) SavePaymentSource(ctx context.Context, orgID int64, n NewPaymentSource) (Subscription, error) {
	if s.wompi == nil {
		return Subscription{}, ErrPaymentsUnavailable
	}
	if n.CardToken == "" || n.AcceptanceToken == "" {
		return Subscription{}, fmt.Errorf("%w: card_token and acceptance_token are required", ErrInvalid)
	}
	sub, err := s.Subscription(ctx, orgID)
	if err != nil {
		return Subscription{}, err
	}
	if sub.Status == Cancelled {
		return Subscription{}, fmt.Errorf("%w: the subscription is cancelled", ErrConflict)
	}
	email := n.Email
	if email == "" {
		email = sub.BillingEmail
	}
	ps, err := s.wompi.CreatePaymentSource(ctx, wompi.NewPaymentSource{Type: "CARD", Token: n.CardToken, CustomerEmail: email,
		AcceptanceToken: n.AcceptanceToken, AcceptPersonalAuth: n.AcceptPersonalAuth})
	if err != nil {
		var apiErr *wompi.APIError
		if errors.As(err, &apiErr) && apiErr.Status < http.StatusInternalServerError {
			return Subscription{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return Subscription{}, err
	}
	label := "CARD"
	if lf, ok := ps.PublicData["last_four"].(string); ok {
		label = "•••• " + lf
	}
	var old *int64
	sub, err = s.inSubscription(ctx, orgID, func(tx pgx.Tx, sub *Subscription) error {
		old = sub.PaymentSourceID
		_, err := tx.Exec(ctx, `UPDATE public.billing_suscripcion SET wompi_fuente_pago_id = $2, fuente_pago_resumen = $3,
			email_facturacion = CASE WHEN email_facturacion = '' THEN $4 ELSE email_facturacion END, updated_at = now() WHERE id = $1`,
			sub.ID, ps.ID, label, email)
		if err != nil {
			return fmt.Errorf("saving payment source: %w", err)
		}
		sub.PaymentSourceID, sub.PaymentSourceLabel = &ps.ID, label
		return nil
	})
	if err != nil {
		return Subscription{}, err
	}
	if old != nil && *old != ps.ID {
		if err := s.wompi.VoidPaymentSource(ctx, *old); err != nil {
			s.log.Warn("voiding a replaced payment source", "organization", orgID, "source", *old, "err", err)
		}
	}
	if sub.Status == PastDue || sub.Status == Suspended {
		start := sub.PeriodEnd
		if sub.Status == Suspended {
			start = s.now().Truncate(time.Second)
		}
		attempt, err := s.nextAttempt(ctx, sub.ID, start)
		if err != nil {
			return sub, err
		}
		if _, err := s.Charge(ctx, Charge{SubscriptionID: sub.ID, PeriodStart: start, Attempt: attempt}); err != nil {
			return sub, err
		}
		return s.Subscription(ctx, orgID)
	}
	return sub, nil
}

func (s *Service) nextAttempt(ctx context.Context, subID int64, start time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(intento), 0) + 1 FROM public.billing_pago
		WHERE suscripcion_id = $1 AND tipo = 'renovacion' AND periodo_inicio = $2`, subID, start).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting attempts: %w", err)
	}
	return n, nil
}

// Charge is one renewal charge: a subscription, the start of the period it pays, and the attempt
// (1 for the first, 2.. for retries). It identifies the charge: running it twice never charges
// twice.
type Charge struct {
	SubscriptionID int64     `json:"subscription_id"`
	PeriodStart    time.Time `json:"period_start"`
	Attempt        int       `json:"attempt"`
}

// Charge charges a renewal on the subscription's saved payment source. It is idempotent: the
// payment row is unique per subscription, period and attempt, and is created in the same
// transaction that asks Wompi for the transaction while holding the subscription's lock. If the
// process dies after Wompi accepted and before the commit, the next run's reference (the same) is
// refused by Wompi and the existing transaction is looked up by reference instead.
//
// Without a payment source, a subscription whose trial or period ended goes past_due (and the
// owner is told). The returned payment is zero when nothing was charged.
func (s *Service) Charge(ctx context.Context, c Charge) (Payment, error) {
	if c.Attempt < 1 {
		return Payment{}, fmt.Errorf("%w: attempt must be at least 1", ErrInvalid)
	}
	c.PeriodStart = c.PeriodStart.UTC()
	var pay Payment
	var settled *wompi.Transaction
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sub, err := subscriptionByID(ctx, tx, c.SubscriptionID, true)
		if err != nil {
			return err
		}
		now := s.now()
		switch sub.Status {
		case Cancelled:
			return nil
		case Trialing, Active, PastDue:
			if sub.PeriodEnd.After(now) || !sub.PeriodEnd.Truncate(time.Microsecond).Equal(c.PeriodStart.Truncate(time.Microsecond)) {
				return nil // not due, or a stale charge of another period (paid meanwhile, trial extended)
			}
		}
		if sub.PaymentSourceID == nil {
			if sub.Status == Trialing || sub.Status == Active {
				return s.goPastDue(ctx, tx, &sub, "no payment source", "the period ended and no card is saved", 0)
			}
			return nil
		}
		if s.wompi == nil {
			return ErrPaymentsUnavailable
		}
		plan, err := planByID(ctx, tx, sub.PlanID)
		if err != nil {
			return err
		}
		ref := reference(sub.ID, c.PeriodStart, "r"+strconv.Itoa(c.Attempt))
		pay, err = scanPayment(tx.QueryRow(ctx, `INSERT INTO public.billing_pago
				(suscripcion_id, tipo, referencia, periodo_inicio, periodo_fin, intento, monto_centavos, moneda, plan_id, created_at)
			VALUES ($1, 'renovacion', $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (suscripcion_id, periodo_inicio, intento) WHERE tipo = 'renovacion' DO UPDATE SET updated_at = billing_pago.updated_at
			RETURNING `+payColumns, sub.ID, ref, c.PeriodStart, c.PeriodStart.AddDate(0, 1, 0), c.Attempt, plan.PriceCents, plan.Currency, plan.ID, now))
		if err != nil {
			return fmt.Errorf("recording charge %s: %w", ref, err)
		}
		if pay.TransactionID != "" || pay.State != wompi.StatusPending {
			return nil // charged already
		}
		if plan.PriceCents == 0 {
			t := wompi.Transaction{ID: "free-" + pay.Reference, Reference: pay.Reference, AmountInCents: 0, Currency: pay.Currency, Status: wompi.StatusApproved}
			settled = &t
			_, err := tx.Exec(ctx, `UPDATE public.billing_pago SET wompi_transaccion_id = $2 WHERE id = $1`, pay.ID, t.ID)
			return err
		}
		wtx, err := s.wompi.CreateTransaction(ctx, wompi.NewTransaction{AmountInCents: pay.AmountCents, Currency: pay.Currency,
			CustomerEmail: sub.BillingEmail, Reference: pay.Reference, PaymentSourceID: *sub.PaymentSourceID, Recurrent: true})
		if err != nil {
			var apiErr *wompi.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity {
				return err // Wompi unreachable: nothing recorded, the job retries
			}
			found, ferr := s.wompi.TransactionByReference(ctx, pay.Reference)
			if ferr != nil {
				// Refused for another reason (e.g. the source was voided): record the failure.
				wtx = wompi.Transaction{Reference: pay.Reference, Status: wompi.StatusError, StatusMessage: apiErr.Error()}
			} else {
				wtx = found
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE public.billing_pago SET wompi_transaccion_id = nullif($2, ''), updated_at = now() WHERE id = $1`,
			pay.ID, wtx.ID); err != nil {
			return fmt.Errorf("recording transaction of %s: %w", pay.Reference, err)
		}
		pay.TransactionID = wtx.ID
		if wtx.Status != wompi.StatusPending {
			settled = &wtx
		}
		return nil
	})
	if err != nil {
		return Payment{}, fmt.Errorf("charging subscription %d: %w", c.SubscriptionID, err)
	}
	if settled != nil {
		if _, err := s.ApplyTransaction(ctx, *settled); err != nil {
			return pay, err
		}
		return s.payment(ctx, pay.ID)
	}
	return pay, nil
}

func (s *Service) payment(ctx context.Context, id int64) (Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+payColumns+` FROM public.billing_pago WHERE id = $1`, id))
	if err != nil {
		return Payment{}, fmt.Errorf("reading payment %d: %w", id, err)
	}
	return p, nil
}

// goPastDue moves sub to past_due (starting the grace period, unless it is past_due already) and
// tells the owner.
func (s *Service) goPastDue(ctx context.Context, tx pgx.Tx, sub *Subscription, cause, detail string, paymentID int64) error {
	c := change{to: PastDue, cause: cause, detail: detail}
	if sub.Status != PastDue {
		grace := s.now().Add(s.opts.GracePeriod)
		c.graceEnd = &grace
	}
	if err := s.apply(ctx, tx, sub, c); err != nil {
		return err
	}
	return s.notifyPaymentFailed(ctx, tx, *sub, detail, paymentID)
}

// Applied says what applying a transaction did.
type Applied struct {
	// Payment is the payment the transaction belongs to.
	Payment Payment
	// Changed is false when the transaction changed nothing (a redelivery, a stale or
	// out-of-order state).
	Changed bool
}

// ApplyTransaction applies a transaction's state (from an event, a charge's answer or a
// reconciliation) to its payment and subscription, once: a state the payment already has, or one
// it may not go to (APPROVED → PENDING, DECLINED → APPROVED...), changes nothing. An approved
// payment makes the subscription active for the paid period; a failed renewal makes it past_due.
func (s *Service) ApplyTransaction(ctx context.Context, t wompi.Transaction) (Applied, error) {
	var out Applied
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.applyTransactionTx(ctx, tx, t)
		return err
	})
	return out, err
}

func (s *Service) applyTransactionTx(ctx context.Context, tx pgx.Tx, t wompi.Transaction) (Applied, error) {
	// Lock the subscription first (the order Charge uses), then the payment.
	var subID int64
	err := tx.QueryRow(ctx, `SELECT suscripcion_id FROM public.billing_pago WHERE referencia = $1 OR (wompi_transaccion_id = $2 AND $2 <> '')
		ORDER BY (referencia = $1) DESC LIMIT 1`, t.Reference, t.ID).Scan(&subID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Applied{}, fmt.Errorf("%w: no payment with reference %q", ErrNotFound, t.Reference)
	}
	if err != nil {
		return Applied{}, fmt.Errorf("finding payment %s: %w", t.Reference, err)
	}
	sub, err := subscriptionByID(ctx, tx, subID, true)
	if err != nil {
		return Applied{}, err
	}
	pay, err := scanPayment(tx.QueryRow(ctx, `SELECT `+payColumns+` FROM public.billing_pago
		WHERE referencia = $1 OR (wompi_transaccion_id = $2 AND $2 <> '') ORDER BY (referencia = $1) DESC LIMIT 1 FOR UPDATE`, t.Reference, t.ID))
	if err != nil {
		return Applied{}, fmt.Errorf("locking payment %s: %w", t.Reference, err)
	}
	if pay.TransactionID != "" && t.ID != "" && pay.TransactionID != t.ID {
		return Applied{Payment: pay}, fmt.Errorf("%w: payment %s belongs to transaction %s, not %s", ErrConflict, pay.Reference, pay.TransactionID, t.ID)
	}
	status := t.Status
	if !wompiState(status) {
		// Not a state Wompi gives (EXPIRED is ours, set only by Reconcile): change nothing.
		return Applied{Payment: pay}, nil
	}
	if status == wompi.StatusApproved && (t.AmountInCents != pay.AmountCents || (t.Currency != "" && t.Currency != pay.Currency)) {
		s.log.Error("wompi transaction amount does not match the payment", "reference", pay.Reference, "want", pay.AmountCents, "got", t.AmountInCents)
		status, t.StatusMessage = wompi.StatusError, fmt.Sprintf("amount %d %s does not match %d %s", t.AmountInCents, t.Currency, pay.AmountCents, pay.Currency)
	}
	if !CanPaymentTransition(pay.State, status) {
		if pay.TransactionID == "" && t.ID != "" {
			_, err := tx.Exec(ctx, `UPDATE public.billing_pago SET wompi_transaccion_id = $2 WHERE id = $1`, pay.ID, t.ID)
			return Applied{Payment: pay}, err
		}
		return Applied{Payment: pay}, nil
	}
	pay, err = scanPayment(tx.QueryRow(ctx, `UPDATE public.billing_pago SET estado = $2, mensaje = $3,
			wompi_transaccion_id = coalesce(wompi_transaccion_id, nullif($4, '')), updated_at = now()
		WHERE id = $1 RETURNING `+payColumns, pay.ID, status, t.StatusMessage, t.ID))
	if err != nil {
		return Applied{}, fmt.Errorf("updating payment %s: %w", pay.Reference, err)
	}
	switch status {
	case wompi.StatusApproved:
		start, end := pay.PeriodStart, pay.PeriodEnd
		if (sub.Status == Active) && !sub.PeriodEnd.Before(end) {
			// The period was paid already (two checkouts): this payment buys the month after.
			start, end = sub.PeriodEnd, sub.PeriodEnd.AddDate(0, 1, 0)
		}
		if now := s.now(); start.After(now) && sub.Status != Active {
			start = now // paid ahead during a trial: active from now until the end of the paid month
		}
		if err := s.apply(ctx, tx, &sub, change{to: Active, cause: "payment approved", detail: pay.Reference,
			periodStart: &start, periodEnd: &end, clearGrace: true, planID: &pay.PlanID}); err != nil {
			return Applied{}, err
		}
		if err := s.notifyPaymentApproved(ctx, tx, sub, pay); err != nil {
			return Applied{}, err
		}
	case wompi.StatusDeclined, wompi.StatusError:
		if pay.Kind == KindRenewal && (sub.Status == Trialing || sub.Status == Active || sub.Status == PastDue) && !sub.PeriodEnd.After(s.now()) {
			if err := s.goPastDue(ctx, tx, &sub, "payment "+strings.ToLower(status), pay.Reference+": "+t.StatusMessage, pay.ID); err != nil {
				return Applied{}, err
			}
		} else if err := s.notifyPaymentFailed(ctx, tx, sub, t.StatusMessage, pay.ID); err != nil {
			return Applied{}, err
		}
	}
	return Applied{Payment: pay, Changed: true}, nil
}

// Reconcile asks Wompi for the state of a payment left PENDING (its event lost or late) and
// applies it. A payment without a transaction id is looked up by reference.
//
// A checkout older than [Options.CheckoutExpiry] that Wompi still reports PENDING, or whose
// reference Wompi does not know (the payer never paid), is marked EXPIRED and the expiry is
// recorded in the subscription's history. Reconcile keeps asking about an expired checkout for a
// while (see [Service.DueWork]), and a late event still applies to it: a payment is never lost
// by expiring.
func (s *Service) Reconcile(ctx context.Context, paymentID int64) (Applied, error) {
	if s.wompi == nil {
		return Applied{}, ErrPaymentsUnavailable
	}
	pay, err := s.payment(ctx, paymentID)
	if err != nil {
		return Applied{}, err
	}
	if pay.State != wompi.StatusPending && pay.State != StatusExpired {
		return Applied{Payment: pay}, nil
	}
	var t wompi.Transaction
	if pay.TransactionID != "" {
		t, err = s.wompi.Transaction(ctx, pay.TransactionID)
	} else {
		t, err = s.wompi.TransactionByReference(ctx, pay.Reference)
	}
	unknown := errors.Is(err, wompi.ErrNotFound)
	if err != nil && (!unknown || pay.Kind != KindCheckout) {
		// Wompi unreachable, or a renewal's transaction it does not know: the job retries.
		return Applied{}, fmt.Errorf("reconciling payment %s: %w", pay.Reference, err)
	}
	if !unknown && t.Status != wompi.StatusPending {
		return s.ApplyTransaction(ctx, t)
	}
	// Wompi has it PENDING, or has no transaction for it.
	if !unknown && pay.TransactionID == "" && t.ID != "" {
		// Found by reference: remember its id (ApplyTransaction records it and changes nothing else).
		a, err := s.ApplyTransaction(ctx, t)
		if err != nil {
			return a, err
		}
		pay = a.Payment
	}
	reason := "Wompi has no transaction with this reference"
	if !unknown {
		reason = "Wompi still reports the transaction PENDING"
	}
	return s.expireCheckout(ctx, pay, reason)
}

// expireCheckout marks a PENDING checkout older than the checkout expiry EXPIRED (recording it in
// the subscription's history), or, for one that is EXPIRED already, notes that it was asked about
// (updated_at), so that DueWork asks again only after ExpiredRecheckEvery. Anything else is left
// alone.
func (s *Service) expireCheckout(ctx context.Context, pay Payment, reason string) (Applied, error) {
	now := s.now()
	if pay.Kind != KindCheckout || (pay.State == wompi.StatusPending && now.Sub(pay.CreatedAt) < s.opts.CheckoutExpiry) {
		return Applied{Payment: pay}, nil
	}
	var out Applied
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the subscription, then the payment (the order applyTransactionTx uses), and look again:
		// an event may have settled it since the poll.
		sub, err := subscriptionByID(ctx, tx, pay.SubscriptionID, true)
		if err != nil {
			return err
		}
		cur, err := scanPayment(tx.QueryRow(ctx, `SELECT `+payColumns+` FROM public.billing_pago WHERE id = $1 FOR UPDATE`, pay.ID))
		if err != nil {
			return fmt.Errorf("locking payment %s: %w", pay.Reference, err)
		}
		out = Applied{Payment: cur}
		switch cur.State {
		case StatusExpired:
			_, err := tx.Exec(ctx, `UPDATE public.billing_pago SET updated_at = $2 WHERE id = $1`, cur.ID, now)
			return err
		case wompi.StatusPending:
		default:
			return nil
		}
		msg := fmt.Sprintf("checkout abandoned: %s after %s", reason, s.opts.CheckoutExpiry)
		if out.Payment, err = scanPayment(tx.QueryRow(ctx, `UPDATE public.billing_pago SET estado = $2, mensaje = $3, updated_at = $4
			WHERE id = $1 RETURNING `+payColumns, cur.ID, StatusExpired, msg, now)); err != nil {
			return fmt.Errorf("expiring payment %s: %w", cur.Reference, err)
		}
		out.Changed = true
		return recordEvent(ctx, tx, sub.ID, sub.Status, sub.Status, "checkout expired", cur.Reference+": "+msg, now)
	})
	if err != nil {
		return Applied{}, fmt.Errorf("expiring checkout %s: %w", pay.Reference, err)
	}
	return out, nil
}
