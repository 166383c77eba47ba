package webhooks

import (
	"errors"
	"fmt"
)

// Error kinds; errors.Is matches an [*Error] against its kind.
var (
	// ErrInvalid is bad input (400).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound is a subscription or delivery that does not exist in the organization (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict is a request the current state does not allow (409).
	ErrConflict = errors.New("conflict")
)

// Error is a failure a person can act on: Message says what, Field which input.
type Error struct {
	// Kind is ErrInvalid, ErrNotFound or ErrConflict.
	Kind error
	// Detail, when set, is a more precise cause (ErrTargetRefused).
	Detail error
	// Field names the input at fault, if any.
	Field string
	// Message explains it to a person.
	Message string
}

// Error returns the message, prefixed with the field.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Is matches the kind and the detail.
func (e *Error) Is(target error) bool {
	return target == e.Kind || (e.Detail != nil && target == e.Detail)
}

func invalid(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func refused(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Detail: ErrTargetRefused, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Message: fmt.Sprintf(format, args...)}
}
