package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// backupStore is where backups go: APPCITAS_BACKUP_DIR, default $APPCITAS_DATA/backups.
func (a *app) backupStore() backup.Store {
	dir := a.cfg.BackupDir
	if dir == "" {
		dir = filepath.Join(a.cfg.DataDir, "backups")
	}
	return backup.Store{Root: dir}
}

// backupSchedule is the configured schedule of automatic backups (APPCITAS_BACKUP_EVERY, _KEEP_DAILY,
// _KEEP_WEEKLY).
func (a *app) backupSchedule() backup.Schedule {
	return backup.Schedule{Every: a.cfg.BackupEvery, KeepDaily: a.cfg.BackupKeepDaily, KeepWeekly: a.cfg.BackupKeepWeekly, Logger: a.log}
}

// backupJobs returns the scheduled backups as River jobs, for a job queue's configuration.
func (a *app) backupJobs(m *tenancy.Manager) *jobs.Backups {
	return jobs.NewBackups(m, a.backupStore(), a.backupSchedule())
}

// runBackupSchedule runs a job queue that works only the backup queue (the schedule's periodic
// job and the per-tenant backups) until ctx ends.
func (a *app) runBackupSchedule(ctx context.Context, m *tenancy.Manager) error {
	pool, err := m.Servers().NewPool(ctx, tenancy.DefaultServer, 4)
	if err != nil {
		return fmt.Errorf("opening the job queue's pool: %w", err)
	}
	defer pool.Close()
	if err := jobs.Migrate(ctx, pool); err != nil {
		return err
	}
	pooled, err := m.Servers().BehindPooler(ctx, tenancy.DefaultServer)
	if err != nil {
		return err
	}
	cfg := jobs.Config{Pool: pool, PollOnly: pooled, SkipDefaultQueue: true, Logger: a.log}
	a.backupJobs(m).Configure(&cfg)
	runner, err := jobs.New(cfg)
	if err != nil {
		return err
	}
	if err := runner.Start(ctx); err != nil {
		return err
	}
	a.log.Info("backup schedule running", "every", a.cfg.BackupEvery, "dir", a.backupStore().Root)
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return runner.Stop(stopCtx)
}

// asOpsError marks the errors of the operations commands that the input caused (exit status 2).
func asOpsError(err error) error {
	if err == nil {
		return nil
	}
	for _, target := range []error{backup.ErrCorrupt, backup.ErrIncompatible, backup.ErrInProgress, fs.ErrNotExist} {
		if errors.Is(err, target) {
			return userError{err}
		}
	}
	return asUserError(err)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// backupTenantOptions are the flags of backup_tenant.
type backupTenantOptions struct {
	// Org names the organization to back up.
	Org organizationFlags
	// Out is the archive file; empty writes under the backup directory, "-" to stdout.
	Out string
}

func backupTenantCmd(a *app) *cobra.Command {
	var opts backupTenantOptions
	cmd := &cobra.Command{
		Use:   "backup_tenant",
		Short: "Back up one tenant's schema to a verified, self-describing archive",
		Long: `Back up one tenant: its migration version and every table's rows, read in one consistent snapshot
(REPEATABLE READ READ ONLY) while the tenant keeps working, into a gzip'd tar archive with a JSON
manifest and a SHA-256 per table. The file is written atomically and read back to verify it.

Unlike pg_dump -n, it reads only this tenant's catalog entries, so it does not slow down as the number
of schemas grows. Default file: $APPCITAS_BACKUP_DIR/<schema>/<timestamp>.appcitas-backup
(APPCITAS_BACKUP_DIR defaults to $APPCITAS_DATA/backups). "-" writes the archive to standard output.

The archive opens with any tar: tar -xzf FILE && sha256sum -c SHA256SUMS.`,
		Example: `  appcitas backup_tenant --organization_id=1
  appcitas backup_tenant --slug=barberia-juan --out /srv/backups/barberia.appcitas-backup
  appcitas backup_tenant --organization_id=1 --out - | ssh backup-host 'cat > juan.appcitas-backup'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupTenant(cmd.Context(), a, opts)
		},
	}
	opts.Org.add(cmd)
	cmd.Flags().StringVar(&opts.Out, "out", "", "archive file to write (default under $APPCITAS_BACKUP_DIR; - for standard output)")
	return cmd
}

// runBackupTenant is backup_tenant: it writes a verified archive of the organization's schema.
// With opts.Out "-" it writes the archive to stdout.
// With another opts.Out it writes that file.
// Without opts.Out it writes under the backup store.
// An organization without a schema is a usage error.
func runBackupTenant(ctx context.Context, a *app, opts backupTenantOptions) error {
	if err := opts.Org.validate(); err != nil {
		return err
	}
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	org, err := opts.Org.lookup(ctx, m)
	if err != nil {
		return err
	}
	if org.SchemaName == "" {
		return asUserError(fmt.Errorf("organization %d: %w", org.ID, tenancy.ErrNoSchemaName))
	}
	if opts.Out == "-" {
		if _, err := backup.Write(ctx, m, org, a.stdout); err != nil {
			return asOpsError(err)
		}
		return nil
	}
	var res backup.Result
	if opts.Out == "" {
		res, err = a.backupStore().Backup(ctx, m, org)
	} else {
		res, err = backup.WriteFile(ctx, m, org, opts.Out)
	}
	if err != nil {
		return asOpsError(err)
	}
	fmt.Fprintf(a.stdout, "✓ Backup de %s (schema %s, versión %d): %d tablas, %d filas, %s en %s\n",
		org.Name, org.SchemaName, res.Manifest.MigrationVersion, len(res.Manifest.Tables), res.Manifest.RowCount(),
		humanBytes(res.Size), res.Took.Round(time.Millisecond))
	fmt.Fprintf(a.stdout, "  %s (verificado)\n", res.Path)
	return nil
}

func restoreTenantCmd(a *app) *cobra.Command {
	var opts backup.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore_tenant FILE",
		Short: "Restore a tenant backup into the same organization, a new one, or another server",
		Long: `Restore an archive written by backup_tenant. The whole archive is verified first (manifest, every
table's SHA-256 and row count, gzip trailer): a corrupted or truncated file is refused and nothing
changes. Then a fresh schema is created at the archive's migration version, the rows are loaded
with COPY, identity sequences are moved past the restored ids, the schema is migrated forward to the
latest version and the catalog is updated: one transaction on the default server, so a failure
leaves nothing behind.

  --organization_id=N       replace organization N's data: its current state is backed up first,
                            the organization is switched to the restored schema, the old one dropped.
  --new-slug S --name N     copy as a new organization (e.g. a trial or a support investigation).
                            The copy's profiles are deactivated: only superusers reach it until
                            add_member gives someone a profile. --keep-members keeps them active.
  (neither)                 re-create the archived organization, which must no longer exist
                            (undo of drop_tenant), with its members.
  --server NAME             put the restored schema on that registered server (see list_servers).

Archives from an older migration version are migrated forward; archives from a newer binary are
refused. The list of organizations GET /api/me shows (public.usuarios_membresia) is rewritten
from the restored profiles. For the interoperable pg_dump -n / psql path, see the README.`,
		Example: `  appcitas restore_tenant .appcitas/backups/tenant_barberia_juan_1a2b3c4d/20260105T080000.000Z.appcitas-backup --organization_id=1
  appcitas restore_tenant juan.appcitas-backup --new-slug juan-soporte --name "Barbería Juan (soporte)"
  appcitas restore_tenant juan.appcitas-backup --new-slug juan-demo --keep-members
  appcitas restore_tenant juan.appcitas-backup --organization_id=1 --server enterprise1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("restore_tenant takes one backup FILE, got %d arguments (see `%s --help`)", len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestoreTenant(cmd.Context(), a, args[0], opts)
		},
	}
	idVar(cmd, &opts.ReplaceID, "organization_id", "replace this organization's data (after backing up its current state)")
	cmd.Flags().StringVar(&opts.NewSlug, "new-slug", "", "restore as a new organization with this slug")
	cmd.Flags().StringVar(&opts.NewName, "name", "", "name of the new organization (default: the archived name)")
	cmd.Flags().StringVar(&opts.Server, "server", "", "registered server (see list_servers) for the restored schema (default: the organization's, or default)")
	cmd.Flags().BoolVar(&opts.KeepMembers, "keep-members", false, "with --new-slug: keep the archived profiles active, so the original's members reach the copy")
	return cmd
}

// runRestoreTenant is restore_tenant: it restores the backup at path as opts says.
// With opts.ReplaceID it replaces that organization's data.
// With opts.NewSlug it restores a copy as a new organization.
// With neither it re-creates the archived organization, which must no longer exist.
// Conflicting options, a bad slug or server name, and a missing file are usage errors.
func runRestoreTenant(ctx context.Context, a *app, path string, opts backup.RestoreOptions) error {
	switch {
	case opts.ReplaceID != 0 && (opts.NewSlug != "" || opts.NewName != ""):
		return usageErrorf("give --organization_id (replace) or --new-slug/--name (copy), not both")
	case opts.ReplaceID != 0 && opts.KeepMembers:
		return usageErrorf("--keep-members applies to a copy (--new-slug); a replaced organization keeps its restored profiles")
	case opts.NewSlug != "":
		if err := tenancy.ValidateSlug(opts.NewSlug); err != nil {
			return userError{err}
		}
	}
	if opts.Server != "" {
		if err := tenancy.ValidateServerName(opts.Server); err != nil {
			return userError{err}
		}
	}
	if _, err := os.Stat(path); err != nil {
		return userError{fmt.Errorf("backup file: %w", err)}
	}
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	if opts.Server != "" {
		if err := m.Servers().Check(ctx, opts.Server); err != nil {
			return asUserError(err)
		}
	}
	if opts.ReplaceID == 0 && opts.NewSlug == "" && opts.NewName == "" {
		man, err := backup.VerifyFile(path)
		if err != nil {
			return asOpsError(err)
		}
		if existing, err := m.Organization(ctx, man.Organization.ID); err == nil && existing.Slug == man.Organization.Slug {
			return usageErrorf("organization %d (%s) still exists: give --organization_id=%d to replace its data, or --new-slug S to restore a copy",
				existing.ID, existing.Slug, existing.ID)
		}
		// The archived organization itself comes back: its members with it.
		opts.NewSlug, opts.KeepMembers = man.Organization.Slug, true
	}
	opts.PreBackup = a.backupStore()
	res, err := backup.Restore(ctx, m, path, opts)
	if err != nil {
		return asOpsError(err)
	}
	org := res.Organization
	if res.PreBackup != "" {
		fmt.Fprintf(a.stdout, "✓ Estado anterior respaldado en %s\n", res.PreBackup)
	}
	fmt.Fprintf(a.stdout, "✓ Restaurado %s (id: %d, slug: %s) en el schema %s, servidor %s: %d tablas, %d filas (versión %d → %d) en %s\n",
		org.Name, org.ID, org.Slug, org.SchemaName, org.DatabaseName, len(res.Manifest.Tables), res.Manifest.RowCount(),
		res.Migration.From, res.Migration.To, res.Took.Round(time.Millisecond))
	if res.DeactivatedMembers > 0 {
		fmt.Fprintf(a.stdout, "✓ Copia sin acceso para los miembros del original: %d perfiles desactivados (solo los superusuarios entran). Da acceso con: appcitas add_member --user USUARIO --slug %s --role admin\n",
			res.DeactivatedMembers, org.Slug)
	} else {
		fmt.Fprintf(a.stdout, "✓ Miembros con acceso: %d perfiles activos\n", res.ActiveMembers)
	}
	if res.OldSchema != "" {
		if res.OldSchemaErr != nil {
			fmt.Fprintf(a.stdout, "⚠ El schema anterior %s (servidor %s) no se pudo eliminar y quedó sin uso: %v\n", res.OldSchema, res.OldServer, res.OldSchemaErr)
		} else {
			fmt.Fprintf(a.stdout, "✓ Schema anterior %s eliminado\n", res.OldSchema)
		}
	}
	return nil
}

func listBackupsCmd(a *app) *cobra.Command {
	var id int64
	var status bool
	cmd := &cobra.Command{
		Use:   "list_backups",
		Short: "List the tenant backups in the backup directory, newest first",
		Long: `List the archives under $APPCITAS_BACKUP_DIR (default $APPCITAS_DATA/backups), newest first, with the
organization, schema, migration version, rows and size read from each manifest. Files whose manifest
cannot be read are flagged. Use restore_tenant to restore one; it verifies the whole file first.
--status shows, per organization, its last successful backup and its last failed scheduled one.`,
		Example: `  appcitas list_backups
  appcitas list_backups --organization_id=1
  appcitas list_backups --status`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status {
				return printBackupStatus(cmd.Context(), a)
			}
			store := a.backupStore()
			entries, err := store.List(id)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintf(a.stdout, "(no hay backups en %s)\n", store.Root)
				return nil
			}
			fmt.Fprintf(a.stdout, "%-24s %-6s %-24s %-36s %-8s %10s %10s  %s\n", "Fecha (UTC)", "ID", "Organización", "Schema", "Versión", "Filas", "Tamaño", "Archivo")
			for _, e := range entries {
				if e.Err != nil {
					fmt.Fprintf(a.stdout, "⚠ %s: ilegible: %v\n", e.Path, e.Err)
					continue
				}
				man := e.Manifest
				name := []rune(man.Organization.Name)
				if len(name) > 23 {
					name = append(name[:22], '…')
				}
				fmt.Fprintf(a.stdout, "%-24s %-6d %-24s %-36s %-8d %10d %10s  %s\n", man.CreatedAt.Format("2006-01-02 15:04:05"),
					man.Organization.ID, string(name), man.Organization.SchemaName, man.MigrationVersion, man.RowCount(), humanBytes(e.Size), e.Path)
			}
			return nil
		},
	}
	idVar(cmd, &id, "organization_id", "only this organization's backups")
	cmd.Flags().BoolVar(&status, "status", false, "per organization: last successful backup and last failure")
	return cmd
}

// backupAllTenantsOptions are the flags of backup_all_tenants.
type backupAllTenantsOptions struct {
	// Schedule runs the backup schedule until stopped instead of one pass.
	Schedule bool
}

func backupAllTenantsCmd(a *app) *cobra.Command {
	var opts backupAllTenantsOptions
	cmd := &cobra.Command{
		Use:   "backup_all_tenants",
		Short: "Back up every active tenant now, or run the backup schedule (--schedule)",
		Long: `Back up every active tenant into $APPCITAS_BACKUP_DIR and prune each tenant's old backups (keep
APPCITAS_BACKUP_KEEP_DAILY daily, default 7, and APPCITAS_BACKUP_KEEP_WEEKLY weekly, default 4).

With --schedule it runs the backup schedule until stopped (SIGINT/SIGTERM), as River jobs in the
"backup" queue of the job queue (schema river): a periodic job queues, once per APPCITAS_BACKUP_EVERY
(default 24h), one backup job per active tenant at the tenant's own offset in the period, so
thousands of tenants are spread over the day instead of running at once; a job is unique per tenant
and period (a double enqueue never backs up twice), a failed backup is retried by River (5 attempts)
and recorded, and a tenant missed while nothing ran is backed up at the next start. serve runs the
same schedule in its own job queue: use --schedule where serve does not run (not beside it).
Failures are logged, do not stop the others, and are shown by list_tenants and list_backups --status.
A tenant that fails makes a one-off run exit with status 1.`,
		Example: `  appcitas backup_all_tenants
  APPCITAS_BACKUP_EVERY=24h APPCITAS_BACKUP_KEEP_DAILY=7 APPCITAS_BACKUP_KEEP_WEEKLY=4 appcitas backup_all_tenants --schedule`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupAllTenants(cmd.Context(), a, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Schedule, "schedule", false, "run the backup schedule until stopped")
	return cmd
}

// runBackupAllTenants is backup_all_tenants: it backs up every active tenant now and prunes old backups.
// A tenant that fails makes the exit status 1.
// With opts.Schedule it runs the backup schedule until ctx ends instead.
// opts.Schedule with scheduled backups off is a usage error.
func runBackupAllTenants(ctx context.Context, a *app, opts backupAllTenantsOptions) error {
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	every := a.cfg.BackupEvery
	if opts.Schedule && every <= 0 {
		return usageErrorf("APPCITAS_BACKUP_EVERY=0 switches scheduled backups off")
	}
	if opts.Schedule {
		return a.runBackupSchedule(ctx, m)
	}
	sc := backup.NewScheduler(m, a.backupStore(), a.backupSchedule())
	rep, err := sc.RunDue(ctx, time.Now(), true)
	if err != nil {
		return err
	}
	for _, r := range rep.BackedUp {
		fmt.Fprintf(a.stdout, "✓ %s: %d filas, %s → %s\n", r.Manifest.Organization.SchemaName, r.Manifest.RowCount(), humanBytes(r.Size), r.Path)
	}
	for schema, err := range rep.Failed {
		fmt.Fprintf(a.stdout, "✗ %s: %v\n", schema, err)
	}
	for _, schema := range rep.Busy {
		fmt.Fprintf(a.stdout, "· %s: omitido, otro backup del tenant está en curso\n", schema)
	}
	fmt.Fprintf(a.stdout, "%d respaldados, %d fallidos, %d backups antiguos eliminados\n", len(rep.BackedUp), len(rep.Failed), rep.Pruned)
	if len(rep.Failed) > 0 {
		return exitStatus(1)
	}
	return nil
}

// printBackupStatus prints, per organization, its last successful and last failed backup.
func printBackupStatus(ctx context.Context, a *app) error {
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	orgs, err := m.Organizations(ctx)
	if err != nil {
		return err
	}
	store := a.backupStore()
	now := time.Now()
	fmt.Fprintf(a.stdout, "%-6s %-30s %-36s %-26s %s\n", "ID", "Organización", "Schema", "Último backup (UTC)", "Último fallo")
	for _, o := range orgs {
		if o.SchemaName == "" {
			continue
		}
		st, err := store.Status(o)
		if err != nil {
			return err
		}
		last := "nunca"
		if !st.LastSuccess.IsZero() {
			last = fmt.Sprintf("%s (hace %s)", st.LastSuccess.Format("2006-01-02 15:04"), now.Sub(st.LastSuccess).Round(time.Minute))
		}
		failure := "-"
		if !st.LastFailure.IsZero() {
			failure = st.LastFailure.Format("2006-01-02 15:04") + ": " + st.FailureMessage
		}
		name := []rune(o.Name)
		if len(name) > 29 {
			name = append(name[:28], '…')
		}
		fmt.Fprintf(a.stdout, "%-6d %-30s %-36s %-26s %s\n", o.ID, string(name), o.SchemaName, last, failure)
	}
	return nil
}
