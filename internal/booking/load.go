package booking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// bookingData is what a booking decision reads, fetched in one round trip by loadBookingData.
type bookingData struct {
	service  Service
	branch   Branch
	staff    Member
	hasStaff bool           // staff was asked for and exists
	loc      *time.Location // the branch's zone, when read from a Setup
	hours    map[int64][]hoursRow
	except   []exceptionRow
	busy     map[int64][]interval
}

// loadRequest says what loadBookingData reads. Zero ids are not read.
type loadRequest struct {
	serviceID, branchID, staffID int64
	// schedule reads working hours and exceptions of the branch (and staffID, when set) between
	// the local days from and to.
	schedule bool
	from, to Date
	// busy reads the busy blocks of staff working at the branch (or of staffID) between from and to.
	busy bool
}

// loadBookingData reads the service, branch, staff member, working hours, exceptions and busy
// blocks a booking decision needs. With a set-up (the tenant's, at the version tx reads) only the
// busy blocks are read, and from citas_cita alone; without, everything is read as one pgx batch:
// one round trip instead of six. A missing service, branch or staff member is reported by the
// zero ID of its field, not as an error.
func loadBookingData(ctx context.Context, tx pgx.Tx, setup *Setup, req loadRequest) (bookingData, error) {
	var d bookingData
	if setup != nil {
		setup.fill(&d, req)
		if !req.busy {
			return d, nil
		}
		var err error
		d.busy, err = loadBusy(ctx, tx, req, setup.busyStaff(req.branchID, req.staffID))
		return d, err
	}
	b := &pgx.Batch{}
	row := func(scan func(pgx.Row) error) func(pgx.Row) error {
		return func(r pgx.Row) error {
			if err := scan(r); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return nil
		}
	}
	if req.serviceID != 0 {
		b.Queue(`SELECT `+serviceColumns+` FROM citas_servicio WHERE id = $1`, req.serviceID).QueryRow(row(func(r pgx.Row) (err error) {
			d.service, err = scanService(r)
			return err
		}))
	}
	if req.branchID != 0 {
		b.Queue(`SELECT `+branchColumns+` FROM organizacion_sede WHERE id = $1`, req.branchID).QueryRow(row(func(r pgx.Row) (err error) {
			d.branch, err = scanBranch(r)
			return err
		}))
	}
	if req.staffID != 0 {
		b.Queue(`SELECT `+memberColumns+` FROM usuarios_perfilusuario WHERE id = $1`, req.staffID).QueryRow(row(func(r pgx.Row) (err error) {
			d.staff, err = scanMember(r)
			d.hasStaff = err == nil
			return err
		}))
	}
	if req.schedule {
		b.Queue(hoursSQL, req.branchID, req.staffID).Query(func(rows pgx.Rows) (err error) {
			d.hours, err = scanHours(rows)
			return err
		})
		// A day before and after: the range is in local days, the dates are not zoned.
		b.Queue(exceptionsSQL, req.from.AddDays(-1).utc(), req.to.AddDays(1).utc(), req.branchID, req.staffID).Query(func(rows pgx.Rows) (err error) {
			d.except, err = scanExceptions(rows)
			return err
		})
	}
	if req.busy {
		// From a day before to two days after the range in UTC: covers every zone offset and buffer.
		b.Queue(busySQL,
			req.branchID, req.from.AddDays(-1).utc(), req.to.AddDays(2).utc(), req.staffID).Query(func(rows pgx.Rows) (err error) {
			d.busy, err = scanBusy(rows)
			return err
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return bookingData{}, translate(err, "reading the schedule")
	}
	return d, nil
}

// busySQL reads the busy blocks (appointments not cancelled, with their buffers) overlapping
// [$2, $3) of the staff working at branch $1 (only staff member $4, unless 0). Written for the
// exclusion constraint's GiST index on (profesional_id, tstzrange(bloqueo_inicio, bloqueo_fin)):
// the staff members are computed once, as an array, and the overlap is the index's own operator,
// so that even a generic plan reads only the range's appointments of those staff members, whatever
// the tenant's size (one index scan), instead of a scan of the table with a lookup per row.
const busySQL = `SELECT profesional_id, bloqueo_inicio, bloqueo_fin FROM citas_cita
	WHERE estado <> 'cancelada' AND tstzrange(bloqueo_inicio, bloqueo_fin, '[)') && tstzrange($2, $3, '[)')
	  AND profesional_id = ANY (ARRAY(
	      SELECT DISTINCT profesional_id FROM citas_horario WHERE sede_id = $1 AND ($4::bigint = 0 OR profesional_id = $4)))`

// busyOfStaffSQL is busySQL for staff members already known ($3).
const busyOfStaffSQL = `SELECT profesional_id, bloqueo_inicio, bloqueo_fin FROM citas_cita
	WHERE estado <> 'cancelada' AND tstzrange(bloqueo_inicio, bloqueo_fin, '[)') && tstzrange($1, $2, '[)')
	  AND profesional_id = ANY ($3::bigint[])`

// loadBusy reads the busy blocks of staff over req's range, as loadBookingData's batch does.
func loadBusy(ctx context.Context, tx pgx.Tx, req loadRequest, staff []int64) (map[int64][]interval, error) {
	if len(staff) == 0 {
		return map[int64][]interval{}, nil
	}
	rows, err := tx.Query(ctx, busyOfStaffSQL, req.from.AddDays(-1).utc(), req.to.AddDays(2).utc(), staff)
	if err != nil {
		return nil, translate(err, "reading the schedule")
	}
	busy, err := scanBusy(rows)
	if err != nil {
		return nil, translate(err, "reading the schedule")
	}
	return busy, nil
}

func scanBusy(rows pgx.Rows) (map[int64][]interval, error) {
	defer rows.Close()
	out := map[int64][]interval{}
	for rows.Next() {
		var id int64
		var iv interval
		if err := rows.Scan(&id, &iv.start, &iv.end); err != nil {
			return nil, fmt.Errorf("reading appointments: %w", err)
		}
		out[id] = append(out[id], iv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading appointments: %w", err)
	}
	return out, nil
}

// zone returns the branch's time zone: the set-up's, else loaded through zones (when not nil).
func (d bookingData) zone(zones *Zones) (*time.Location, error) {
	if d.loc != nil {
		return d.loc, nil
	}
	loc, err := zones.Load(d.branch.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("branch %d: %w", d.branch.ID, err)
	}
	return loc, nil
}

// checkOpen checks that iv starts after now and lies inside one open span of the staff member at
// the branch on its local day.
func (d bookingData) checkOpen(staffID int64, loc *time.Location, iv interval, now time.Time) error {
	if !iv.start.After(now) {
		return invalidField("inicio", "must be in the future")
	}
	day := DateOf(iv.start.In(loc))
	s := schedule{branchID: d.branch.ID, hours: d.hours, exceptions: d.except}
	for _, open := range instants(day, s.open(staffID, day), loc) {
		if !iv.start.Before(open.start) && !iv.end.After(open.end) {
			return nil
		}
	}
	return &Error{Kind: ErrInvalid, Code: "outside_working_hours", Field: "inicio",
		Message: "inicio: the appointment is outside the staff member's working hours at this branch"}
}
