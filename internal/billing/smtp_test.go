package billing_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/appcitas/appcitas/internal/billing"
)

// fakeSMTP accepts one connection at a time and records the DATA of each message.
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
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 fake")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
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

func TestSMTPMailerSendsAPlainTextMessage(t *testing.T) {
	t.Parallel()
	f := startFakeSMTP(t)
	m, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: f.ln.Addr().String(), From: "appcitas <no-reply@appcitas.co>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), billing.Message{To: "owner@example.co", Subject: "Pago aprobado", Body: "Recibimos tu pago.", ID: "aviso-7.abc"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) != 1 || !strings.Contains(f.msgs[0], "Subject: Pago aprobado") || !strings.Contains(f.msgs[0], "To: owner@example.co") ||
		!strings.Contains(f.msgs[0], "Recibimos tu pago.") || !strings.Contains(f.msgs[0], "Message-ID: <aviso-7.abc@appcitas.co>") {
		t.Fatalf("messages = %q", f.msgs)
	}
	if err := m.Send(context.Background(), billing.Message{To: "owner@example.co\r\nBcc: x@y.z", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("a header injection was sent")
	}
	if _, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: "nohost", From: "a@b.co"}); err == nil {
		t.Fatal("an address without a port was accepted")
	}
}
