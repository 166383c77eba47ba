package reservas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/mail"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// holdGrace is how long after a hold's expiry its confirmation may still be committing: a
// delivery that finds neither e-mail nor open hold waits that long before it gives up.
const holdGrace = time.Minute

// Deliverer sends the confirmation e-mails of the outbox (reservas_correo).
type Deliverer struct {
	// Manager opens the tenants' transactions. Required.
	Manager *tenancy.Manager
	// Mailer sends the e-mails; nil writes them to the log instead.
	Mailer mail.Mailer
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// ErrNotYet is returned by [Deliverer.DeliverForHold] while the hold's confirmation may still be
// committing: try again in a few seconds.
var ErrNotYet = errors.New("the confirmation is not committed yet")

type outboxMail struct {
	id, citaID                       int64
	to, subject, body, ics, fromName string
}

// DeliverForHold sends the confirmation e-mail of hold holdID of tenant t, once. It is queued
// before the confirmation's transaction starts, so that no crash loses the e-mail: while that
// transaction may still commit (the hold is open, or expired less than a minute ago) and no
// e-mail is written, it returns ErrNotYet; once the hold is gone or long expired with no e-mail,
// there is nothing to send. An e-mail is claimed in a transaction of its own before the SMTP
// exchange (as billing's notices are), so that a process killed between sending and marking it
// sent never sends it again; an SMTP error releases the claim and is returned, to be retried.
func (d *Deliverer) DeliverForHold(ctx context.Context, t tenancy.Tenant, holdID int64) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	var m outboxMail
	var found, open bool
	err := d.Manager.Run(ctx, t, func(tx pgx.Tx) error {
		// One statement, one snapshot: the e-mail and the hold as of the same moment.
		var mailID *int64
		var holdOpen *bool
		if err := tx.QueryRow(ctx, `SELECT (SELECT id FROM reservas_correo WHERE retencion_id = $1 AND reclamado_en IS NULL AND enviado_en IS NULL),
				(SELECT EXISTS (SELECT 1 FROM reservas_correo WHERE retencion_id = $1)),
				(SELECT cita_id IS NULL AND expira_en > $2 FROM reservas_retencion WHERE id = $1)`, holdID, now().Add(-holdGrace)).
			Scan(&mailID, &found, &holdOpen); err != nil {
			return fmt.Errorf("reading the confirmation of hold %d: %w", holdID, err)
		}
		open = holdOpen != nil && *holdOpen
		if mailID == nil {
			return nil
		}
		err := tx.QueryRow(ctx, `UPDATE reservas_correo SET reclamado_en = $2, intentos = intentos + 1
			WHERE id = $1 AND reclamado_en IS NULL AND enviado_en IS NULL
			RETURNING id, cita_id, destinatario, asunto, cuerpo, ics, remitente`, *mailID, now()).
			Scan(&m.id, &m.citaID, &m.to, &m.subject, &m.body, &m.ics, &m.fromName)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another deliverer claimed it
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("claiming the confirmation of hold %d: %w", holdID, err)
	}
	if m.id == 0 {
		if !found && open {
			return ErrNotYet
		}
		return nil
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", t.Schema, m.id)))
	msg := mail.Message{To: m.to, Subject: m.subject, Body: m.body, FromName: m.fromName,
		ID:          "reserva-" + hex.EncodeToString(sum[:12]),
		Attachments: []mail.Attachment{{Name: "cita.ics", ContentType: "text/calendar; charset=utf-8; method=PUBLISH", Data: []byte(m.ics)}}}
	var sendErr error
	if d.Mailer == nil {
		log.Info("booking confirmation (no SMTP configured)", "schema", t.Schema, "appointment", m.citaID, "to", m.to, "subject", m.subject)
	} else {
		sendErr = d.Mailer.Send(ctx, msg)
	}
	err = d.Manager.Run(ctx, t, func(tx pgx.Tx) error {
		if sendErr != nil {
			_, err := tx.Exec(ctx, `UPDATE reservas_correo SET reclamado_en = NULL, ultimo_error = $2 WHERE id = $1 AND enviado_en IS NULL`, m.id, sendErr.Error())
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE reservas_correo SET enviado_en = $2, ultimo_error = '' WHERE id = $1`, m.id, now())
		return err
	})
	if sendErr != nil {
		return fmt.Errorf("sending the confirmation of appointment %d: %w", m.citaID, sendErr)
	}
	if err != nil {
		return fmt.Errorf("marking the confirmation of appointment %d sent (it stays claimed and is not sent again): %w", m.citaID, err)
	}
	return nil
}
