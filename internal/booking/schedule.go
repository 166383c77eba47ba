package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// WorkBlock is a block of a staff member's weekly working hours at a branch (citas_horario), with
// its breaks (citas_descanso). Times are the branch's local wall-clock times, "HH:MM".
type WorkBlock struct {
	BranchID int64 `json:"sede_id"`
	// Weekday is 0 (Sunday) to 6 (Saturday).
	Weekday int     `json:"dia_semana"`
	Start   string  `json:"hora_inicio"`
	End     string  `json:"hora_fin"`
	Breaks  []Break `json:"descansos"`
}

// Break is a pause inside a WorkBlock.
type Break struct {
	Start string `json:"hora_inicio"`
	End   string `json:"hora_fin"`
}

// span is a half-open interval of wall-clock minutes [start, end).
type span struct{ start, end clock }

// WeeklyHours returns a staff member's working hours, by weekday and start.
func WeeklyHours(ctx context.Context, tx pgx.Tx, staffID int64) ([]WorkBlock, error) {
	if _, err := GetMember(ctx, tx, staffID); err != nil {
		return nil, err
	}
	hours, err := loadHours(ctx, tx, staffID)
	if err != nil {
		return nil, err
	}
	out := []WorkBlock{}
	for _, h := range hours[staffID] {
		wb := WorkBlock{BranchID: h.branchID, Weekday: h.weekday, Start: h.span.start.String(), End: h.span.end.String(), Breaks: []Break{}}
		for _, b := range h.breaks {
			wb.Breaks = append(wb.Breaks, Break{Start: b.start.String(), End: b.end.String()})
		}
		out = append(out, wb)
	}
	return out, nil
}

// SetWeeklyHours replaces a staff member's weekly hours (at every branch) with blocks.
func SetWeeklyHours(ctx context.Context, tx pgx.Tx, staffID int64, blocks []WorkBlock) ([]WorkBlock, error) {
	if _, err := GetMember(ctx, tx, staffID); err != nil {
		return nil, err
	}
	parsed := make([]hoursRow, 0, len(blocks))
	for i, wb := range blocks {
		field := fmt.Sprintf("horario[%d]", i)
		h, err := wb.parse(field)
		if err != nil {
			return nil, err
		}
		for _, other := range parsed {
			if other.weekday == h.weekday && other.span.start < h.span.end && h.span.start < other.span.end {
				return nil, invalidField(field, "overlaps another block of the same weekday")
			}
		}
		parsed = append(parsed, h)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM citas_horario WHERE profesional_id = $1`, staffID); err != nil {
		return nil, fmt.Errorf("replacing hours of member %d: %w", staffID, err)
	}
	for _, h := range parsed {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO citas_horario (profesional_id, sede_id, dia_semana, hora_inicio, hora_fin)
			VALUES ($1, $2, $3, $4::text::time, $5::text::time) RETURNING id`,
			staffID, h.branchID, h.weekday, h.span.start.String(), h.span.end.String()).Scan(&id)
		if err != nil {
			if code := sqlState(err); code == "23503" {
				return nil, invalidField("sede_id", "branch %d does not exist", h.branchID)
			}
			return nil, translate(err, "working hours")
		}
		for _, b := range h.breaks {
			if _, err := tx.Exec(ctx, `INSERT INTO citas_descanso (horario_id, hora_inicio, hora_fin)
				VALUES ($1, $2::text::time, $3::text::time)`, id, b.start.String(), b.end.String()); err != nil {
				return nil, translate(err, "break")
			}
		}
	}
	return WeeklyHours(ctx, tx, staffID)
}

func (wb WorkBlock) parse(field string) (hoursRow, error) {
	h := hoursRow{branchID: wb.BranchID, weekday: wb.Weekday}
	if wb.BranchID <= 0 {
		return h, invalidField(field+".sede_id", "is required")
	}
	if wb.Weekday < 0 || wb.Weekday > 6 {
		return h, invalidField(field+".dia_semana", "must be 0 (Sunday) to 6 (Saturday)")
	}
	var err error
	if h.span.start, err = parseClock(field+".hora_inicio", wb.Start); err != nil {
		return h, err
	}
	if h.span.end, err = parseClock(field+".hora_fin", wb.End); err != nil {
		return h, err
	}
	if h.span.end <= h.span.start {
		return h, invalidField(field+".hora_fin", "must be after hora_inicio")
	}
	for j, b := range wb.Breaks {
		bf := fmt.Sprintf("%s.descansos[%d]", field, j)
		var s span
		if s.start, err = parseClock(bf+".hora_inicio", b.Start); err != nil {
			return h, err
		}
		if s.end, err = parseClock(bf+".hora_fin", b.End); err != nil {
			return h, err
		}
		if s.end <= s.start {
			return h, invalidField(bf+".hora_fin", "must be after hora_inicio")
		}
		if s.start < h.span.start || s.end > h.span.end {
			return h, invalidField(bf, "must lie inside the working hours %s-%s", wb.Start, wb.End)
		}
		h.breaks = append(h.breaks, s)
	}
	return h, nil
}

// hoursRow is a loaded or parsed block of working hours.
type hoursRow struct {
	id        int64
	staffID   int64
	staffName string
	branchID  int64
	weekday   int
	span      span
	breaks    []span
}

// staffHoursSQL reads the working hours and breaks of staff member $1 at every branch, without
// the staff member's name; scanHours reads its rows.
const staffHoursSQL = `SELECT ` + hoursColumns + `, ''
	FROM citas_horario h
	` + hoursBreaks + `
	WHERE h.profesional_id = $1
	` + hoursOrder

// hoursColumns are the columns of citas_horario h and its breaks d (hoursBreaks) that
// scanHoursRow reads before the staff member's name; hoursOrder is the order scanHours expects.
const (
	hoursColumns = `h.id, h.profesional_id, h.sede_id, h.dia_semana,
		(extract(epoch FROM h.hora_inicio) / 60)::int, (extract(epoch FROM h.hora_fin) / 60)::int,
		coalesce(d.inicios, '{}'), coalesce(d.fines, '{}')`
	hoursBreaks = `LEFT JOIN LATERAL (
		SELECT array_agg((extract(epoch FROM hora_inicio) / 60)::int ORDER BY hora_inicio) AS inicios,
		       array_agg((extract(epoch FROM hora_fin) / 60)::int ORDER BY hora_inicio) AS fines
		FROM citas_descanso WHERE horario_id = h.id) d ON true`
	hoursOrder = `ORDER BY h.profesional_id, h.dia_semana, h.hora_inicio`
)

// loadHours reads the working hours and breaks of a staff member at every branch, by staff member.
func loadHours(ctx context.Context, tx pgx.Tx, staffID int64) (map[int64][]hoursRow, error) {
	rows, err := tx.Query(ctx, staffHoursSQL, staffID)
	if err != nil {
		return nil, fmt.Errorf("reading working hours: %w", err)
	}
	return scanHours(rows)
}

func scanHours(rows pgx.Rows) (map[int64][]hoursRow, error) {
	defer rows.Close()
	out := map[int64][]hoursRow{}
	for rows.Next() {
		h, err := scanHoursRow(rows)
		if err != nil {
			return nil, fmt.Errorf("reading working hours: %w", err)
		}
		out[h.staffID] = append(out[h.staffID], h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading working hours: %w", err)
	}
	return out, nil
}

// scanHoursRow reads one row of staffHoursSQL or setupHoursSQL.
func scanHoursRow(row pgx.Row) (hoursRow, error) {
	var h hoursRow
	var start, end int
	var bStarts, bEnds []int32
	if err := row.Scan(&h.id, &h.staffID, &h.branchID, &h.weekday, &start, &end, &bStarts, &bEnds, &h.staffName); err != nil {
		return hoursRow{}, err
	}
	h.span = span{clock(start), clock(end)}
	for i := range bStarts {
		h.breaks = append(h.breaks, span{clock(bStarts[i]), clock(bEnds[i])})
	}
	return h, nil
}

// Exception is a date exception (citas_excepcion): a day off or special opening hours of a staff
// member (StaffID set) or of a whole branch (StaffID nil). Without Start/End the day is closed;
// with them, only that interval is open that day.
type Exception struct {
	ID int64 `json:"id"`
	// StaffID nil: the whole branch.
	StaffID *int64 `json:"profesional_id"`
	// BranchID nil: the staff member at every branch (an all-day exception only).
	BranchID  *int64    `json:"sede_id"`
	Date      Date      `json:"fecha"`
	Start     *string   `json:"hora_inicio"`
	End       *string   `json:"hora_fin"`
	Reason    string    `json:"motivo"`
	CreatedAt time.Time `json:"created_at"`
}

// ExceptionFilter selects exceptions; zero fields do not filter.
type ExceptionFilter struct {
	From, To Date
	BranchID int64
	StaffID  int64
}

const exceptionColumns = `id, profesional_id, sede_id, fecha, to_char(hora_inicio, 'HH24:MI'),
	to_char(hora_fin, 'HH24:MI'), motivo, created_at`

func scanException(row pgx.Row) (Exception, error) {
	var e Exception
	var day time.Time
	err := row.Scan(&e.ID, &e.StaffID, &e.BranchID, &day, &e.Start, &e.End, &e.Reason, &e.CreatedAt)
	e.Date = DateOf(day)
	return e, err
}

// ListExceptions returns exceptions by date.
func ListExceptions(ctx context.Context, tx pgx.Tx, f ExceptionFilter) ([]Exception, error) {
	var from, to *time.Time
	if !f.From.IsZero() {
		t := f.From.utc()
		from = &t
	}
	if !f.To.IsZero() {
		t := f.To.utc()
		to = &t
	}
	rows, err := tx.Query(ctx, `SELECT `+exceptionColumns+` FROM citas_excepcion
		WHERE ($1::date IS NULL OR fecha >= $1) AND ($2::date IS NULL OR fecha <= $2)
		  AND ($3::bigint = 0 OR sede_id = $3 OR sede_id IS NULL) AND ($4::bigint = 0 OR profesional_id = $4 OR profesional_id IS NULL)
		ORDER BY fecha, id LIMIT 1000`, from, to, f.BranchID, f.StaffID)
	if err != nil {
		return nil, fmt.Errorf("listing exceptions: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Exception, error) { return scanException(r) })
	if err != nil {
		return nil, fmt.Errorf("listing exceptions: %w", err)
	}
	return es, nil
}

// CreateException records a date exception.
func CreateException(ctx context.Context, tx pgx.Tx, e Exception) (Exception, error) {
	if e.StaffID == nil && e.BranchID == nil {
		return Exception{}, invalidField("sede_id", "is required for a whole-branch exception (or set profesional_id)")
	}
	if e.Date.IsZero() {
		return Exception{}, invalidField("fecha", "is required (YYYY-MM-DD)")
	}
	if err := CheckDate("fecha", e.Date); err != nil {
		return Exception{}, err
	}
	if (e.Start == nil) != (e.End == nil) {
		return Exception{}, invalidField("hora_fin", "hora_inicio and hora_fin go together (both for special hours, neither for a day off)")
	}
	if e.Start != nil {
		s, err := parseClock("hora_inicio", *e.Start)
		if err != nil {
			return Exception{}, err
		}
		f, err := parseClock("hora_fin", *e.End)
		if err != nil {
			return Exception{}, err
		}
		if f <= s {
			return Exception{}, invalidField("hora_fin", "must be after hora_inicio")
		}
		if e.BranchID == nil {
			return Exception{}, invalidField("sede_id", "is required for special opening hours")
		}
	}
	e.Reason = strings.TrimSpace(e.Reason)
	if utf8.RuneCountInString(e.Reason) > 500 {
		return Exception{}, invalidField("motivo", "must be at most 500 characters")
	}
	out, err := scanException(tx.QueryRow(ctx, `INSERT INTO citas_excepcion
		(profesional_id, sede_id, fecha, hora_inicio, hora_fin, motivo)
		VALUES ($1, $2, $3, $4::text::time, $5::text::time, $6) RETURNING `+exceptionColumns,
		e.StaffID, e.BranchID, e.Date.utc(), e.Start, e.End, e.Reason))
	if err != nil {
		if sqlState(err) == "23503" {
			return Exception{}, invalidField("profesional_id", "the staff member or branch does not exist")
		}
		return Exception{}, translate(err, "exception")
	}
	return out, nil
}

// GetException returns the exception with id.
func GetException(ctx context.Context, tx pgx.Tx, id int64) (Exception, error) {
	e, err := scanException(tx.QueryRow(ctx, `SELECT `+exceptionColumns+` FROM citas_excepcion WHERE id = $1`, id))
	if err != nil {
		return Exception{}, translate(err, fmt.Sprintf("exception %d", id))
	}
	return e, nil
}

// DeleteException removes an exception.
func DeleteException(ctx context.Context, tx pgx.Tx, id int64) error {
	tag, err := tx.Exec(ctx, `DELETE FROM citas_excepcion WHERE id = $1`, id)
	if err != nil {
		return translate(err, fmt.Sprintf("exception %d", id))
	}
	if tag.RowsAffected() == 0 {
		return notFound(fmt.Sprintf("exception %d", id))
	}
	return nil
}

// exceptionRow is a loaded exception; open is nil for a closed day.
type exceptionRow struct {
	staffID  int64 // 0: whole branch
	branchID int64 // 0: every branch
	date     Date
	open     *span
}

func scanExceptions(rows pgx.Rows) ([]exceptionRow, error) {
	defer rows.Close()
	var out []exceptionRow
	for rows.Next() {
		e, err := scanExceptionRow(rows)
		if err != nil {
			return nil, fmt.Errorf("reading exceptions: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading exceptions: %w", err)
	}
	return out, nil
}

// exceptionRowColumns are the columns scanExceptionRow reads.
const exceptionRowColumns = `coalesce(profesional_id, 0), coalesce(sede_id, 0), fecha,
		(extract(epoch FROM hora_inicio) / 60)::int, (extract(epoch FROM hora_fin) / 60)::int`

// scanExceptionRow reads one row of exceptionRowColumns.
func scanExceptionRow(row pgx.Row) (exceptionRow, error) {
	var e exceptionRow
	var day time.Time
	var start, end *int32
	if err := row.Scan(&e.staffID, &e.branchID, &day, &start, &end); err != nil {
		return exceptionRow{}, err
	}
	e.date = DateOf(day)
	if start != nil && end != nil {
		e.open = &span{clock(*start), clock(*end)}
	}
	return e, nil
}

// schedule answers "when is this staff member open at this branch on this day".
type schedule struct {
	branchID   int64
	hours      map[int64][]hoursRow
	exceptions []exceptionRow
}

// open returns the staff member's open wall-clock spans at the branch on day d, sorted: the weekly
// hours of d's weekday minus breaks, replaced by the member's special hours or emptied by a day
// off, then bounded by the branch's special hours or emptied by a branch closure.
func (s schedule) open(staffID int64, d Date) []span {
	var spans []span
	for _, h := range s.hours[staffID] {
		if h.branchID == s.branchID && h.weekday == int(d.Weekday()) {
			spans = append(spans, subtract(h.span, h.breaks)...)
		}
	}
	var staffSpecial, branchSpecial []span
	hasStaffSpecial, hasBranchSpecial := false, false
	for _, e := range s.exceptions {
		if e.date != d {
			continue
		}
		switch {
		case e.staffID == staffID && e.open == nil:
			return nil
		case e.staffID == staffID:
			hasStaffSpecial = true
			staffSpecial = append(staffSpecial, *e.open)
		case e.staffID == 0 && e.open == nil:
			return nil
		case e.staffID == 0:
			hasBranchSpecial = true
			branchSpecial = append(branchSpecial, *e.open)
		}
	}
	if hasStaffSpecial {
		spans = staffSpecial
	}
	if hasBranchSpecial {
		spans = intersect(spans, branchSpecial)
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.start - b.start) })
	return spans
}

// subtract returns s minus the holes.
func subtract(s span, holes []span) []span {
	out := []span{s}
	for _, h := range holes {
		var next []span
		for _, o := range out {
			if h.end <= o.start || h.start >= o.end {
				next = append(next, o)
				continue
			}
			if h.start > o.start {
				next = append(next, span{o.start, h.start})
			}
			if h.end < o.end {
				next = append(next, span{h.end, o.end})
			}
		}
		out = next
	}
	return out
}

// intersect returns the parts of a that lie inside some span of b.
func intersect(a, b []span) []span {
	var out []span
	for _, x := range a {
		for _, y := range b {
			s, e := max(x.start, y.start), min(x.end, y.end)
			if s < e {
				out = append(out, span{s, e})
			}
		}
	}
	return out
}

// instants turns the open spans of day d into instants in loc, dropping spans that vanish in a
// daylight-saving gap.
func instants(d Date, spans []span, loc *time.Location) []interval {
	var out []interval
	for _, s := range spans {
		iv := interval{WallInstant(d, int(s.start), loc), WallInstant(d, int(s.end), loc)}
		if iv.end.After(iv.start) {
			out = append(out, iv)
		}
	}
	return out
}

// interval is a half-open interval of instants.
type interval struct{ start, end time.Time }

func (i interval) overlaps(j interval) bool { return i.start.Before(j.end) && j.start.Before(i.end) }

func sqlState(err error) string {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState()
	}
	return ""
}
