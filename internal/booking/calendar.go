package booking

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// CalendarEntry is one appointment as a calendar shows it: when, where, what and for whom.
type CalendarEntry struct {
	ID             int64
	Start, End     time.Time
	Status         string
	ClientName     string
	ServiceName    string
	StaffID        int64
	StaffName      string
	BranchID       int64
	BranchName     string
	BranchAddress  string
	BranchTimeZone string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// CalendarQuery selects the appointments of one staff member or one branch that start in
// [From, To), cancelled ones included.
type CalendarQuery struct {
	// StaffID, when not 0, keeps only this staff member's appointments.
	StaffID int64
	// BranchID, when not 0, keeps only this branch's appointments.
	BranchID int64
	From, To time.Time
	// Limit bounds the answer: the first Limit entries by start time.
	Limit int
}

// CalendarEntries returns the appointments q selects, by start time then id. One of StaffID and
// BranchID must be set, and Limit must be positive.
func CalendarEntries(ctx context.Context, tx pgx.Tx, q CalendarQuery) ([]CalendarEntry, error) {
	if (q.StaffID == 0) == (q.BranchID == 0) {
		return nil, invalidField("profesional_id", "give a staff member or a branch")
	}
	if q.Limit <= 0 {
		return nil, invalidField("limit", "must be positive")
	}
	if !q.To.After(q.From) {
		return nil, invalidField("hasta", "must be after desde")
	}
	// Two statements rather than one with an optional filter: each gets a plan of its own.
	filter := `c.profesional_id = $1`
	target := q.StaffID
	if q.BranchID != 0 {
		filter, target = `c.sede_id = $1`, q.BranchID
	}
	rows, err := tx.Query(ctx, `
		SELECT c.id, c.inicio, c.fin, c.estado, c.cliente_nombre, s.nombre, c.profesional_id,
		       p.nombre_visible, c.sede_id, b.nombre, b.direccion, b.zona_horaria, c.created_at, c.updated_at
		FROM citas_cita c
		JOIN citas_servicio s ON s.id = c.servicio_id
		JOIN usuarios_perfilusuario p ON p.id = c.profesional_id
		JOIN organizacion_sede b ON b.id = c.sede_id
		WHERE `+filter+` AND c.inicio >= $2 AND c.inicio < $3
		ORDER BY c.inicio, c.id
		LIMIT $4`, target, q.From, q.To, q.Limit)
	if err != nil {
		return nil, translate(err, "listing calendar entries")
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CalendarEntry, error) {
		var e CalendarEntry
		err := r.Scan(&e.ID, &e.Start, &e.End, &e.Status, &e.ClientName, &e.ServiceName, &e.StaffID,
			&e.StaffName, &e.BranchID, &e.BranchName, &e.BranchAddress, &e.BranchTimeZone, &e.CreatedAt, &e.UpdatedAt)
		return e, err
	})
	if err != nil {
		return nil, translate(err, "listing calendar entries")
	}
	return entries, nil
}
