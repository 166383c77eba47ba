package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/jobs"
)

func serveCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API (on the embedded PostgreSQL when DATABASE_URL is not set)",
		Long: `Run the HTTP API. Pending public migrations are applied at start. Without DATABASE_URL a private
PostgreSQL cluster is started under $APPCITAS_DATA (default ./.appcitas) and stopped on exit.
Without Wompi keys (WOMPI_*), payments go to a built-in Wompi simulator on the embedded cluster
only; with DATABASE_URL they are off (503 payments_unavailable) unless APPCITAS_WOMPI_SIMULATOR=1.
SIGINT or SIGTERM shut down gracefully.`,
		Example: `  appcitas serve
  APPCITAS_ADDR=0.0.0.0:8080 DATABASE_URL=postgres://app@db/appcitas appcitas serve
  appcitas serve --addr 127.0.0.1:9000`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			TuneGC(os.Getenv)
			secret, err := a.jwtSecret()
			if err != nil {
				return err
			}
			m, err := a.open(ctx)
			if err != nil {
				return err
			}
			if err := migratePublic(cmd, a, m); err != nil {
				return err
			}
			a.registerConfiguredServers(ctx, m)
			if err := a.checkListenURL(ctx, m); err != nil {
				return err
			}
			// Billing, signup and the job queue (billing.go), with the automatic per-tenant
			// backups as River jobs spread over the period (APPCITAS_BACKUP_EVERY=0: off); stopped
			// when serve returns.
			var more []func(*jobs.Config)
			if a.cfg.BackupEvery > 0 {
				more = append(more, a.backupJobs(m).Configure)
			}
			defer a.stopBilling()
			if err := a.startBilling(ctx, m, more...); err != nil {
				return err
			}
			if a.cfg.BackupEvery > 0 {
				a.log.Info("backup schedule running", "every", a.cfg.BackupEvery, "dir", a.backupStore().Root)
			}
			handler, err := a.apiHandler(ctx, m, secret)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", a.cfg.Addr)
			if err != nil {
				return userError{fmt.Errorf("listening on %s: %w", a.cfg.Addr, err)}
			}
			srv := &http.Server{
				Handler:           handler,
				ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout:       30 * time.Second,
				WriteTimeout:      60 * time.Second,
				IdleTimeout:       2 * time.Minute,
			}
			a.log.Info("appcitas listening", "addr", "http://"+ln.Addr().String(), "embedded_postgres", a.embedded != nil,
				"dashboard", "http://"+ln.Addr().String()+"/admin")
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serving: %w", err)
			case <-ctx.Done():
			}
			a.log.Info("shutting down")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				return fmt.Errorf("shutting down: %w", err)
			}
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&a.cfg.Addr, "addr", a.cfg.Addr, "address to listen on (env APPCITAS_ADDR)")
	return cmd
}

func dbshellCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dbshell [-- psql arguments]",
		Short: "Open psql on the configured database (embedded or DATABASE_URL)",
		Long: `Open psql connected to the configured database, the embedded cluster included (as its superuser), so
the guide's psql steps work as written. Arguments after -- go to psql.`,
		Example: `  appcitas dbshell
  appcitas dbshell -- -c '\dn'
  appcitas dbshell -- -c 'SET search_path TO tenant_barberia_juan_1a2b3c4d, public; SELECT * FROM citas_cita'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			url, err := a.databaseURL(cmd.Context())
			if err != nil {
				return err
			}
			if a.embedded != nil {
				// An operator's shell: the application's login role reaches tenant tables only
				// inside a tenant's scope, so the guide's psql steps need the superuser.
				url = a.embedded.SuperuserURL()
			}
			if _, err := pgconn.ParseConfig(url); err != nil {
				return fmt.Errorf("reading the database URL: %w", err)
			}
			psqlArgs, psqlEnv, err := psqlInvocation(url, args)
			if err != nil {
				return err
			}
			psql := "psql"
			if a.embedded != nil {
				psql = a.embedded.PsqlPath()
			}
			if _, err := exec.LookPath(psql); err != nil {
				return fmt.Errorf("psql not found (apt-get install postgresql-client): %w", err)
			}
			c := exec.Command(psql, psqlArgs...)
			c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
			c.Env = append(os.Environ(), psqlEnv...)
			if err := c.Run(); err != nil {
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					return exitStatus(exit.ExitCode())
				}
				return fmt.Errorf("running psql: %w", err)
			}
			return nil
		},
	}
}

// ServeGCPercent is the garbage collector's target (GOGC) of serve when GOGC is unset. The
// server's live heap is a few megabytes, so the default of 100 collects after every few
// megabytes allocated, thousands of times a minute under load; 400 costs a few more megabytes
// and measured about 10% more requests per second (BENCHMARKS.md, issue 3).
const ServeGCPercent = 400

// TuneGC sets the collector's target to ServeGCPercent unless the environment (getenv) sets GOGC.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(ServeGCPercent)
	}
}
