package reminders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// Channel is the notification channel on which the trigger announces new reminders, with the
// payload "<schema> <unix seconds>".
const Channel = "appcitas_recordatorios"

func (s *Service) public(ctx context.Context) (*pgxpool.Pool, error) {
	return s.m.Servers().Shared(ctx, tenancy.DefaultServer)
}

// agendaVersion returns the version of the organization's agenda row (0: none).
func (s *Service) agendaVersion(ctx context.Context, orgID int64) (int64, error) {
	p, err := s.public(ctx)
	if err != nil {
		return 0, err
	}
	var v int64
	err = p.QueryRow(ctx, `SELECT version FROM public.recordatorios_agenda WHERE organizacion_id = $1`, orgID).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("reading the reminder agenda: %w", err)
	}
	return v, nil
}

// setAgenda writes the organization's next due reminder (nil: none), as read after the agenda was
// at version seen. When an announcement changed the row in between, the earlier time wins, and a
// row is not removed.
func (s *Service) setAgenda(ctx context.Context, orgID, seen int64, next *time.Time) error {
	p, err := s.public(ctx)
	if err != nil {
		return err
	}
	if next == nil {
		// A row an announcement changed meanwhile stays, no longer marked queued.
		_, err = p.Exec(ctx, `WITH d AS (DELETE FROM public.recordatorios_agenda WHERE organizacion_id = $1 AND version = $2)
			UPDATE public.recordatorios_agenda SET encolado_en = NULL WHERE organizacion_id = $1`, orgID, seen)
	} else {
		_, err = p.Exec(ctx, `INSERT INTO public.recordatorios_agenda AS a (organizacion_id, proximo_en) VALUES ($1, $2)
			ON CONFLICT (organizacion_id) DO UPDATE SET
				proximo_en = CASE WHEN a.version = $3 THEN EXCLUDED.proximo_en ELSE least(a.proximo_en, EXCLUDED.proximo_en) END,
				version = a.version + 1, encolado_en = NULL, updated_at = now()`, orgID, *next, seen)
	}
	if err != nil {
		return fmt.Errorf("writing the reminder agenda: %w", err)
	}
	return nil
}

// clearAgenda removes an organization that is gone or inactive from the agenda.
func (s *Service) clearAgenda(ctx context.Context, orgID int64) error {
	p, err := s.public(ctx)
	if err != nil {
		return err
	}
	if _, err := p.Exec(ctx, `DELETE FROM public.recordatorios_agenda WHERE organizacion_id = $1`, orgID); err != nil {
		return fmt.Errorf("writing the reminder agenda: %w", err)
	}
	return nil
}

// Note records that the tenant with schema has a reminder due at at (or later): the agenda's
// time becomes the earlier of the two. Unknown schemas are ignored.
func (s *Service) Note(ctx context.Context, schema string, at time.Time) error {
	p, err := s.public(ctx)
	if err != nil {
		return err
	}
	_, err = p.Exec(ctx, `INSERT INTO public.recordatorios_agenda AS a (organizacion_id, proximo_en)
		SELECT id, $2 FROM public.organizacion_organizacion WHERE schema_name = $1
		ON CONFLICT (organizacion_id) DO UPDATE SET proximo_en = least(a.proximo_en, EXCLUDED.proximo_en),
			version = a.version + 1, updated_at = now()`, schema, at)
	if err != nil {
		return fmt.Errorf("writing the reminder agenda: %w", err)
	}
	return nil
}

// noteOrg is Note by organization id.
func (s *Service) noteOrg(ctx context.Context, orgID int64, at time.Time) error {
	p, err := s.public(ctx)
	if err != nil {
		return err
	}
	_, err = p.Exec(ctx, `INSERT INTO public.recordatorios_agenda AS a (organizacion_id, proximo_en) VALUES ($1, $2)
		ON CONFLICT (organizacion_id) DO UPDATE SET proximo_en = least(a.proximo_en, EXCLUDED.proximo_en),
			version = a.version + 1, updated_at = now()`, orgID, at)
	if err != nil {
		return fmt.Errorf("writing the reminder agenda: %w", err)
	}
	return nil
}

// RequeueAfter is how long a tenant queued by a dispatch is skipped by later dispatches while its
// job has not rewritten its agenda row (a job lost with its process is queued again after it).
const RequeueAfter = 10 * time.Minute

// Due returns up to limit organizations with reminders due now that no dispatch queued in the
// last RequeueAfter, the longest waiting first, without marking them. It reads only the due rows
// of the agenda (an index range), whatever the number of tenants.
func (s *Service) Due(ctx context.Context, limit int) ([]int64, error) {
	p, err := s.public(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := p.Query(ctx, `SELECT organizacion_id FROM public.recordatorios_agenda WHERE proximo_en <= $1
		AND (encolado_en IS NULL OR encolado_en <= $1 - $3::interval) ORDER BY proximo_en LIMIT $2`, s.now(), limit, RequeueAfter)
	if err != nil {
		return nil, fmt.Errorf("reading the reminder agenda: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("reading the reminder agenda: %w", err)
	}
	return ids, nil
}

// Dispatch takes up to limit due organizations (as [Service.Due]), marks them queued and calls
// queue with them, all in one transaction on the default server: queue inserts their jobs in tx
// (River's InsertManyTx), so a tenant is marked exactly when its job exists. queue returns the
// organizations whose job was not inserted because one waits or runs already: they are not marked,
// so that a job finishing just then does not leave its tenant marked without a job. It returns how
// many organizations it took; fewer than limit means none is left.
func (s *Service) Dispatch(ctx context.Context, limit int, queue func(ctx context.Context, tx pgx.Tx, orgIDs []int64) (skipped []int64, err error)) (int, error) {
	p, err := s.public(ctx)
	if err != nil {
		return 0, err
	}
	var ids []int64
	err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		now := s.now()
		rows, err := tx.Query(ctx, `UPDATE public.recordatorios_agenda SET encolado_en = $1
			WHERE organizacion_id IN (SELECT organizacion_id FROM public.recordatorios_agenda WHERE proximo_en <= $1
				AND (encolado_en IS NULL OR encolado_en <= $1 - $3::interval) ORDER BY proximo_en LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING organizacion_id`, now, limit, RequeueAfter)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil || len(ids) == 0 {
			return err
		}
		skipped, err := queue(ctx, tx, ids)
		if err != nil || len(skipped) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE public.recordatorios_agenda SET encolado_en = NULL WHERE organizacion_id = ANY($1)`, skipped)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dispatching reminder jobs: %w", err)
	}
	return len(ids), nil
}

// ParsePayload reads a notification's payload: the schema and the time.
func ParsePayload(payload string) (string, time.Time, error) {
	schema, secs, ok := strings.Cut(payload, " ")
	n, err := strconv.ParseInt(secs, 10, 64)
	if !ok || err != nil || tenancy.ValidateSchemaName(schema) != nil {
		return "", time.Time{}, fmt.Errorf("reminder notification %q: want '<schema> <unix seconds>'", payload)
	}
	return schema, time.Unix(n, 0), nil
}

// Sweep rebuilds the agenda from every active tenant's pending reminders, for announcements that
// no listener heard (the server was down). It visits each tenant once, on the bulk pool, a few at
// a time, and returns how many have pending reminders. A tenant that fails is logged and skipped.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	orgs, err := s.m.Organizations(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweeping reminders: %w", err)
	}
	var (
		mu    sync.Mutex
		found int
		wg    sync.WaitGroup
		slots = make(chan struct{}, 4)
	)
	for _, org := range orgs {
		if !org.IsActive || org.SchemaName == "" {
			continue
		}
		t, err := org.Tenant()
		if err != nil {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			var next *time.Time
			err := s.m.RunWith(ctx, t, tenancy.RunOptions{ReadOnly: true, Bulk: true}, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, `SELECT min(proximo_en) FROM recordatorios_recordatorio WHERE estado = 'pendiente'`).Scan(&next)
			})
			if err == nil && next != nil {
				err = s.noteOrg(ctx, org.ID, *next)
				mu.Lock()
				found++
				mu.Unlock()
			}
			if err != nil {
				s.log.Warn("reminder sweep: tenant skipped", "organization", org.ID, "err", err)
			}
		}()
	}
	wg.Wait()
	return found, ctx.Err()
}

// Listen turns the trigger's announcements into agenda rows until ctx ends. It holds one LISTEN
// connection per database server known when it starts (to the default server through
// Options.ListenURL when set: a pooler in transaction mode loses notifications) and reconnects
// after a loss; after a reconnection it sweeps, since announcements made meanwhile were lost.
func (s *Service) Listen(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, name := range s.m.Servers().Names() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.listenServer(ctx, name)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (s *Service) listenServer(ctx context.Context, server string) {
	delay := time.Second
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			go func() {
				if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reminder sweep after reconnecting", "err", err)
				}
			}()
		}
		err := s.listenOnce(ctx, server)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("reminder notifications lost; reconnecting", "server", server, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

// flushEvery is how long the listener gathers announcements before it writes them: one write per
// tenant and flush, however many bookings the tenant made meanwhile.
const flushEvery = time.Second

func (s *Service) listenOnce(ctx context.Context, server string) error {
	url, err := s.m.Servers().URL(server)
	if err != nil {
		return err
	}
	if server == tenancy.DefaultServer && s.opts.ListenURL != "" {
		url = s.opts.ListenURL
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("reading the connection string: %w", err)
	}
	// A wait ends by a deadline on the socket, never by a cancel request, so the connection stays
	// usable after each wait.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listening on %s: %w", Channel, err)
	}
	pending := map[string]time.Time{}
	flush := func() {
		for schema, at := range pending {
			if err := s.Note(ctx, schema, at); err != nil {
				s.log.Warn("reminder notification not recorded (the sweep will find it)", "schema", schema, "err", err)
			}
		}
		clear(pending)
	}
	next := time.Now().Add(flushEvery)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && wctx.Err() != nil: // the flush is due
			flush()
			next = time.Now().Add(flushEvery)
			continue
		case err != nil:
			flush()
			return err
		}
		schema, at, err := ParsePayload(n.Payload)
		if err != nil {
			s.log.Warn("reminder notification ignored", "err", err)
			continue
		}
		if cur, ok := pending[schema]; !ok || at.Before(cur) {
			pending[schema] = at
		}
		if !time.Now().Before(next) {
			flush()
			next = time.Now().Add(flushEvery)
		}
	}
}
