package reminders_test

import (
	"bufio"
	"mime"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/reminders"
)

// fakeSMTP records the DATA of each message it accepts.
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, b.String())
			f.mu.Unlock()
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (f *fakeSMTP) last(t *testing.T) (subject, body string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) == 0 {
		t.Fatal("no e-mail arrived")
	}
	head, body, _ := strings.Cut(f.msgs[len(f.msgs)-1], "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject, _ = new(mime.WordDecoder).DecodeHeader(s)
		}
	}
	return subject, body
}

func TestEmail(t *testing.T) {
	t.Parallel()
	smtp := startFakeSMTP(t)
	mailer, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: smtp.ln.Addr().String(), From: "Citas <citas@example.com>"})
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
		subject, body := smtp.last(t)
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
		subject, body := smtp.last(t)
		if subject != "Reminder: your appointment at Peluquería Lina" || !strings.Contains(body, "11:00 (America/Bogota time)") ||
			!strings.Contains(body, "Where: Sede Centro, Calle 10 # 5-20, Bogotá") {
			t.Fatalf("%q\n%s", subject, body)
		}
	})
}
