// Package backup writes, verifies and restores per-tenant backups, and moves tenants between
// servers.
//
// A backup is one gzip-compressed tar archive (".appcitas-backup") of one tenant schema:
//
//	manifest.json                      what the archive holds (see [Manifest])
//	data/001_organizacion_sede.copy    each table's rows, PostgreSQL COPY text format,
//	data/002_citas_servicio.copy       ordered by primary key, in foreign-key load order
//	...
//	SHA256SUMS                         SHA-256 of every other entry (sha256sum -c format)
//
// The manifest records the format version, the organization (id, name, slug, schema, time zone,
// server), the tenant migration version and the names of the migrations up to it, and for every
// table its columns, row count, byte count and SHA-256. Any tar and gzip tool can open an archive
// (tar -xzf); each .copy file loads with psql's \copy.
//
// A backup reads only the tenant's own catalog entries and rows, inside one REPEATABLE READ READ
// ONLY transaction of the tenant's scope (a consistent snapshot while the tenant keeps taking
// writes), so its cost does not grow with the number of other schemas on the server, unlike
// pg_dump -n, which reads the catalog of the whole database.
//
// A restore verifies the whole archive first (every checksum, row count and the gzip trailer), so a
// corrupted or truncated archive is refused before anything changes; it then creates a fresh
// schema at the archive's migration version, loads the rows (checking the checksums again as they
// stream), resets identity sequences, migrates the schema forward to the latest version and
// updates the catalog, in one transaction when the target is the default server.
//
// The catalog step also makes public.usuarios_membresia (the list GET /api/me reads) a mirror of
// the restored profiles. A copy under a new organization deactivates every profile first, unless
// [RestoreOptions.KeepMembers]: the archived organization's members do not reach the copy.
//
// Scheduled backups: a [Scheduler] gives each tenant a slot in every period (a hash of its schema,
// so that thousands of tenants are spread over the day), backs a tenant up into a [Store], prunes
// per retention (daily and weekly) and records failures for list_tenants. The server runs it as
// River jobs (internal/jobs: one unique job per tenant and period, retried on failure);
// backup_all_tenants runs it at once for every tenant.
package backup
