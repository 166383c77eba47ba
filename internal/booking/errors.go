package booking

import "errors"

// Errors the booking store returns; the API maps each to one HTTP status in one place.
var (
	// ErrNotFound: the row does not exist in this tenant (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change collides with existing data, e.g. a double booking (409).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule (400). Wrap it with the field and the reason.
	ErrInvalid = errors.New("invalid input")
	// ErrForbidden: the caller's role does not allow this (403).
	ErrForbidden = errors.New("forbidden")
)

// Invalid returns an ErrInvalid naming the field and what is wrong with it (an *[Error] with code
// "invalid_input" and Field set).
func Invalid(field, format string, args ...any) error {
	return invalidField(field, format, args...)
}
