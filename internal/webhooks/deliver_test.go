package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/webhooks"
)

func TestDelivery(t *testing.T) {
	t.Parallel()
	e := setup(t, webhooks.Options{Development: true, DisableAfterFailures: 3, Timeout: 500 * time.Millisecond})

	t.Run("SignsWithTheDocumentedScheme", func(t *testing.T) {
		o := e.newOrg(t, "Firma")
		rcv := newReceiver(t)
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		id := o.book(t)
		if res := o.deliver(t); res.Delivered != 1 || !res.NextAt.IsZero() {
			t.Fatalf("result %+v: want one delivered and nothing waiting", res)
		}
		got := rcv.requests()
		if len(got) != 1 {
			t.Fatalf("%d requests, want 1", len(got))
		}
		r := got[0]
		if err := verifyAppcitasSignature(r.header.Get("Appcitas-Signature"), r.body, sub.Secret, 5*time.Minute); err != nil {
			t.Fatalf("the documented snippet refuses the signature %q: %v", r.header.Get("Appcitas-Signature"), err)
		}
		if err := verifyAppcitasSignature(r.header.Get("Appcitas-Signature"), r.body, "whsec_otro", 5*time.Minute); err == nil {
			t.Fatal("the snippet accepts a wrong secret")
		}
		tampered := []byte(strings.Replace(string(r.body), "Ana", "Eva", 1))
		if err := verifyAppcitasSignature(r.header.Get("Appcitas-Signature"), tampered, sub.Secret, 5*time.Minute); err == nil {
			t.Fatal("the snippet accepts a changed body")
		}
		var body struct {
			ID   string         `json:"id"`
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Type != "appointment.created" || body.Data["id"] != float64(id) {
			t.Fatalf("body %s: %v", r.body, err)
		}
		ds := o.deliveries(t, sub.ID)
		if r.header.Get("Appcitas-Event") != "appointment.created" || r.header.Get("Appcitas-Delivery") != ds[0].ID ||
			r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers %v, delivery %s", r.header, ds[0].ID)
		}
		if d := ds[0]; d.State != webhooks.StateDelivered || d.Attempts != 1 || len(d.Log) != 1 || !d.Log[0].OK ||
			*d.Log[0].StatusCode != 200 || d.Log[0].Response != "ok" {
			t.Fatalf("delivery %+v", d)
		}
	})

	t.Run("SignsWithBothSecretsAfterRotation", func(t *testing.T) {
		o := e.newOrg(t, "Rotacion")
		rcv := newReceiver(t)
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		var rotated webhooks.SubscriptionSecret
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			rotated, err = webhooks.RotateSecret(ctx, tx, sub.ID, time.Now())
			return err
		})
		o.book(t)
		o.deliver(t)
		r := rcv.requests()[0]
		for _, secret := range []string{sub.Secret, rotated.Secret} {
			if err := verifyAppcitasSignature(r.header.Get("Appcitas-Signature"), r.body, secret, time.Minute); err != nil {
				t.Fatalf("secret %s… refused after rotation: %v", secret[:10], err)
			}
		}
	})

	t.Run("RetriesAfter500ThenSucceeds", func(t *testing.T) {
		o := e.newOrg(t, "Reintento")
		rcv := newReceiver(t)
		rcv.setAnswer(func(n int) (int, string) {
			if n < 3 {
				return 500, "ocupado"
			}
			return 204, ""
		})
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		o.book(t)
		deadline := time.Now().Add(10 * time.Second)
		for len(rcv.requests()) < 3 && time.Now().Before(deadline) {
			o.deliver(t)
			time.Sleep(5 * time.Millisecond)
		}
		got := rcv.requests()
		if len(got) != 3 {
			t.Fatalf("%d requests, want 3", len(got))
		}
		for _, r := range got[1:] {
			if r.header.Get("Appcitas-Delivery") != got[0].header.Get("Appcitas-Delivery") {
				t.Fatal("a retry changed the Appcitas-Delivery id")
			}
		}
		d := o.deliveries(t, sub.ID)[0]
		if d.State != webhooks.StateDelivered || d.Attempts != 3 || len(d.Log) != 3 {
			t.Fatalf("delivery %+v", d)
		}
		if l := d.Log[0]; l.OK || *l.StatusCode != 500 || l.Error != "HTTP 500" || l.Response != "ocupado" || l.NextAttemptAt == nil {
			t.Fatalf("first attempt %+v", l)
		}
		if l := d.Log[2]; !l.OK || *l.StatusCode != 204 || l.NextAttemptAt != nil {
			t.Fatalf("last attempt %+v", l)
		}
		var s webhooks.Subscription
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			s, err = webhooks.GetSubscription(ctx, tx, sub.ID)
			return err
		})
		if s.ConsecutiveFailures != 0 || s.FailingSince != nil || !s.Active {
			t.Fatalf("subscription after a success %+v", s)
		}
	})

	t.Run("DisablesAfterRepeatedFailuresAndTellsTheOwner", func(t *testing.T) {
		o := e.newOrg(t, "Caido")
		rcv := newReceiver(t)
		rcv.setAnswer(func(int) (int, string) { return 503, "" })
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		before := e.owner.count()
		o.book(t)
		o.book(t)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if res := o.deliver(t); res.Disabled > 0 || res.NextAt.IsZero() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		var s webhooks.Subscription
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			s, err = webhooks.GetSubscription(ctx, tx, sub.ID)
			return err
		})
		// Both deliveries go out in one batch, so the attempt in flight when the third failure
		// disables the subscription is counted too.
		if s.Active || s.DisabledAt == nil || !strings.Contains(s.DisabledReason, "3 failed attempts") || s.ConsecutiveFailures < 3 {
			t.Fatalf("subscription %+v: want disabled after 3 failures", s)
		}
		if n := len(rcv.requests()); n != s.ConsecutiveFailures {
			t.Fatalf("%d requests for %d failures", n, s.ConsecutiveFailures)
		}
		for _, d := range o.deliveries(t, sub.ID) {
			if d.State != webhooks.StateFailed {
				t.Fatalf("delivery %s is %s after disabling; want fallida", d.ID, d.State)
			}
		}
		if e.owner.count() != before+1 {
			t.Fatalf("owner notices: %v", e.owner.notices)
		}
		// Nothing more is sent, nor announced twice.
		o.book(t)
		if res := o.deliver(t); res.Delivered+res.Retrying+res.Failed != 0 || !res.NextAt.IsZero() {
			t.Fatalf("a disabled subscription got work: %+v", res)
		}
		if e.owner.count() != before+1 {
			t.Fatal("the owner was told twice")
		}
	})

	t.Run("ReplaysByHand", func(t *testing.T) {
		o := e.newOrg(t, "Reenvio")
		rcv := newReceiver(t)
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		o.book(t)
		o.deliver(t)
		first := o.deliveries(t, sub.ID)[0]
		var replay webhooks.Delivery
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			replay, err = webhooks.ReplayDelivery(ctx, tx, sub.ID, first.ID)
			return err
		})
		if !replay.Manual || replay.EventID != first.EventID || replay.ID == first.ID || replay.State != webhooks.StatePending {
			t.Fatalf("replay %+v of %+v", replay, first)
		}
		o.deliver(t)
		got := rcv.requests()
		if len(got) != 2 || string(got[0].body) != string(got[1].body) || got[1].header.Get("Appcitas-Delivery") != replay.ID {
			t.Fatalf("requests after a replay: %d", len(got))
		}
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := webhooks.ReplayDelivery(ctx, tx, sub.ID, "00000000-0000-0000-0000-000000000000")
			if !errors.Is(err, webhooks.ErrNotFound) {
				t.Fatalf("replay of an unknown delivery: %v", err)
			}
			_, err = webhooks.ReplayDelivery(ctx, tx, sub.ID, "no-es-uuid")
			if !errors.Is(err, webhooks.ErrNotFound) {
				t.Fatalf("replay of a malformed id: %v", err)
			}
			return nil
		})
	})

	t.Run("SendsAgainWithTheSameIDAfterADeliverDiedMidway", func(t *testing.T) {
		o := e.newOrg(t, "Caida Trabajador")
		rcv := newReceiver(t)
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		o.book(t)
		// A deliverer claimed it, sent it, and died before recording: it stays claimed.
		var id string
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `UPDATE webhooks_entrega SET estado = 'enviando', intentos = 1, reclamada_en = now()
				RETURNING id::text`).Scan(&id)
		})
		if res := o.deliver(t); res.Delivered != 0 || len(rcv.requests()) != 0 {
			t.Fatalf("a fresh claim was taken over: %+v", res)
		}
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE webhooks_entrega SET reclamada_en = now() - interval '1 hour'`)
			return err
		})
		if res := o.deliver(t); res.Delivered != 1 {
			t.Fatalf("a stale claim was not sent again: %+v", res)
		}
		got := rcv.requests()
		if len(got) != 1 || got[0].header.Get("Appcitas-Delivery") != id {
			t.Fatalf("requests %d; want one with the same delivery id %s", len(got), id)
		}
		if d := o.deliveries(t, sub.ID)[0]; d.Attempts != 2 || d.State != webhooks.StateDelivered {
			t.Fatalf("delivery %+v", d)
		}
	})

	t.Run("BoundsTimeAndResponseAndFollowsNoRedirect", func(t *testing.T) {
		o := e.newOrg(t, "Limites")
		rcv := newReceiver(t)
		rcv.setAnswer(func(n int) (int, string) {
			switch n {
			case 1:
				return 200, strings.Repeat("é", 100_000)
			case 2:
				return 302, ""
			}
			time.Sleep(time.Second)
			return 200, ""
		})
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		o.book(t)
		o.book(t)
		o.book(t)
		for range 3 {
			o.deliver(t)
		}
		var logs []webhooks.Attempt
		for _, d := range o.deliveries(t, sub.ID) {
			logs = append(logs, d.Log[0])
		}
		var big, redirect, slow bool
		for _, l := range logs {
			switch {
			case l.OK && len(l.Response) > 0:
				big = len(l.Response) <= 1024 && strings.HasPrefix(l.Response, "éé")
			case l.StatusCode != nil && *l.StatusCode == 302:
				redirect = !l.OK && strings.Contains(l.Error, "redirect")
			case l.StatusCode == nil:
				slow = l.Error == "timed out" && l.DurationMS < 900
			}
		}
		if !big || !redirect || !slow {
			t.Fatalf("big answer kept ≤1 KiB %v, redirect refused %v, slow answer timed out %v: %+v", big, redirect, slow, logs)
		}
	})

	t.Run("SurvivesASubscriptionDeletedWhileSending", func(t *testing.T) {
		o := e.newOrg(t, "Borrada")
		rcv := newReceiver(t)
		var subID int64
		rcv.setAnswer(func(int) (int, string) {
			err := e.m.Run(context.Background(), o.t, func(tx pgx.Tx) error { return webhooks.DeleteSubscription(context.Background(), tx, subID) })
			if err != nil {
				return 500, err.Error()
			}
			return 200, ""
		})
		subID = o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated).ID
		o.book(t)
		if res, err := e.svc.DeliverTenant(t.Context(), o.t); err != nil || !res.NextAt.IsZero() {
			t.Fatalf("DeliverTenant = %+v, %v", res, err)
		}
	})

	t.Run("GivesUpAfterADay", func(t *testing.T) {
		clock := time.Now()
		e2 := setup(t, webhooks.Options{Development: true, RetryBase: 30 * time.Second, RetryMax: 2 * time.Hour,
			Now: func() time.Time { return clock }})
		o := e2.newOrg(t, "Un Dia")
		rcv := newReceiver(t)
		rcv.setAnswer(func(int) (int, string) { return http.StatusBadGateway, "" })
		sub := o.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
		o.book(t)
		for range 100 {
			res := o.deliver(t)
			if res.NextAt.IsZero() {
				break
			}
			clock = res.NextAt.Add(time.Second)
		}
		d := o.deliveries(t, sub.ID)[0]
		if d.State != webhooks.StateFailed || d.Attempts < 10 || d.Attempts > 40 {
			t.Fatalf("delivery %+v: want failed after a day of attempts", d)
		}
		last := d.Log[len(d.Log)-1].CreatedAt
		if span := last.Sub(d.CreatedAt); span < 20*time.Hour || span > 24*time.Hour {
			t.Fatalf("retried for %s; want about a day", span)
		}
	})
}
