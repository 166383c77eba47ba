package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// Error is an API error: an HTTP status and the {"error": {"code", "message"}} body. Handlers
// return one (or a domain error that [Server.fail] maps) instead of writing errors themselves.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is a short machine-readable code, e.g. "invalid_token".
	Code string
	// Message explains the problem to a person; it never carries internal detail.
	Message string
	// Field names the input field at fault, when there is one.
	Field string
	// RetryAfter, when positive, is sent as the Retry-After header (429, 503).
	RetryAfter time.Duration
	// Err is the cause, logged but never sent.
	Err error
}

// Error returns the code and message.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// apiError returns an *Error with status, code and message.
func apiError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// MsgUnauthorizedOrganization is the guide's message for a user without a profile in the routed
// organization.
const MsgUnauthorizedOrganization = "User attempting to access unauthorized organization"

// errUnauthorizedOrganization is the 403 of a caller without an active profile.
func errUnauthorizedOrganization() *Error {
	return apiError(http.StatusForbidden, "unauthorized_organization", MsgUnauthorizedOrganization)
}

// retryAfterOutage is the Retry-After of an answer given while the database cannot be used: a
// restart of PostgreSQL takes seconds.
const retryAfterOutage = 2 * time.Second

// errDatabaseUnavailable is the 503 of a request that found the database unreachable, shutting
// down or starting up: nothing was done, and the same request may be sent again.
func errDatabaseUnavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable", RetryAfter: retryAfterOutage,
		Message: "the database cannot be reached right now; try again shortly", Err: err}
}

// statusClientClosed is logged (nginx's convention) when the client went away before the answer.
const statusClientClosed = 499

// toAPIError maps any error to the one HTTP answer it gets. This is the only place where errors
// become statuses.
func toAPIError(ctx context.Context, err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var be *booking.Error
	if errors.As(err, &be) {
		return &Error{Status: bookingStatus(be.Kind), Code: be.Code, Message: be.Message, Field: be.Field, Err: err}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit), Err: err}
	case errors.Is(err, booking.ErrNotFound), errors.Is(err, booking.ErrConflict),
		errors.Is(err, booking.ErrInvalid), errors.Is(err, booking.ErrForbidden):
		st := bookingStatus(err)
		return &Error{Status: st, Code: bookingCode(st), Message: err.Error(), Err: err}
	case errors.Is(err, booking.ErrIdempotencyMismatch):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
			Message: "this Idempotency-Key was used for a different appointment request", Err: err}
	case errors.Is(err, tenancy.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "organization_not_found", Message: "the organization does not exist", Err: err}
	case errors.Is(err, tenancy.ErrSchemaMissing), errors.Is(err, tenancy.ErrNoSchemaName):
		return &Error{Status: http.StatusServiceUnavailable, Code: "tenant_unavailable",
			Message: "the organization's data is not available yet; an operator must run create_tenant_schema", Err: err}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "invalid username or password", Err: err}
	case errors.Is(err, auth.ErrRefreshInvalid):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_refresh_token", Message: "the refresh token is invalid, expired or already used", Err: err}
	case errors.Is(err, auth.ErrTokenExpired):
		return &Error{Status: http.StatusUnauthorized, Code: "token_expired", Message: "the access token has expired: refresh it", Err: err}
	case errors.Is(err, auth.ErrTokenInvalid):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "the access token is invalid", Err: err}
	case errors.Is(err, auth.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Message: err.Error(), Err: err}
	case errors.Is(err, auth.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error(), Err: err}
	case errors.Is(err, tenancy.ErrOutcomeUnknown):
		return &Error{Status: http.StatusServiceUnavailable, Code: "outcome_unknown", RetryAfter: retryAfterOutage,
			Message: "the connection to the database broke while the change was being committed: it may or may not have been saved; " +
				"retrying with the same Idempotency-Key is safe (signup, appointment creation), otherwise check before retrying", Err: err}
	case tenancy.Unavailable(err):
		return errDatabaseUnavailable(err)
	case errors.Is(err, tenancy.ErrUnknownServer):
		return &Error{Status: http.StatusServiceUnavailable, Code: "database_server_unknown",
			Message: "the organization's data is on a database server that is not registered (appcitas list_servers); an operator must register it (appcitas add_server)", Err: err}
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return &Error{Status: statusClientClosed, Code: "client_closed_request", Message: "the client closed the request", Err: err}
	case errors.Is(err, context.DeadlineExceeded), tenancy.SQLState(err) == "57014":
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout", Message: "the request took too long; try again",
			RetryAfter: retryAfterOutage, Err: err}
	case tenancy.SQLState(err) == "40001", tenancy.SQLState(err) == "40P01":
		return &Error{Status: http.StatusServiceUnavailable, Code: "try_again", Message: "a concurrent change got in the way; try again",
			RetryAfter: time.Second, Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal server error", Err: err}
}

func bookingStatus(kind error) int {
	switch {
	case errors.Is(kind, booking.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(kind, booking.ErrConflict):
		return http.StatusConflict
	case errors.Is(kind, booking.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(kind, booking.ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func bookingCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusBadRequest:
		return "invalid_input"
	case http.StatusForbidden:
		return "forbidden"
	}
	return "internal_error"
}

// fail answers r with err mapped by toAPIError, logging server-side errors with the request id.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(r.Context(), err)
	if ae.Code == "outcome_unknown" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// A read changed nothing: whether its commit arrived does not matter.
		ae = errDatabaseUnavailable(err)
	}
	if s.metrics != nil {
		s.metrics.failed(ae.Status, ae.Code)
	}
	info := infoFrom(r.Context())
	switch {
	case ae.Status >= 500:
		s.log.ErrorContext(r.Context(), "request failed", "request_id", info.id, "route", info.route, "err", err)
	case ae.Err != nil && ae.Status != statusClientClosed:
		s.log.DebugContext(r.Context(), "request refused", "request_id", info.id, "code", ae.Code, "err", err)
	}
	if ae.Status == statusClientClosed {
		info.status = statusClientClosed
		return
	}
	msg := ae.Message
	if ae.Status == http.StatusInternalServerError && info.id != "" {
		msg += " (request id " + info.id + ")"
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", formatSeconds(ae.RetryAfter))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="appcitas"`)
	}
	body := errorBody{Code: ae.Code, Message: msg, Field: ae.Field}
	writeJSON(w, ae.Status, map[string]errorBody{"error": body})
}

// errorBody is the inside of the API's error shape.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}
