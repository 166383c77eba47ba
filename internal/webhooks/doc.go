// Package webhooks sends an organization's events, signed, to the URLs it subscribed.
//
// It owns the tenant tables webhooks_suscripcion (subscriptions), webhooks_evento (the outbox),
// webhooks_entrega (one event to one subscription) and webhooks_intento (the delivery log), made
// by tenant migration 0012.
//
// # Events
//
// A trigger on citas_cita writes the event and its deliveries in the transaction that changes the
// appointment, so every writer is covered. The SQL function webhooks_emitir(schema, type, data)
// does the same for other tables (client.created). Event types are listed in [EventTypes].
//
// The body of every delivery is the event, version 1:
//
//	{"id": "<uuid>", "type": "appointment.created", "version": 1,
//	 "created_at": "2026-12-07T09:00:00.000000Z", "data": {...}}
//
// data of appointment.* holds the appointment (id, sede_id, servicio_id, profesional_id,
// cliente_nombre, cliente_telefono, cliente_email, inicio, fin, estado, motivo_cancelacion,
// precio_centavos, moneda, created_at, updated_at; times in UTC RFC 3339). A rescheduled event adds
// "anterior" (inicio, fin, profesional_id before the change); a status event adds
// "estado_anterior". Keys are only ever added within a version.
//
// # Delivery
//
// A POST with the JSON body and the headers Appcitas-Event (the type), Appcitas-Delivery (the
// delivery's id: the same on every retry, for the receiver's dedupe) and Appcitas-Signature:
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// After a secret rotation a second v1 signs with the previous secret for a day. A 2xx answer
// delivers; anything else is retried with exponential backoff and jitter for about a day
// ([Options]). Delivery is at least once: a deliverer that dies between the POST and recording it
// leaves the delivery claimed, and it is sent again (with the same Appcitas-Delivery) after
// [Options.ClaimTimeout]. A subscription that keeps failing is disabled and the owner is told.
//
// # Targets
//
// Outside development only https URLs whose addresses are public are accepted: loopback, private,
// link-local, unspecified, multicast and reserved addresses are refused when the subscription is
// saved and again at connect time, on the address actually dialled, so DNS rebinding does not get
// around it. Redirects are not followed. [Options.Development] lifts these rules for local use.
package webhooks
