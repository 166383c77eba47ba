package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// Bounds of what is read and kept of a receiver's answer.
const (
	// maxResponseRead is how much of an answer's body is read.
	maxResponseRead = 64 << 10
	// maxResponseKept is how much of it the delivery log keeps.
	maxResponseKept = 1 << 10
	// maxErrorKept bounds the error text the delivery log keeps.
	maxErrorKept = 500
)

// Result says what one run of [Service.DeliverTenant] did.
type Result struct {
	// Delivered, Retrying and Failed count the attempts of this run by outcome.
	Delivered, Retrying, Failed int
	// Disabled counts the subscriptions this run disabled.
	Disabled int
	// NextAt is when the tenant's next delivery is due; zero when none waits.
	NextAt time.Time
}

// claimed is a delivery claimed for sending, with what sending it needs.
type claimed struct {
	id        string
	subID     int64
	attempt   int
	createdAt time.Time
	claimedAt time.Time
	event     string
	body      []byte
	url       string
	secrets   []string
}

// outcome is what one attempt got.
type outcome struct {
	ok       bool
	status   *int
	duration time.Duration
	err      string
	response string
}

// DeliverTenant sends the tenant's due deliveries until none is due or [Options.RunBudget] is
// spent, and says when the next one is due. A delivery is claimed (enviando) in a committed
// transaction before it is sent, so concurrent runs never send it twice at once; its outcome is
// recorded after. A run that dies in between leaves it claimed, and [Options.ClaimTimeout] later
// it is sent again with the same Appcitas-Delivery id (at least once).
func (s *Service) DeliverTenant(ctx context.Context, t tenancy.Tenant) (Result, error) {
	var res Result
	deadline := time.Now().Add(s.opts.RunBudget)
	for {
		batch, err := s.claim(ctx, t)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			break
		}
		outs := make([]outcome, len(batch))
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { outs[i] = s.send(ctx, batch[i]) })
		}
		wg.Wait()
		if err := s.record(ctx, t, batch, outs, &res); err != nil {
			return res, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	if err := s.notifyDisabled(ctx, t); err != nil {
		return res, err
	}
	if err := s.m.Run(ctx, t, func(tx pgx.Tx) error {
		var next *time.Time
		err := tx.QueryRow(ctx, `SELECT min(CASE WHEN e.estado = 'pendiente' THEN e.proximo_intento_en ELSE e.reclamada_en + $1::interval END)
			FROM webhooks_entrega e JOIN webhooks_suscripcion s ON s.id = e.suscripcion_id
			WHERE s.is_active AND e.estado IN ('pendiente', 'enviando')`, s.opts.ClaimTimeout).Scan(&next)
		if next != nil {
			res.NextAt = *next
		}
		return err
	}); err != nil {
		return res, fmt.Errorf("reading the next webhook delivery of %s: %w", t.Schema, err)
	}
	return res, nil
}

// claim marks up to Options.Batch due deliveries as being sent, and commits.
func (s *Service) claim(ctx context.Context, t tenancy.Tenant) ([]claimed, error) {
	now := s.now()
	var out []claimed
	err := s.m.Run(ctx, t, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH c AS (
				SELECT e.id FROM webhooks_entrega e JOIN webhooks_suscripcion s ON s.id = e.suscripcion_id
				WHERE s.is_active AND ((e.estado = 'pendiente' AND e.proximo_intento_en <= $1)
					OR (e.estado = 'enviando' AND e.reclamada_en <= $2))
				ORDER BY e.proximo_intento_en LIMIT $3 FOR UPDATE OF e SKIP LOCKED)
			UPDATE webhooks_entrega e SET estado = 'enviando', reclamada_en = $1, intentos = e.intentos + 1, updated_at = $1
			FROM c, webhooks_evento ev, webhooks_suscripcion s
			WHERE e.id = c.id AND ev.id = e.evento_id AND s.id = e.suscripcion_id
			RETURNING e.id::text, e.suscripcion_id, e.intentos, e.created_at, ev.tipo, ev.cuerpo::text, s.url, s.secreto,
				CASE WHEN s.secreto_anterior_hasta > $1 THEN s.secreto_anterior END`,
			now, now.Add(-s.opts.ClaimTimeout), s.opts.Batch)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			var body, secret string
			var previous *string
			err := r.Scan(&c.id, &c.subID, &c.attempt, &c.createdAt, &c.event, &body, &c.url, &secret, &previous)
			c.body, c.claimedAt, c.secrets = []byte(body), now, []string{secret}
			if previous != nil {
				c.secrets = append(c.secrets, *previous)
			}
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming webhook deliveries of %s: %w", t.Schema, err)
	}
	return out, nil
}

// send makes one attempt.
func (s *Service) send(ctx context.Context, c claimed) outcome {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	out := outcome{}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		out.err = "building the request: " + err.Error()
		return out
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "appcitas-webhooks/1")
	req.Header.Set(HeaderEvent, c.event)
	req.Header.Set(HeaderDelivery, c.id)
	req.Header.Set(HeaderSignature, Sign(s.now(), c.body, c.secrets...))
	resp, err := s.client.Do(req)
	if err != nil {
		out.duration = time.Since(start)
		out.err = describe(err)
		return out
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	_ = resp.Body.Close()
	out.duration = time.Since(start)
	code := resp.StatusCode
	out.status = &code
	out.response = clip(string(body), maxResponseKept)
	switch {
	case code >= 200 && code < 300:
		out.ok = true
	case code >= 300 && code < 400:
		out.err = fmt.Sprintf("HTTP %d: redirects are not followed", code)
	default:
		out.err = fmt.Sprintf("HTTP %d", code)
	}
	if rerr != nil && out.ok {
		out.ok, out.err = false, "reading the answer: "+rerr.Error()
	}
	return out
}

// describe turns a transport error into the log's error text.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrTargetRefused):
		var msg string
		for e := err; e != nil; e = errors.Unwrap(e) {
			msg = e.Error()
			if strings.HasPrefix(msg, ErrTargetRefused.Error()) {
				break
			}
		}
		return clip(msg, maxErrorKept)
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return clip(err.Error(), maxErrorKept)
}

// clip returns s as valid UTF-8 without NUL bytes, cut to at most n bytes.
func clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// backoff is the pause after the attempt-th failed attempt: RetryBase doubled per failure, up to
// RetryMax, with ±25% jitter.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < attempt && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// record writes the outcomes of a batch: the log, the deliveries' state, the subscriptions'
// failure counts, and the disabling of a subscription that keeps failing.
func (s *Service) record(ctx context.Context, t tenancy.Tenant, batch []claimed, outs []outcome, res *Result) error {
	now := s.now()
	err := s.m.Run(ctx, t, func(tx pgx.Tx) error {
		disabled := map[int64]bool{}
		for i, c := range batch {
			o := outs[i]
			state, next := StateDelivered, (*time.Time)(nil)
			if !o.ok {
				at := now.Add(s.backoff(c.attempt))
				if at.After(c.createdAt.Add(s.opts.GiveUpAfter)) {
					state = StateFailed
				} else {
					state, next = StatePending, &at
				}
			}
			// The delivery may have gone with its subscription (deleted) while it was being sent.
			if _, err := tx.Exec(ctx, `INSERT INTO webhooks_intento (entrega_id, intento, exito, codigo_respuesta, duracion_ms,
					error, respuesta, proximo_intento_en, created_at)
				SELECT $1::uuid, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM webhooks_entrega WHERE id = $1::uuid)`,
				c.id, c.attempt, o.ok, o.status, o.duration.Milliseconds(), o.err, o.response, next, now); err != nil {
				return err
			}
			// Only while the claim is still this run's: a run that took longer than ClaimTimeout
			// may have lost the delivery to another run, which records its own outcome.
			if _, err := tx.Exec(ctx, `UPDATE webhooks_entrega SET estado = $2, proximo_intento_en = $3, reclamada_en = NULL,
					ultimo_codigo = $4, ultimo_error = $5, updated_at = $6
				WHERE id = $1::uuid AND estado = 'enviando' AND reclamada_en = $7`,
				c.id, state, next, o.status, o.err, now, c.claimedAt); err != nil {
				return err
			}
			switch state {
			case StateDelivered:
				res.Delivered++
			case StatePending:
				res.Retrying++
			default:
				res.Failed++
			}
			if o.ok {
				if _, err := tx.Exec(ctx, `UPDATE webhooks_suscripcion SET fallos_consecutivos = 0, fallando_desde = NULL
					WHERE id = $1 AND fallos_consecutivos <> 0`, c.subID); err != nil {
					return err
				}
				continue
			}
			var failures int
			var since time.Time
			var active bool
			err := tx.QueryRow(ctx, `UPDATE webhooks_suscripcion SET fallos_consecutivos = fallos_consecutivos + 1,
					fallando_desde = coalesce(fallando_desde, $2)
				WHERE id = $1 RETURNING fallos_consecutivos, fallando_desde, is_active`, c.subID, now).Scan(&failures, &since, &active)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			if !active || disabled[c.subID] {
				continue
			}
			reason := ""
			switch {
			case failures >= s.opts.DisableAfterFailures:
				reason = fmt.Sprintf("disabled after %d failed attempts in a row (last: %s)", failures, o.err)
			case now.Sub(since) >= s.opts.DisableAfter:
				reason = fmt.Sprintf("disabled after failing since %s (last: %s)", since.UTC().Format(time.RFC3339), o.err)
			default:
				continue
			}
			disabled[c.subID] = true
			res.Disabled++
			if _, err := tx.Exec(ctx, `UPDATE webhooks_suscripcion SET is_active = false, desactivada_en = $2,
					motivo_desactivacion = $3, aviso_pendiente = true, updated_at = $2 WHERE id = $1`, c.subID, now, clip(reason, maxErrorKept)); err != nil {
				return err
			}
		}
		for id := range disabled {
			if _, err := tx.Exec(ctx, `UPDATE webhooks_entrega SET estado = 'fallida', proximo_intento_en = NULL,
					ultimo_error = 'subscription disabled', updated_at = $2
				WHERE suscripcion_id = $1 AND estado = 'pendiente'`, id, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording webhook deliveries of %s: %w", t.Schema, err)
	}
	return nil
}
