package billing

import "github.com/appcitas/appcitas/internal/tenancy"

func sqlState(err error) string { return tenancy.SQLState(err) }
