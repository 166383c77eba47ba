package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/mail"
)

// Notification kinds.
const (
	NoticeTrialEnding     = "trial_ending"
	NoticePaymentApproved = "payment_approved"
	NoticePaymentFailed   = "payment_failed"
	NoticeSuspended       = "suspended"
)

// Message is one notice e-mail (package mail's message).
type Message = mail.Message

// Mailer delivers one e-mail (package mail's interface).
type Mailer = mail.Mailer

// SMTPConfig configures [SMTPMailer] (package mail's configuration).
type SMTPConfig = mail.SMTPConfig

// SMTPMailer sends e-mail with net/smtp (package mail's sender).
type SMTPMailer = mail.SMTPMailer

// NewSMTPMailer returns a mailer for cfg (package mail's constructor).
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) { return mail.NewSMTPMailer(cfg) }

// enqueue writes a notice to the outbox inside tx; key makes it unique, so a second enqueue of the
// same notice does nothing.
func enqueue(ctx context.Context, tx pgx.Tx, sub Subscription, kind, key, subject, body string) error {
	if sub.BillingEmail == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO public.billing_notificacion (organizacion_id, tipo, clave, destinatario, asunto, cuerpo)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (clave) DO NOTHING`, sub.OrganizationID, kind, key, sub.BillingEmail, subject, body)
	if err != nil {
		return fmt.Errorf("writing %s notice: %w", kind, err)
	}
	return nil
}

func cop(cents int64, currency string) string {
	units := cents / 100
	s := strconv.FormatInt(units, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	return "$" + b.String() + " " + currency
}

func (s *Service) notifyTrialEnding(ctx context.Context, tx pgx.Tx, sub Subscription) error {
	end := sub.TrialEndsAt.UTC()
	return enqueue(ctx, tx, sub, NoticeTrialEnding, fmt.Sprintf("trial_ending:%d:%d", sub.ID, end.Unix()),
		"Tu prueba de appcitas termina pronto",
		fmt.Sprintf("Tu periodo de prueba del plan %s termina el %s (UTC).\nAgrega un método de pago para seguir usando appcitas sin interrupciones.",
			sub.PlanCode, end.Format("2006-01-02 15:04")))
}

func (s *Service) notifyPaymentApproved(ctx context.Context, tx pgx.Tx, sub Subscription, pay Payment) error {
	return enqueue(ctx, tx, sub, NoticePaymentApproved, fmt.Sprintf("payment_approved:%d", pay.ID),
		"Pago aprobado",
		fmt.Sprintf("Recibimos tu pago de %s (referencia %s).\nTu suscripción está activa hasta el %s (UTC).",
			cop(pay.AmountCents, pay.Currency), pay.Reference, sub.PeriodEnd.UTC().Format("2006-01-02")))
}

func (s *Service) notifyPaymentFailed(ctx context.Context, tx pgx.Tx, sub Subscription, reason string, paymentID int64) error {
	key := fmt.Sprintf("payment_failed:%d", paymentID)
	if paymentID == 0 {
		key = fmt.Sprintf("payment_failed:%d:nosource:%d", sub.ID, sub.PeriodEnd.Unix())
	}
	body := "No pudimos cobrar tu suscripción de appcitas"
	if reason != "" {
		body += " (" + reason + ")"
	}
	body += ".\nActualiza tu método de pago"
	if sub.GraceEndsAt != nil {
		body += " antes del " + sub.GraceEndsAt.UTC().Format("2006-01-02") + " para evitar la suspensión"
	}
	return enqueue(ctx, tx, sub, NoticePaymentFailed, key, "No pudimos procesar tu pago", body+".")
}

func (s *Service) notifySuspended(ctx context.Context, tx pgx.Tx, sub Subscription) error {
	return enqueue(ctx, tx, sub, NoticeSuspended, fmt.Sprintf("suspended:%d:%d", sub.ID, sub.UpdatedAt.UnixMicro()),
		"Tu cuenta de appcitas está suspendida",
		"Tu suscripción fue suspendida por falta de pago. Tus datos se conservan: agrega un método de pago para reactivarla.")
}

// Notice delivery states (Notification.State).
const (
	// DeliveryPending is waiting to be sent (or to be retried after an SMTP error).
	DeliveryPending = "pending"
	// DeliverySending is claimed by a deliverer that is talking to SMTP now.
	DeliverySending = "sending"
	// DeliveryStuck was claimed longer ago than Options.SendingTimeout and never marked sent: the
	// process died between the SMTP exchange and the commit, so the mail may or may not have
	// left. It is not sent again by itself; an operator checks and resends it
	// ([Service.ResendNotification]).
	DeliveryStuck = "stuck"
	// DeliverySent was accepted by the SMTP server (or logged, without SMTP).
	DeliverySent = "sent"
	// DeliveryFailed was refused by SMTP 10 times and is no longer retried.
	DeliveryFailed = "failed"
)

// maxNoticeAttempts is how many SMTP errors a notice gets before it is given up (failed).
const maxNoticeAttempts = 10

// Notification is a row of the outbox.
type Notification struct {
	ID             int64
	OrganizationID int64
	Kind           string
	Key            string
	To             string
	Subject        string
	Body           string
	CreatedAt      time.Time
	// ClaimedAt is when a deliverer last claimed it (it is sending, or stuck, until SentAt).
	ClaimedAt *time.Time
	SentAt    *time.Time
	Attempts  int
	LastError string
	// State is DeliveryPending, DeliverySending, DeliveryStuck, DeliverySent or DeliveryFailed.
	State string
}

// messageID is a notice's stable Message-ID (left part): the row id and its unique key.
func (n Notification) messageID() string {
	sum := sha256.Sum256([]byte(n.Key))
	return fmt.Sprintf("aviso-%d.%s", n.ID, hex.EncodeToString(sum[:8]))
}

const noticeColumns = `id, organizacion_id, tipo, clave, destinatario, asunto, cuerpo, created_at, reclamada_en, enviada_en, intentos, ultimo_error`

func (s *Service) scanNotice(row pgx.Row) (Notification, error) {
	var n Notification
	err := row.Scan(&n.ID, &n.OrganizationID, &n.Kind, &n.Key, &n.To, &n.Subject, &n.Body, &n.CreatedAt, &n.ClaimedAt, &n.SentAt, &n.Attempts, &n.LastError)
	switch {
	case n.SentAt != nil:
		n.State = DeliverySent
	case n.ClaimedAt != nil && s.now().Sub(*n.ClaimedAt) >= s.opts.SendingTimeout:
		n.State = DeliveryStuck
	case n.ClaimedAt != nil:
		n.State = DeliverySending
	case n.Attempts >= maxNoticeAttempts:
		n.State = DeliveryFailed
	default:
		n.State = DeliveryPending
	}
	return n, err
}

// NotificationFilter selects notices for [Service.ListNotifications].
type NotificationFilter struct {
	// OrganizationID limits the list to one organization; 0 lists all.
	OrganizationID int64
	// Stuck lists only notices claimed longer ago than Options.SendingTimeout and never marked
	// sent (DeliveryStuck).
	Stuck bool
	// Limit bounds the list. Defaults to 200.
	Limit int
}

// ListNotifications returns notices, oldest first.
func (s *Service) ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	rows, err := s.pool.Query(ctx, `SELECT `+noticeColumns+` FROM public.billing_notificacion
		WHERE ($1::bigint = 0 OR organizacion_id = $1) AND (NOT $2 OR (enviada_en IS NULL AND reclamada_en <= $3))
		ORDER BY id LIMIT $4`, f.OrganizationID, f.Stuck, s.now().Add(-s.opts.SendingTimeout), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) { return s.scanNotice(r) })
	if err != nil {
		return nil, fmt.Errorf("listing notifications: %w", err)
	}
	return out, nil
}

// Notifications returns an organization's notices, oldest first.
func (s *Service) Notifications(ctx context.Context, orgID int64) ([]Notification, error) {
	return s.ListNotifications(ctx, NotificationFilter{OrganizationID: orgID, Limit: 10_000})
}

// DeliverNotifications sends up to limit waiting notices and returns how many were sent. Without
// a Mailer, notices are written to the log.
//
// Each notice is sent at most once, whatever happens to the process. Delivery is
// claim-before-send: a deliverer first marks the notice as sending (claimed_at, attempts + 1) in a
// transaction of its own that commits (SKIP LOCKED, so concurrent deliverers share the work and
// never claim the same notice), then talks to SMTP, then marks it sent. An SMTP error releases the
// claim, to be retried later. If the process dies (or the database goes away) between the SMTP
// exchange and marking it sent, nobody can tell whether the mail left, and the notice stays
// sending: after Options.SendingTimeout it is reported as stuck — logged at every delivery run and
// listed by ListNotifications (appcitas subscriptions notifications --stuck) — and never resent
// automatically. An operator checks and resends it with [Service.ResendNotification].
//
// We chose at-most-once over at-least-once because the window is a crash between two statements
// (rare) and a duplicate of "payment failed" or "suspended" alarms an owner more than a missing
// one that an operator sees and resends. The Message-ID is stable per notice all the same, so an
// explicit resend is recognisable as the same message by mail clients.
func (s *Service) DeliverNotifications(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	s.reportStuckNotifications(ctx)
	sent := 0
	for range limit {
		n, ok, err := s.claimNotification(ctx)
		if err != nil {
			return sent, fmt.Errorf("delivering notifications: %w", err)
		}
		if !ok {
			break
		}
		msg := Message{To: n.To, Subject: n.Subject, Body: n.Body, ID: n.messageID()}
		if s.opts.Mailer == nil {
			s.log.Info("notification (no SMTP configured)", "organization", n.OrganizationID, "kind", n.Kind, "to", n.To, "subject", n.Subject, "body", n.Body)
		} else if err := s.opts.Mailer.Send(ctx, msg); err != nil {
			s.log.Warn("sending notification", "id", n.ID, "attempt", n.Attempts, "err", err)
			if _, uerr := s.pool.Exec(ctx, `UPDATE public.billing_notificacion SET reclamada_en = NULL, ultimo_error = $2
				WHERE id = $1 AND enviada_en IS NULL`, n.ID, err.Error()); uerr != nil {
				return sent, fmt.Errorf("releasing notification %d after an SMTP error (it stays sending): %w", n.ID, uerr)
			}
			break // try the rest next time
		}
		if _, err := s.pool.Exec(ctx, `UPDATE public.billing_notificacion SET enviada_en = $2, ultimo_error = ''
			WHERE id = $1 AND enviada_en IS NULL`, n.ID, s.now()); err != nil {
			return sent, fmt.Errorf("marking notification %d sent (it stays sending and will not be sent again by itself): %w", n.ID, err)
		}
		sent++
	}
	return sent, nil
}

// claimNotification marks the oldest waiting notice as sending and commits; false when none waits.
func (s *Service) claimNotification(ctx context.Context) (Notification, bool, error) {
	n, err := s.scanNotice(s.pool.QueryRow(ctx, `UPDATE public.billing_notificacion SET reclamada_en = $1, intentos = intentos + 1
		WHERE id = (SELECT id FROM public.billing_notificacion
			WHERE enviada_en IS NULL AND reclamada_en IS NULL AND intentos < $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+noticeColumns, s.now(), maxNoticeAttempts))
	if errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, false, nil
	}
	if err != nil {
		return Notification{}, false, fmt.Errorf("claiming a notification: %w", err)
	}
	return n, true, nil
}

// reportStuckNotifications logs the notices stuck in sending (one line, at error level).
func (s *Service) reportStuckNotifications(ctx context.Context) {
	stuck, err := s.ListNotifications(ctx, NotificationFilter{Stuck: true, Limit: 50})
	if err != nil {
		s.log.Warn("listing stuck notifications", "err", err)
		return
	}
	if len(stuck) == 0 {
		return
	}
	ids := make([]int64, len(stuck))
	for i, n := range stuck {
		ids[i] = n.ID
	}
	s.log.Error("notifications stuck in sending: the process stopped between SMTP and marking them sent, so they may or may not have been delivered; they are not resent automatically (appcitas subscriptions notifications --stuck, then resend_notification --id N)",
		"count", len(stuck), "ids", ids)
}

// ResendNotification puts a stuck or failed notice back in the queue, by an operator's decision:
// the next delivery sends it (again, perhaps: the owner may get a second copy, with the same
// Message-ID). A notice that is sent, waiting, or being sent now is refused with ErrConflict.
func (s *Service) ResendNotification(ctx context.Context, id int64) (Notification, error) {
	var n Notification
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		n, err = s.scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM public.billing_notificacion WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no notification %d", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if n.State != DeliveryStuck && n.State != DeliveryFailed {
			return fmt.Errorf("%w: notification %d is %s; only stuck or failed notices are resent", ErrConflict, id, n.State)
		}
		n, err = s.scanNotice(tx.QueryRow(ctx, `UPDATE public.billing_notificacion SET reclamada_en = NULL, intentos = 0,
			ultimo_error = $2 WHERE id = $1 RETURNING `+noticeColumns, id, "operator: resend (was "+n.State+")"))
		return err
	})
	if err != nil {
		return Notification{}, fmt.Errorf("resending notification %d: %w", id, err)
	}
	return n, nil
}
