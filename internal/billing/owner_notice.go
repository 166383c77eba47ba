package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// NoticeWebhookDisabled tells the owner that a webhook subscription was disabled after repeated
// failed deliveries (the webhooks package asks for it through [Service.NotifyOwner]).
const NoticeWebhookDisabled = "webhook_disabled"

// NotifyOwner queues a notice of kind for the organization's owner (its billing e-mail) in the
// outbox that [Service.DeliverNotifications] sends, each notice once. key makes the notice unique:
// a second call with the same key does nothing. An organization without a subscription or without
// a billing e-mail gets no notice, and no error.
func (s *Service) NotifyOwner(ctx context.Context, orgID int64, kind, key, subject, body string) error {
	if kind != NoticeWebhookDisabled {
		return fmt.Errorf("notifying the owner of organization %d: unknown notice kind %q", orgID, kind)
	}
	sub, err := s.Subscription(ctx, orgID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notifying the owner of organization %d: %w", orgID, err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return enqueue(ctx, tx, sub, kind, key, subject, body)
	})
}
