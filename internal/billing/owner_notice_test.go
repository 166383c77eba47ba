package billing_test

import (
	"testing"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestNotifyOwner(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.org("Dueño Avisado", "basico")
	ctx := t.Context()

	t.Run("QueuesAWebhookNoticeOnceAndSendsIt", func(t *testing.T) {
		for range 2 {
			if err := e.svc.NotifyOwner(ctx, org.ID, billing.NoticeWebhookDisabled, "webhook_disabled:test:1", "Webhook desactivado", "cuerpo"); err != nil {
				t.Fatal(err)
			}
		}
		ns, err := e.svc.Notifications(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 1 || ns[0].Kind != billing.NoticeWebhookDisabled || ns[0].To != "owner@example.co" {
			t.Fatalf("notices %+v", ns)
		}
		before := e.mail.count()
		if n, err := e.svc.DeliverNotifications(ctx, 10); err != nil || n != 1 || e.mail.count() != before+1 {
			t.Fatalf("DeliverNotifications = %d, %v", n, err)
		}
	})

	t.Run("RefusesUnknownKinds", func(t *testing.T) {
		if err := e.svc.NotifyOwner(ctx, org.ID, "otra_cosa", "k", "s", "b"); err == nil {
			t.Fatal("an unknown kind was queued")
		}
	})

	t.Run("SkipsOrganizationsWithoutSubscription", func(t *testing.T) {
		bare, err := e.m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Sin Suscripcion"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.NotifyOwner(ctx, bare.ID, billing.NoticeWebhookDisabled, "webhook_disabled:test:2", "s", "b"); err != nil {
			t.Fatal(err)
		}
	})
}
