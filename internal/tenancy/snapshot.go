package tenancy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// VersionTable is the table inside each tenant schema that records its applied migrations. Backups
// leave it out: a restore recreates it by provisioning the schema at the archive's version.
const VersionTable = versionTable

// StableOutputSettings are SET LOCAL statements that make the text form of values independent of
// the server's and the session's configuration (time zone, date style, float digits), so that a
// COPY or a checksum taken on one server reads the same on another.
const StableOutputSettings = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; " +
	"SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'"

// RunSnapshot is [Manager.Run] in a REPEATABLE READ READ ONLY transaction: every statement of fn
// sees the same consistent snapshot of the tenant while other transactions keep writing, and fn
// cannot write. Backups read through it, on the bulk pool ([RunOptions.Bulk]). Value output is
// made stable with StableOutputSettings.
func (m *Manager) RunSnapshot(ctx context.Context, t Tenant, fn func(tx pgx.Tx) error) error {
	return m.RunWith(ctx, t, RunOptions{ReadOnly: true, Bulk: true}, func(tx pgx.Tx) error {
		// No statement of the scope's BEGIN took a snapshot (SET does not), so the isolation level
		// can still be chosen here, before the first query.
		if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; "+StableOutputSettings); err != nil {
			return fmt.Errorf("opening snapshot of %s: %w", t.Schema, err)
		}
		return fn(tx)
	})
}
