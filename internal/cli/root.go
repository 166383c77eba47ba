// Package cli is appcitas's command line: one cobra command per guide command, each printing the
// guide's output, exiting non-zero with a one-line message on any error.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/config"
	"github.com/appcitas/appcitas/internal/migrate"
)

// Env is what the command line runs with: arguments (without the program name), streams and the
// environment. main passes the process's; tests pass their own.
type Env struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// TenantMigrations overrides the tenant migration set (tests). Defaults to the embedded set.
	TenantMigrations *migrate.Set
}

// Main runs one command and returns the process exit status: 0 on success, 1 when the command
// failed, 2 for a command-line mistake.
func Main(ctx context.Context, env Env) int {
	cfg, err := config.FromEnv(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "Error: %v\n", err)
		return 2
	}
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	a := &app{
		cfg:              cfg,
		stdin:            env.Stdin,
		stdout:           env.Stdout,
		stderr:           env.Stderr,
		log:              slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})),
		logLevel:         level,
		tenantMigrations: env.TenantMigrations,
	}
	defer a.close()

	root := newRoot(a)
	root.SetArgs(env.Args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var status exitStatus
		if errors.As(err, &status) {
			return int(status)
		}
		fmt.Fprintf(env.Stderr, "Error: %s\n", oneLine(err.Error()))
		if strings.HasPrefix(err.Error(), "unknown command") {
			return 2
		}
		return exitCode(err)
	}
	return 0
}

// exitStatus lets a command choose its exit status after printing its own report.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "appcitas",
		Short: "Appointment booking for small businesses, one PostgreSQL schema per customer organization",
		Long: `appcitas serves the appointment API and manages one PostgreSQL schema per organization.

With no DATABASE_URL it runs a private PostgreSQL cluster under $APPCITAS_DATA (default ./.appcitas)
from the locally installed PostgreSQL binaries.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			// serve logs at APPCITAS_LOG_LEVEL; other commands print only their output, warnings
			// and errors unless -v (the embedded cluster's start and stop included).
			if cmd.Name() == "serve" {
				return
			}
			if verbose, _ := cmd.Flags().GetBool("verbose"); !verbose {
				a.logLevel.Set(slog.LevelWarn)
			} else if a.logLevel.Level() > slog.LevelInfo {
				a.logLevel.Set(slog.LevelInfo)
			}
		},
	}
	root.PersistentFlags().BoolP("verbose", "v", false, "log what the command does (the embedded PostgreSQL's start and stop included) at APPCITAS_LOG_LEVEL, info at least")
	root.AddCommand(
		serveCmd(a),
		migrateCmd(a),
		createOrganizationCmd(a),
		createTenantSchemaCmd(a),
		assignSchemaNamesCmd(a),
		listTenantsCmd(a),
		migrateAllTenantsCmd(a),
		dbshellCmd(a),
		createUserCmd(a, false),
		createUserCmd(a, true),
		addMemberCmd(a),
		revokeSessionsCmd(a),
		demoCmd(a),
		backupTenantCmd(a),
		restoreTenantCmd(a),
		listBackupsCmd(a),
		dropTenantCmd(a),
		purgeTenantsCmd(a),
		queryAllTenantsCmd(a),
		moveTenantCmd(a),
		addServerCmd(a),
		listServersCmd(a),
		removeServerCmd(a),
		backupAllTenantsCmd(a),
		plansCmd(a),
		subscriptionsCmd(a),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		var fe flagValueError
		if errors.As(err, &fe) {
			return usageErrorf("%s (vea `%s --help`)", fe, c.CommandPath())
		}
		return usageErrorf("%v (see `%s --help`)", err, c.CommandPath())
	})
	return root
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q (see `%s --help`)", cmd.Name(), args, cmd.CommandPath())
	}
	return nil
}

// oneLine joins the lines of a message (errors.Join and some drivers' errors span several) so
// that an error is one line on stderr.
func oneLine(msg string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " · ")), " ")
}
