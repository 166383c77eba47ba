package booking

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AppointmentNotice is what a message to a client about an appointment says: when, where, what
// and with whom.
type AppointmentNotice struct {
	ID            int64
	Start         time.Time
	ClientName    string
	ClientPhone   string
	ClientEmail   string
	BranchName    string
	BranchAddress string
	BranchPhone   string
	// BranchTimeZone is the branch's IANA time zone.
	BranchTimeZone string
	ServiceName    string
	// StaffName is the staff member's display name.
	StaffName string
}

// AppointmentNotices reads the notices of the appointments ids, in tx (a tenant scope), by id.
// Ids that name no appointment are left out.
func AppointmentNotices(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]AppointmentNotice, error) {
	out := make(map[int64]AppointmentNotice, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT c.id, c.inicio, c.cliente_nombre, c.cliente_telefono, c.cliente_email,
			s.nombre, s.direccion, s.telefono, s.zona_horaria, sv.nombre, p.nombre_visible
		FROM citas_cita c
		JOIN organizacion_sede s ON s.id = c.sede_id
		JOIN citas_servicio sv ON sv.id = c.servicio_id
		JOIN usuarios_perfilusuario p ON p.id = c.profesional_id
		WHERE c.id = ANY ($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading appointment notices: %w", err)
	}
	var n AppointmentNotice
	_, err = pgx.ForEachRow(rows, []any{&n.ID, &n.Start, &n.ClientName, &n.ClientPhone, &n.ClientEmail,
		&n.BranchName, &n.BranchAddress, &n.BranchPhone, &n.BranchTimeZone, &n.ServiceName, &n.StaffName}, func() error {
		out[n.ID] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading appointment notices: %w", err)
	}
	return out, nil
}
