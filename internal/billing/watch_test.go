package billing_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/billing"
)

// TestWatchAccess checks that a Service running WatchAccess, which keeps subscription states for
// an hour, hears of every change to a subscription made elsewhere (another process's Service,
// psql) and answers CheckAccess with the new state at once.
func TestWatchAccess(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	watched, err := billing.New(ctx, e.m, billing.Options{AccessCacheTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- watched.WatchAccess(watchCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchAccess returned %v; want context.Canceled", err)
		}
	})
	// Wait until the watch's LISTEN is in place, so that what follows tests its notifications.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN appcitas_organizacion'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch never listened")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // its Listening callback runs right after the LISTEN

	tests := []struct {
		name   string
		change func(orgID int64) error
		refuse bool
	}{
		{"SuspendedByAnotherProcessIsRefused", func(id int64) error { _, err := e.svc.Suspend(ctx, id, "test: impago"); return err }, true},
		{"ReactivatedByAnotherProcessIsServed", func(id int64) error { _, err := e.svc.Reactivate(ctx, id, ""); return err }, false},
		{"CancelledWithPsqlIsRefused", func(id int64) error {
			_, err := e.pool.Exec(ctx, `UPDATE public.billing_suscripcion SET estado = 'cancelled' WHERE organizacion_id = $1`, id)
			return err
		}, true},
	}
	org, _ := e.org("Vigilada", "basico")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := watched.CheckAccess(ctx, org.ID) // kept for an hour unless a notification evicts it
			if err := tt.change(org.ID); err != nil {
				t.Fatal(err)
			}
			var got error
			for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(20 * time.Millisecond) {
				if got = watched.CheckAccess(ctx, org.ID); errors.Is(got, billing.ErrPaymentRequired) == tt.refuse {
					return
				}
			}
			t.Errorf("CheckAccess was %v before the change and %v 3 s after it; want refused: %v", before, got, tt.refuse)
		})
	}
}
