package reservas

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// Managed is what a manage link shows: the appointment without internal fields, and what the
// client may still do.
type Managed struct {
	// Organization is the organization's name (the API fills it in).
	Organization string    `json:"organizacion"`
	ID           int64     `json:"id"`
	Status       string    `json:"estado"`
	Start        time.Time `json:"inicio"`
	End          time.Time `json:"fin"`
	TimeZone     string    `json:"zona_horaria"`
	BranchID     int64     `json:"sede_id"`
	BranchName   string    `json:"sede_nombre"`
	BranchPhone  string    `json:"sede_telefono"`
	ServiceID    int64     `json:"servicio_id"`
	ServiceName  string    `json:"servicio_nombre"`
	StaffID      int64     `json:"profesional_id"`
	StaffName    string    `json:"profesional_nombre"`
	ClientName   string    `json:"cliente_nombre"`
	// CanReschedule and CanCancel say whether the organization's notice rules still allow it;
	// RescheduleUntil and CancelUntil are the limits.
	CanReschedule   bool      `json:"puede_reprogramar"`
	CanCancel       bool      `json:"puede_cancelar"`
	RescheduleUntil time.Time `json:"reprogramar_hasta"`
	CancelUntil     time.Time `json:"cancelar_hasta"`
}

// linkAppointment returns the appointment whose live manage link is token.
func linkAppointment(ctx context.Context, tx pgx.Tx, token string) (booking.Appointment, error) {
	if token == "" || len(token) > 100 {
		return booking.Appointment{}, notFound(MsgLinkNotFound)
	}
	want := hashToken(token)
	var id int64
	var hash []byte
	err := tx.QueryRow(ctx, `SELECT cita_id, token_hash FROM reservas_enlace WHERE token_hash = $1 AND revocado_en IS NULL`, want).Scan(&id, &hash)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(hash, want) != 1) {
		return booking.Appointment{}, notFound(MsgLinkNotFound)
	}
	if err != nil {
		return booking.Appointment{}, fmt.Errorf("reading a manage link: %w", err)
	}
	a, err := booking.GetAppointment(ctx, tx, publicActor, id)
	if errors.Is(err, booking.ErrNotFound) {
		return booking.Appointment{}, notFound(MsgLinkNotFound)
	}
	return a, err
}

// Manage returns what the manage link token shows.
func Manage(ctx context.Context, tx pgx.Tx, set Settings, token string, now time.Time) (Managed, error) {
	a, err := linkAppointment(ctx, tx, token)
	if err != nil {
		return Managed{}, err
	}
	branch, err := booking.GetBranch(ctx, tx, a.BranchID)
	if err != nil {
		return Managed{}, err
	}
	svc, err := booking.GetService(ctx, tx, a.ServiceID)
	if err != nil {
		return Managed{}, err
	}
	staff, err := booking.GetMember(ctx, tx, a.StaffID)
	if err != nil {
		return Managed{}, err
	}
	live := a.Status == booking.StatusPending || a.Status == booking.StatusConfirmed
	m := Managed{ID: a.ID, Status: a.Status, Start: a.Start, End: a.End, TimeZone: branch.TimeZone,
		BranchID: branch.ID, BranchName: branch.Name, BranchPhone: branch.Phone, ServiceID: svc.ID, ServiceName: svc.Name,
		StaffID: staff.ID, StaffName: staff.DisplayName, ClientName: a.ClientName,
		RescheduleUntil: a.Start.Add(-time.Duration(set.RescheduleNoticeMinutes) * time.Minute),
		CancelUntil:     a.Start.Add(-time.Duration(set.CancelNoticeMinutes) * time.Minute)}
	m.CanReschedule = live && now.Before(m.RescheduleUntil)
	m.CanCancel = live && now.Before(m.CancelUntil)
	return m, nil
}

func tooLate(what string, phone string) error {
	msg := "Ya no es posible " + what + " en línea: faltan menos horas de las que permite el negocio."
	if phone != "" {
		msg += " Llama a la sede al " + phone + "."
	} else {
		msg += " Comunícate con el negocio."
	}
	return forbidden("too_late", msg)
}

// Reschedule moves the appointment of manage link token to start (and staff member staffID when
// not 0) through booking's RescheduleAppointment, within the notice rules: the appointment must be
// more than the reschedule notice away, and the new time a free time the page offers.
func Reschedule(ctx context.Context, tx pgx.Tx, b *booking.Bookings, set Settings, token string, start time.Time, staffID int64, now time.Time) (Managed, error) {
	a, err := linkAppointment(ctx, tx, token)
	if err != nil {
		return Managed{}, err
	}
	m, err := Manage(ctx, tx, set, token, now)
	if err != nil {
		return Managed{}, err
	}
	if a.Status != booking.StatusPending && a.Status != booking.StatusConfirmed {
		return Managed{}, conflict("invalid_transition", "Esta cita ya no se puede cambiar.")
	}
	if !m.CanReschedule {
		return Managed{}, tooLate("reprogramar esta cita", m.BranchPhone)
	}
	if start.IsZero() {
		return Managed{}, invalid("inicio", "Elige un horario.")
	}
	if err := booking.CheckInstant("inicio", start); err != nil {
		return Managed{}, err
	}
	if staffID == 0 {
		staffID = a.StaffID
	}
	if err := lockStaff(ctx, tx, staffID); err != nil {
		return Managed{}, err
	}
	loc, err := booking.LoadZone(m.TimeZone)
	if err != nil {
		return Managed{}, err
	}
	day := booking.DateOf(start.In(loc))
	av, err := Availability(ctx, tx, b, set, AvailabilityRequest{BranchID: a.BranchID, ServiceID: a.ServiceID, StaffID: staffID,
		From: day, To: day, Now: now})
	if err != nil {
		return Managed{}, err
	}
	free := false
	for _, s := range av.Staff {
		for _, sl := range s.Slots {
			free = free || sl.Start.Equal(start)
		}
	}
	if !free {
		return Managed{}, conflict("slot_taken", MsgSlotTaken)
	}
	if err := booking.SetActor(ctx, tx, booking.ActorClient); err != nil {
		return Managed{}, err
	}
	_, err = b.RescheduleAppointment(ctx, publicActor, a.ID, booking.Reschedule{Start: start, StaffID: &staffID}, now)
	if errors.Is(err, booking.ErrConflict) {
		return Managed{}, conflict("slot_taken", MsgSlotTaken)
	}
	if err != nil {
		return Managed{}, err
	}
	return Manage(ctx, tx, set, token, now)
}

// Cancel cancels the appointment of manage link token through booking's SetStatus, if it is more
// than the cancel notice away.
func Cancel(ctx context.Context, tx pgx.Tx, set Settings, token string, now time.Time) (Managed, error) {
	m, err := Manage(ctx, tx, set, token, now)
	if err != nil {
		return Managed{}, err
	}
	if m.Status != booking.StatusPending && m.Status != booking.StatusConfirmed {
		return Managed{}, conflict("invalid_transition", "Esta cita ya está cancelada o terminó.")
	}
	if !m.CanCancel {
		return Managed{}, tooLate("cancelar esta cita", m.BranchPhone)
	}
	if err := booking.SetActor(ctx, tx, booking.ActorClient); err != nil {
		return Managed{}, err
	}
	if _, err := booking.SetStatus(ctx, tx, publicActor, m.ID, booking.StatusCancelled, "Cancelada por el cliente en línea"); err != nil {
		return Managed{}, err
	}
	return Manage(ctx, tx, set, token, now)
}
