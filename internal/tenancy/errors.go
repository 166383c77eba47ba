package tenancy

import "github.com/appcitas/appcitas/internal/tenancy/internal/scope"

// SQLState returns the SQLSTATE code of a PostgreSQL error in err's chain, or "".
func SQLState(err error) string {
	return sqlState(err)
}

func sqlState(err error) string { return scope.SQLState(err) }
