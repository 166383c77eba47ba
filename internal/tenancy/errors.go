package tenancy

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLState returns the SQLSTATE code of a PostgreSQL error in err's chain, or "".
func SQLState(err error) string {
	return sqlState(err)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
