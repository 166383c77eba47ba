package billing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/wompi"
	"github.com/appcitas/appcitas/internal/wompi/wompisim"
)

func TestCanTransition(t *testing.T) {
	t.Parallel()
	allowed := map[billing.Status][]billing.Status{
		billing.Trialing:  {billing.Trialing, billing.Active, billing.PastDue, billing.Suspended, billing.Cancelled},
		billing.Active:    {billing.Active, billing.PastDue, billing.Suspended, billing.Cancelled},
		billing.PastDue:   {billing.PastDue, billing.Active, billing.Suspended, billing.Cancelled, billing.Trialing},
		billing.Suspended: {billing.Active, billing.Cancelled, billing.Trialing},
		billing.Cancelled: {billing.Active},
	}
	for _, from := range billing.Statuses() {
		for _, to := range billing.Statuses() {
			want := slices.Contains(allowed[from], to)
			t.Run(fmt.Sprintf("%s_to_%s", from, to), func(t *testing.T) {
				if got := billing.CanTransition(from, to); got != want {
					t.Fatalf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
}

func TestCanPaymentTransition(t *testing.T) {
	t.Parallel()
	states := []string{wompi.StatusPending, wompi.StatusApproved, wompi.StatusDeclined, wompi.StatusVoided, wompi.StatusError, billing.StatusExpired}
	allowed := map[string][]string{
		wompi.StatusPending:  {wompi.StatusApproved, wompi.StatusDeclined, wompi.StatusVoided, wompi.StatusError, billing.StatusExpired},
		wompi.StatusApproved: {wompi.StatusVoided},
		// A late settlement of an abandoned checkout still applies.
		billing.StatusExpired: {wompi.StatusApproved, wompi.StatusDeclined, wompi.StatusVoided, wompi.StatusError},
	}
	for _, from := range states {
		for _, to := range states {
			want := slices.Contains(allowed[from], to)
			if got := billing.CanPaymentTransition(from, to); got != want {
				t.Errorf("CanPaymentTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if billing.CanPaymentTransition(wompi.StatusApproved, wompi.StatusPending) {
		t.Fatal("APPROVED may go back to PENDING")
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("TrialWithoutCardGoesPastDueThenSuspendedAfterGrace", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, sub := e.org("Barbería Juan", "basico")
		if sub.Status != billing.Trialing || sub.TrialEndsAt == nil || !sub.TrialEndsAt.Equal(e.clock.Now().AddDate(0, 0, 14)) {
			t.Fatalf("new subscription = %+v", sub)
		}
		e.clock.Advance(11*day + time.Hour)
		e.sweep()
		if n := e.notices(org.ID)[billing.NoticeTrialEnding]; n != 1 {
			t.Fatalf("trial_ending notices = %d, want 1", n)
		}
		e.sweep() // again: still one notice
		if n := e.notices(org.ID)[billing.NoticeTrialEnding]; n != 1 {
			t.Fatalf("trial_ending notices after a second sweep = %d, want 1", n)
		}
		e.clock.Advance(3 * day)
		e.sweep()
		s := e.wantStatus(org.ID, billing.PastDue)
		if s.GraceEndsAt == nil || !s.GraceEndsAt.Equal(e.clock.Now().Add(7*day)) {
			t.Fatalf("grace ends %v", s.GraceEndsAt)
		}
		if err := e.svc.CheckAccess(t.Context(), org.ID); err != nil {
			t.Fatalf("past_due tenant refused: %v", err)
		}
		e.clock.Advance(6 * day)
		e.sweep()
		e.wantStatus(org.ID, billing.PastDue)
		e.clock.Advance(day + time.Minute)
		e.sweep()
		e.wantStatus(org.ID, billing.Suspended)
		if err := e.svc.CheckAccess(t.Context(), org.ID); !errors.Is(err, billing.ErrPaymentRequired) {
			t.Fatalf("CheckAccess of a suspended tenant = %v, want ErrPaymentRequired", err)
		}
		if got, want := e.history(org.ID), []string{"→trialing", "trialing→past_due", "past_due→suspended"}; !slices.Equal(got, want) {
			t.Fatalf("history = %v, want %v", got, want)
		}
		n := e.notices(org.ID)
		if n[billing.NoticePaymentFailed] != 1 || n[billing.NoticeSuspended] != 1 {
			t.Fatalf("notices = %v", n)
		}
		if len(e.fake.Transactions()) != 0 {
			t.Fatal("a subscription without a card was charged")
		}
		// An operator gives the unpaid trial a week more: back to trialing, the API works again.
		s, err := e.svc.ExtendTrial(t.Context(), org.ID, 7, "")
		if err != nil || s.Status != billing.Trialing || !s.TrialEndsAt.Equal(e.clock.Now().AddDate(0, 0, 7)) {
			t.Fatalf("ExtendTrial of a suspended trial = %+v, %v", s, err)
		}
		if err := e.svc.CheckAccess(t.Context(), org.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TrialWithApprovedCardRenewsToActive", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, sub := e.org("Clínica Dental", "profesional")
		e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(14*day + time.Minute)
		e.sweep()
		e.sweep() // a second run of the same due charge
		txs := e.fake.Transactions()
		if len(txs) != 1 || txs[0].AmountInCents != 9990000 || txs[0].Status != wompi.StatusPending {
			t.Fatalf("transactions at Wompi = %+v, want one PENDING of 9990000", txs)
		}
		e.wantStatus(org.ID, billing.Trialing)
		e.settleAll()
		s := e.wantStatus(org.ID, billing.Active)
		if !s.PeriodStart.Equal(sub.PeriodEnd) || !s.PeriodEnd.Equal(sub.PeriodEnd.AddDate(0, 1, 0)) {
			t.Fatalf("period = %s..%s, want %s..+1 month", s.PeriodStart, s.PeriodEnd, sub.PeriodEnd)
		}
		p := e.payments(org.ID)
		if len(p) != 1 || p[0].State != wompi.StatusApproved || p[0].TransactionID != txs[0].ID || p[0].Kind != billing.KindRenewal {
			t.Fatalf("payments = %+v", p)
		}
		if e.notices(org.ID)[billing.NoticePaymentApproved] != 1 {
			t.Fatal("no payment_approved notice")
		}
		// The next month renews again.
		e.clock.Advance(31 * day)
		e.sweep()
		e.settleAll()
		s2 := e.wantStatus(org.ID, billing.Active)
		if !s2.PeriodStart.Equal(s.PeriodEnd) || len(e.fake.Transactions()) != 2 {
			t.Fatalf("second renewal: period start %s, %d transactions", s2.PeriodStart, len(e.fake.Transactions()))
		}
	})

	t.Run("DeclinedRenewalRetriesOnDays1_3_5ThenSuspends", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("Spa Relax", "basico")
		e.saveCard(org.ID, wompisim.CardDeclined)
		e.clock.Advance(14*day + time.Minute)
		e.sweep()
		e.settleAll()
		e.wantStatus(org.ID, billing.PastDue)
		charges := func() int { return len(e.fake.Transactions()) }
		steps := []struct {
			advance time.Duration
			want    int
		}{
			{0, 1}, {12 * time.Hour, 1}, {12 * time.Hour, 2}, {day, 2}, {day, 3}, {day, 3}, {day, 4}, {day / 2, 4},
		}
		for i, st := range steps {
			e.clock.Advance(st.advance)
			e.sweep()
			e.settleAll()
			if got := charges(); got != st.want {
				t.Fatalf("step %d: %d charges, want %d", i, got, st.want)
			}
		}
		e.wantStatus(org.ID, billing.PastDue)
		e.clock.Advance(2 * day)
		e.sweep()
		e.wantStatus(org.ID, billing.Suspended)
		if charges() != 4 {
			t.Fatalf("%d charges, want 4 (first + retries on days 1, 3, 5)", charges())
		}
		for _, p := range e.payments(org.ID) {
			if p.State != wompi.StatusDeclined {
				t.Fatalf("payment %s is %s", p.Reference, p.State)
			}
		}
	})

	t.Run("PaymentAfterSuspensionReactivates", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("Peluquería", "basico")
		if _, err := e.svc.Suspend(t.Context(), org.ID, ""); err != nil {
			t.Fatal(err)
		}
		e.saveCard(org.ID, wompisim.CardApproved)
		e.settleAll()
		s := e.wantStatus(org.ID, billing.Active)
		if !s.PeriodEnd.After(e.clock.Now().AddDate(0, 0, 27)) {
			t.Fatalf("period ends %s", s.PeriodEnd)
		}
		if err := e.svc.CheckAccess(t.Context(), org.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ChargeRunTwiceConcurrentlyChargesOnce", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, sub := e.org("Uñas", "basico")
		e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(15 * day)
		c := billing.Charge{SubscriptionID: sub.ID, PeriodStart: sub.PeriodEnd, Attempt: 1}
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if _, err := e.svc.Charge(context.Background(), c); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := len(e.fake.Transactions()); n != 1 {
			t.Fatalf("%d transactions, want 1", n)
		}
	})

	t.Run("LostChargeAnswerIsFoundByReference", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, sub := e.org("Masajes", "basico")
		s := e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(15 * day)
		// Wompi accepted the charge, but our process died before committing: only Wompi knows it.
		ref := fmt.Sprintf("appcitas-%d-%s-r1", sub.ID, sub.PeriodEnd.UTC().Format("20060102"))
		wtx, err := e.wompi.CreateTransaction(t.Context(), wompi.NewTransaction{AmountInCents: 4990000, Currency: "COP",
			CustomerEmail: "owner@example.co", Reference: ref, PaymentSourceID: *s.PaymentSourceID, Recurrent: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.Charge(t.Context(), billing.Charge{SubscriptionID: sub.ID, PeriodStart: sub.PeriodEnd, Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		if p.TransactionID != wtx.ID || len(e.fake.Transactions()) != 1 {
			t.Fatalf("payment %+v, %d transactions", p, len(e.fake.Transactions()))
		}
	})

	t.Run("ReconciliationAppliesALostEvent", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("Estética", "basico")
		e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(14*day + time.Minute)
		e.sweep()
		tx := e.fake.Transactions()[0]
		if _, err := e.fake.SettleQuietly(tx.ID); err != nil {
			t.Fatal(err)
		}
		e.sweep()
		e.wantStatus(org.ID, billing.Trialing) // not yet: PENDING for less than the reconcile delay
		e.clock.Advance(billing.ReconcileAfter + time.Second)
		e.sweep()
		e.wantStatus(org.ID, billing.Active)
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()

	t.Run("BadChecksumIsRefusedAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("A", "basico")
		e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(15 * day)
		e.fake.SetEventsURL("")
		e.sweep()
		tx, _ := e.fake.SettleQuietly(e.fake.Transactions()[0].ID)
		body, sum, err := e.fake.SignedEvent(tx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		forged := []byte(string(body[:len(body)-2]) + "0}")
		for _, c := range []struct {
			body   []byte
			header string
		}{{body, "deadbeef"}, {forged, sum}} {
			if _, err := e.svc.HandleEvent(t.Context(), c.body, c.header); !errors.Is(err, wompi.ErrBadChecksum) {
				t.Fatalf("HandleEvent = %v, want ErrBadChecksum", err)
			}
		}
		var n int
		if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM public.billing_wompi_evento`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d events recorded (%v), want 0", n, err)
		}
		e.wantStatus(org.ID, billing.Trialing)
		if p := e.payments(org.ID); p[0].State != wompi.StatusPending {
			t.Fatalf("payment %s", p[0].State)
		}
	})

	t.Run("RedeliveredAndOutOfOrderEventsChangeNothingTwice", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("B", "basico")
		e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(15 * day)
		e.fake.SetEventsURL("")
		e.sweep()
		tx, _ := e.fake.SettleQuietly(e.fake.Transactions()[0].ID)
		body, sum, _ := e.fake.SignedEvent(tx, time.Unix(1_700_000_000, 0))
		r1, err := e.svc.HandleEvent(t.Context(), body, sum)
		if err != nil || !r1.Changed {
			t.Fatalf("first delivery = %+v, %v", r1, err)
		}
		r2, err := e.svc.HandleEvent(t.Context(), body, sum)
		if err != nil || !r2.Duplicate || r2.Changed {
			t.Fatalf("redelivery = %+v, %v", r2, err)
		}
		s1 := e.wantStatus(org.ID, billing.Active)
		// A late PENDING (and a DECLINED) for the same transaction: APPROVED stays.
		for _, st := range []string{wompi.StatusPending, wompi.StatusDeclined} {
			late := tx
			late.Status = st
			b, c, _ := e.fake.SignedEvent(late, time.Unix(1_700_000_100, 0))
			r, err := e.svc.HandleEvent(t.Context(), b, c)
			if err != nil || r.Changed {
				t.Fatalf("late %s = %+v, %v", st, r, err)
			}
		}
		s2 := e.wantStatus(org.ID, billing.Active)
		if !s2.PeriodEnd.Equal(s1.PeriodEnd) {
			t.Fatal("a redelivered event extended the period twice")
		}
		if p := e.payments(org.ID); p[0].State != wompi.StatusApproved {
			t.Fatalf("payment %s, want APPROVED", p[0].State)
		}
		if n := e.notices(org.ID)[billing.NoticePaymentApproved]; n != 1 {
			t.Fatalf("%d payment_approved notices", n)
		}
	})

	t.Run("EventOfAnUnknownReferenceIsAcknowledged", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		body, sum, _ := e.fake.SignedEvent(wompi.Transaction{ID: "1-2-3", Reference: "someone-else", AmountInCents: 100, Status: wompi.StatusApproved}, time.Now())
		r, err := e.svc.HandleEvent(t.Context(), body, sum)
		if err != nil || r.Changed {
			t.Fatalf("HandleEvent = %+v, %v", r, err)
		}
	})

	t.Run("AmountMismatchDoesNotActivate", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("C", "basico")
		cs, err := e.svc.Checkout(t.Context(), org.ID)
		if err != nil {
			t.Fatal(err)
		}
		body, sum, _ := e.fake.SignedEvent(wompi.Transaction{ID: "9-9-9", Reference: cs.Reference, AmountInCents: 100, Currency: "COP", Status: wompi.StatusApproved}, time.Now())
		if _, err := e.svc.HandleEvent(t.Context(), body, sum); err != nil {
			t.Fatal(err)
		}
		e.wantStatus(org.ID, billing.Trialing)
	})
}

func TestCheckout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, sub := e.org("Barbería Checkout", "basico")
	cs, err := e.svc.Checkout(t.Context(), org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cs.AmountInCents != 4990000 || cs.Currency != "COP" || cs.PublicKey != e.fake.Keys().Public ||
		cs.Signature != wompi.IntegritySignature(cs.Reference, 4990000, "COP", time.Time{}, e.fake.Keys().Integrity) {
		t.Fatalf("checkout = %+v", cs)
	}
	if !cs.PeriodStart.Equal(sub.PeriodEnd) {
		t.Fatalf("checkout pays from %s, want the end of the trial %s", cs.PeriodStart, sub.PeriodEnd)
	}
	cs2, _ := e.svc.Checkout(t.Context(), org.ID)
	if cs2.Reference == cs.Reference {
		t.Fatal("two checkouts share a reference")
	}
	// The payer pays in the widget (simulated: a card token and the acceptance token).
	acc, _ := e.wompi.AcceptanceTokens(t.Context())
	tx, err := e.wompi.CreateTransaction(t.Context(), wompi.NewTransaction{AmountInCents: cs.AmountInCents, Currency: cs.Currency,
		Signature: cs.Signature, CustomerEmail: "owner@example.co", Reference: cs.Reference, AcceptanceToken: acc.AcceptanceToken,
		PaymentMethod: map[string]any{"type": "CARD", "token": e.fake.TokenizeCard(wompisim.CardApproved), "installments": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.Settle(t.Context(), tx.ID); err != nil {
		t.Fatal(err)
	}
	s := e.wantStatus(org.ID, billing.Active)
	if !s.PeriodEnd.Equal(sub.PeriodEnd.AddDate(0, 1, 0)) {
		t.Fatalf("paid during the trial: period ends %s, want %s", s.PeriodEnd, sub.PeriodEnd.AddDate(0, 1, 0))
	}
}

func TestCheckoutExpiry(t *testing.T) {
	t.Parallel()
	// checkout prepares a checkout; with pay, the payer also pays it in the widget, and the
	// transaction stays PENDING at the fake until settled.
	checkout := func(e *env, orgID int64, pay bool) (billing.CheckoutSession, wompi.Transaction) {
		e.t.Helper()
		cs, err := e.svc.Checkout(e.t.Context(), orgID)
		if err != nil {
			e.t.Fatal(err)
		}
		if !pay {
			return cs, wompi.Transaction{}
		}
		acc, _ := e.wompi.AcceptanceTokens(e.t.Context())
		tx, err := e.wompi.CreateTransaction(e.t.Context(), wompi.NewTransaction{AmountInCents: cs.AmountInCents, Currency: cs.Currency,
			Signature: cs.Signature, CustomerEmail: "owner@example.co", Reference: cs.Reference, AcceptanceToken: acc.AcceptanceToken,
			PaymentMethod: map[string]any{"type": "CARD", "token": e.fake.TokenizeCard(wompisim.CardApproved), "installments": 1}})
		if err != nil {
			e.t.Fatal(err)
		}
		return cs, tx
	}
	payment := func(e *env, orgID int64, ref string) billing.Payment {
		e.t.Helper()
		for _, p := range e.payments(orgID) {
			if p.Reference == ref {
				return p
			}
		}
		e.t.Fatalf("no payment %s", ref)
		return billing.Payment{}
	}
	expiries := func(e *env, orgID int64) int {
		e.t.Helper()
		h, _ := e.svc.History(e.t.Context(), orgID)
		n := 0
		for _, ev := range h {
			if ev.Cause == "checkout expired" {
				n++
			}
		}
		return n
	}
	due := func(e *env, id int64) bool {
		e.t.Helper()
		d, err := e.svc.DueWork(e.t.Context())
		if err != nil {
			e.t.Fatal(err)
		}
		return slices.Contains(d.Reconcile, id)
	}

	t.Run("UnpaidCheckoutExpiresOnlyAfterTheExpiryAndIsRecordedInTheHistory", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("Abandonada", "basico")
		cs, _ := checkout(e, org.ID, false)
		e.clock.Advance(23 * time.Hour)
		e.sweep()
		if p := payment(e, org.ID, cs.Reference); p.State != wompi.StatusPending {
			t.Fatalf("after 23h the checkout is %s, want PENDING", p.State)
		}
		e.clock.Advance(2 * time.Hour)
		e.sweep()
		p := payment(e, org.ID, cs.Reference)
		if p.State != billing.StatusExpired || !strings.Contains(p.Message, "no transaction") {
			t.Fatalf("after 25h the checkout is %s (%q), want EXPIRED", p.State, p.Message)
		}
		if n := expiries(e, org.ID); n != 1 {
			t.Fatalf("%d checkout expired events in the history, want 1", n)
		}
		e.wantStatus(org.ID, billing.Trialing) // an abandoned checkout does not change the subscription
		if n := e.notices(org.ID)[billing.NoticePaymentFailed]; n != 0 {
			t.Fatalf("%d payment_failed notices for an abandoned checkout", n)
		}
		// Asked about again only after ExpiredRecheckEvery, and recorded once.
		if due(e, p.ID) {
			t.Fatal("an expired checkout is rechecked at once")
		}
		e.clock.Advance(billing.ExpiredRecheckEvery)
		if !due(e, p.ID) {
			t.Fatal("an expired checkout is not rechecked after an hour")
		}
		e.sweep()
		if n := expiries(e, org.ID); n != 1 {
			t.Fatalf("%d checkout expired events after a recheck, want 1", n)
		}
		e.clock.Advance(billing.ExpiredRecheckFor)
		if due(e, p.ID) {
			t.Fatal("an expired checkout is still rechecked after a week")
		}
	})

	t.Run("CheckoutPendingAtWompiExpiresAndALateApprovedEventStillApplies", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, sub := e.org("Tardía", "basico")
		cs, tx := checkout(e, org.ID, true)
		e.clock.Advance(25 * time.Hour)
		e.sweep()
		p := payment(e, org.ID, cs.Reference)
		if p.State != billing.StatusExpired || p.TransactionID != tx.ID || !strings.Contains(p.Message, "PENDING") {
			t.Fatalf("checkout = %s (%q, transaction %q), want EXPIRED with transaction %s", p.State, p.Message, p.TransactionID, tx.ID)
		}
		// The payer's bank answers late: Wompi approves and posts the event.
		if _, err := e.fake.Settle(t.Context(), tx.ID); err != nil {
			t.Fatal(err)
		}
		if p := payment(e, org.ID, cs.Reference); p.State != wompi.StatusApproved {
			t.Fatalf("after the late event the checkout is %s, want APPROVED", p.State)
		}
		s := e.wantStatus(org.ID, billing.Active)
		if !s.PeriodEnd.Equal(sub.PeriodEnd.AddDate(0, 1, 0)) {
			t.Fatalf("period ends %s, want %s", s.PeriodEnd, sub.PeriodEnd.AddDate(0, 1, 0))
		}
		if n := e.notices(org.ID)[billing.NoticePaymentApproved]; n != 1 {
			t.Fatalf("%d payment_approved notices, want 1", n)
		}
		if h := e.history(org.ID); !slices.Contains(h, "trialing→active") {
			t.Fatalf("history %v has no activation", h)
		}
	})

	t.Run("LateApprovalWhoseEventWasLostIsFoundByTheRecheck", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("Perdida", "basico")
		cs, tx := checkout(e, org.ID, true)
		e.clock.Advance(25 * time.Hour)
		e.sweep()
		if p := payment(e, org.ID, cs.Reference); p.State != billing.StatusExpired {
			t.Fatalf("checkout = %s, want EXPIRED", p.State)
		}
		if _, err := e.fake.SettleQuietly(tx.ID); err != nil { // approved, event lost
			t.Fatal(err)
		}
		e.clock.Advance(billing.ExpiredRecheckEvery)
		e.sweep()
		if p := payment(e, org.ID, cs.Reference); p.State != wompi.StatusApproved {
			t.Fatalf("after the recheck the checkout is %s, want APPROVED", p.State)
		}
		e.wantStatus(org.ID, billing.Active)
	})

	t.Run("PendingRenewalNeverExpires", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		org, _ := e.org("Renovación", "basico")
		e.saveCard(org.ID, wompisim.CardApproved)
		e.clock.Advance(15 * day)
		e.fake.SetEventsURL("")
		e.sweep() // charges the end of the trial; the transaction stays PENDING at the fake
		e.clock.Advance(3 * day)
		e.sweep()
		if p := e.payments(org.ID); len(p) != 1 || p[0].Kind != billing.KindRenewal || p[0].State != wompi.StatusPending {
			t.Fatalf("payments = %+v, want one PENDING renewal", p)
		}
	})
}

func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	org, sub := e.org("Operada", "basico")

	s, err := e.svc.ExtendTrial(ctx, org.ID, 10, "")
	if err != nil || !s.TrialEndsAt.Equal(sub.TrialEndsAt.AddDate(0, 0, 10)) || s.Status != billing.Trialing {
		t.Fatalf("ExtendTrial = %+v, %v", s, err)
	}
	if _, err := e.svc.ExtendTrial(ctx, org.ID, 0, ""); !errors.Is(err, billing.ErrInvalid) {
		t.Fatalf("ExtendTrial 0 days = %v", err)
	}
	if s, err = e.svc.ChangePlan(ctx, org.ID, "empresa", ""); err != nil || s.PlanCode != "empresa" {
		t.Fatalf("ChangePlan = %+v, %v", s, err)
	}
	if _, err := e.svc.ChangePlan(ctx, org.ID, "nope", ""); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("ChangePlan to an unknown plan = %v", err)
	}
	if s, err = e.svc.Suspend(ctx, org.ID, ""); err != nil || s.Status != billing.Suspended {
		t.Fatalf("Suspend = %+v, %v", s, err)
	}
	if s, err = e.svc.Reactivate(ctx, org.ID, ""); err != nil || s.Status != billing.Active {
		t.Fatalf("Reactivate = %+v, %v", s, err)
	}
	s = e.saveCard(org.ID, wompisim.CardApproved)
	if s, err = e.svc.Cancel(ctx, org.ID, ""); err != nil || s.Status != billing.Cancelled || s.CancelledAt == nil {
		t.Fatalf("Cancel = %+v, %v", s, err)
	}
	if src, _ := e.fake.Source(1001); src.Status != "VOIDED" {
		t.Fatalf("payment source after cancel: %s, want VOIDED", src.Status)
	}
	if err := e.svc.CheckAccess(ctx, org.ID); !errors.Is(err, billing.ErrPaymentRequired) {
		t.Fatalf("CheckAccess of a cancelled tenant = %v", err)
	}
	if _, err := e.svc.Suspend(ctx, org.ID, ""); !errors.Is(err, billing.ErrTransition) {
		t.Fatalf("Suspend a cancelled subscription = %v, want ErrTransition", err)
	}
	want := []string{"→trialing", "trialing→trialing", "trialing→trialing", "trialing→suspended", "suspended→active", "active→cancelled"}
	if got := e.history(org.ID); !slices.Equal(got, want) {
		t.Fatalf("history = %v, want %v", got, want)
	}
	list, err := e.svc.Subscriptions(ctx, billing.Cancelled)
	if err != nil || len(list) != 1 || list[0].OrganizationSlug != org.Slug {
		t.Fatalf("Subscriptions(cancelled) = %+v, %v", list, err)
	}
	if list, _ := e.svc.Subscriptions(ctx, billing.Active); len(list) != 0 {
		t.Fatalf("Subscriptions(active) = %+v", list)
	}
}

func TestPlans(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	plans, err := e.svc.Plans(ctx)
	if err != nil || len(plans) != 3 || plans[0].Code != "basico" || *plans[0].MaxBranches != 1 || plans[2].MaxBranches != nil {
		t.Fatalf("default catalog = %+v, %v", plans, err)
	}
	name, price, unlimited, five := "Premium", int64(50000000), -1, 5
	p, err := e.svc.SetPlan(ctx, billing.PlanChange{Code: "premium", Name: &name, PriceCents: &price, MaxStaff: &five, MaxBranches: &unlimited})
	if err != nil || p.Name != "Premium" || p.PriceCents != price || *p.MaxStaff != 5 || p.MaxBranches != nil || p.TrialDays != 14 {
		t.Fatalf("SetPlan(new) = %+v, %v", p, err)
	}
	ten := 10
	if p, err = e.svc.SetPlan(ctx, billing.PlanChange{Code: "premium", MaxBranches: &ten}); err != nil || *p.MaxBranches != 10 || p.Name != "Premium" {
		t.Fatalf("SetPlan(change) = %+v, %v", p, err)
	}
	zero := 0
	for _, bad := range []billing.PlanChange{{Code: "Bad Code"}, {Code: "nuevo"}, {Code: "premium", MaxStaff: &zero}} {
		if _, err := e.svc.SetPlan(ctx, bad); !errors.Is(err, billing.ErrInvalid) {
			t.Fatalf("SetPlan(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestLimitCheckInTheTenantTransaction checks the pieces the API's create handlers use inside
// their own tenant transaction: Entitlements (the plan), CountUsage (in tx) and Check.
func TestLimitCheckInTheTenantTransaction(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	org, _ := e.org("Limitada", "basico")
	ten, _ := org.Tenant()
	check := func(l billing.Limit) error {
		t.Helper()
		ent, err := e.svc.Entitlements(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var checkErr error
		if err := e.m.Run(ctx, ten, func(tx pgx.Tx) error {
			n, err := billing.CountUsage(ctx, tx, l, e.clock.Now())
			if err != nil {
				return err
			}
			checkErr = ent.Check(l, n)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return checkErr
	}
	if err := check(billing.LimitBranches); err != nil {
		t.Fatalf("first branch refused: %v", err)
	}
	if err := e.m.Run(ctx, ten, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Principal', 'America/Bogota')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := check(billing.LimitBranches)
	var le *billing.LimitError
	if !errors.As(err, &le) || !errors.Is(err, billing.ErrLimitReached) || le.Plan != "basico" || le.Upgrade != "profesional" || le.Max != 1 {
		t.Fatalf("check at the limit = %#v", err)
	}
	if err := check(billing.LimitStaff); err != nil {
		t.Fatalf("staff limit: %v", err)
	}
	if err := check(billing.LimitAppointmentsPerMonth); err != nil {
		t.Fatalf("appointments limit: %v", err)
	}
	if err := e.m.Run(ctx, ten, func(tx pgx.Tx) error {
		_, err := billing.CountUsage(ctx, tx, billing.Limit("nada"), e.clock.Now())
		return err
	}); !errors.Is(err, billing.ErrInvalid) {
		t.Fatalf("an unknown limit = %v, want ErrInvalid", err)
	}
	if _, err := e.svc.ChangePlan(ctx, org.ID, "empresa", ""); err != nil {
		t.Fatal(err)
	}
	if err := check(billing.LimitBranches); err != nil {
		t.Fatalf("unlimited plan refused: %v", err)
	}
}
