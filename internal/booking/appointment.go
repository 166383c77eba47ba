package booking

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// Appointment states (citas_cita.estado).
const (
	StatusPending   = "pendiente"
	StatusConfirmed = "confirmada"
	StatusCompleted = "completada"
	StatusCancelled = "cancelada"
	StatusNoShow    = "no_asistio"
)

// ValidStatus reports whether s is an appointment state.
func ValidStatus(s string) bool {
	switch s {
	case StatusPending, StatusConfirmed, StatusCompleted, StatusCancelled, StatusNoShow:
		return true
	}
	return false
}

// Appointment is a booking of a service at a branch with a staff member (citas_cita).
type Appointment struct {
	ID        int64 `json:"id"`
	BranchID  int64 `json:"sede_id"`
	ServiceID int64 `json:"servicio_id"`
	StaffID   int64 `json:"profesional_id"`

	// ClientID is the client in the directory (citas_cliente). It is null only for rows written
	// outside this package.
	ClientID *int64 `json:"cliente_id"`
	// ClientName, ClientPhone and ClientEmail are the client's as the appointment was booked.
	ClientName  string `json:"cliente_nombre"`
	ClientPhone string `json:"cliente_telefono"`
	ClientEmail string `json:"cliente_email"`

	Start time.Time `json:"inicio"`
	End   time.Time `json:"fin"`
	// BlockStart and BlockEnd are when the staff member is busy: the appointment plus the
	// service's buffers. Two live appointments of one staff member never overlap here.
	BlockStart time.Time `json:"bloqueo_inicio"`
	BlockEnd   time.Time `json:"bloqueo_fin"`

	Status             string `json:"estado"`
	CancellationReason string `json:"motivo_cancelacion"`
	Notes              string `json:"notas"`
	PriceCents         int64  `json:"precio_centavos"`
	Currency           string `json:"moneda"`
	// CreatedBy is the profile that booked it, if known.
	CreatedBy *int64    `json:"creado_por"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const appointmentColumns = `id, sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono,
	cliente_email, inicio, fin, bloqueo_inicio, bloqueo_fin, estado, motivo_cancelacion, notas,
	precio_centavos, moneda, creado_por, created_at, updated_at, cliente_id`

func scanAppointment(row pgx.Row) (Appointment, error) {
	var a Appointment
	err := row.Scan(&a.ID, &a.BranchID, &a.ServiceID, &a.StaffID, &a.ClientName, &a.ClientPhone,
		&a.ClientEmail, &a.Start, &a.End, &a.BlockStart, &a.BlockEnd, &a.Status, &a.CancellationReason,
		&a.Notes, &a.PriceCents, &a.Currency, &a.CreatedBy, &a.CreatedAt, &a.UpdatedAt, &a.ClientID)
	return a, err
}

// Actor is the member acting, for the role rules: staff see and change only their own
// appointments; only admins may force a booking outside working hours.
type Actor struct {
	ProfileID int64
	// Role is RoleAdmin, RoleReceptionist or RoleStaff.
	Role string
}

// ownOnly returns the profile whose appointments the actor is limited to, or 0.
func (a Actor) ownOnly() int64 {
	if a.Role == RoleStaff {
		return a.ProfileID
	}
	return 0
}

// NewAppointment is the input of [Bookings.CreateAppointment].
type NewAppointment struct {
	BranchID  int64     `json:"sede_id"`
	ServiceID int64     `json:"servicio_id"`
	StaffID   int64     `json:"profesional_id"`
	Start     time.Time `json:"inicio"`
	// ClientID books for a client of the directory; the name, phone and email are then the
	// client's. Without it, the name (and phone or email) find the client or make a new one.
	ClientID    int64  `json:"cliente_id"`
	ClientName  string `json:"cliente_nombre"`
	ClientPhone string `json:"cliente_telefono"`
	ClientEmail string `json:"cliente_email"`
	Notes       string `json:"notas"`
	// Force books outside the staff member's working hours or in the past (admins only).
	Force bool `json:"forzar"`
}

func (in *NewAppointment) validate() error {
	in.ClientName = strings.TrimSpace(in.ClientName)
	in.ClientPhone = strings.TrimSpace(in.ClientPhone)
	in.ClientEmail = strings.TrimSpace(in.ClientEmail)
	switch {
	case in.BranchID <= 0:
		return invalidField("sede_id", "is required")
	case in.ServiceID <= 0:
		return invalidField("servicio_id", "is required")
	case in.StaffID <= 0:
		return invalidField("profesional_id", "is required")
	case in.Start.IsZero():
		return invalidField("inicio", "is required (RFC 3339, e.g. 2026-03-01T15:00:00-05:00)")
	case !inWindow(in.Start):
		return CheckInstant("inicio", in.Start)
	case in.ClientID < 0:
		return invalidField("cliente_id", "must be a positive integer")
	case in.ClientID > 0 && (in.ClientName != "" || in.ClientPhone != "" || in.ClientEmail != ""):
		return invalidField("cliente_id", "give cliente_id or the client's name, phone and email, not both")
	case utf8.RuneCountInString(in.Notes) > 2000:
		return invalidField("notas", "must be at most 2000 characters")
	}
	if in.ClientID > 0 {
		return nil
	}
	return checkClientFields("cliente_nombre", in.ClientName, "cliente_telefono", in.ClientPhone, "cliente_email", in.ClientEmail)
}

// CreateAppointment books an appointment: fin is inicio plus the service's duration, the busy
// block adds the service's buffers, the price is copied from the service. Unless an admin forces
// it, the appointment must lie in the future and inside the staff member's working hours at the
// branch. A double booking (even by a concurrent transaction) fails with ErrConflict.
func (b *Bookings) CreateAppointment(ctx context.Context, actor Actor, in NewAppointment, now time.Time) (Appointment, error) {
	tx := b.tx
	if err := in.validate(); err != nil {
		return Appointment{}, err
	}
	if own := actor.ownOnly(); own != 0 && in.StaffID != own {
		return Appointment{}, forbidden("staff members book only their own appointments")
	}
	if in.Force && actor.Role != RoleAdmin {
		return Appointment{}, forbidden("only admins may force a booking (forzar)")
	}
	day := DateOf(in.Start.UTC())
	d, err := b.load(ctx, loadRequest{serviceID: in.ServiceID, branchID: in.BranchID, staffID: in.StaffID,
		schedule: !in.Force, from: day, to: day})
	if err != nil {
		return Appointment{}, err
	}
	switch {
	case d.service.ID == 0 || !d.service.Active:
		return Appointment{}, invalidField("servicio_id", "service %d does not exist or is not active", in.ServiceID)
	case d.branch.ID == 0 || !d.branch.Active:
		return Appointment{}, invalidField("sede_id", "branch %d does not exist or is not active", in.BranchID)
	case !d.hasStaff || !d.staff.Active:
		return Appointment{}, invalidField("profesional_id", "member %d does not exist or is not active", in.StaffID)
	}
	loc, err := d.zone(b.zones)
	if err != nil {
		return Appointment{}, err
	}
	svc, branch := d.service, d.branch
	start := in.Start.Truncate(time.Second)
	end := start.Add(svc.Duration())
	if !in.Force {
		if err := d.checkOpen(in.StaffID, loc, interval{start, end}, now); err != nil {
			return Appointment{}, err
		}
	}
	var createdBy *int64
	if actor.ProfileID != 0 {
		createdBy = &actor.ProfileID
	}
	if err := linkClient(ctx, tx, actor, &in); err != nil {
		return Appointment{}, err
	}
	a, err := scanAppointment(tx.QueryRow(ctx, `INSERT INTO citas_cita
		(sede_id, servicio_id, profesional_id, cliente_nombre, cliente_telefono, cliente_email,
		 inicio, fin, bloqueo_inicio, bloqueo_fin, notas, precio_centavos, moneda, creado_por, cliente_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		RETURNING `+appointmentColumns,
		branch.ID, svc.ID, in.StaffID, in.ClientName, in.ClientPhone, in.ClientEmail,
		start, end, start.Add(-time.Duration(svc.BufferBeforeMinutes)*time.Minute),
		end.Add(time.Duration(svc.BufferAfterMinutes)*time.Minute), in.Notes, svc.PriceCents, svc.Currency, createdBy, in.ClientID))
	if err != nil {
		return Appointment{}, translate(err, "appointment")
	}
	return a, nil
}

// GetAppointment returns the appointment with id; staff only see their own (others are not found).
func GetAppointment(ctx context.Context, tx pgx.Tx, actor Actor, id int64) (Appointment, error) {
	a, err := scanAppointment(tx.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM citas_cita
		WHERE id = $1 AND ($2::bigint = 0 OR profesional_id = $2)`, id, actor.ownOnly()))
	if err != nil {
		return Appointment{}, translate(err, fmt.Sprintf("appointment %d", id))
	}
	return a, nil
}

// Page sizes of [Bookings.ListAppointments].
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// AppointmentFilter selects appointments; zero fields do not filter.
type AppointmentFilter struct {
	// From and To bound inicio: From <= inicio < To.
	From, To time.Time
	// FromDay and ToDay bound inicio by local days, both included: from the start of FromDay to
	// the end of ToDay in the time zone of the branch (BranchID), or in Zone without a branch.
	// The zone is looked up by the listing query itself (or taken from the set-up), so a day costs no
	// round trip of its own. Use them instead of From and To, not beside them.
	FromDay, ToDay Date
	// Zone is the IANA time zone of FromDay and ToDay when BranchID is 0 (the organization's).
	Zone     string
	BranchID int64
	StaffID  int64
	Status   string
	// Client matches a substring of the client's name, phone or email, case-insensitively.
	Client string
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
	// Cursor continues a listing: the NextCursor of the previous page.
	Cursor string
}

// AppointmentPage is one page of appointments by inicio, id.
type AppointmentPage struct {
	Items []Appointment `json:"items"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListAppointments returns a page of appointments matching f, by start time (keyset pagination).
// Staff see only their own.
func (b *Bookings) ListAppointments(ctx context.Context, actor Actor, f AppointmentFilter) (AppointmentPage, error) {
	sql, args, limit, empty, err := listStatement(actor, f, b.setup)
	if err != nil {
		return AppointmentPage{}, err
	}
	if empty {
		return AppointmentPage{Items: []Appointment{}}, nil
	}
	rows, err := b.tx.Query(ctx, sql, args...)
	if err != nil {
		return AppointmentPage{}, translate(err, "listing appointments")
	}
	page, err := collectPage(rows, limit)
	if err != nil {
		return AppointmentPage{}, translate(err, "listing appointments")
	}
	return page, nil
}

// ListAppointmentsRead is [Bookings.ListAppointments] for a read in one round trip
// (tenancy.Manager.ReadInOneTrip): the statement it sends for actor and f with setup, whose Read
// puts the page into page. ok is false when ListAppointments answers without that statement (a
// refusal, or a staff member asking for another's appointments): call ListAppointments then.
func ListAppointmentsRead(setup *Setup, actor Actor, f AppointmentFilter, page *AppointmentPage) (q tenancy.ReadQuery, ok bool) {
	sql, args, limit, empty, err := listStatement(actor, f, setup)
	if err != nil || empty {
		return tenancy.ReadQuery{}, false
	}
	return tenancy.ReadQuery{SQL: sql, Args: args, Read: func(rows pgx.Rows) (err error) {
		*page, err = collectPage(rows, limit)
		return err
	}}, true
}

// listStatement checks f and returns ListAppointments' statement and page size; empty is true
// when the page is known to be empty without it.
func listStatement(actor Actor, f AppointmentFilter, setup *Setup) (sql string, args []any, limit int, empty bool, err error) {
	if f.Limit == 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit < 1 || f.Limit > MaxPageSize {
		return "", nil, 0, false, invalidField("limit", "must be between 1 and %d", MaxPageSize)
	}
	if f.Status != "" && !ValidStatus(f.Status) {
		return "", nil, 0, false, invalidField("estado", "must be one of pendiente, confirmada, completada, cancelada, no_asistio")
	}
	if !utf8.ValidString(f.Client) || strings.ContainsRune(f.Client, 0) || utf8.RuneCountInString(f.Client) > 200 {
		return "", nil, 0, false, invalidField("cliente", "must be valid text of at most 200 characters")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return "", nil, 0, false, invalidField("hasta", "must be after desde")
	}
	if !f.FromDay.IsZero() && !f.ToDay.IsZero() && f.ToDay.Before(f.FromDay) {
		return "", nil, 0, false, invalidField("hasta", "must not be before desde")
	}
	if (!f.FromDay.IsZero() || !f.ToDay.IsZero()) && (!f.From.IsZero() || !f.To.IsZero()) {
		return "", nil, 0, false, invalidField("desde", "give days or instants, not both")
	}
	var fromDay, toDay *string
	if !f.FromDay.IsZero() {
		d := f.FromDay.String()
		fromDay = &d
	}
	if !f.ToDay.IsZero() {
		d := f.ToDay.AddDays(1).String()
		toDay = &d
	}
	if (fromDay != nil || toDay != nil) && f.BranchID == 0 {
		if _, err := LoadZone(f.Zone); err != nil {
			return "", nil, 0, false, invalidField("zona_horaria", "%q is not an IANA time zone", f.Zone)
		}
	}
	if f.BranchID != 0 && f.Zone == "" {
		// Zone is only read when the branch does not exist, and then nothing matches anyway; an
		// empty name would make PostgreSQL refuse the query instead.
		f.Zone = "UTC"
	}
	if own := actor.ownOnly(); own != 0 {
		if f.StaffID != 0 && f.StaffID != own {
			return "", nil, 0, true, nil
		}
		f.StaffID = own
	}
	var afterStart *time.Time
	var afterID int64
	if f.Cursor != "" {
		t, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, 0, false, invalidField("cursor", "is not a cursor returned by this API")
		}
		afterStart, afterID = &t, id
	}
	sql, args = appointmentListing(f, setup, afterStart, afterID, fromDay, toDay)
	return sql, args, f.Limit, false, nil
}

// collectPage reads the listing's rows (one more than limit when there is a next page) into a page.
func collectPage(rows pgx.Rows, limit int) (AppointmentPage, error) {
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Appointment, error) { return scanAppointment(r) })
	if err != nil {
		return AppointmentPage{}, err
	}
	page := AppointmentPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = encodeCursor(last.Start, last.ID)
	}
	return page, nil
}

// appointmentListing builds ListAppointments' query from the filters f gives and no others, so
// that each combination is a statement of its own with a plan made for it (a generic plan of one
// query with every filter optional must keep them all, per tenant and connection). Local days
// become instants in SQL, in the branch's zone (or f.Zone): midnight of a day that starts in a
// DST gap is the gap's end, as in WallInstant; the zone is read by the statement itself, so a
// day costs no round trip of its own. Every bound is on inicio alone, so the plan scans only
// that range of (inicio, id), however large the tenant's history.
func appointmentListing(f AppointmentFilter, setup *Setup, afterStart *time.Time, afterID int64, fromDay, toDay *string) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var sb strings.Builder
	zone := ""
	if fromDay != nil || toDay != nil {
		switch {
		case f.BranchID != 0 && setup != nil:
			// The branch's zone from the set-up (f.Zone when it does not exist, and then nothing
			// matches anyway): the statement reads citas_cita alone.
			tz := f.Zone
			if b, ok := setup.branches[f.BranchID]; ok {
				tz = b.TimeZone
			}
			zone = arg(tz) + "::text"
		case f.BranchID != 0:
			// The branch's zone; f.Zone is only read when the branch does not exist, and then
			// nothing matches anyway.
			sb.WriteString("WITH zona AS (SELECT coalesce((SELECT zona_horaria FROM organizacion_sede WHERE id = " +
				arg(f.BranchID) + "), " + arg(f.Zone) + "::text) AS tz)\n")
			zone = "(SELECT tz FROM zona)"
		default:
			zone = arg(f.Zone) + "::text"
		}
	}
	sb.WriteString("SELECT " + appointmentColumns + " FROM citas_cita")
	sep := "\nWHERE "
	cond := func(c string) {
		sb.WriteString(sep + c)
		sep = "\n  AND "
	}
	if !f.From.IsZero() {
		cond("inicio >= " + arg(f.From))
	}
	if !f.To.IsZero() {
		cond("inicio < " + arg(f.To))
	}
	if fromDay != nil {
		cond("inicio >= " + arg(*fromDay) + "::date::timestamp AT TIME ZONE " + zone)
	}
	if toDay != nil {
		cond("inicio < " + arg(*toDay) + "::date::timestamp AT TIME ZONE " + zone)
	}
	if afterStart != nil {
		cond("(inicio, id) > (" + arg(*afterStart) + ", " + arg(afterID) + ")")
	}
	if f.BranchID != 0 {
		cond("sede_id = " + arg(f.BranchID))
	}
	if f.StaffID != 0 {
		cond("profesional_id = " + arg(f.StaffID))
	}
	if f.Status != "" {
		cond("estado = " + arg(f.Status))
	}
	if f.Client != "" {
		p := arg("%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Client) + "%")
		cond("(cliente_nombre ILIKE " + p + " OR cliente_telefono ILIKE " + p + " OR cliente_email ILIKE " + p + ")")
	}
	sb.WriteString("\nORDER BY inicio, id LIMIT " + arg(f.Limit+1))
	return sb.String(), args
}

func encodeCursor(t time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + ":" + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (time.Time, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("decoding cursor: %w", err)
	}
	us, idText, ok := strings.Cut(string(b), ":")
	if !ok {
		return time.Time{}, 0, errors.New("decoding cursor: no separator")
	}
	micros, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("decoding cursor: %w", err)
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("decoding cursor: %w", err)
	}
	t := time.UnixMicro(micros).UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, 0, fmt.Errorf("decoding cursor: year %d", y)
	}
	return t, id, nil
}

// Reschedule is the input of [Bookings.RescheduleAppointment].
type Reschedule struct {
	Start time.Time `json:"inicio"`
	// StaffID, when set, moves the appointment to another staff member.
	StaffID *int64 `json:"profesional_id"`
	// Force books outside working hours or in the past (admins only).
	Force bool `json:"forzar"`
}

// RescheduleAppointment moves a pending or confirmed appointment to a new start (and optionally
// another staff member), keeping the duration and buffers it was booked with.
func (b *Bookings) RescheduleAppointment(ctx context.Context, actor Actor, id int64, in Reschedule, now time.Time) (Appointment, error) {
	tx := b.tx
	if in.Start.IsZero() {
		return Appointment{}, invalidField("inicio", "is required (RFC 3339)")
	}
	if err := CheckInstant("inicio", in.Start); err != nil {
		return Appointment{}, err
	}
	if in.Force && actor.Role != RoleAdmin {
		return Appointment{}, forbidden("only admins may force a booking (forzar)")
	}
	a, err := lockAppointment(ctx, tx, actor, id)
	if err != nil {
		return Appointment{}, err
	}
	if a.Status != StatusPending && a.Status != StatusConfirmed {
		return Appointment{}, transitionError("reschedule", a.Status)
	}
	staffID := a.StaffID
	if in.StaffID != nil {
		staffID = *in.StaffID
		if own := actor.ownOnly(); own != 0 && staffID != own {
			return Appointment{}, forbidden("staff members cannot move appointments to someone else")
		}
	}
	day := DateOf(in.Start.UTC())
	d, err := b.load(ctx, loadRequest{branchID: a.BranchID, staffID: staffID, schedule: !in.Force, from: day, to: day})
	if err != nil {
		return Appointment{}, err
	}
	if !d.hasStaff || !d.staff.Active {
		return Appointment{}, invalidField("profesional_id", "member %d does not exist or is not active", staffID)
	}
	loc, err := d.zone(b.zones)
	if err != nil {
		return Appointment{}, err
	}
	start := in.Start.Truncate(time.Second)
	end := start.Add(a.End.Sub(a.Start))
	if !in.Force {
		if err := d.checkOpen(staffID, loc, interval{start, end}, now); err != nil {
			return Appointment{}, err
		}
	}
	out, err := scanAppointment(tx.QueryRow(ctx, `UPDATE citas_cita SET profesional_id = $2,
			inicio = $3, fin = $4, bloqueo_inicio = $5, bloqueo_fin = $6, updated_at = now()
		WHERE id = $1 RETURNING `+appointmentColumns,
		id, staffID, start, end, start.Add(-a.Start.Sub(a.BlockStart)), end.Add(a.BlockEnd.Sub(a.End))))
	if err != nil {
		return Appointment{}, translate(err, fmt.Sprintf("appointment %d", id))
	}
	return out, nil
}

func lockAppointment(ctx context.Context, tx pgx.Tx, actor Actor, id int64) (Appointment, error) {
	a, err := scanAppointment(tx.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM citas_cita
		WHERE id = $1 AND ($2::bigint = 0 OR profesional_id = $2) FOR UPDATE`, id, actor.ownOnly()))
	if err != nil {
		return Appointment{}, translate(err, fmt.Sprintf("appointment %d", id))
	}
	return a, nil
}

// CanTransition reports whether an appointment in state from may move to state to: pendiente →
// confirmada | cancelada | no_asistio | completada; confirmada → completada | cancelada |
// no_asistio; completada, cancelada and no_asistio are final.
func CanTransition(from, to string) bool {
	switch from {
	case StatusPending:
		return to == StatusConfirmed || to == StatusCancelled || to == StatusNoShow || to == StatusCompleted
	case StatusConfirmed:
		return to == StatusCompleted || to == StatusCancelled || to == StatusNoShow
	}
	return false
}

// statusVerb names the action that moves an appointment to state to ("" for no action).
func statusVerb(to string) string {
	switch to {
	case StatusConfirmed:
		return "confirm"
	case StatusCompleted:
		return "complete"
	case StatusCancelled:
		return "cancel"
	case StatusNoShow:
		return "mark as no-show"
	}
	return ""
}

// statusAdjective describes an appointment in state s.
func statusAdjective(s string) string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusConfirmed:
		return "confirmed"
	case StatusCompleted:
		return "completed"
	case StatusCancelled:
		return "cancelled"
	case StatusNoShow:
		return "no-show"
	}
	return s
}

func transitionError(verb, from string) error {
	article := "a"
	if adj := statusAdjective(from); adj != "" && strings.ContainsRune("aeiou", rune(adj[0])) {
		article = "an"
	}
	return &Error{Kind: ErrConflict, Detail: ErrInvalidTransition, Code: "invalid_transition",
		Message: fmt.Sprintf("cannot %s %s %s appointment", verb, article, statusAdjective(from))}
}

// SetStatus moves an appointment to state to (confirmada, completada, cancelada or no_asistio)
// along the state machine: pendiente → confirmada | cancelada | no_asistio | completada,
// confirmada → completada | cancelada | no_asistio; the others are final. Cancelling needs a
// reason, and frees the time slot.
func SetStatus(ctx context.Context, tx pgx.Tx, actor Actor, id int64, to, reason string) (Appointment, error) {
	if statusVerb(to) == "" {
		return Appointment{}, invalidField("estado", "cannot move an appointment to %q", to)
	}
	reason = strings.TrimSpace(reason)
	if to == StatusCancelled && reason == "" {
		return Appointment{}, invalidField("motivo", "is required to cancel")
	}
	if utf8.RuneCountInString(reason) > 500 {
		return Appointment{}, invalidField("motivo", "must be at most 500 characters")
	}
	a, err := lockAppointment(ctx, tx, actor, id)
	if err != nil {
		return Appointment{}, err
	}
	if !CanTransition(a.Status, to) {
		if a.Status == to {
			return Appointment{}, &Error{Kind: ErrConflict, Detail: ErrInvalidTransition, Code: "invalid_transition",
				Message: "the appointment is already " + statusAdjective(to)}
		}
		return Appointment{}, transitionError(statusVerb(to), a.Status)
	}
	out, err := scanAppointment(tx.QueryRow(ctx, `UPDATE citas_cita SET estado = $2,
			motivo_cancelacion = CASE WHEN $2 = 'cancelada' THEN $3 ELSE motivo_cancelacion END,
			updated_at = now()
		WHERE id = $1 RETURNING `+appointmentColumns, id, to, reason))
	if err != nil {
		return Appointment{}, translate(err, fmt.Sprintf("appointment %d", id))
	}
	return out, nil
}
