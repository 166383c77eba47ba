package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/wompi"
)

// EventResult says what an event did.
type EventResult struct {
	// Duplicate is true for an event received before (nothing was done).
	Duplicate bool
	// Changed is true when the event changed a payment.
	Changed bool
	// Outcome is a short description, stored with the event.
	Outcome string
}

// HandleEvent verifies a Wompi event (body and X-Event-Checksum header) with the events secret
// and applies it once: a bad checksum returns an error wrapping wompi.ErrBadChecksum and changes
// nothing; a redelivered event is recorded once and applied once; a transaction.updated event
// moves its payment and subscription as [Service.ApplyTransaction] does. Only database work is
// done, so the caller can answer 200 at once.
func (s *Service) HandleEvent(ctx context.Context, body []byte, headerChecksum string) (EventResult, error) {
	if s.wompi == nil {
		return EventResult{}, ErrPaymentsUnavailable
	}
	ev, err := s.wompi.VerifyEvent(body, headerChecksum)
	if err != nil {
		return EventResult{}, err
	}
	var t wompi.Transaction
	if ev.Event == "transaction.updated" {
		if t, err = ev.Transaction(); err != nil {
			return EventResult{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	sum := sha256.Sum256([]byte(ev.Event + "|" + t.ID + "|" + t.Status + "|" + strconv.FormatInt(ev.Timestamp, 10) + "|" + ev.Signature.Checksum))
	key := hex.EncodeToString(sum[:])
	var res EventResult
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO public.billing_wompi_evento (clave, evento, transaccion_id, estado, payload)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (clave) DO NOTHING RETURNING id`, key, ev.Event, t.ID, t.Status, string(body)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			res = EventResult{Duplicate: true, Outcome: "duplicate"}
			return nil
		}
		if err != nil {
			return fmt.Errorf("recording event: %w", err)
		}
		switch {
		case ev.Event != "transaction.updated":
			res.Outcome = "ignored: " + ev.Event
		default:
			applied, err := s.applyTransactionTx(ctx, tx, t)
			switch {
			case errors.Is(err, ErrNotFound):
				res.Outcome = "ignored: no payment with reference " + t.Reference
			case err != nil:
				return err
			case applied.Changed:
				res = EventResult{Changed: true, Outcome: "payment " + applied.Payment.Reference + " → " + applied.Payment.State}
			default:
				res.Outcome = "unchanged: payment " + applied.Payment.Reference + " is " + applied.Payment.State
			}
		}
		_, err = tx.Exec(ctx, `UPDATE public.billing_wompi_evento SET resultado = $2 WHERE id = $1`, id, res.Outcome)
		return err
	})
	if err != nil {
		return EventResult{}, fmt.Errorf("applying wompi event: %w", err)
	}
	return res, nil
}
