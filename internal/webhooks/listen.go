package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// Channel is where tenant migration 0012's trigger announces, at commit, the schema that has new
// deliveries.
const Channel = "appcitas_webhooks"

// coalesce is how long the listener gathers announcements before it hands them on, so that a
// burst of changes in one tenant becomes one job.
const coalesce = 200 * time.Millisecond

// Listen listens on [Channel] over a connection of its own to url (a direct connection: a
// transaction-mode pooler loses LISTEN) until ctx ends, reconnecting after failures. Each time
// it is (again) listening it calls onListening: what was announced while nobody listened is
// missed, and the caller sweeps. Announced schemas are handed to onSchemas each once per
// gathering of up to 200 ms.
func Listen(ctx context.Context, url string, onListening func(), onSchemas func([]string), log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	pause := time.Second
	for ctx.Err() == nil {
		heard, err := listenOnce(ctx, url, onListening, onSchemas)
		if ctx.Err() != nil {
			return
		}
		if heard {
			pause = time.Second
		}
		log.Warn("webhook listener lost; reconnecting", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, 30*time.Second)
	}
}

// pingEvery is how often an idle listener checks that its connection still works.
const pingEvery = 30 * time.Second

// listenOnce runs one LISTEN connection until it fails; heard says it was listening.
func listenOnce(ctx context.Context, url string, onListening func(), onSchemas func([]string)) (heard bool, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("reading the connection string: %w", err)
	}
	// A wait ends by a deadline on the socket, never by a cancel request, so the connection
	// stays usable after each wait.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return false, fmt.Errorf("listening: %w", err)
	}
	onListening()
	pending := map[string]bool{}
	var first time.Time
	for {
		wake := time.Now().Add(pingEvery)
		if len(pending) > 0 {
			wake = first.Add(coalesce)
		}
		wctx, cancel := context.WithDeadline(ctx, wake)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err == nil:
			if tenancy.ValidateSchemaName(n.Payload) == nil {
				if len(pending) == 0 {
					first = time.Now()
				}
				pending[n.Payload] = true
			}
			if len(pending) == 0 || time.Since(first) < coalesce {
				continue
			}
		case !errors.Is(err, context.DeadlineExceeded):
			return true, err
		case len(pending) == 0:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("pinging: %w", err)
			}
			continue
		}
		schemas := make([]string, 0, len(pending))
		for s := range pending {
			schemas = append(schemas, s)
		}
		clear(pending)
		onSchemas(schemas)
	}
}

// Due is a tenant with deliveries waiting, and when the first is due.
type Due struct {
	Tenant tenancy.Tenant
	At     time.Time
}

// sweepConcurrency bounds the schemas a sweep reads at once.
const sweepConcurrency = 4

// PendingTenants returns the tenants that have deliveries waiting. It visits every active
// organization's schema once (on the bulk pool): the safety net for announcements nobody heard,
// run when a listener starts and at a slow period. On the way it deletes the events older than
// [Options.Retention] that wait for nothing, with their deliveries and log. A schema not yet
// migrated to the webhook tables is skipped.
func (s *Service) PendingTenants(ctx context.Context) ([]Due, error) {
	orgs, err := s.m.Organizations(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweeping webhooks: %w", err)
	}
	var (
		mu   sync.Mutex
		out  []Due
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, sweepConcurrency)
	)
	for _, o := range orgs {
		if !o.IsActive || o.SchemaName == "" {
			continue
		}
		t, err := o.Tenant()
		if err != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var at *time.Time
			err := s.m.RunWith(ctx, t, tenancy.RunOptions{Bulk: true}, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `DELETE FROM webhooks_evento ev WHERE ev.created_at < $1 AND NOT EXISTS (
						SELECT 1 FROM webhooks_entrega e WHERE e.evento_id = ev.id AND e.estado IN ('pendiente', 'enviando'))`,
					s.now().Add(-s.opts.Retention)); err != nil {
					return err
				}
				return tx.QueryRow(ctx, `SELECT min(e.proximo_intento_en) FROM webhooks_entrega e
					JOIN webhooks_suscripcion s ON s.id = e.suscripcion_id
					WHERE s.is_active AND e.estado IN ('pendiente', 'enviando')`).Scan(&at)
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tenancy.SQLState(err) == "42P01" || errors.Is(err, tenancy.ErrSchemaMissing):
				// not migrated to 0012 yet, or no schema: nothing to deliver
			case err != nil:
				errs = append(errs, fmt.Errorf("sweeping webhooks of %s: %w", t.Schema, err))
			case at != nil:
				out = append(out, Due{Tenant: t, At: *at})
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
