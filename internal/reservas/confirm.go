package reservas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// publicActor books as the front desk would: no profile, no forcing, every staff member.
var publicActor = booking.Actor{Role: booking.RoleReceptionist}

// Confirmation is what a client sends to book the slot they hold.
type Confirmation struct {
	HoldID    int64
	HoldToken string
	Name      string
	Phone     string
	Email     string
	// Consent is the client's consent to be contacted about the appointment.
	Consent bool
	// Lang is "es" (default) or "en": the language of the e-mail.
	Lang string
}

// Org is what the e-mails say of the organization.
type Org struct {
	Name string
	Slug string
	// BaseURL is where the public page is served, e.g. https://citas.example.co (no slash at the end).
	BaseURL string
}

// Booked is a confirmed booking: the appointment and its manage link's token (given once).
type Booked struct {
	Appointment booking.Appointment
	Token       string
}

func (c *Confirmation) validate() error {
	c.Name, c.Phone, c.Email = strings.TrimSpace(c.Name), strings.TrimSpace(c.Phone), strings.TrimSpace(c.Email)
	switch {
	case c.HoldID <= 0 || c.HoldToken == "":
		return invalid("retencion_id", "Elige un horario primero.")
	case c.Name == "" || utf8.RuneCountInString(c.Name) > 200:
		return invalid("cliente_nombre", "Escribe tu nombre (hasta 200 caracteres).")
	case c.Phone == "" || utf8.RuneCountInString(c.Phone) > 50:
		return invalid("cliente_telefono", "Escribe tu teléfono (hasta 50 caracteres).")
	case c.Email == "" || utf8.RuneCountInString(c.Email) > 254 || !strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " \r\n<>,;\""):
		return invalid("cliente_email", "Escribe un correo electrónico válido.")
	case !c.Consent:
		return invalid("consentimiento", "Acepta que te contactemos sobre tu cita.")
	}
	return nil
}

// Confirm books the slot the client holds through booking's CreateAppointment (the function
// POST /api/citas uses), records the client as the actor, creates the manage link and writes the
// confirmation e-mail to the outbox, all in tx. A hold that expired or is not the client's is a
// conflict; a slot taken meanwhile (the exclusion constraint) is a conflict with MsgSlotTaken.
func Confirm(ctx context.Context, tx pgx.Tx, b *booking.Bookings, set Settings, org Org, in Confirmation, now time.Time) (Booked, error) {
	if err := in.validate(); err != nil {
		return Booked{}, err
	}
	h, err := lockHold(ctx, tx, in.HoldID, in.HoldToken)
	if err != nil {
		return Booked{}, err
	}
	if h.citaID != nil || !now.Before(h.expires) {
		return Booked{}, conflict("hold_expired", MsgHoldExpired)
	}
	if err := booking.SetActor(ctx, tx, booking.ActorClient); err != nil {
		return Booked{}, err
	}
	a, err := b.CreateAppointment(ctx, publicActor, booking.NewAppointment{BranchID: h.branchID, ServiceID: h.serviceID,
		StaffID: h.staffID, Start: h.start, ClientName: in.Name, ClientPhone: in.Phone, ClientEmail: in.Email,
		Notes: "Reservada en línea"}, now)
	if errors.Is(err, booking.ErrConflict) {
		return Booked{}, conflict("slot_taken", MsgSlotTaken)
	}
	if err != nil {
		return Booked{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE reservas_retencion SET cita_id = $2 WHERE id = $1`, h.id, a.ID); err != nil {
		return Booked{}, fmt.Errorf("closing hold %d: %w", h.id, err)
	}
	tok, err := NewLink(ctx, tx, a.ID)
	if err != nil {
		return Booked{}, err
	}
	mail, err := confirmationMail(ctx, tx, org, a, tok, in.Lang, now)
	if err != nil {
		return Booked{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO reservas_correo (retencion_id, cita_id, destinatario, asunto, cuerpo, ics, remitente)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, h.id, a.ID, a.ClientEmail, mail.subject, mail.body, mail.ics, org.Name); err != nil {
		return Booked{}, fmt.Errorf("writing the confirmation e-mail: %w", err)
	}
	return Booked{Appointment: a, Token: tok}, nil
}

// NewLink creates a manage link for appointment id and returns its token (only its hash is kept).
func NewLink(ctx context.Context, tx pgx.Tx, id int64) (string, error) {
	tok, hash := newToken()
	if _, err := tx.Exec(ctx, `INSERT INTO reservas_enlace (token_hash, cita_id) VALUES ($1, $2)`, hash, id); err != nil {
		return "", fmt.Errorf("writing the manage link of appointment %d: %w", id, err)
	}
	return tok, nil
}

// RevokeLinks revokes every manage link of appointment id and returns how many were live.
func RevokeLinks(ctx context.Context, tx pgx.Tx, id int64) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE reservas_enlace SET revocado_en = now() WHERE cita_id = $1 AND revocado_en IS NULL`, id)
	if err != nil {
		return 0, fmt.Errorf("revoking the manage links of appointment %d: %w", id, err)
	}
	return tag.RowsAffected(), nil
}

type mailText struct{ subject, body, ics string }

// confirmationMail writes the e-mail of a booked appointment in lang.
func confirmationMail(ctx context.Context, tx pgx.Tx, org Org, a booking.Appointment, token, lang string, now time.Time) (mailText, error) {
	branch, err := booking.GetBranch(ctx, tx, a.BranchID)
	if err != nil {
		return mailText{}, err
	}
	svc, err := booking.GetService(ctx, tx, a.ServiceID)
	if err != nil {
		return mailText{}, err
	}
	staff, err := booking.GetMember(ctx, tx, a.StaffID)
	if err != nil {
		return mailText{}, err
	}
	loc, err := booking.LoadZone(branch.TimeZone)
	if err != nil {
		return mailText{}, err
	}
	when := a.Start.In(loc).Format("2006-01-02 15:04") + " (" + branch.TimeZone + ")"
	link := org.BaseURL + "/r/" + org.Slug + "/cita/" + token
	location := branch.Name
	if branch.Address != "" {
		location += ", " + branch.Address
	}
	var m mailText
	if lang == "en" {
		m.subject = "Your appointment at " + org.Name + " is booked"
		m.body = fmt.Sprintf("Hello %s,\n\nYour appointment is booked.\n\nService: %s\nWith: %s\nWhen: %s\nWhere: %s\n\n"+
			"To reschedule or cancel it, open this link:\n%s\n\nKeep this e-mail: the link is yours alone.\nPhone of the branch: %s\n\n%s\n",
			a.ClientName, svc.Name, staff.DisplayName, when, location, link, branch.Phone, org.Name)
	} else {
		m.subject = "Tu cita en " + org.Name + " está reservada"
		m.body = fmt.Sprintf("Hola %s:\n\nTu cita quedó reservada.\n\nServicio: %s\nCon: %s\nCuándo: %s\nDónde: %s\n\n"+
			"Para reprogramarla o cancelarla, abre este enlace:\n%s\n\nGuarda este correo: el enlace es solo tuyo.\nTeléfono de la sede: %s\n\n%s\n",
			a.ClientName, svc.Name, staff.DisplayName, when, location, link, branch.Phone, org.Name)
	}
	m.ics = ICS(Event{UID: fmt.Sprintf("cita-%d@%s.appcitas", a.ID, org.Slug), Summary: svc.Name + " — " + org.Name,
		Location: location, Description: m.body, Start: a.Start, End: a.End}, now)
	return m, nil
}
