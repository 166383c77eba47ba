package reminders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/whatsapp"
)

// Result is what one run of a tenant's reminders did.
type Result struct {
	// Claimed reminders were taken for sending in this run.
	Claimed int
	// Sent, Retried and Failed count claimed reminders by outcome: sent (by at least one channel),
	// put back for a retry after a provider error, failed for good.
	Sent, Retried, Failed int
	// Expired reminders were found past their time (the appointment started, or a later reminder
	// of it was due too) and will not be sent.
	Expired int
	// More says a whole batch was claimed: more may be due now.
	More bool
}

// Delivery results, as recordatorios_envio.resultado.
const (
	resultSent    = "enviado"
	resultError   = "error"
	resultFailed  = "fallido"
	resultSkipped = "omitido"
)

// outcome is one channel's attempt.
type outcome struct {
	channel, result, to, provider, providerID, err string
}

// RunTenant sends the tenant's due reminders: at most one batch (Options.Batch), claimed in a
// transaction that commits before anything is sent, then each recorded in a transaction of its
// own. A reminder whose outcome cannot be recorded (the process or the database went away after
// the provider answered) stays claimed ("enviando") and is never sent again by itself. It then
// rewrites the organization's row of the agenda with the tenant's next due reminder.
func (s *Service) RunTenant(ctx context.Context, orgID int64) (Result, error) {
	var res Result
	org, err := s.m.Organization(ctx, orgID)
	if errors.Is(err, tenancy.ErrNotFound) {
		return res, s.clearAgenda(ctx, orgID)
	}
	if err != nil {
		return res, fmt.Errorf("reminders of organization %d: %w", orgID, err)
	}
	if !org.IsActive || org.SchemaName == "" {
		return res, s.clearAgenda(ctx, orgID)
	}
	t, err := org.Tenant()
	if err != nil {
		return res, err
	}
	version, err := s.agendaVersion(ctx, orgID)
	if err != nil {
		return res, err
	}
	now := s.now()
	var (
		cfg   settings
		batch []due
	)
	err = s.m.Run(ctx, t, func(tx pgx.Tx) error {
		var err error
		if cfg, err = readSettings(ctx, tx); err != nil {
			return err
		}
		if res.Expired, err = expire(ctx, tx, now); err != nil {
			return err
		}
		if !cfg.Enabled {
			// Switched off: nothing pending is sent (PutSettings cancels them too).
			_, err := tx.Exec(ctx, `UPDATE recordatorios_recordatorio SET estado = 'cancelado', updated_at = $1 WHERE estado = 'pendiente'`, now)
			return err
		}
		batch, err = claim(ctx, tx, now, s.opts.Batch)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("claiming reminders of organization %d: %w", orgID, err)
	}
	res.Claimed, res.More = len(batch), len(batch) == s.opts.Batch
	if len(batch) > 0 {
		wa, waErr := s.whatsAppFor(org.ID, cfg)
		var (
			mu    sync.Mutex
			errs  []error
			wg    sync.WaitGroup
			slots = make(chan struct{}, s.opts.Concurrency)
		)
		for _, d := range batch {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				outs := s.deliver(ctx, org, t.Schema, cfg.Settings, wa, waErr, d)
				state, err := s.record(ctx, t, d, outs)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				switch state {
				case "enviado":
					res.Sent++
				case "pendiente":
					res.Retried++
				default:
					res.Failed++
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			return res, fmt.Errorf("recording reminders of organization %d (they stay claimed and are not sent again): %w", orgID, errors.Join(errs...))
		}
	}
	var next *time.Time
	err = s.m.RunWith(ctx, t, tenancy.RunOptions{ReadOnly: true}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT min(proximo_en) FROM recordatorios_recordatorio WHERE estado = 'pendiente'`).Scan(&next)
	})
	if err != nil {
		return res, fmt.Errorf("reading the next reminder of organization %d: %w", orgID, err)
	}
	return res, s.setAgenda(ctx, orgID, version, next)
}

// expire marks due reminders that must not go out any more: their appointment started, or a
// shorter reminder of the same appointment is due too (one message, not two at once).
func expire(ctx context.Context, tx pgx.Tx, now time.Time) (int, error) {
	tag, err := tx.Exec(ctx, `UPDATE recordatorios_recordatorio r SET estado = 'vencido', updated_at = $1
		WHERE r.estado = 'pendiente' AND r.proximo_en <= $1 AND (r.cita_inicio <= $1 OR EXISTS (
			SELECT 1 FROM recordatorios_recordatorio o WHERE o.cita_id = r.cita_id
				AND o.anticipacion_minutos < r.anticipacion_minutos AND o.enviar_en <= $1
				AND o.estado IN ('pendiente', 'enviando', 'enviado')))`, now)
	if err != nil {
		return 0, fmt.Errorf("expiring reminders: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// claim takes up to limit due reminders (oldest first) for sending and reads what their messages
// say (booking's notices of their appointments). SKIP LOCKED lets two senders of one tenant share
// the work without taking the same row.
func claim(ctx context.Context, tx pgx.Tx, now time.Time, limit int) ([]due, error) {
	rows, err := tx.Query(ctx, `WITH d AS (
			SELECT cita_id, anticipacion_minutos FROM recordatorios_recordatorio
			WHERE estado = 'pendiente' AND proximo_en <= $1 ORDER BY proximo_en LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE recordatorios_recordatorio r SET estado = 'enviando', reclamado_en = $1, intentos = r.intentos + 1, updated_at = $1
		FROM d WHERE r.cita_id = d.cita_id AND r.anticipacion_minutos = d.anticipacion_minutos
		RETURNING r.cita_id, r.anticipacion_minutos, r.intentos, r.email_hecho, r.whatsapp_hecho`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claiming reminders: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var d due
		err := r.Scan(&d.AppointmentID, &d.Offset, &d.Attempt, &d.EmailDone, &d.WhatsAppDone)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming reminders: %w", err)
	}
	ids := make([]int64, len(claimed))
	for i, d := range claimed {
		ids[i] = d.AppointmentID
	}
	notices, err := booking.AppointmentNotices(ctx, tx, ids)
	if err != nil {
		return nil, fmt.Errorf("claiming reminders: %w", err)
	}
	out := claimed[:0]
	for _, d := range claimed {
		n, ok := notices[d.AppointmentID]
		if !ok {
			continue // the appointment is gone (its reminder rows go with it)
		}
		d.Start, d.ClientName, d.Phone, d.Email = n.Start, n.ClientName, n.ClientPhone, n.ClientEmail
		d.BranchName, d.BranchAddress, d.BranchPhone, d.TimeZone = n.BranchName, n.BranchAddress, n.BranchPhone, n.BranchTimeZone
		d.Service, d.Staff = n.ServiceName, n.StaffName
		out = append(out, d)
	}
	return out, nil
}

// whatsAppFor returns the client an organization sends with: its own number and token when it
// stored them, else the server's (nil when there is none). An own token that does not open is an
// error that fails the organization's WhatsApp reminders.
func (s *Service) whatsAppFor(orgID int64, cfg settings) (*whatsapp.Client, error) {
	if !cfg.WhatsApp {
		return nil, nil
	}
	if cfg.WhatsAppPhoneNumberID == "" || len(cfg.sealedToken) == 0 {
		return s.opts.WhatsApp, nil
	}
	token, err := s.open(orgID, cfg.sealedToken)
	if err != nil {
		return nil, err
	}
	return whatsapp.New(whatsapp.Config{Token: token, PhoneNumberID: cfg.WhatsAppPhoneNumberID,
		APIURL: s.opts.WhatsAppAPIURL, Version: s.opts.WhatsAppVersion})
}

// messageID is a reminder's stable Message-ID (left part): the same on every attempt.
func messageID(schema string, d due) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s:%d:%d:%d", schema, d.AppointmentID, d.Offset, d.Start.Unix())))
	return "recordatorio-" + hex.EncodeToString(sum[:12])
}

// deliver sends a claimed reminder by every channel that is on and not done yet.
func (s *Service) deliver(ctx context.Context, org tenancy.Organization, schema string, cfg Settings, wa *whatsapp.Client, waErr error, d due) []outcome {
	var outs []outcome
	if cfg.Email && !d.EmailDone {
		o := outcome{channel: "email", to: d.Email, provider: "smtp"}
		switch {
		case strings.TrimSpace(d.Email) == "":
			o.result, o.err = resultSkipped, "the client has no e-mail address"
		case s.opts.Mailer == nil:
			subject, body := emailText(cfg.Language, org.Name, d)
			s.log.Info("reminder e-mail (no SMTP configured)", "organization", org.ID, "to", d.Email, "subject", subject, "body", body)
			o.result, o.provider = resultSent, "registro"
		default:
			subject, body := emailText(cfg.Language, org.Name, d)
			err := s.opts.Mailer.Send(ctx, billing.Message{To: d.Email, Subject: subject, Body: body, ID: messageID(schema, d)})
			o.result, o.err = classifyMail(err)
		}
		outs = append(outs, o)
	}
	if cfg.WhatsApp && !d.WhatsAppDone {
		o := outcome{channel: "whatsapp", to: whatsapp.NormalizePhone(d.Phone), provider: "whatsapp"}
		switch {
		case o.to == "":
			o.result, o.err, o.to = resultSkipped, "the client has no valid phone number", d.Phone
		case waErr != nil:
			o.result, o.err = resultFailed, waErr.Error()
		case wa == nil:
			o.result, o.err = resultSkipped, "no WhatsApp provider configured"
		default:
			o.provider = wa.Label()
			lang := "es"
			if strings.HasPrefix(cfg.WhatsAppLanguage, "en") {
				lang = "en"
			}
			id, err := wa.Send(ctx, whatsapp.Template{To: o.to, Name: cfg.WhatsAppTemplate, Language: cfg.WhatsAppLanguage,
				BodyParams: whatsAppParams(lang, org.Name, d)})
			switch {
			case err == nil:
				o.result, o.providerID = resultSent, id
			case whatsapp.IsRetryable(err):
				o.result, o.err = resultError, err.Error()
			default:
				o.result, o.err = resultFailed, err.Error()
			}
		}
		outs = append(outs, o)
	}
	return outs
}

// classifyMail maps an SMTP error to a result: permanent (5xx) errors fail, others are retried.
func classifyMail(err error) (string, string) {
	if err == nil {
		return resultSent, ""
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return resultFailed, err.Error()
	}
	return resultError, err.Error()
}

// record writes a reminder's attempts to the delivery log and its new state, in one transaction
// of the tenant, and returns that state.
func (s *Service) record(ctx context.Context, t tenancy.Tenant, d due, outs []outcome) (string, error) {
	now := s.now()
	emailDone, waDone := d.EmailDone, d.WhatsAppDone
	sent := emailDone || waDone // a channel done in an earlier attempt was sent (or had nobody to send to)
	retry := false
	var lastErr string
	canRetry := d.Attempt < s.opts.MaxAttempts && now.Add(s.backoff(d.Attempt)).Before(d.Start)
	for i := range outs {
		o := &outs[i]
		if o.result == resultError && !canRetry {
			o.result = resultFailed
		}
		if o.err != "" {
			lastErr = o.err
		}
		done := o.result != resultError
		switch o.channel {
		case "email":
			emailDone = done
		case "whatsapp":
			waDone = done
		}
		sent = sent || o.result == resultSent
		retry = retry || o.result == resultError
	}
	state := resultFailed
	switch {
	case retry:
		state = "pendiente"
	case sent:
		state = resultSent
	}
	err := s.m.Run(ctx, t, func(tx pgx.Tx) error {
		for _, o := range outs {
			if _, err := tx.Exec(ctx, `INSERT INTO recordatorios_envio (cita_id, anticipacion_minutos, canal, intento, resultado,
					destinatario, proveedor, proveedor_id, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				d.AppointmentID, d.Offset, o.channel, d.Attempt, o.result, o.to, o.provider, o.providerID, truncate(o.err, 1000), now); err != nil {
				return fmt.Errorf("writing the delivery log: %w", err)
			}
		}
		next := d.Start
		if retry {
			next = now.Add(s.backoff(d.Attempt))
		}
		_, err := tx.Exec(ctx, `UPDATE recordatorios_recordatorio SET estado = $3, email_hecho = $4, whatsapp_hecho = $5,
				ultimo_error = $6, updated_at = $7,
				proximo_en = CASE WHEN $3 = 'pendiente' THEN $8 ELSE proximo_en END,
				reclamado_en = CASE WHEN $3 = 'pendiente' THEN NULL ELSE reclamado_en END
			WHERE cita_id = $1 AND anticipacion_minutos = $2 AND estado = 'enviando'`,
			d.AppointmentID, d.Offset, state, emailDone, waDone, truncate(lastErr, 1000), now, next)
		if err != nil {
			return fmt.Errorf("recording reminder state: %w", err)
		}
		// The appointment moved while its reminder was being sent (the trigger leaves claimed
		// reminders alone): remind of the new time.
		_, err = tx.Exec(ctx, `UPDATE recordatorios_recordatorio r SET cita_inicio = c.inicio,
				enviar_en = c.inicio - make_interval(mins => r.anticipacion_minutos),
				proximo_en = c.inicio - make_interval(mins => r.anticipacion_minutos),
				estado = CASE WHEN c.inicio - make_interval(mins => r.anticipacion_minutos) > $3 THEN 'pendiente' ELSE 'vencido' END,
				intentos = 0, reclamado_en = NULL, email_hecho = false, whatsapp_hecho = false, ultimo_error = '', updated_at = $3
			FROM citas_cita c WHERE c.id = r.cita_id AND r.cita_id = $1 AND r.anticipacion_minutos = $2
				AND r.estado <> 'enviando' AND c.inicio <> r.cita_inicio AND c.inicio > $3 AND c.estado IN ('pendiente', 'confirmada')`,
			d.AppointmentID, d.Offset, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reminder of appointment %d (%d min): %w", d.AppointmentID, d.Offset, err)
	}
	return state, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
