package onboarding

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetBeforeCommit makes every signup of s run fn last inside its transaction (to test atomicity).
func SetBeforeCommit(s *Service, fn func(ctx context.Context, tx pgx.Tx) error) { s.beforeCommit = fn }
