// Package jobs owns appcitas's background job queue: one River client (riverqueue/river on pgx v5)
// whose tables live in their own schema, "river", on the default server. `appcitas migrate`
// creates and migrates that schema ([Migrate]); `appcitas serve` starts the client ([New],
// [Runner.Start]).
//
// Billing runs here: a periodic sweep (every minute) lists what the clock made due and inserts one
// job per item — a charge (trial expiry, renewal, or a retry on days 1, 3 and 5 after a failed
// renewal), a suspension at the end of a grace period, the reconciliation of a payment left
// PENDING, the delivery of owner notices. Each job is unique by its arguments (subscription,
// period, attempt), so a sweep that runs twice, or two servers, never queue it twice; and what
// each job does is idempotent in the database anyway, so a job that runs twice never charges
// twice. Other packages add their own workers and periodic jobs through [Config].
package jobs
