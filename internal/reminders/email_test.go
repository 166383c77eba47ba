package reminders_test

import (
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/mail/mailtest"
	"github.com/appcitas/appcitas/internal/reminders"
)

// lastMessage returns the subject (decoded) and the body of the newest e-mail f received.
func lastMessage(t *testing.T, f *mailtest.Server) (subject, body string) {
	t.Helper()
	msgs := f.Messages()
	if len(msgs) == 0 {
		t.Fatal("no e-mail arrived")
	}
	head, body, _ := strings.Cut(msgs[len(msgs)-1], "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject, _ = new(mime.WordDecoder).DecodeHeader(s)
		}
	}
	return subject, body
}

func TestEmail(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t)
	mailer, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: smtp.Addr(), From: "Citas <citas@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t)
	e.svc, err = reminders.New(e.m, reminders.Options{Mailer: mailer, Now: e.now})
	if err != nil {
		t.Fatal(err)
	}
	tn := e.newTenant(t, "Peluquería Lina", 2)
	// 10:00 in Bogotá (UTC-5) on a day at least three days ahead.
	bogota, err := time.LoadLocation("America/Bogota")
	if err != nil {
		t.Fatal(err)
	}
	d := time.Now().In(bogota).AddDate(0, 0, 3)
	start := time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, bogota)
	send := func(t *testing.T, staff int, at time.Time) {
		e.book(t, tn, staff, at, "Ana Gómez", "", "ana@example.com")
		e.setClock(at.Add(-24*time.Hour + time.Second))
		defer e.setClock(time.Time{})
		if res, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil || res.Sent != 1 {
			t.Fatalf("run: %+v, %v", res, err)
		}
	}

	t.Run("SpanishInTheOrganizationsNameWithLocalTimeAndAddress", func(t *testing.T) {
		e.enable(t, tn, reminders.SettingsInput{})
		send(t, 0, start)
		subject, body := lastMessage(t, smtp)
		if subject != "Recordatorio de tu cita en Peluquería Lina" {
			t.Fatalf("subject %q", subject)
		}
		for _, want := range []string{"Hola Ana Gómez", "Corte de cabello", "10:00 (hora de America/Bogota)", "Sede Centro, Calle 10 # 5-20, Bogotá", "Peluquería Lina"} {
			if !strings.Contains(body, want) {
				t.Fatalf("body lacks %q:\n%s", want, body)
			}
		}
	})

	t.Run("EnglishWhenTheOrganizationSaysSo", func(t *testing.T) {
		e.enable(t, tn, reminders.SettingsInput{Language: ptr("en")})
		send(t, 1, start.Add(time.Hour))
		subject, body := lastMessage(t, smtp)
		if subject != "Reminder: your appointment at Peluquería Lina" || !strings.Contains(body, "11:00 (America/Bogota time)") ||
			!strings.Contains(body, "Where: Sede Centro, Calle 10 # 5-20, Bogotá") {
			t.Fatalf("%q\n%s", subject, body)
		}
	})
}
