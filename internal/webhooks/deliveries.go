package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery states.
const (
	// StatePending waits for NextAttemptAt.
	StatePending = "pendiente"
	// StateSending is claimed by a deliverer now.
	StateSending = "enviando"
	// StateDelivered got a 2xx answer.
	StateDelivered = "entregada"
	// StateFailed was given up (too old, or its subscription was disabled).
	StateFailed = "fallida"
)

// Attempt is one row of the delivery log.
type Attempt struct {
	Number int  `json:"intento"`
	OK     bool `json:"exito"`
	// StatusCode is the receiver's HTTP status; nil when no answer came.
	StatusCode *int   `json:"codigo_respuesta"`
	DurationMS int64  `json:"duracion_ms"`
	Error      string `json:"error"`
	// Response is the first 1 KiB of the answer's body.
	Response string `json:"respuesta"`
	// NextAttemptAt is when the next attempt is due; nil when none follows.
	NextAttemptAt *time.Time `json:"proximo_intento_en"`
	CreatedAt     time.Time  `json:"created_at"`
}

// Delivery is one event sent to one subscription, with its attempts.
type Delivery struct {
	// ID is the Appcitas-Delivery header.
	ID             string `json:"id"`
	SubscriptionID int64  `json:"suscripcion_id"`
	EventID        string `json:"evento_id"`
	Event          string `json:"evento"`
	// State is pendiente, enviando, entregada or fallida.
	State         string     `json:"estado"`
	Attempts      int        `json:"intentos"`
	NextAttemptAt *time.Time `json:"proximo_intento_en"`
	LastStatus    *int       `json:"ultimo_codigo"`
	LastError     string     `json:"ultimo_error"`
	// Manual marks a replay asked for by hand.
	Manual    bool      `json:"manual"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Log       []Attempt `json:"registro"`
}

const deliveryColumns = `e.id::text, e.suscripcion_id, e.evento_id::text, ev.tipo, e.estado, e.intentos, e.proximo_intento_en,
	e.ultimo_codigo, e.ultimo_error, e.manual, e.created_at, e.updated_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.SubscriptionID, &d.EventID, &d.Event, &d.State, &d.Attempts, &d.NextAttemptAt,
		&d.LastStatus, &d.LastError, &d.Manual, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

// DeliveryFilter selects deliveries of [ListDeliveries].
type DeliveryFilter struct {
	// State, when set, keeps only deliveries in that state.
	State string
	// Limit bounds the list, newest first. Defaults to 50; at most 200.
	Limit int
}

// ListDeliveries returns a subscription's deliveries, newest first, with their attempts.
func ListDeliveries(ctx context.Context, tx pgx.Tx, subscriptionID int64, f DeliveryFilter) ([]Delivery, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if f.State != "" && f.State != StatePending && f.State != StateSending && f.State != StateDelivered && f.State != StateFailed {
		return nil, invalid("estado", "must be pendiente, enviando, entregada or fallida")
	}
	if _, err := GetSubscription(ctx, tx, subscriptionID); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM webhooks_entrega e JOIN webhooks_evento ev ON ev.id = e.evento_id
		WHERE e.suscripcion_id = $1 AND ($2 = '' OR e.estado = $2) ORDER BY e.created_at DESC, e.id LIMIT $3`, subscriptionID, f.State, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("listing deliveries: %w", err)
	}
	if err := attachLog(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// attachLog fills the attempts of ds.
func attachLog(ctx context.Context, tx pgx.Tx, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]string, len(ds))
	at := make(map[string]int, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
		at[d.ID] = i
		ds[i].Log = []Attempt{}
	}
	rows, err := tx.Query(ctx, `SELECT entrega_id::text, intento, exito, codigo_respuesta, duracion_ms, error, respuesta,
		proximo_intento_en, created_at FROM webhooks_intento WHERE entrega_id = ANY ($1::uuid[]) ORDER BY entrega_id, intento, id`, ids)
	if err != nil {
		return fmt.Errorf("reading the delivery log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a Attempt
		if err := rows.Scan(&id, &a.Number, &a.OK, &a.StatusCode, &a.DurationMS, &a.Error, &a.Response, &a.NextAttemptAt, &a.CreatedAt); err != nil {
			return fmt.Errorf("reading the delivery log: %w", err)
		}
		i := at[id]
		ds[i].Log = append(ds[i].Log, a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the delivery log: %w", err)
	}
	return nil
}

// GetDelivery returns a delivery of a subscription, with its attempts.
func GetDelivery(ctx context.Context, tx pgx.Tx, subscriptionID int64, id string) (Delivery, error) {
	d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhooks_entrega e JOIN webhooks_evento ev ON ev.id = e.evento_id
		WHERE e.suscripcion_id = $1 AND e.id::text = $2`, subscriptionID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, notFound("delivery %s of webhook subscription %d does not exist", id, subscriptionID)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("reading delivery %s: %w", id, err)
	}
	ds := []Delivery{d}
	if err := attachLog(ctx, tx, ds); err != nil {
		return Delivery{}, err
	}
	return ds[0], nil
}

// ReplayDelivery sends a delivery's event again, by hand: a new delivery of the same event to the
// same subscription (a new Appcitas-Delivery, the same event id in the body), due now. The
// subscription must be active.
func ReplayDelivery(ctx context.Context, tx pgx.Tx, subscriptionID int64, id string) (Delivery, error) {
	sub, err := GetSubscription(ctx, tx, subscriptionID)
	if err != nil {
		return Delivery{}, err
	}
	if !sub.Active {
		return Delivery{}, conflict("webhook subscription %d is disabled: switch it on (activa: true) before replaying", subscriptionID)
	}
	old, err := GetDelivery(ctx, tx, subscriptionID, id)
	if err != nil {
		return Delivery{}, err
	}
	var newID string
	if err := tx.QueryRow(ctx, `INSERT INTO webhooks_entrega (suscripcion_id, evento_id, proximo_intento_en, manual)
		VALUES ($1, $2::uuid, now(), true) RETURNING id::text`, subscriptionID, old.EventID).Scan(&newID); err != nil {
		return Delivery{}, fmt.Errorf("replaying delivery %s: %w", id, err)
	}
	return GetDelivery(ctx, tx, subscriptionID, newID)
}
