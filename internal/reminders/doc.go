// Package reminders sends reminders of appointments to clients by e-mail and WhatsApp, and owns
// their tables: the settings (recordatorios_configuracion), the due reminders
// (recordatorios_recordatorio), the delivery log (recordatorios_envio) in each tenant's schema,
// and public.recordatorios_agenda.
//
// # Scheduling
//
// A statement trigger on citas_cita (tenant migration 0010) keeps one row per appointment and
// offset (by default 24 h and 2 h before) in the same transaction as the appointment's change,
// whoever makes it: a booking makes rows, a move moves them, a cancellation, completion or no-show
// cancels them. It works over transition tables, so an import of 10,000 appointments costs one
// set-based write. Reminders whose time has passed are never sent.
//
// Finding due work does not visit every tenant. The trigger announces new reminders with
// pg_notify (delivered at commit); [Service.Listen] gathers the announcements for a second and
// writes one row per tenant of public.recordatorios_agenda: the tenant and the earliest time it
// has work. [Service.Dispatch] reads the due rows through an index, page by page, and marks each
// tenant queued in the transaction that inserts its job. A slow [Service.Sweep] rebuilds the
// agenda from every tenant, for announcements lost while no listener ran.
//
// # Sending
//
// One River job per tenant with due work ([Service.RunTenant]) claims a batch of due reminders
// (100 by default) in a transaction that commits before anything is sent, sends them, and records
// each outcome in the delivery log. A reminder is claimed once: a sender that dies between the
// provider's answer and the record leaves it "enviando", and it is not sent again. Provider
// errors that may pass (429, 5xx, network) put the reminder back with a backoff; others fail it.
// The job sends batch after batch for a time slice, then yields (it snoozes to the end of the
// queue) so that other tenants' jobs run in between: no tenant has more than one job in the queue,
// or blocks another.
package reminders
