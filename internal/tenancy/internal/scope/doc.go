// Package scope is the connection machinery behind tenancy's door.
//
// It opens a tenant scope in one round trip ([Open]), with an optional lead query ([Lead]).
// Lead statements are prepared once per tenant and connection, and kept in a small LRU.
// [Tx] is the scope's transaction; it keys statements by tenant.
// [QueryUnkept] runs statements that the connection does not keep.
// [ReadInOneTrip] runs a read-only scope, its queries and COMMIT in one round trip.
// Only package tenancy uses it.
package scope
