// Package mail sends e-mail: a [Message] with optional attachments, the [Mailer] interface and
// [SMTPMailer], which delivers through net/smtp. Billing's owner notices and the public booking
// page's confirmations use it.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Attachment is a file sent with a message.
type Attachment struct {
	// Name is the file name, e.g. "cita.ics".
	Name string
	// ContentType is the MIME type with its parameters, e.g. "text/calendar; charset=utf-8; method=PUBLISH".
	ContentType string
	// Data is the file's content.
	Data []byte
}

// Message is one e-mail.
type Message struct {
	To      string
	Subject string
	// Body is plain text (UTF-8).
	Body string
	// ID identifies the message and is the same on every attempt; SMTPMailer sends it as the
	// Message-ID header, so that a copy resent by an operator is recognisable as the same message.
	ID string
	// FromName, when set, replaces the display name of the sender (the address stays the
	// configured one): mail sent in an organization's name.
	FromName string
	// ReplyTo, when set, is the Reply-To address.
	ReplyTo string
	// Attachments are sent after the body (multipart/mixed).
	Attachments []Attachment
}

// Mailer delivers one e-mail.
type Mailer interface {
	Send(ctx context.Context, m Message) error
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

// Send sends one message, with msg.ID as its Message-ID (at the sender's domain): plain text, or
// multipart/mixed with its attachments.
func (m *SMTPMailer) Send(_ context.Context, msg Message) error {
	host, _, _ := net.SplitHostPort(m.cfg.Addr)
	var auth smtp.Auth
	if m.cfg.Username != "" {
		auth = smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, host)
	}
	if strings.ContainsAny(msg.To+msg.Subject+msg.ID+msg.FromName+msg.ReplyTo, "\r\n") || strings.ContainsAny(msg.ID, "<>@ ") {
		return fmt.Errorf("smtp: header injection refused")
	}
	for _, a := range msg.Attachments {
		if strings.ContainsAny(a.Name+a.ContentType, "\r\n\"") {
			return fmt.Errorf("smtp: header injection refused")
		}
	}
	from := m.cfg.From
	envelope := m.cfg.From
	domain := "appcitas.invalid"
	if a, err := mail.ParseAddress(m.cfg.From); err == nil {
		envelope = a.Address
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && i < len(a.Address)-1 {
			domain = a.Address[i+1:]
		}
		if msg.FromName != "" {
			from = (&mail.Address{Name: msg.FromName, Address: a.Address}).String()
		}
	}
	var b strings.Builder
	b.WriteString("From: " + from + "\r\nTo: " + msg.To + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", msg.Subject) + "\r\n")
	if msg.ReplyTo != "" {
		b.WriteString("Reply-To: " + msg.ReplyTo + "\r\n")
	}
	b.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	if msg.ID != "" {
		b.WriteString("Message-ID: <" + msg.ID + "@" + domain + ">\r\n")
	}
	body := strings.ReplaceAll(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n", "\r\n")
	if len(msg.Attachments) == 0 {
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body)
	} else {
		boundary := newBoundary()
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
		b.WriteString("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n")
		for _, a := range msg.Attachments {
			b.WriteString("--" + boundary + "\r\nContent-Type: " + a.ContentType + "\r\n")
			b.WriteString("Content-Disposition: attachment; filename=\"" + a.Name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
			enc := base64.StdEncoding.EncodeToString(a.Data)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			b.WriteString(enc + "\r\n")
		}
		b.WriteString("--" + boundary + "--\r\n")
	}
	if err := smtp.SendMail(m.cfg.Addr, auth, envelope, []string{msg.To}, []byte(b.String())); err != nil {
		return fmt.Errorf("sending mail to %s: %w", msg.To, err)
	}
	return nil
}

// newBoundary returns a random MIME boundary.
func newBoundary() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "appcitas-" + hex.EncodeToString(b)
}
