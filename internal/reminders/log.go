package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StuckAfter is how long a reminder may stay claimed before it is reported as uncertain
// ("incierto"): its sender stopped between the provider's answer and recording it, so nobody knows
// whether it went out. It is not sent again by itself.
const StuckAfter = 15 * time.Minute

// Reminder is one scheduled reminder of an appointment.
type Reminder struct {
	// OffsetMinutes is how long before the appointment it goes out.
	OffsetMinutes int `json:"anticipacion_minutos"`
	// SendAt is when it is (or was) due.
	SendAt time.Time `json:"enviar_en"`
	// NextAttempt is when it is tried next, while it is pending.
	NextAttempt *time.Time `json:"proximo_intento,omitempty"`
	// State is pendiente, enviando, incierto (claimed longer than StuckAfter), enviado, fallido,
	// cancelado or vencido.
	State     string `json:"estado"`
	Attempts  int    `json:"intentos"`
	LastError string `json:"ultimo_error,omitempty"`
}

// Delivery is one attempt by one channel.
type Delivery struct {
	ID            int64  `json:"id"`
	OffsetMinutes int    `json:"anticipacion_minutos"`
	Channel       string `json:"canal"`
	Attempt       int    `json:"intento"`
	// Result is enviado, error (retried), fallido or omitido.
	Result    string `json:"resultado"`
	Recipient string `json:"destinatario"`
	// Provider is smtp, registro (logged: no SMTP configured), whatsapp, or simulador (the
	// WhatsApp simulator: nothing was delivered).
	Provider   string    `json:"proveedor"`
	ProviderID string    `json:"proveedor_id,omitempty"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"fecha"`
}

// AppointmentReminders is the answer of GET /api/citas/{id}/recordatorios.
type AppointmentReminders struct {
	AppointmentID int64      `json:"cita_id"`
	Reminders     []Reminder `json:"recordatorios"`
	Deliveries    []Delivery `json:"envios"`
}

// ForAppointment returns an appointment's reminders and delivery log. The caller has checked that
// the appointment exists and may be seen (booking.GetAppointment). tx is a tenant scope.
func ForAppointment(ctx context.Context, tx pgx.Tx, appointmentID int64) (AppointmentReminders, error) {
	out := AppointmentReminders{AppointmentID: appointmentID, Reminders: []Reminder{}, Deliveries: []Delivery{}}
	rows, err := tx.Query(ctx, `SELECT anticipacion_minutos, enviar_en, proximo_en, estado, intentos, ultimo_error, reclamado_en
		FROM recordatorios_recordatorio WHERE cita_id = $1 ORDER BY anticipacion_minutos DESC`, appointmentID)
	if err != nil {
		return out, fmt.Errorf("reading reminders: %w", err)
	}
	now := time.Now()
	out.Reminders, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Reminder, error) {
		var (
			x       Reminder
			next    time.Time
			claimed *time.Time
		)
		err := r.Scan(&x.OffsetMinutes, &x.SendAt, &next, &x.State, &x.Attempts, &x.LastError, &claimed)
		if x.State == "pendiente" {
			x.NextAttempt = &next
		}
		if x.State == "enviando" && claimed != nil && now.Sub(*claimed) > StuckAfter {
			x.State = "incierto"
		}
		return x, err
	})
	if err != nil {
		return out, fmt.Errorf("reading reminders: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT id, anticipacion_minutos, canal, intento, resultado, destinatario, proveedor, proveedor_id, error, created_at
		FROM recordatorios_envio WHERE cita_id = $1 ORDER BY id`, appointmentID)
	if err != nil {
		return out, fmt.Errorf("reading the delivery log: %w", err)
	}
	out.Deliveries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.OffsetMinutes, &d.Channel, &d.Attempt, &d.Result, &d.Recipient, &d.Provider, &d.ProviderID, &d.Error, &d.At)
		return d, err
	})
	if err != nil {
		return out, fmt.Errorf("reading the delivery log: %w", err)
	}
	return out, nil
}

// ErrNotResendable is returned by [Resend] for a reminder that is not uncertain or failed.
var ErrNotResendable = errors.New("only an uncertain (incierto) or failed (fallido) reminder can be sent again")

// ErrNoReminder is returned by [Resend] when the appointment has no reminder at that offset.
var ErrNoReminder = errors.New("the appointment has no reminder at that offset")

// Resend puts an uncertain or failed reminder back in the queue, by a person's decision: its
// sender stopped between the provider's answer and recording it (the client may or may not have
// it), or the provider refused it. The channels not recorded as done are sent again at once, if
// the appointment has not started. tx is a tenant scope; the caller checked that the appointment
// may be seen.
func Resend(ctx context.Context, tx pgx.Tx, appointmentID int64, offsetMinutes int) (Reminder, error) {
	var (
		state   string
		claimed *time.Time
	)
	err := tx.QueryRow(ctx, `SELECT estado, reclamado_en FROM recordatorios_recordatorio
		WHERE cita_id = $1 AND anticipacion_minutos = $2 FOR UPDATE`, appointmentID, offsetMinutes).Scan(&state, &claimed)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reminder{}, ErrNoReminder
	}
	if err != nil {
		return Reminder{}, fmt.Errorf("reading the reminder: %w", err)
	}
	stuck := state == "enviando" && claimed != nil && time.Since(*claimed) > StuckAfter
	if !stuck && state != "fallido" {
		return Reminder{}, ErrNotResendable
	}
	var r Reminder
	err = tx.QueryRow(ctx, `UPDATE recordatorios_recordatorio SET estado = 'pendiente', proximo_en = now(), reclamado_en = NULL,
			intentos = 0, ultimo_error = 'manual resend (was ' || estado || ')', updated_at = now()
		WHERE cita_id = $1 AND anticipacion_minutos = $2 AND cita_inicio > now()
		RETURNING anticipacion_minutos, enviar_en, estado, intentos, ultimo_error`, appointmentID, offsetMinutes).
		Scan(&r.OffsetMinutes, &r.SendAt, &r.State, &r.Attempts, &r.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reminder{}, fmt.Errorf("%w: the appointment has started", ErrNotResendable)
	}
	if err != nil {
		return Reminder{}, fmt.Errorf("resending the reminder: %w", err)
	}
	// Announce it like the trigger does, so the dispatcher finds the tenant.
	if _, err := tx.Exec(ctx, `SELECT pg_notify('appcitas_recordatorios', current_schema() || ' ' || extract(epoch FROM now())::bigint::text)`); err != nil {
		return Reminder{}, fmt.Errorf("announcing the reminder: %w", err)
	}
	return r, nil
}
