package booking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// bookingData is what a booking decision reads: a Setup's answer to a loadRequest, and the busy
// blocks.
type bookingData struct {
	service  Service
	branch   Branch
	staff    Member
	hasStaff bool           // staff was asked for and exists
	loc      *time.Location // the branch's zone, when it loads
	hours    map[int64][]hoursRow
	except   []exceptionRow
	busy     map[int64][]interval
}

// loadRequest says what a booking decision reads. Zero ids are not read.
type loadRequest struct {
	serviceID, branchID, staffID int64
	// schedule reads working hours and exceptions of the branch (and staffID, when set) between
	// the local days from and to.
	schedule bool
	from, to Date
	// busy reads the busy blocks of staff working at the branch (or of staffID) between from and to.
	busy bool
}

// load reads the service, branch, staff member, working hours, exceptions and busy blocks a
// booking decision needs. [Setup.fill] picks them, from the tenant's set-up when b has one, else
// from a set-up narrowed to req. With the tenant's set-up only the busy blocks are read, from
// citas_cita alone. Without, everything is read as one pgx batch. A missing service, branch or
// staff member is reported by the zero ID of its field, not as an error.
func (b *Bookings) load(ctx context.Context, req loadRequest) (bookingData, error) {
	var d bookingData
	if b.setup != nil {
		b.setup.fill(&d, req)
		if !req.busy {
			return d, nil
		}
		var err error
		d.busy, err = loadBusy(ctx, b.tx, req, b.setup.busyStaff(req.branchID, req.staffID))
		return d, err
	}
	s, busy, err := loadNarrowSetup(ctx, b.tx, b.zones, req)
	if err != nil {
		return bookingData{}, err
	}
	s.fill(&d, req)
	d.busy = busy
	return d, nil
}

// loadNarrowSetup reads, as one pgx batch, the part of the tenant's set-up that req may need: its
// service, branch and staff member, the working hours at its branch (of its staff member, when
// set), and the exceptions near its days that may concern its branch. It reads a superset of
// what fill picks. fill applies the rules. With req.busy it also reads the busy blocks.
func loadNarrowSetup(ctx context.Context, tx pgx.Tx, zones *Zones, req loadRequest) (*Setup, map[int64][]interval, error) {
	s := &Setup{branches: map[int64]Branch{}, zones: map[int64]*time.Location{}, services: map[int64]Service{},
		members: map[int64]Member{}, byUser: map[int64]int64{}}
	var busy map[int64][]interval
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
		b.Queue(`SELECT `+serviceColumns+` FROM citas_servicio WHERE id = $1`, req.serviceID).QueryRow(row(func(r pgx.Row) error {
			sv, err := scanService(r)
			if err == nil {
				s.services[sv.ID] = sv
			}
			return err
		}))
	}
	if req.branchID != 0 {
		b.Queue(`SELECT `+branchColumns+` FROM organizacion_sede WHERE id = $1`, req.branchID).QueryRow(row(func(r pgx.Row) error {
			br, err := scanBranch(r)
			if err == nil {
				s.branches[br.ID] = br
				if loc, err := zones.Load(br.TimeZone); err == nil {
					s.zones[br.ID] = loc
				}
			}
			return err
		}))
	}
	if req.staffID != 0 {
		b.Queue(`SELECT `+memberColumns+` FROM usuarios_perfilusuario WHERE id = $1`, req.staffID).QueryRow(row(func(r pgx.Row) error {
			m, err := scanMember(r)
			if err == nil {
				s.members[m.ID] = m
			}
			return err
		}))
	}
	if req.schedule {
		b.Queue(narrowHoursSQL, req.branchID, req.staffID).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				h, err := scanSetupHours(rows)
				if err != nil {
					return fmt.Errorf("reading working hours: %w", err)
				}
				s.hours = append(s.hours, h)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("reading working hours: %w", err)
			}
			return nil
		})
		// A day before and after: the range is in local days, the dates are not zoned.
		b.Queue(narrowExceptionsSQL, req.from.AddDays(-1).utc(), req.to.AddDays(1).utc(), req.branchID).Query(func(rows pgx.Rows) (err error) {
			s.exceptions, err = scanExceptions(rows)
			return err
		})
	}
	if req.busy {
		// From a day before to two days after the range in UTC: covers every zone offset and buffer.
		b.Queue(busySQL,
			req.branchID, req.from.AddDays(-1).utc(), req.to.AddDays(2).utc(), req.staffID).Query(func(rows pgx.Rows) (err error) {
			busy, err = scanBusy(rows)
			return err
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, translate(err, "reading the schedule")
	}
	return s, busy, nil
}

// narrowHoursSQL reads the working hours and breaks at branch $1 (0: any) of staff member $2 (0:
// any), with the staff member's name and whether they are active, in the order of setupHoursSQL.
const narrowHoursSQL = `SELECT ` + hoursColumns + `, p.nombre_visible, p.is_active
	FROM citas_horario h
	JOIN usuarios_perfilusuario p ON p.id = h.profesional_id
	` + hoursBreaks + `
	WHERE ($1::bigint = 0 OR h.sede_id = $1) AND ($2::bigint = 0 OR h.profesional_id = $2)
	` + hoursOrder

// scanSetupHours reads one row of narrowHoursSQL.
func scanSetupHours(row pgx.Row) (setupHours, error) {
	var h setupHours
	var start, end int
	var bStarts, bEnds []int32
	if err := row.Scan(&h.id, &h.staffID, &h.branchID, &h.weekday, &start, &end, &bStarts, &bEnds, &h.staffName, &h.active); err != nil {
		return setupHours{}, err
	}
	h.span = span{clock(start), clock(end)}
	for i := range bStarts {
		h.breaks = append(h.breaks, span{clock(bStarts[i]), clock(bEnds[i])})
	}
	return h, nil
}

// narrowExceptionsSQL reads the exceptions between $1 and $2 (dates) at branch $3 or at every
// branch, in the order the set-up keeps them.
const narrowExceptionsSQL = `SELECT ` + exceptionRowColumns + `
	FROM citas_excepcion
	WHERE fecha BETWEEN $1 AND $2 AND (sede_id IS NULL OR sede_id = $3)
	ORDER BY fecha, id`

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

// loadBusy reads the busy blocks of staff over req's range, as loadNarrowSetup's batch does.
func loadBusy(ctx context.Context, tx pgx.Tx, req loadRequest, staff []int64) (map[int64][]interval, error) {
	if len(staff) == 0 {
		return map[int64][]interval{}, nil
	}
	sql, args := busyOfStaff(req, staff)
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err, "reading the schedule")
	}
	busy, err := scanBusy(rows)
	if err != nil {
		return nil, translate(err, "reading the schedule")
	}
	return busy, nil
}

// busyOfStaff returns loadBusy's statement.
func busyOfStaff(req loadRequest, staff []int64) (string, []any) {
	return busyOfStaffSQL, []any{req.from.AddDays(-1).utc(), req.to.AddDays(2).utc(), staff}
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
