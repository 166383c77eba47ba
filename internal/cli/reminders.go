package cli

import (
	"context"
	"fmt"

	"github.com/appcitas/appcitas/internal/api"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/reminders"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/whatsapp"
	"github.com/appcitas/appcitas/internal/whatsapp/whatsappsim"
)

// remindersRuntime is what serve runs for reminders: the service, its listener and, on request,
// the WhatsApp simulator.
type remindersRuntime struct {
	svc  *reminders.Service
	jobs *jobs.Reminders
	sim  *whatsappsim.Server
	stop context.CancelFunc
	done chan struct{}
}

// startReminders builds the reminder service from the configuration and starts its listener of
// the tenants' announcements. Its jobs join the job queue through the returned runtime's jobs.
func (a *app) startReminders(ctx context.Context, m *tenancy.Manager) (*remindersRuntime, error) {
	rc := a.cfg.Reminders
	opts := reminders.Options{Logger: a.log, SecretsKey: rc.SecretsKey, Batch: rc.Batch, ListenURL: a.cfg.ListenURL,
		WhatsAppAPIURL: rc.WhatsAppAPIURL, WhatsAppVersion: rc.WhatsAppAPIVersion}
	rt := &remindersRuntime{}
	if b := a.cfg.Billing; b.SMTPAddr != "" {
		mailer, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: b.SMTPAddr, Username: b.SMTPUsername, Password: b.SMTPPassword, From: b.SMTPFrom})
		if err != nil {
			return nil, userError{fmt.Errorf("APPCITAS_SMTP_*: %w", err)}
		}
		opts.Mailer = mailer
	} else {
		a.log.Warn("reminder e-mails are written to the log: no SMTP configured (APPCITAS_SMTP_ADDR)")
	}
	switch {
	case rc.WhatsAppToken != "":
		wa, err := whatsapp.New(whatsapp.Config{Token: rc.WhatsAppToken, PhoneNumberID: rc.WhatsAppPhoneNumberID,
			APIURL: rc.WhatsAppAPIURL, Version: rc.WhatsAppAPIVersion})
		if err != nil {
			return nil, userError{fmt.Errorf("APPCITAS_WHATSAPP_*: %w", err)}
		}
		opts.WhatsApp = wa
	case rc.WhatsAppSimulator:
		rt.sim = whatsappsim.New(a.log)
		wa, err := rt.sim.Client()
		if err != nil {
			rt.sim.Close()
			return nil, err
		}
		opts.WhatsApp = wa
		a.log.Warn("WHATSAPP SIMULATOR: WhatsApp reminders go to a built-in simulator and reach nobody (APPCITAS_WHATSAPP_SIMULATOR)",
			"simulator_url", rt.sim.URL)
	}
	svc, err := reminders.New(m, opts)
	if err != nil {
		if rt.sim != nil {
			rt.sim.Close()
		}
		return nil, err
	}
	rt.svc = svc
	rt.jobs = jobs.NewReminders(svc)
	rt.jobs.Workers, rt.jobs.DispatchEvery, rt.jobs.SweepEvery = rc.Workers, rc.DispatchEvery, rc.SweepEvery
	lctx, stop := context.WithCancel(ctx)
	rt.stop, rt.done = stop, make(chan struct{})
	go func() {
		defer close(rt.done)
		_ = svc.Listen(lctx)
	}()
	return rt, nil
}

// close stops the listener and the simulator.
func (rt *remindersRuntime) close() {
	rt.stop()
	<-rt.done
	if rt.sim != nil {
		rt.sim.Close()
	}
}

// withReminders gives the API the reminder service (it seals organizations' WhatsApp tokens).
func (rt *remindersRuntime) withReminders(cfg *api.Config) {
	if rt != nil {
		cfg.Reminders = rt.svc
	}
}
