package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func migrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending migrations to the shared schema (public)",
		Long: `Apply pending migrations to the shared schema public: organizacion_organizacion, auth_user,
billing_plan, billing_suscripcion and the migration ledger. Tenant schemas are migrated by
migrate_all_tenants.`,
		Example: "  appcitas migrate",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd.Context(), a)
		},
	}
}

// runMigrate is migrate: it applies public's pending migrations and prints what it applied.
func runMigrate(ctx context.Context, a *app) error {
	m, err := a.open(ctx)
	if err != nil {
		return err
	}
	return migratePublic(ctx, a, m, false)
}

// openSigning returns the token-signing secret and the manager with public migrated: how serve and
// demo start. logOnly is migratePublic's.
func (a *app) openSigning(ctx context.Context, logOnly bool) ([]byte, *tenancy.Manager, error) {
	secret, err := a.jwtSecret()
	if err != nil {
		return nil, nil, err
	}
	m, err := a.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := migratePublic(ctx, a, m, logOnly); err != nil {
		return nil, nil, err
	}
	return secret, m, nil
}

// migratePublic applies public's pending migrations and River's tables.
// It prints what it applied on stdout.
// With logOnly (serve) it logs them instead: serve's start-up lines go through the logger.
func migratePublic(ctx context.Context, a *app, m *tenancy.Manager, logOnly bool) error {
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return err
	}
	applied, err := migrate.ApplyPublic(ctx, pool, migrate.Public(), migrate.Options{LockTimeout: a.cfg.LockTimeout, StatementTimeout: a.cfg.StatementTimeout})
	if err != nil {
		return err
	}
	// River's tables (the job queue) in their own schema, river.
	if err := jobs.Migrate(ctx, pool); err != nil {
		return err
	}
	names := make([]string, len(applied))
	for i, mg := range applied {
		names[i] = fmt.Sprintf("%04d_%s", mg.Version, mg.Name)
	}
	if logOnly {
		a.log.Info("public schema migrated", "applied", names)
		return nil
	}
	if len(applied) == 0 {
		fmt.Fprintln(a.stdout, "✓ Schema public migrado exitosamente (ya estaba al día)")
		return nil
	}
	fmt.Fprintf(a.stdout, "✓ Schema public migrado exitosamente (%d aplicadas: %s)\n", len(applied), strings.Join(names, ", "))
	return nil
}

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
			return runServe(cmd.Context(), a)
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
			return runDBShell(cmd.Context(), a, args)
		},
	}
}

// runDBShell is dbshell: it runs psql on the configured database with psqlArgs after the connection's.
// On the embedded cluster psql connects as its superuser.
// psql's exit status becomes the command's.
func runDBShell(ctx context.Context, a *app, psqlArgs []string) error {
	url, err := a.databaseURL(ctx)
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
	argv, psqlEnv, err := psqlInvocation(url, psqlArgs)
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
	c := exec.Command(psql, argv...)
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
}

func demoCmd(a *app) *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Create the guide's three demo tenants with data and print curl commands to try the API",
		Long: `Create the guide's three example organizations (Barbería Juan, Clínica Dental, Spa Belleza), each
with its schema, a branch, services, an admin and staff with profiles and working hours, and a week of
appointments; then print ready-to-paste curl commands with an access token. Run appcitas serve in
another terminal to answer them.

Every demo user's password is "` + demoPassword + `". The user "ana" belongs to two organizations (admin of
Barbería Juan, receptionist of Spa Belleza) and to none of the third, to show X-Organization-ID and
the 403 of the guide's troubleshooting. Running demo again leaves existing organizations and users
as they are and prints fresh tokens.`,
		Example: "  appcitas demo\n  appcitas serve   # in another terminal",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), a, opts)
		},
	}
	cmd.Flags().IntVar(&opts.Days, "days", 7, "days of appointments to create, from tomorrow")
	cmd.Flags().StringVar(&a.cfg.Addr, "addr", a.cfg.Addr, "address serve listens on, for the printed curl lines (env APPCITAS_ADDR; serve's default)")
	return cmd
}

func versionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print appcitas's version, commit, and the Go and PostgreSQL versions",
		Long: `Print appcitas's version and commit, the Go version that built it, and the PostgreSQL version:
the configured server's (DATABASE_URL) when it answers, else the installed binaries', else "desconocida".
It never fails because the database is down. ` + "`appcitas --version`" + ` prints the same.`,
		Example: "  appcitas version\n  appcitas --version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			printVersion(cmd.Context(), a, a.stdout)
			return nil
		},
	}
}
