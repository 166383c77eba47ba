package webhooks

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Event types a subscription may ask for.
const (
	EventAppointmentCreated     = "appointment.created"
	EventAppointmentRescheduled = "appointment.rescheduled"
	EventAppointmentCancelled   = "appointment.cancelled"
	EventAppointmentConfirmed   = "appointment.confirmed"
	EventAppointmentCompleted   = "appointment.completed"
	EventAppointmentNoShow      = "appointment.no_show"
	EventClientCreated          = "client.created"
)

// EventTypes returns every event type, in documentation order.
func EventTypes() []string {
	return []string{EventAppointmentCreated, EventAppointmentRescheduled, EventAppointmentCancelled,
		EventAppointmentConfirmed, EventAppointmentCompleted, EventAppointmentNoShow, EventClientCreated}
}

// ValidEvent reports whether t is one of [EventTypes].
func ValidEvent(t string) bool { return slices.Contains(EventTypes(), t) }

// Off switches event emission off for the rest of tx: a copy of a tenant's rows (a restore, a
// move) is not a change, and emits nothing. It sets appcitas.webhooks to 'off' with transaction
// scope.
func Off(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('appcitas.webhooks', 'off', true)`); err != nil {
		return fmt.Errorf("switching webhook events off: %w", err)
	}
	return nil
}
