package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

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
			m, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			return migratePublic(cmd, a, m)
		},
	}
}

func migratePublic(cmd *cobra.Command, a *app, m *tenancy.Manager) error {
	ctx := cmd.Context()
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
	if cmd.Name() == "serve" {
		// serve's start-up lines go through the logger (APPCITAS_LOG_FORMAT), not stdout.
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

func migrateAllTenantsCmd(a *app) *cobra.Command {
	var opts tenancy.FleetOptions
	var skipPublic bool
	cmd := &cobra.Command{
		Use:   "migrate_all_tenants",
		Short: "Migrate public, then every tenant schema (creating missing ones)",
		Long: `Migrate the shared schema public (unless --skip-public), then bring every tenant schema, on every
registered server, to the latest tenant migration, creating schemas that do not exist yet.

Each tenant migrates in its own transaction (fully migrated, or untouched) under a per-schema advisory
lock; the first tenant runs alone as a canary, then --workers at a time. A failing tenant does not stop
the others; the exit status is 1 when any failed, and a re-run picks up only what is still behind.`,
		Example: `  appcitas migrate_all_tenants
  appcitas migrate_all_tenants --skip-public --workers 8
  appcitas migrate_all_tenants --schema tenant_barberia_juan_1a2b3c4d`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Workers < 1 || opts.Workers > 64 {
				return usageErrorf("--workers must be between 1 and 64, got %d", opts.Workers)
			}
			if opts.Schema != "" {
				if err := tenancy.ValidateSchemaName(opts.Schema); err != nil {
					return userError{err}
				}
			}
			m, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			if err := checkFleetSchema(cmd.Context(), m, opts.Schema); err != nil {
				return err // before anything is migrated
			}
			if !skipPublic {
				fmt.Fprintln(a.stdout, "=== Migrando schema PUBLIC (compartido) ===")
				if err := migratePublic(cmd, a, m); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout)
			} else if _, err := a.openMigrated(cmd.Context()); err != nil {
				return err
			}
			return runFleet(cmd, a, m, opts)
		},
	}
	cmd.Flags().BoolVar(&skipPublic, "skip-public", false, "migrate only the tenants, not public")
	cmd.Flags().IntVar(&opts.Workers, "workers", 4, "tenants migrated at once")
	cmd.Flags().StringVar(&opts.Schema, "schema", "", "migrate only this tenant schema")
	cmd.Flags().BoolVar(&opts.NoCanary, "no-canary", false, "do not migrate the first tenant alone before the others")
	return cmd
}

func runFleet(cmd *cobra.Command, a *app, m *tenancy.Manager, opts tenancy.FleetOptions) error {
	out := a.stdout
	var bar *fleetBar
	terminal := isTerminal(out)
	total := 0
	opts.OnStart = func(behind []tenancy.TenantStatus, upToDate int) {
		total = len(behind)
		if upToDate > 0 {
			fmt.Fprintf(out, "=== Migrando %d tenants (%d ya al día) ===\n\n", total, upToDate)
		} else {
			fmt.Fprintf(out, "=== Migrando %d tenants ===\n\n", total)
		}
		if terminal {
			bar = newFleetBar(out, total)
		}
	}
	opts.OnResult = func(r tenancy.FleetResult) {
		if bar != nil {
			if r.Err != nil {
				bar.fail(fmt.Sprintf("  ✗ %s (schema: %s): %v", r.Tenant.Name, r.Tenant.SchemaName, r.Err))
			}
			bar.add()
			return
		}
		fmt.Fprintf(out, "[%d/%d] Migrando: %s (schema: %s)\n", r.Index, total, r.Tenant.Name, r.Tenant.SchemaName)
		if r.Err != nil {
			fmt.Fprintf(out, "  ✗ %s falló: %v\n\n", r.Tenant.Name, r.Err)
			return
		}
		what := "creado y migrado"
		if !r.Migration.Created {
			what = "migrado"
		}
		fmt.Fprintf(out, "  ✓ %s %s (v%d → v%d, %d ms)\n\n", r.Tenant.Name, what, r.Migration.From, r.Migration.To, r.Migration.Took.Milliseconds())
	}
	rep, err := m.MigrateAll(cmd.Context(), opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil && rep.Total == 0 {
		return err
	}
	printFleetSummary(out, rep)
	if err != nil {
		return err
	}
	if len(rep.Failed) > 0 || len(rep.NotAttempted) > 0 {
		return exitStatus(1)
	}
	return nil
}

func printFleetSummary(out io.Writer, rep tenancy.FleetReport) {
	line := strings.Repeat("=", 60)
	fmt.Fprintln(out, line)
	fmt.Fprintf(out, "✓ Exitosos: %d\n", len(rep.Succeeded))
	if rep.UpToDate > 0 {
		fmt.Fprintf(out, "= Ya al día: %d\n", rep.UpToDate)
	}
	if len(rep.Failed) > 0 {
		fmt.Fprintf(out, "✗ Fallidos: %d\n", len(rep.Failed))
		for _, f := range rep.Failed {
			fmt.Fprintf(out, "  - %s (schema: %s): %v\n", f.Tenant.Name, f.Tenant.SchemaName, f.Err)
		}
	}
	if len(rep.NotAttempted) > 0 {
		fmt.Fprintf(out, "… No intentados: %d (el canario falló; corrija y vuelva a ejecutar)\n", len(rep.NotAttempted))
	}
	fmt.Fprintf(out, "Tiempo: %s\n", rep.Took.Round(1e6))
	fmt.Fprintln(out, line)
}

// checkFleetSchema refuses a --schema that no organization has (a usage error), so that a typo
// migrates nothing, public included. An empty schema means every tenant.
func checkFleetSchema(ctx context.Context, m *tenancy.Manager, schema string) error {
	if schema == "" {
		return nil
	}
	orgs, err := m.Organizations(ctx)
	if tenancy.SQLState(err) == "42P01" { // public never migrated: no organization at all
		orgs, err = nil, nil
	}
	if err != nil {
		return err
	}
	for _, o := range orgs {
		if o.SchemaName == schema {
			return nil
		}
	}
	return usageErrorf("no organization has schema %q: nothing was migrated (see appcitas list_tenants)", schema)
}
