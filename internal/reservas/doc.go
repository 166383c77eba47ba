// Package reservas is online booking: the organization's rules (reservas_config), the slots
// clients hold while they fill in the form (reservas_retencion), the manage links of the
// appointments they book (reservas_enlace), and the confirmation e-mails' outbox
// (reservas_correo). It owns those tenant tables. Appointments themselves are booked, moved and
// cancelled through package booking's functions, the ones the staff's API uses, so that the
// exclusion constraint on citas_cita stays the final word.
//
// Every function runs in a tenant's scoped transaction (tenancy's door) given by the caller,
// except [Deliverer], which opens its own.
package reservas
