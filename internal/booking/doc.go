// Package booking is the appointment business inside one tenant: branches (organizacion_sede),
// services (citas_servicio), members (usuarios_perfilusuario), working hours, appointments
// (citas_cita) and availability. Every function takes a pgx.Tx opened by tenancy's scoped
// transaction ([tenancy.Manager.Run]); nothing here chooses a schema.
package booking
