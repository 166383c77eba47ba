package billing

import "errors"

// Errors the billing service returns; the API maps each to one HTTP status.
var (
	// ErrNotFound: no such plan, subscription or payment (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the input breaks a rule (400).
	ErrInvalid = errors.New("invalid input")
	// ErrConflict: the change collides with existing data (409).
	ErrConflict = errors.New("conflict")
	// ErrPaymentRequired: the subscription is suspended or cancelled (402).
	ErrPaymentRequired = errors.New("payment required")
	// ErrNoPaymentSource: a charge needs a saved payment source and there is none.
	ErrNoPaymentSource = errors.New("no payment source saved")
	// ErrPaymentsUnavailable: no Wompi client is configured.
	ErrPaymentsUnavailable = errors.New("payments are not configured")
)
