package billing_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/mail/mailtest"
)

// syncBuffer is a log sink that tests read while the service writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// dyingMailer sends through next, then "kills the process": it cancels the context of the delivery
// run, so that marking the notice sent fails, as when the process dies between SMTP and the commit.
// Before sending it records whether the claim was already committed (seen from another connection).
type dyingMailer struct {
	next         billing.Mailer
	die          context.CancelFunc
	claimedFirst func() bool
	sawClaim     bool
}

func (m *dyingMailer) Send(ctx context.Context, msg billing.Message) error {
	m.sawClaim = m.claimedFirst()
	err := m.next.Send(ctx, msg)
	m.die()
	return err
}

func messageID(t *testing.T, msg string) string {
	t.Helper()
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Message-ID: "); ok {
			return v
		}
	}
	t.Fatalf("no Message-ID in %q", msg)
	return ""
}

func TestNotificationDelivery(t *testing.T) {
	t.Parallel()

	// withMailer opens a second service on e's database with another mailer and log.
	withMailer := func(e *env, m billing.Mailer, log *syncBuffer) *billing.Service {
		e.t.Helper()
		if log == nil {
			log = &syncBuffer{}
		}
		svc, err := billing.New(e.t.Context(), e.m, billing.Options{Now: e.clock.Now, Mailer: m, Logger: slog.New(slog.NewTextHandler(log, nil))})
		if err != nil {
			e.t.Fatal(err)
		}
		return svc
	}
	smtpMailer := func(t *testing.T, addr string) *billing.SMTPMailer {
		t.Helper()
		m, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: addr, From: "appcitas <no-reply@appcitas.co>"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// suspended creates an organization and suspends it: one "suspended" notice in the outbox.
	suspended := func(e *env, name string) billing.Notification {
		e.t.Helper()
		org, _ := e.org(name, "basico")
		if _, err := e.svc.Suspend(e.t.Context(), org.ID, ""); err != nil {
			e.t.Fatal(err)
		}
		ns, err := e.svc.Notifications(e.t.Context(), org.ID)
		if err != nil || len(ns) != 1 || ns[0].State != billing.DeliveryPending {
			e.t.Fatalf("outbox = %+v, %v", ns, err)
		}
		return ns[0]
	}
	state := func(e *env, n billing.Notification) billing.Notification {
		e.t.Helper()
		ns, err := e.svc.Notifications(e.t.Context(), n.OrganizationID)
		if err != nil || len(ns) != 1 {
			e.t.Fatalf("outbox = %+v, %v", ns, err)
		}
		return ns[0]
	}

	t.Run("ConcurrentDeliverersSendEachNoticeOnce", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		n := suspended(e, "Notificada")
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if _, err := e.svc.DeliverNotifications(context.Background(), 10); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if sent, _ := e.svc.DeliverNotifications(t.Context(), 10); sent != 0 || e.mail.count() != 1 {
			t.Fatalf("sent %d mails (then %d more), want 1", e.mail.count(), sent)
		}
		if got := state(e, n); got.State != billing.DeliverySent || got.SentAt == nil || got.Kind != billing.NoticeSuspended || got.Attempts != 1 {
			t.Fatalf("notice = %+v", got)
		}
	})

	t.Run("DeathBetweenSMTPAndMarkingSentNeverResendsAndIsReported", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		n := suspended(e, "Caída")
		f := mailtest.NewServer(t)
		ctx, die := context.WithCancel(t.Context())
		dying := &dyingMailer{next: smtpMailer(t, f.Addr()), die: die, claimedFirst: func() bool {
			var claimed bool
			err := e.pool.QueryRow(t.Context(), `SELECT reclamada_en IS NOT NULL FROM public.billing_notificacion WHERE id = $1`, n.ID).Scan(&claimed)
			return err == nil && claimed
		}}
		if _, err := withMailer(e, dying, nil).DeliverNotifications(ctx, 10); err == nil || !strings.Contains(err.Error(), "marking notification") {
			t.Fatalf("DeliverNotifications after dying = %v, want the mark-sent step to fail", err)
		}
		if !dying.sawClaim {
			t.Fatal("SMTP was reached before the claim was committed")
		}
		if got := len(f.Messages()); got != 1 {
			t.Fatalf("%d mails reached SMTP, want 1", got)
		}
		if got := state(e, n); got.State != billing.DeliverySending || got.SentAt != nil || got.ClaimedAt == nil {
			t.Fatalf("notice after the crash = %+v, want sending", got)
		}

		// A restarted deliverer does not send it again, now or after the timeout.
		log := &syncBuffer{}
		after := withMailer(e, smtpMailer(t, f.Addr()), log)
		if sent, err := after.DeliverNotifications(t.Context(), 10); err != nil || sent != 0 {
			t.Fatalf("DeliverNotifications after restart = %d, %v; want 0 sent", sent, err)
		}
		if stuck, _ := after.ListNotifications(t.Context(), billing.NotificationFilter{Stuck: true}); len(stuck) != 0 {
			t.Fatalf("stuck before the timeout: %+v", stuck)
		}
		e.clock.Advance(10 * time.Minute)
		if sent, err := after.DeliverNotifications(t.Context(), 10); err != nil || sent != 0 {
			t.Fatalf("DeliverNotifications after the timeout = %d, %v; want 0 sent", sent, err)
		}
		if got := len(f.Messages()); got != 1 {
			t.Fatalf("%d mails reached SMTP after restarts, want 1", got)
		}
		// Reported: logged and listed for operators.
		if out := log.String(); !strings.Contains(out, "stuck in sending") || !strings.Contains(out, "ids=") {
			t.Fatalf("the stuck notice was not logged:\n%s", out)
		}
		stuck, err := after.ListNotifications(t.Context(), billing.NotificationFilter{Stuck: true})
		if err != nil || len(stuck) != 1 || stuck[0].ID != n.ID || stuck[0].State != billing.DeliveryStuck {
			t.Fatalf("stuck list = %+v, %v", stuck, err)
		}

		// An operator resends it explicitly: a second copy, recognisable by its Message-ID.
		if _, err := after.ResendNotification(t.Context(), n.ID); err != nil {
			t.Fatal(err)
		}
		if sent, err := after.DeliverNotifications(t.Context(), 10); err != nil || sent != 1 {
			t.Fatalf("DeliverNotifications after the resend = %d, %v; want 1", sent, err)
		}
		msgs := f.Messages()
		if len(msgs) != 2 || messageID(t, msgs[0]) != messageID(t, msgs[1]) {
			t.Fatalf("resent copy has another Message-ID: %q", msgs)
		}
		if got := state(e, n); got.State != billing.DeliverySent {
			t.Fatalf("notice after the resend = %+v", got)
		}
	})

	t.Run("SMTPErrorReleasesTheClaimForARetry", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		n := suspended(e, "Reintento")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close() // nothing listens there: the SMTP exchange fails
		if sent, err := withMailer(e, smtpMailer(t, closed), nil).DeliverNotifications(t.Context(), 10); err != nil || sent != 0 {
			t.Fatalf("DeliverNotifications with SMTP down = %d, %v", sent, err)
		}
		got := state(e, n)
		if got.State != billing.DeliveryPending || got.Attempts != 1 || got.LastError == "" {
			t.Fatalf("notice after an SMTP error = %+v, want pending with the error", got)
		}
		f := mailtest.NewServer(t)
		if sent, err := withMailer(e, smtpMailer(t, f.Addr()), nil).DeliverNotifications(t.Context(), 10); err != nil || sent != 1 {
			t.Fatalf("retry = %d, %v; want 1 sent", sent, err)
		}
		if got := state(e, n); got.State != billing.DeliverySent || got.Attempts != 2 || len(f.Messages()) != 1 {
			t.Fatalf("notice after the retry = %+v (%d mails)", got, len(f.Messages()))
		}
	})

	t.Run("ResendRefusesNoticesThatAreNotStuckOrFailed", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		n := suspended(e, "Reenvío")
		if _, err := e.svc.ResendNotification(t.Context(), n.ID); !errors.Is(err, billing.ErrConflict) {
			t.Fatalf("resend of a pending notice = %v, want ErrConflict", err)
		}
		if _, err := e.svc.DeliverNotifications(t.Context(), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ResendNotification(t.Context(), n.ID); !errors.Is(err, billing.ErrConflict) {
			t.Fatalf("resend of a sent notice = %v, want ErrConflict", err)
		}
		if _, err := e.svc.ResendNotification(t.Context(), 999_999); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("resend of an unknown notice = %v, want ErrNotFound", err)
		}
		if e.mail.count() != 1 {
			t.Fatalf("%d mails, want 1", e.mail.count())
		}
	})
}
