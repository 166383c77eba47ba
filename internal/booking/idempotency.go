package booking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// IdempotencyTTL is how long an appointment's Idempotency-Key is kept. A retry within it gets the
// appointment the key booked; after it, the key books again.
const IdempotencyTTL = 24 * time.Hour

// ErrIdempotencyMismatch is returned when an Idempotency-Key already booked a different request
// (other fields, or another member). The API answers 422.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

// purgeOneIn is how rarely a claim also deletes expired keys: one claim in purgeOneIn.
const purgeOneIn = 32

// ValidateIdempotencyKey checks an Idempotency-Key header value: 1-200 printable ASCII
// characters without spaces.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > 200 {
		return invalidField("Idempotency-Key", "must be 1-200 characters")
	}
	for _, c := range key {
		if c < 0x21 || c > 0x7e {
			return invalidField("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// ClaimIdempotencyKey runs before [Bookings.CreateAppointment] when the request carries an
// Idempotency-Key. When the key already booked this same request (same member, same fields)
// within [IdempotencyTTL], it returns that appointment as it is now and replayed is true: the
// caller answers with it and books nothing. When the key booked a different request, it returns
// [ErrIdempotencyMismatch]. Otherwise the key is claimed in tx: a concurrent request with the same
// key waits until tx ends. The caller then books and calls [BindIdempotencyKey] in the same tx.
func ClaimIdempotencyKey(ctx context.Context, tx pgx.Tx, actor Actor, key string, in NewAppointment, now time.Time) (a Appointment, replayed bool, err error) {
	if err := ValidateIdempotencyKey(key); err != nil {
		return Appointment{}, false, err
	}
	if err := in.validate(); err != nil {
		return Appointment{}, false, err
	}
	hash, err := fingerprint(actor, in)
	if err != nil {
		return Appointment{}, false, err
	}
	cutoff := now.Add(-IdempotencyTTL)
	// A live key is left as it is (no row returned); an expired one is taken over.
	var claimed bool
	err = tx.QueryRow(ctx, `INSERT INTO citas_idempotencia (clave, solicitud_hash, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (clave) DO UPDATE SET solicitud_hash = EXCLUDED.solicitud_hash, cita_id = NULL, created_at = EXCLUDED.created_at
		WHERE citas_idempotencia.created_at < $4
		RETURNING true`, key, hash, now, cutoff).Scan(&claimed)
	if err == nil {
		if rand.N(purgeOneIn) == 0 {
			if err := purgeIdempotencyKeys(ctx, tx, cutoff); err != nil {
				return Appointment{}, false, err
			}
		}
		return Appointment{}, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Appointment{}, false, fmt.Errorf("claiming the idempotency key: %w", err)
	}
	var stored string
	var id *int64
	if err := tx.QueryRow(ctx, `SELECT solicitud_hash, cita_id FROM citas_idempotencia WHERE clave = $1`, key).Scan(&stored, &id); err != nil {
		return Appointment{}, false, fmt.Errorf("reading the idempotency key: %w", err)
	}
	if stored != hash || id == nil {
		return Appointment{}, false, fmt.Errorf("%w: %q", ErrIdempotencyMismatch, key)
	}
	a, err = GetAppointment(ctx, tx, actor, *id)
	if err != nil {
		return Appointment{}, false, err
	}
	return a, true, nil
}

// BindIdempotencyKey records that key, claimed by [ClaimIdempotencyKey] in tx, booked the
// appointment id.
func BindIdempotencyKey(ctx context.Context, tx pgx.Tx, key string, id int64) error {
	tag, err := tx.Exec(ctx, `UPDATE citas_idempotencia SET cita_id = $2 WHERE clave = $1`, key, id)
	if err != nil {
		return fmt.Errorf("recording the idempotency key: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("recording the idempotency key %q: it was not claimed in this transaction", key)
	}
	return nil
}

// purgeIdempotencyKeys deletes keys older than cutoff, skipping those another transaction holds.
func purgeIdempotencyKeys(ctx context.Context, tx pgx.Tx, cutoff time.Time) error {
	_, err := tx.Exec(ctx, `DELETE FROM citas_idempotencia WHERE clave IN (
		SELECT clave FROM citas_idempotencia WHERE created_at < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED)`, cutoff)
	if err != nil {
		return fmt.Errorf("deleting expired idempotency keys: %w", err)
	}
	return nil
}

// fingerprint identifies a booking request for its Idempotency-Key: the acting member and the
// validated fields, the start in UTC to the second (as it is stored).
func fingerprint(actor Actor, in NewAppointment) (string, error) {
	in.Start = in.Start.UTC().Truncate(time.Second)
	body, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("fingerprinting the request: %w", err)
	}
	sum := sha256.Sum256(append([]byte(strconv.FormatInt(actor.ProfileID, 10)+"\x00"+actor.Role+"\x00"), body...))
	return hex.EncodeToString(sum[:]), nil
}
