package billing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/mail/mailtest"
)

func TestSMTPMailerSendsAPlainTextMessage(t *testing.T) {
	t.Parallel()
	f := mailtest.NewServer(t)
	m, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: f.Addr(), From: "appcitas <no-reply@appcitas.co>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), billing.Message{To: "owner@example.co", Subject: "Pago aprobado", Body: "Recibimos tu pago.", ID: "aviso-7.abc"}); err != nil {
		t.Fatal(err)
	}
	msgs := f.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: Pago aprobado") || !strings.Contains(msgs[0], "To: owner@example.co") ||
		!strings.Contains(msgs[0], "Recibimos tu pago.") || !strings.Contains(msgs[0], "Message-ID: <aviso-7.abc@appcitas.co>") {
		t.Fatalf("messages = %q", msgs)
	}
	if err := m.Send(context.Background(), billing.Message{To: "owner@example.co\r\nBcc: x@y.z", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("a header injection was sent")
	}
	if _, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: "nohost", From: "a@b.co"}); err == nil {
		t.Fatal("an address without a port was accepted")
	}
}
