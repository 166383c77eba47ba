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
	"github.com/spf13/pflag"

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
	// Version and Commit are set at link time (-ldflags -X main.version=... -X main.commit=...).
	// Empty: the build information's module version and vcs.revision.
	Version, Commit string
}

// Main runs one command and returns the process exit status: 0 on success, 1 when the command
// failed, 2 for a command-line mistake.
func Main(ctx context.Context, env Env) int {
	a, err := newAppFromEnv(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "Error: %v\n", err)
		return 2
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

// newAppFromEnv builds the app that commands share from env.
// A bad configuration is an error.
func newAppFromEnv(env Env) (*app, error) {
	cfg, err := config.FromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return &app{
		cfg:              cfg,
		stdin:            env.Stdin,
		stdout:           env.Stdout,
		stderr:           env.Stderr,
		log:              newLogger(env.Stderr, cfg.LogFormat, level),
		logLevel:         level,
		tenantMigrations: env.TenantMigrations,
		getenv:           env.Getenv,
		build:            readBuildVersion(env.Version, env.Commit),
	}, nil
}

// newLogger returns the process's logger: slog's text, or JSON lines with format "json"
// (APPCITAS_LOG_FORMAT).
func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
	root.Flags().Bool("version", false, "print the version (as `appcitas version`)")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if v, _ := cmd.Flags().GetBool("version"); v {
			printVersion(cmd.Context(), a, a.stdout)
			return nil
		}
		return cmd.Help()
	}
	addGroup(root, "tenants", "Tenants:",
		createOrganizationCmd(a),
		createTenantSchemaCmd(a),
		assignSchemaNamesCmd(a),
		listTenantsCmd(a),
		migrateAllTenantsCmd(a),
		dropTenantCmd(a),
		purgeTenantsCmd(a),
		queryAllTenantsCmd(a),
		moveTenantCmd(a),
	)
	addGroup(root, "databases", "Database servers:",
		addServerCmd(a),
		listServersCmd(a),
		removeServerCmd(a),
	)
	addGroup(root, "backups", "Backups:",
		backupTenantCmd(a),
		restoreTenantCmd(a),
		listBackupsCmd(a),
		backupAllTenantsCmd(a),
	)
	addGroup(root, "users", "Users:",
		createUserCmd(a, false),
		createUserCmd(a, true),
		addMemberCmd(a),
		revokeSessionsCmd(a),
	)
	addGroup(root, "billing", "Billing:",
		plansCmd(a),
		subscriptionsCmd(a),
	)
	addGroup(root, "server", "Server:",
		serveCmd(a),
		migrateCmd(a),
		dbshellCmd(a),
		demoCmd(a),
		versionCmd(a),
	)
	root.SetGlobalNormalizationFunc(normalizeFlagName)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		var fe flagValueError
		if errors.As(err, &fe) {
			return usageErrorf("%s (vea `%s --help`)", fe, c.CommandPath())
		}
		return usageErrorf("%v (see `%s --help`)", err, c.CommandPath())
	})
	return root
}

// addGroup adds cmds to root under a --help group (tenants, backups, users, billing, server).
func addGroup(root *cobra.Command, id, title string, cmds ...*cobra.Command) {
	if !root.ContainsGroup(id) {
		root.AddGroup(&cobra.Group{ID: id, Title: title})
	}
	for _, c := range cmds {
		c.GroupID = id
	}
	root.AddCommand(cmds...)
}

// normalizeFlagName makes '-' and '_' the same in every flag name, so that --organization-id is
// --organization_id and --skip_public is --skip-public. Spanish names that are not the guide's
// are aliases of their English names (--nombre is --name).
func normalizeFlagName(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name = strings.ReplaceAll(name, "_", "-"); name {
	case "organization-id":
		return "organization_id" // the guide's spelling, shown in --help
	case "nombre":
		return "name"
	case "nombre-visible":
		return "display-name"
	}
	return pflag.NormalizedName(name)
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
