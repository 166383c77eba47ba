-- The owner is told when a webhook subscription is disabled after repeated failures (issue 23,
-- item 5): a notice of kind webhook_disabled in billing's outbox, sent once like the others.
ALTER TABLE public.billing_notificacion DROP CONSTRAINT billing_notificacion_tipo_check;
ALTER TABLE public.billing_notificacion ADD CONSTRAINT billing_notificacion_tipo_check
    CHECK (tipo IN ('trial_ending', 'payment_approved', 'payment_failed', 'suspended', 'webhook_disabled'));
