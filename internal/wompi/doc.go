// Package wompi is a small client for Wompi, the Colombian payment gateway, as its public
// documentation describes it: acceptance tokens (GET /merchants/{public_key}), payment sources
// (POST /payment_sources), recurring transactions (POST /transactions with payment_source_id and
// recurrent: true), transaction lookups (GET /transactions/{id}), the integrity signature of
// checkouts and transactions, and the checksum of the events Wompi posts to us.
//
// Nothing here is a global: a [Client] is built from a [Config] whose [Keys] are checked against
// the chosen [Environment] (pub_test_/prv_test_/test_events_/test_integrity_ in the sandbox,
// pub_prod_/prv_prod_/prod_events_/prod_integrity_ in production). Tests, and the development
// server when no keys are configured, point the client at the fake in package wompisim.
package wompi
