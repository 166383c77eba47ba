package billing

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification kinds.
const (
	NoticeTrialEnding     = "trial_ending"
	NoticePaymentApproved = "payment_approved"
	NoticePaymentFailed   = "payment_failed"
	NoticeSuspended       = "suspended"
)

// Mailer delivers one e-mail.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SMTPConfig configures [SMTPMailer].
type SMTPConfig struct {
	// Addr is host:port of the SMTP server, e.g. smtp.example.com:587.
	Addr string
	// Username and Password authenticate with PLAIN auth when Username is set (over TLS, or to
	// localhost, as net/smtp requires).
	Username string
	Password string
	// From is the sender address.
	From string
}

// SMTPMailer sends e-mail with net/smtp (STARTTLS when the server offers it).
type SMTPMailer struct {
	cfg SMTPConfig
}

// NewSMTPMailer returns a mailer for cfg.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp address %q: want host:port", cfg.Addr)
	}
	if cfg.From == "" {
		return nil, fmt.Errorf("smtp: a sender address (From) is required")
	}
	return &SMTPMailer{cfg: cfg}, nil
}

// Send sends one plain-text message.
func (m *SMTPMailer) Send(_ context.Context, to, subject, body string) error {
	host, _, _ := net.SplitHostPort(m.cfg.Addr)
	var auth smtp.Auth
	if m.cfg.Username != "" {
		auth = smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, host)
	}
	if strings.ContainsAny(to+subject, "\r\n") {
		return fmt.Errorf("smtp: header injection refused")
	}
	msg := "From: " + m.cfg.From + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if err := smtp.SendMail(m.cfg.Addr, auth, m.cfg.From, []string{to}, []byte(msg)); err != nil {
		return fmt.Errorf("sending mail to %s: %w", to, err)
	}
	return nil
}

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
	SentAt         *time.Time
	Attempts       int
	LastError      string
}

// Notifications returns an organization's notices, oldest first.
func (s *Service) Notifications(ctx context.Context, orgID int64) ([]Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, organizacion_id, tipo, clave, destinatario, asunto, cuerpo, created_at, enviada_en, intentos, ultimo_error
		FROM public.billing_notificacion WHERE organizacion_id = $1 ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := r.Scan(&n.ID, &n.OrganizationID, &n.Kind, &n.Key, &n.To, &n.Subject, &n.Body, &n.CreatedAt, &n.SentAt, &n.Attempts, &n.LastError)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing notifications: %w", err)
	}
	return out, nil
}

// DeliverNotifications sends up to limit unsent notices, each in its own transaction that locks it
// (SKIP LOCKED, so concurrent deliverers share the work) and marks it sent: a notice is sent once.
// Without a Mailer, notices are written to the log. It returns how many were sent.
func (s *Service) DeliverNotifications(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	sent := 0
	for range limit {
		done := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var n Notification
			err := tx.QueryRow(ctx, `SELECT id, organizacion_id, tipo, destinatario, asunto, cuerpo FROM public.billing_notificacion
				WHERE enviada_en IS NULL AND intentos < 10 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).
				Scan(&n.ID, &n.OrganizationID, &n.Kind, &n.To, &n.Subject, &n.Body)
			if err == pgx.ErrNoRows {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			if s.opts.Mailer == nil {
				s.log.Info("notification (no SMTP configured)", "organization", n.OrganizationID, "kind", n.Kind, "to", n.To, "subject", n.Subject, "body", n.Body)
			} else if err := s.opts.Mailer.Send(ctx, n.To, n.Subject, n.Body); err != nil {
				s.log.Warn("sending notification", "id", n.ID, "err", err)
				_, uerr := tx.Exec(ctx, `UPDATE public.billing_notificacion SET intentos = intentos + 1, ultimo_error = $2 WHERE id = $1`, n.ID, err.Error())
				done = true // try the rest next time
				return uerr
			}
			_, err = tx.Exec(ctx, `UPDATE public.billing_notificacion SET enviada_en = now(), intentos = intentos + 1 WHERE id = $1`, n.ID)
			if err == nil {
				sent++
			}
			return err
		})
		if err != nil {
			return sent, fmt.Errorf("delivering notifications: %w", err)
		}
		if done {
			break
		}
	}
	return sent, nil
}
