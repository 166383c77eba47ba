package billing

import (
	"context"
	"fmt"
)

// PaymentCount is how many payments of one type ended in one state, and their amount.
type PaymentCount struct {
	// Type is "renovacion" (a renewal charge) or "checkout" (a payment the owner made).
	Type string
	// State is Wompi's: PENDING, APPROVED, DECLINED, VOIDED or ERROR.
	State string
	// Payments is how many payments are in that state.
	Payments int64
	// AmountCents is their total, in cents of their currency.
	AmountCents int64
}

// Stats is billing as it stands, for the metrics: no organization is named.
type Stats struct {
	// Payments counts every payment ever asked for, by type and state. DECLINED, VOIDED and ERROR
	// are the failures.
	Payments []PaymentCount
	// Subscriptions counts the subscriptions by status (trialing, active, past_due, suspended,
	// cancelled).
	Subscriptions map[string]int64
}

// Stats reads billing's counts.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	rows, err := s.pool.Query(ctx, `SELECT tipo, estado, count(*), coalesce(sum(monto_centavos), 0)::bigint
		FROM public.billing_pago GROUP BY tipo, estado ORDER BY tipo, estado`)
	if err != nil {
		return Stats{}, fmt.Errorf("counting payments: %w", err)
	}
	for rows.Next() {
		var pc PaymentCount
		if err := rows.Scan(&pc.Type, &pc.State, &pc.Payments, &pc.AmountCents); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("counting payments: %w", err)
		}
		st.Payments = append(st.Payments, pc)
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("counting payments: %w", err)
	}
	st.Subscriptions = map[string]int64{}
	rows, err = s.pool.Query(ctx, `SELECT estado, count(*) FROM public.billing_suscripcion GROUP BY estado`)
	if err != nil {
		return Stats{}, fmt.Errorf("counting subscriptions: %w", err)
	}
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("counting subscriptions: %w", err)
		}
		st.Subscriptions[status] = n
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("counting subscriptions: %w", err)
	}
	return st, nil
}
