// Package migrate holds appcitas's SQL migrations, embedded in the binary, and the helpers that
// order them.
//
// There are two sets. Public migrations build the shared schema (the tenant catalog
// organizacion_organizacion, auth_user, billing_plan, billing_suscripcion and the migration
// ledger). Tenant migrations build each tenant's schema (organizacion_sede, usuarios_perfilusuario,
// citas_servicio, citas_cita). Files are named NNNN_name.sql and numbered 1..n without gaps.
//
// Applying public migrations is done here ([Apply]); applying tenant migrations is done by the
// tenancy package, which owns the scoped transaction every tenant statement runs in.
package migrate
