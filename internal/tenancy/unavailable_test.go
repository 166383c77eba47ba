package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("querying: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"Nil", nil, false},
		{"AdminShutdown", pg("57P01"), true},
		{"CrashShutdown", pg("57P02"), true},
		{"CannotConnectNow", pg("57P03"), true},
		{"ConnectionFailure", pg("08006"), true},
		{"TooManyConnections", pg("53300"), true},
		{"UniqueViolation", pg("23505"), false},
		{"QueryCanceled", pg("57014"), false},
		{"SerializationFailure", pg("40001"), false},
		{"ConnectionRefused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"UnexpectedEOF", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"ConnClosed", fmt.Errorf("committing: %w", pgconn.ErrConnClosed), true},
		{"Wrapped", fmt.Errorf("opening scope: %w", tenancy.ErrUnavailable), true},
		{"Canceled", fmt.Errorf("querying: %w", context.Canceled), false},
		{"DeadlineExceeded", fmt.Errorf("querying: %w", context.DeadlineExceeded), false},
		{"NoRows", pgx.ErrNoRows, false},
		{"Other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tenancy.Unavailable(tc.err); got != tc.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestRunWhenTheDatabaseGoesAway(t *testing.T) {
	t.Parallel()

	t.Run("WrapsErrUnavailableWhenTheServerCannotBeReached", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		m := tenancytest.Open(t, "postgres://appcitas:x@"+addr+"/appcitas?sslmode=disable&connect_timeout=5", tenancy.Config{})
		err = m.Run(t.Context(), tenancy.Tenant{Schema: "tenant_x_0123abcd"}, func(pgx.Tx) error { return nil })
		if !errors.Is(err, tenancy.ErrUnavailable) || errors.Is(err, tenancy.ErrOutcomeUnknown) {
			t.Fatalf("Run on a server that is not there: %v; want ErrUnavailable, outcome known", err)
		}
	})

	url := pgtest.NewDatabase(t)
	m := setupOn(t, url)
	org, err := m.CreateOrganization(t.Context(), tenancy.NewOrganization{Name: "Corte"})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	// terminate ends the backend pid from another connection and waits until it is gone.
	terminate := func(t *testing.T, pid int32) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("WrapsErrUnavailableWhenTheConnectionBreaksBeforeCommit", func(t *testing.T) {
		err := m.Run(t.Context(), tn, func(tx pgx.Tx) error {
			var pid int32
			if err := tx.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			terminate(t, pid)
			_, err := tx.Exec(t.Context(), `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('x', 30, 1)`)
			return err
		})
		if !errors.Is(err, tenancy.ErrUnavailable) || errors.Is(err, tenancy.ErrOutcomeUnknown) {
			t.Fatalf("Run whose connection broke before COMMIT: %v; want ErrUnavailable, outcome known", err)
		}
	})

	t.Run("WrapsErrOutcomeUnknownWhenTheConnectionBreaksAtCommit", func(t *testing.T) {
		err := m.Run(t.Context(), tn, func(tx pgx.Tx) error {
			var pid int32
			if err := tx.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			terminate(t, pid)
			return nil
		})
		if !errors.Is(err, tenancy.ErrOutcomeUnknown) || !errors.Is(err, tenancy.ErrUnavailable) {
			t.Fatalf("Run whose connection broke at COMMIT: %v; want ErrOutcomeUnknown and ErrUnavailable", err)
		}
	})

	t.Run("KeepsTheOutcomeOfAReadOnlyScopeKnown", func(t *testing.T) {
		err := m.RunWith(t.Context(), tn, tenancy.RunOptions{ReadOnly: true}, func(tx pgx.Tx) error {
			var pid int32
			if err := tx.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			terminate(t, pid)
			return nil
		})
		if !errors.Is(err, tenancy.ErrUnavailable) || errors.Is(err, tenancy.ErrOutcomeUnknown) {
			t.Fatalf("read-only Run whose connection broke at COMMIT: %v; want ErrUnavailable, outcome known", err)
		}
	})

	t.Run("WorksAgainAfterwards", func(t *testing.T) {
		if err := m.Run(t.Context(), tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(t.Context(), `SELECT 1`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
}
