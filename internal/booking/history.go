package booking

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Actors of citas_historial besides user ids.
const (
	// ActorClient is a client acting through the public booking page or a manage link.
	ActorClient = "cliente"
	// ActorSystem is any change made without SetActor (jobs, the CLI, psql).
	ActorSystem = "sistema"
)

// SetActor names who makes the appointment changes of the rest of tx, as citas_historial records
// them (its trigger reads the transaction-local setting appcitas.actor): ActorClient, a user id,
// or ActorSystem (the default without it).
func SetActor(ctx context.Context, tx pgx.Tx, actor string) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('appcitas.actor', $1, true)`, actor); err != nil {
		return fmt.Errorf("setting the actor: %w", err)
	}
	return nil
}

// HistoryEntry is one change of an appointment (citas_historial), written by the table's trigger
// for every change, whoever makes it.
type HistoryEntry struct {
	ID int64 `json:"id"`
	// Action is creada, reprogramada, or the new state (confirmada, completada, cancelada, no_asistio).
	Action string `json:"accion"`
	// Actor is cliente, a user id, or sistema.
	Actor  string    `json:"actor"`
	Detail string    `json:"detalle"`
	At     time.Time `json:"at"`
}

// History returns the changes of appointment id, oldest first; staff see only their own
// appointments' (others are not found).
func History(ctx context.Context, tx pgx.Tx, actor Actor, id int64) ([]HistoryEntry, error) {
	if _, err := GetAppointment(ctx, tx, actor, id); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT id, accion, actor, detalle, at FROM citas_historial WHERE cita_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, translate(err, fmt.Sprintf("history of appointment %d", id))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HistoryEntry])
	if err != nil {
		return nil, translate(err, fmt.Sprintf("history of appointment %d", id))
	}
	return out, nil
}
