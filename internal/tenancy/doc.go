// Package tenancy owns the tenant catalog, provisioning, tenant migrations and the one door into
// a tenant's data.
//
// # The door
//
// Tenant SQL runs only inside [Manager.Run] or [Manager.RunWith].
// Run takes a connection from the pool of the server that holds the tenant.
// It opens a transaction whose search_path is "<schema>, public".
// The transaction's role is the tenant's own role.
// Both are set with SET LOCAL, in the same round trip as BEGIN.
// Nothing is set at session level, so the connection goes back to the pool as it came.
// SQL that names another tenant's schema fails with "permission denied".
// A backend may refuse the role of a tenant granted moments ago (a stale cache of PostgreSQL 15).
// Run then closes that connection and opens the scope on another (see membership.go).
// [Manager.RunSnapshot] is Run in a REPEATABLE READ READ ONLY transaction.
// [WithinTx] scopes a transaction the caller already owns, for a signup that writes public and
// tenant rows together.
// Every schema name goes through [Ident] before it reaches SQL.
//
// # Pools and slices
//
// Each server has a shared pool for public rows and a tenant pool cut into slices.
// A tenant is served by one slice, chosen by a hash of its schema.
// A busy slice spills the tenant to the next slices ([PoolOptions.SpillAfter]).
// One slice's backends hold the catalog and statements of a fraction of the tenants only.
// [PoolOptions.Slices] and [PoolOptions.ConnsPerSlice] size the tenant pool.
//
// # Opting out of kept statements
//
// Tenant connections keep prepared statements, keyed by tenant ([PoolOptions.StatementCache]).
// [RunOptions.Bulk] runs a scope on the bulk pool, whose statements are not kept.
// It is for work that visits many tenants once each, such as backups.
// [QueryUnkept] runs statements that a scope needs once in a long while without keeping them.
// [RunOptions.Lead] sends one query in the round trip that opens the scope.
//
// # Reads in one round trip
//
// [Manager.ReadInOneTrip] sends a read-only scope's opening, a lead, one query and COMMIT together.
// The caller checks the lead's answer before the query's rows are used.
// Its statements are kept per tenant and connection, prepared inside the scope.
package tenancy
