// Package billing owns what a tenant pays for: plans (billing_plan) and their limits,
// subscriptions (billing_suscripcion) and their state machine — trialing → active → past_due →
// suspended → cancelled, and back to active on payment — with every change recorded with its
// cause (billing_suscripcion_evento), payments through Wompi (billing_pago), Wompi's signed events
// applied once each (billing_wompi_evento), and notices to the owner written to an outbox
// (billing_notificacion) and delivered over SMTP or to the log.
//
// Everything lives in public on the default server; nothing here enters a tenant schema except
// [Service.Usage], which counts through tenancy's Run. Every operation that a background job
// performs (trial expiry, renewal charges, retries, suspension, reconciliation, delivery of
// notices) is safe to run twice: the database's unique keys, not the scheduler, make it so.
package billing
