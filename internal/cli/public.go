package cli

import (
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/mail"
	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// bookingMailJobs adds the public booking page's confirmation e-mails to the job queue: sent
// through the SMTP server of APPCITAS_SMTP_* (the one billing's notices use), or logged without
// one.
func (a *app) bookingMailJobs(m *tenancy.Manager) func(*jobs.Config) {
	return func(c *jobs.Config) {
		d := &reservas.Deliverer{Manager: m, Log: a.log}
		if b := a.cfg.Billing; b.SMTPAddr != "" {
			mailer, err := mail.NewSMTPMailer(mail.SMTPConfig{Addr: b.SMTPAddr, Username: b.SMTPUsername, Password: b.SMTPPassword, From: b.SMTPFrom})
			if err != nil {
				a.log.Error("booking confirmations are logged, not sent: APPCITAS_SMTP_*", "err", err)
			} else {
				d.Mailer = mailer
			}
		}
		c.BookingMail = d
	}
}
