package webhooks_test

import (
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/webhooks"
)

func TestSweep(t *testing.T) {
	t.Parallel()
	e := setup(t, webhooks.Options{Development: true})
	rcv := newReceiver(t)
	busy, idle := e.newOrg(t, "Con Trabajo"), e.newOrg(t, "Sin Trabajo")
	busy.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
	idle.subscribe(t, rcv.URL, webhooks.EventAppointmentCreated)
	busy.book(t)

	t.Run("FindsOnlyTenantsWithDeliveriesWaiting", func(t *testing.T) {
		due, err := e.svc.PendingTenants(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 1 || due[0].Tenant.Schema != busy.t.Schema || due[0].At.After(time.Now()) {
			t.Fatalf("due = %+v; want only %s, due now", due, busy.t.Schema)
		}
		busy.deliver(t)
		if due, err := e.svc.PendingTenants(t.Context()); err != nil || len(due) != 0 {
			t.Fatalf("after delivering, due = %+v (%v)", due, err)
		}
	})

	t.Run("DeletesEventsPastRetention", func(t *testing.T) {
		later := webhooks.New(e.m, webhooks.Options{Development: true, Now: func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }})
		if len(busy.events(t)) != 1 {
			t.Fatal("want one event before the sweep")
		}
		if _, err := later.PendingTenants(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(busy.events(t)); n != 0 {
			t.Fatalf("%d events kept past retention", n)
		}
	})
}
