package webhooks

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// notifyDisabled tells the owner of each subscription disabled since the last run, once:
// billing's outbox dedupes by key, and the flag is cleared only after the notice is queued.
func (s *Service) notifyDisabled(ctx context.Context, t tenancy.Tenant) error {
	type pending struct {
		id         int64
		url        string
		reason     string
		disabledAt time.Time
	}
	var todo []pending
	err := s.m.Run(ctx, t, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, url, motivo_desactivacion, desactivada_en FROM webhooks_suscripcion
			WHERE aviso_pendiente AND desactivada_en IS NOT NULL ORDER BY id`)
		if err != nil {
			return err
		}
		todo, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
			var p pending
			return p, r.Scan(&p.id, &p.url, &p.reason, &p.disabledAt)
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("reading disabled webhook subscriptions of %s: %w", t.Schema, err)
	}
	if len(todo) == 0 {
		return nil
	}
	if t.OrganizationID == 0 {
		if t, err = s.tenantOf(ctx, t.Schema); err != nil {
			return err
		}
	}
	for _, p := range todo {
		key := fmt.Sprintf("webhook_disabled:%d:%d:%d", t.OrganizationID, p.id, p.disabledAt.UnixMicro())
		subject := "Desactivamos un webhook de tu organización"
		body := fmt.Sprintf("El webhook %d (%s) fue desactivado el %s (UTC) porque sus entregas fallaban repetidamente.\n"+
			"Motivo: %s\nRevisa el destino y vuelve a activarlo desde la configuración de webhooks; los eventos de mientras no se enviaron y puedes reenviarlos a mano.",
			p.id, p.url, p.disabledAt.UTC().Format("2006-01-02 15:04"), p.reason)
		if s.opts.Owner == nil {
			s.log.Warn("webhook subscription disabled (no owner notifier configured)", "schema", t.Schema, "subscription", p.id, "url", p.url, "reason", p.reason)
		} else if err := s.opts.Owner.NotifyOwner(ctx, t.OrganizationID, NoticeDisabled, key, subject, body); err != nil {
			return fmt.Errorf("telling the owner of %s that webhook %d was disabled: %w", t.Schema, p.id, err)
		}
		if err := s.m.Run(ctx, t, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE webhooks_suscripcion SET aviso_pendiente = false WHERE id = $1 AND desactivada_en = $2`, p.id, p.disabledAt)
			return err
		}); err != nil {
			return fmt.Errorf("marking the notice of webhook %d of %s: %w", p.id, t.Schema, err)
		}
	}
	return nil
}

// tenantOf finds the organization whose schema is schema.
func (s *Service) tenantOf(ctx context.Context, schema string) (tenancy.Tenant, error) {
	orgs, err := s.m.Organizations(ctx)
	if err != nil {
		return tenancy.Tenant{}, err
	}
	for _, o := range orgs {
		if o.SchemaName == schema {
			return o.Tenant()
		}
	}
	return tenancy.Tenant{}, fmt.Errorf("%w: no organization has schema %s", tenancy.ErrNotFound, schema)
}
