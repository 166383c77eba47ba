package booking

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Holdings counts what a tenant holds.
type Holdings struct {
	// Branches, Services and Members count the active ones.
	Branches, Services, Members int64
	// Appointments counts the appointments that are not cancelled starting in the asked range.
	Appointments int64
}

// CountHoldings counts the tenant's active branches, services and members, and its appointments
// that are not cancelled starting in [from, to), in one statement.
func CountHoldings(ctx context.Context, tx pgx.Tx, from, to time.Time) (Holdings, error) {
	var h Holdings
	err := tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM organizacion_sede WHERE is_active),
		(SELECT count(*) FROM citas_servicio WHERE is_active),
		(SELECT count(*) FROM usuarios_perfilusuario WHERE is_active),
		(SELECT count(*) FROM citas_cita WHERE inicio >= $1 AND inicio < $2 AND estado <> 'cancelada')`, from, to).Scan(
		&h.Branches, &h.Services, &h.Members, &h.Appointments)
	if err != nil {
		return Holdings{}, fmt.Errorf("counting the tenant's holdings: %w", err)
	}
	return h, nil
}
