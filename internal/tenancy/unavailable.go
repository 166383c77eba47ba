package tenancy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable is wrapped (together with the driver's error) by [Manager.RunWith] when the
// tenant's PostgreSQL server cannot be reached, a connection broke, or the server is shutting
// down or starting up. The work did not happen; the same request may be retried later.
var ErrUnavailable = errors.New("database unavailable")

// ErrOutcomeUnknown is wrapped (together with [ErrUnavailable] and the driver's error) by
// [Manager.RunWith] when the connection broke after COMMIT was sent: the transaction may have
// committed or not. A retry is safe only when the write is idempotent (an Idempotency-Key).
var ErrOutcomeUnknown = errors.New("database connection lost during commit: outcome unknown")

// Unavailable reports whether err says that the database could not be used at all: an error
// wrapping [ErrUnavailable], or a driver error of that kind that came another way (public SQL
// outside [Manager.RunWith]). Those are a refused or broken connection, SQLSTATE class 08, 57P01
// (admin_shutdown), 57P02 (crash_shutdown), 57P03 (cannot_connect_now) and 53300
// (too_many_connections). Any other server error is not; a context's end is not either (the
// caller's deadline or cancellation has its own answer). This is the one place that tells an
// outage from a bug.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	if code := sqlState(err); code != "" {
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// classifyUnavailable wraps err with [ErrUnavailable] when [Unavailable] says so, and returns it
// unchanged otherwise.
func classifyUnavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !Unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// classifyCommit is classifyUnavailable for the error of a COMMIT. When the connection broke
// after the COMMIT may have reached the server, the error also wraps [ErrOutcomeUnknown], unless
// known says the outcome is not in doubt: a read-only transaction changed nothing, and a
// connection already closed before the COMMIT sent nothing. pgx's SafeToRetry cannot tell: a read
// that fails after the write reports "conn closed", which it counts as safe.
func classifyCommit(err error, known bool) error {
	if err == nil || !Unavailable(err) {
		return err
	}
	if known {
		return classifyUnavailable(err)
	}
	return fmt.Errorf("%w: %w: %w", ErrOutcomeUnknown, ErrUnavailable, err)
}
