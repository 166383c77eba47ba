package booking

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrInvalidTransition is wrapped (together with [ErrConflict]) by state changes the appointment
// state machine does not allow, e.g. completing a cancelled appointment. Its code is
// "invalid_transition".
var ErrInvalidTransition = errors.New("invalid transition")

// Error is a booking error with a stable code and a message meant for the API client. It wraps one
// of the Err* kinds, so errors.Is(err, ErrConflict) holds for a double booking, and errors.As gives
// the code and message.
type Error struct {
	// Kind is ErrNotFound, ErrConflict, ErrInvalid or ErrForbidden.
	Kind error
	// Code is a short machine-readable code, e.g. "double_booking", "invalid_transition".
	Code string
	// Message explains the problem to a person.
	Message string
	// Field names the input field at fault, for ErrInvalid ("" otherwise).
	Field string
	// Detail, when set, is also matched by errors.Is (e.g. ErrInvalidTransition).
	Detail error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the kind (and the detail, when set).
func (e *Error) Unwrap() []error {
	if e.Detail != nil {
		return []error{e.Kind, e.Detail}
	}
	return []error{e.Kind}
}

// MsgDoubleBooking is the message of a double booking.
const MsgDoubleBooking = "the staff member already has an appointment at that time"

// translate turns a database error into a booking error, once, at the driver boundary. what names
// the thing being read or written ("appointment 12"). Errors it does not know are wrapped as they are.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &Error{Kind: ErrNotFound, Code: "not_found", Message: what + " not found"}
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch pgErr.Code {
	case "23P01": // exclusion_violation
		if pgErr.ConstraintName == "citas_horario_sin_solapamiento" {
			return &Error{Kind: ErrConflict, Code: "overlapping_hours", Message: "working hours of one weekday overlap"}
		}
		return &Error{Kind: ErrConflict, Code: "double_booking", Message: MsgDoubleBooking}
	case "23505": // unique_violation
		msg := what + " already exists"
		switch pgErr.ConstraintName {
		case "usuarios_perfilusuario_user_id_key":
			msg = "the user is already a member of this organization"
		case "citas_cliente_telefono_key":
			return &Error{Kind: ErrConflict, Code: "duplicate_client", Field: "telefono", Message: MsgDuplicatePhone}
		case "citas_cliente_email_key":
			return &Error{Kind: ErrConflict, Code: "duplicate_client", Field: "email", Message: MsgDuplicateEmail}
		}
		return &Error{Kind: ErrConflict, Code: "conflict", Message: msg}
	case "23503": // foreign_key_violation, named <table>_<column>_fkey
		field := strings.TrimSuffix(strings.TrimPrefix(pgErr.ConstraintName, pgErr.TableName+"_"), "_fkey")
		return &Error{Kind: ErrInvalid, Code: "invalid_reference", Field: field,
			Message: field + ": the referenced row does not exist or is still in use"}
	case "23514", "23502", "22001", "22007", "22008", "22P02", "22021", "22P05":
		// check, not null, too long, bad date/time, bad text, bad UTF-8, NUL character
		return &Error{Kind: ErrInvalid, Code: "invalid_input", Message: what + ": " + pgErr.Message}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// invalidField returns an ErrInvalid naming field.
func invalidField(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Code: "invalid_input", Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

func notFound(what string) error {
	return &Error{Kind: ErrNotFound, Code: "not_found", Message: what + " not found"}
}

func forbidden(msg string) error {
	return &Error{Kind: ErrForbidden, Code: "forbidden", Message: msg}
}
