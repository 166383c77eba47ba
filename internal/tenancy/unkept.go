package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy/internal/scope"
)

// UnkeptQuery is one statement of [QueryUnkept]: its SQL, its arguments, and what reads its rows.
type UnkeptQuery = scope.Query

// QueryUnkept runs queries in tx in one round trip and hands each one's rows to its Read, in order.
// tx is a transaction that [Manager.RunWith] handed out.
// Each query runs as an unnamed statement that the connection does not keep.
// It stops at the first failure.
//
// It is for statements a scope runs once in a long while, such as a tenant's set-up.
// Kept statements would hold a plan per tenant in every backend for the backend's life.
// BENCHMARKS.md (issue 3, unkept statements) has the measurement.
func QueryUnkept(ctx context.Context, tx pgx.Tx, queries ...UnkeptQuery) error {
	return scope.QueryUnkept(ctx, tx, queries...)
}
