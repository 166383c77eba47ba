-- Abandoned checkouts (issue 5): a checkout left PENDING past its expiry, while Wompi still
-- reports it PENDING or does not know its reference, becomes EXPIRED. EXPIRED is ours, not a
-- Wompi state: a late Wompi event (APPROVED, DECLINED...) still settles the payment.
ALTER TABLE public.billing_pago DROP CONSTRAINT billing_pago_estado_check;
ALTER TABLE public.billing_pago ADD CONSTRAINT billing_pago_estado_check
    CHECK (estado IN ('PENDING', 'APPROVED', 'DECLINED', 'VOIDED', 'ERROR', 'EXPIRED'));
-- Expired checkouts are still asked about for a while (a late settlement whose event was lost).
CREATE INDEX billing_pago_expirado_idx ON public.billing_pago (created_at) WHERE estado = 'EXPIRED';
