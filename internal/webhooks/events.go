package webhooks

import "slices"

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
