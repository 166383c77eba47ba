// Package booking is the appointment business inside one tenant: branches (organizacion_sede),
// services (citas_servicio), members (usuarios_perfilusuario), working hours (citas_horario,
// citas_descanso, citas_excepcion), clients (citas_cliente), appointments (citas_cita) and
// availability. Every function
// takes a pgx.Tx opened by tenancy's scoped transaction ([tenancy.Manager.Run]); nothing here
// chooses a schema. No other package reads or writes these tables.
//
// # Read path
//
// Booking decisions and listings start at [Open], which takes the transaction, the tenant's
// [Setup] (when a [SetupCache] keeps it) and the time zones. Without a set-up, each decision reads
// a set-up narrowed to its branch, service and staff member. [Setup] alone decides which working
// hours and exceptions apply, so both ways decide alike.
//
// # Rules
//
//   - No double booking: citas_cita's exclusion constraint refuses two live (not cancelled)
//     appointments of one staff member whose busy blocks (bloqueo_inicio, bloqueo_fin: the
//     appointment plus the service's buffers) overlap, even from concurrent transactions. The
//     loser's error is an [Error] of kind [ErrConflict], code "double_booking", message
//     [MsgDoubleBooking]. Back-to-back blocks do not overlap; cancelling frees the time.
//   - An appointment must start in the future and lie inside the staff member's working hours at
//     the branch on its local day (weekly hours minus breaks, with the day's exceptions), unless an
//     admin forces it.
//   - States: pendiente → confirmada | cancelada | no_asistio | completada; confirmada →
//     completada | cancelada | no_asistio; the others are final. A refused change is an
//     [ErrConflict] that also matches [ErrInvalidTransition] ("cannot complete a cancelled
//     appointment"). Cancelling needs a reason.
//   - Staff ([RoleStaff]) see and change only their own appointments; another's is not found.
//   - Nobody demotes or deactivates themselves ([UpdateMemberAs]).
//     So an organization always keeps the admin who is acting.
//
// # Clients
//
// The client directory (citas_cliente) holds each person who books. A phone's digits and an
// email trimmed in lower case are unique keys: a second client with either is an [ErrConflict]
// with code "duplicate_client". Every appointment booked here links to a client (cliente_id):
// the one named by [NewAppointment.ClientID], else the one of the phone, else of the email, else,
// with neither, the one of the same name that has neither; else a new one, in the booking's own
// transaction. The appointment keeps the name, phone and email it was booked with. Admins and
// receptionists read and change every client; staff read only clients of their own appointments.
//
// # Time
//
// Times are instants (timestamptz). Working hours and exceptions are wall-clock times of the
// branch's IANA time zone; [Bookings.FreeSlots] walks local days with Go's time package and turns wall
// times into instants with [WallInstant]: a wall time skipped by a daylight-saving jump maps to
// the jump, a repeated one to its first occurrence. Slots are stepped in real time from the start
// of each open span, so no slot falls in a skipped hour and the repeated hour yields distinct
// instants (two "01:30" slots, at -04:00 and -05:00).
//
// # Errors
//
// Database errors are translated once, by SQLSTATE: exclusion (23P01) and unique (23505)
// violations to [ErrConflict], foreign keys (23503) and checks (23514) to [ErrInvalid],
// pgx.ErrNoRows to [ErrNotFound]. Every error the API should show is an *[Error] carrying a code,
// a message and, for bad input, the field.
package booking
