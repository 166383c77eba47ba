package reservas

import "github.com/appcitas/appcitas/internal/booking"

// Messages the public page shows; the API maps each error's kind to its status.
const (
	// MsgSlotTaken is the answer when a slot was taken by someone else.
	MsgSlotTaken = "Ese horario ya no está disponible. Elige otro de los horarios actualizados."
	// MsgHoldExpired is the answer when the client took longer than the hold.
	MsgHoldExpired = "Tu reserva temporal expiró. Elige de nuevo un horario."
	// MsgTooManyHolds is the answer past the cap on open holds.
	MsgTooManyHolds = "Tienes demasiadas reservas temporales abiertas. Confirma una o espera unos minutos."
	// MsgNotFound is the answer for an unknown organization, a page that is off, or a bad link.
	MsgNotFound = "No encontramos esta página de reservas."
	// MsgLinkNotFound is the answer for an unknown or revoked manage link.
	MsgLinkNotFound = "Este enlace no es válido o ya no está activo."
)

func conflict(code, msg string) error {
	return &booking.Error{Kind: booking.ErrConflict, Code: code, Message: msg}
}

func notFound(msg string) error {
	return &booking.Error{Kind: booking.ErrNotFound, Code: "not_found", Message: msg}
}

func invalid(field, msg string) error {
	return &booking.Error{Kind: booking.ErrInvalid, Code: "invalid_input", Field: field, Message: msg}
}

func forbidden(code, msg string) error {
	return &booking.Error{Kind: booking.ErrForbidden, Code: code, Message: msg}
}
