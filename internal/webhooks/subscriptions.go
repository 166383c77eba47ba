package webhooks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Subscription is a row of webhooks_suscripcion, without its secret.
type Subscription struct {
	ID          int64    `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"eventos"`
	Description string   `json:"descripcion"`
	Active      bool     `json:"activa"`
	// ConsecutiveFailures counts the failed attempts since the last success.
	ConsecutiveFailures int        `json:"fallos_consecutivos"`
	FailingSince        *time.Time `json:"fallando_desde"`
	// DisabledAt is when the deliverer disabled it after repeated failures.
	DisabledAt     *time.Time `json:"desactivada_en"`
	DisabledReason string     `json:"motivo_desactivacion"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// SubscriptionSecret is a subscription with its secret: the answer of a creation or a rotation,
// the only times the secret is shown.
type SubscriptionSecret struct {
	Subscription
	// Secret signs every delivery (HMAC-SHA256). It is shown only now.
	Secret string `json:"secreto"`
}

// SubscriptionInput creates a subscription (URL and Events required) or changes one (nil fields
// are left as they are).
type SubscriptionInput struct {
	URL         *string  `json:"url"`
	Events      []string `json:"eventos"`
	Description *string  `json:"descripcion"`
	// Active switches deliveries on or off; switching a disabled subscription on clears its
	// failures.
	Active *bool `json:"activa"`
}

// Prepared is a [SubscriptionInput] checked by [Service.Prepare]: its URL may be saved.
type Prepared struct {
	in  SubscriptionInput
	url string
	ok  bool
}

// Prepare checks in: the URL (its form and, outside development, its addresses), the event types
// and the description. create requires the URL and the events. It resolves the URL's host, so call
// it before opening a transaction.
func (s *Service) Prepare(ctx context.Context, in SubscriptionInput, create bool) (Prepared, error) {
	p := Prepared{in: in, ok: true}
	if in.URL == nil && create {
		return Prepared{}, invalid("url", "is required")
	}
	if in.URL != nil {
		u, err := s.checkURL(ctx, *in.URL)
		if err != nil {
			return Prepared{}, err
		}
		p.url = u
	}
	if in.Events == nil && create {
		return Prepared{}, invalid("eventos", "is required: one or more of %s", strings.Join(EventTypes(), ", "))
	}
	if in.Events != nil {
		if len(in.Events) == 0 {
			return Prepared{}, invalid("eventos", "must name at least one event type")
		}
		var evs []string
		for _, e := range in.Events {
			if !ValidEvent(e) {
				return Prepared{}, invalid("eventos", "unknown event type %q: use %s", e, strings.Join(EventTypes(), ", "))
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		p.in.Events = evs
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if utf8.RuneCountInString(d) > 200 || !utf8.ValidString(d) || strings.ContainsRune(d, 0) {
			return Prepared{}, invalid("descripcion", "must be text of at most 200 characters")
		}
		p.in.Description = &d
	}
	return p, nil
}

const subscriptionColumns = `id, url, eventos, descripcion, is_active, fallos_consecutivos, fallando_desde,
	desactivada_en, motivo_desactivacion, created_at, updated_at`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var x Subscription
	err := row.Scan(&x.ID, &x.URL, &x.Events, &x.Description, &x.Active, &x.ConsecutiveFailures, &x.FailingSince,
		&x.DisabledAt, &x.DisabledReason, &x.CreatedAt, &x.UpdatedAt)
	return x, err
}

func subscriptionErr(err error, id int64) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("webhook subscription %d does not exist", id)
	}
	return fmt.Errorf("webhook subscription %d: %w", id, err)
}

// CreateSubscription saves a prepared subscription with a fresh secret, inside the tenant's
// transaction.
func CreateSubscription(ctx context.Context, tx pgx.Tx, p Prepared) (SubscriptionSecret, error) {
	if !p.ok || p.url == "" || len(p.in.Events) == 0 {
		return SubscriptionSecret{}, invalid("url", "the subscription was not prepared for creation")
	}
	desc := ""
	if p.in.Description != nil {
		desc = *p.in.Description
	}
	active := p.in.Active == nil || *p.in.Active
	secret := newSecret()
	x, err := scanSubscription(tx.QueryRow(ctx, `INSERT INTO webhooks_suscripcion (url, eventos, descripcion, secreto, is_active)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+subscriptionColumns, p.url, p.in.Events, desc, secret, active))
	if err != nil {
		return SubscriptionSecret{}, fmt.Errorf("creating a webhook subscription: %w", err)
	}
	return SubscriptionSecret{Subscription: x, Secret: secret}, nil
}

// ListSubscriptions returns the organization's subscriptions, by id.
func ListSubscriptions(ctx context.Context, tx pgx.Tx) ([]Subscription, error) {
	rows, err := tx.Query(ctx, `SELECT `+subscriptionColumns+` FROM webhooks_suscripcion ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing webhook subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSubscription(r) })
	if err != nil {
		return nil, fmt.Errorf("listing webhook subscriptions: %w", err)
	}
	return out, nil
}

// GetSubscription returns one subscription.
func GetSubscription(ctx context.Context, tx pgx.Tx, id int64) (Subscription, error) {
	x, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhooks_suscripcion WHERE id = $1`, id))
	if err != nil {
		return Subscription{}, subscriptionErr(err, id)
	}
	return x, nil
}

// UpdateSubscription changes the fields p sets. Switching a subscription on clears its failures
// and its disabling.
func UpdateSubscription(ctx context.Context, tx pgx.Tx, id int64, p Prepared) (Subscription, error) {
	if !p.ok {
		return Subscription{}, invalid("", "the change was not prepared")
	}
	var url *string
	if p.url != "" {
		url = &p.url
	}
	x, err := scanSubscription(tx.QueryRow(ctx, `UPDATE webhooks_suscripcion SET
			url = coalesce($2, url),
			eventos = coalesce($3, eventos),
			descripcion = coalesce($4, descripcion),
			is_active = coalesce($5, is_active),
			fallos_consecutivos = CASE WHEN $5 AND NOT is_active THEN 0 ELSE fallos_consecutivos END,
			fallando_desde = CASE WHEN $5 AND NOT is_active THEN NULL ELSE fallando_desde END,
			desactivada_en = CASE WHEN $5 THEN NULL ELSE desactivada_en END,
			motivo_desactivacion = CASE WHEN $5 THEN '' ELSE motivo_desactivacion END,
			aviso_pendiente = CASE WHEN $5 THEN false ELSE aviso_pendiente END,
			updated_at = now()
		WHERE id = $1 RETURNING `+subscriptionColumns, id, url, p.in.Events, p.in.Description, p.in.Active))
	if err != nil {
		return Subscription{}, subscriptionErr(err, id)
	}
	return x, nil
}

// DeleteSubscription deletes a subscription with its deliveries and their log.
func DeleteSubscription(ctx context.Context, tx pgx.Tx, id int64) error {
	tag, err := tx.Exec(ctx, `DELETE FROM webhooks_suscripcion WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("deleting webhook subscription %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("webhook subscription %d does not exist", id)
	}
	return nil
}

// SecretOverlap is how long the previous secret still signs after a rotation (a second v1), so
// that receivers can switch without losing deliveries.
const SecretOverlap = 24 * time.Hour

// RotateSecret gives a subscription a fresh secret and returns it; the previous one also signs
// for [SecretOverlap] after now.
func RotateSecret(ctx context.Context, tx pgx.Tx, id int64, now time.Time) (SubscriptionSecret, error) {
	secret := newSecret()
	x, err := scanSubscription(tx.QueryRow(ctx, `UPDATE webhooks_suscripcion SET secreto = $2, secreto_anterior = secreto,
			secreto_anterior_hasta = $3, updated_at = now()
		WHERE id = $1 RETURNING `+subscriptionColumns, id, secret, now.Add(SecretOverlap)))
	if err != nil {
		return SubscriptionSecret{}, subscriptionErr(err, id)
	}
	return SubscriptionSecret{Subscription: x, Secret: secret}, nil
}
