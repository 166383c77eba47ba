// Package loadbench holds the request-throughput benchmark of issue 3, item 8: GET /api/citas and
// GET /api/disponibilidad over real HTTP on loopback, 8 concurrent clients, over fleets of 10 and
// 10,000 tenants, next to pgbench running the same SQL against the same cluster in the same run.
// It has no code of its own: everything is in its _test.go files, and nothing runs unless asked
// (go test -bench or APPCITAS_LOADBENCH=1); see BENCHMARKS.md for the commands.
package loadbench
