package webhooks_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/webhooks"
)

func TestIsolation(t *testing.T) {
	t.Parallel()
	e := setup(t, webhooks.Options{Development: true})
	a, b := e.newOrg(t, "Org A"), e.newOrg(t, "Org B")
	ra, rb := newReceiver(t), newReceiver(t)
	subA := a.subscribe(t, ra.URL, webhooks.EventTypes()...)
	subB := b.subscribe(t, rb.URL, webhooks.EventTypes()...)
	b.book(t)
	b.book(t)

	t.Run("OrgAReceivesNothingOfOrgB", func(t *testing.T) {
		if res := a.deliver(t); res.Delivered != 0 {
			t.Fatalf("A's run delivered %d of B's events", res.Delivered)
		}
		if res := b.deliver(t); res.Delivered != 2 {
			t.Fatalf("B's run: %+v", res)
		}
		if len(ra.requests()) != 0 || len(rb.requests()) != 2 {
			t.Fatalf("A got %d, B got %d", len(ra.requests()), len(rb.requests()))
		}
		for _, r := range rb.requests() {
			if err := verifyAppcitasSignature(r.header.Get("Appcitas-Signature"), r.body, subA.Secret, 60e9); err == nil {
				t.Fatal("B's delivery verifies with A's secret")
			}
		}
	})

	t.Run("OrgACannotReadOrReplayOrgBsDeliveries", func(t *testing.T) {
		bd := b.deliveries(t, subB.ID)[0]
		a.run(t, func(ctx context.Context, tx pgx.Tx) error {
			// The ids are per tenant, so A's subscription may share B's number: B's delivery is
			// still not found through it.
			if _, err := webhooks.GetDelivery(ctx, tx, subA.ID, bd.ID); !errors.Is(err, webhooks.ErrNotFound) {
				t.Fatalf("A reads B's delivery: %v", err)
			}
			if _, err := webhooks.ReplayDelivery(ctx, tx, subA.ID, bd.ID); !errors.Is(err, webhooks.ErrNotFound) {
				t.Fatalf("A replays B's delivery: %v", err)
			}
			ds, err := webhooks.ListDeliveries(ctx, tx, subA.ID, webhooks.DeliveryFilter{})
			if err != nil || len(ds) != 0 {
				t.Fatalf("A lists %d deliveries (%v)", len(ds), err)
			}
			return nil
		})
		// Naming B's schema from A's scope is refused by the database.
		err := e.m.Run(t.Context(), a.t, func(tx pgx.Tx) error {
			_, err := tx.Exec(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{b.t.Schema, "webhooks_entrega"}.Sanitize())
			return err
		})
		if err == nil {
			t.Fatal("A's scope reads B's deliveries")
		}
	})
}
