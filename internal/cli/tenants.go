package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/admin"
	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func createOrganizationCmd(a *app) *cobra.Command {
	var n tenancy.NewOrganization
	var plan string
	cmd := &cobra.Command{
		Use:   "create_organization",
		Short: "Create an organization and its schema (the guide's Opción A)",
		Long: `Create an organization (a customer business) in organizacion_organizacion, give it a schema name
(tenant_<slug, 20 characters at most>_<8 hex>) and provision its schema right away: its role, the
schema and every tenant migration, in one transaction. Without --slug one is made from the name.
Its subscription starts in trial on --plan (default: basico, or the cheapest plan offered) for the plan's trial days.`,
		Example: `  appcitas create_organization --name "Barbería Juan"
  appcitas create_organization --name "Clínica Dental" --slug clinica-dental --time-zone America/Bogota
  appcitas create_organization --name "Spa Central" --plan profesional`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(n.Name) == "" {
				return usageErrorf("--name is required (see `appcitas create_organization --help`)")
			}
			ctx := cmd.Context()
			m, svc, err := a.openBilling(ctx)
			if err != nil {
				return err
			}
			var org tenancy.Organization
			if plan == "" {
				// Without --plan, public migration 0012's trigger gives it a trial on the default plan.
				org, err = m.CreateOrganization(ctx, n)
			} else {
				org, err = createWithPlan(ctx, m, svc, n, plan)
			}
			if err != nil {
				return asBillingError(err)
			}
			fmt.Fprintf(a.stdout, "✓ Organización creada: %s (id: %d, slug: %s)\n", org.Name, org.ID, org.Slug)
			fmt.Fprintf(a.stdout, "✓ Schema %s creado y migrado (versión %d, servidor %s)\n", org.SchemaName, m.TenantMigrations().Latest(), org.DatabaseName)
			sub, err := svc.Subscription(ctx, org.ID)
			if err != nil {
				return fmt.Errorf("reading the subscription of organization %d: %w", org.ID, err)
			}
			printNewSubscription(a.stdout, sub)
			return nil
		},
	}
	cmd.Flags().StringVar(&plan, "plan", "", "plan of the organization's subscription, in trial for the plan's trial days (default: basico, see `appcitas plans list`)")
	cmd.Flags().StringVar(&n.Name, "name", "", "the organization's name (required; alias --nombre)")
	cmd.Flags().StringVar(&n.Slug, "slug", "", "URL-friendly unique name (default: made from --name)")
	cmd.Flags().StringVar(&n.TimeZone, "time-zone", tenancy.DefaultTimeZone, "IANA time zone")
	cmd.Flags().StringVar(&n.Server, "server", tenancy.DefaultServer, "registered PostgreSQL server that holds the schema (see list_servers)")
	return cmd
}

// createWithPlan creates an organization and its trial on plan in one transaction.
func createWithPlan(ctx context.Context, m *tenancy.Manager, svc *billing.Service, n tenancy.NewOrganization, plan string) (tenancy.Organization, error) {
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return tenancy.Organization{}, err
	}
	var org tenancy.Organization
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if org, err = m.CreateOrganizationTx(ctx, tx, n); err != nil {
			return err
		}
		_, err = svc.CreateTrialTx(ctx, tx, billing.NewTrial{OrganizationID: org.ID, PlanCode: plan})
		return err
	})
	if err != nil && org.SchemaName != "" && org.DatabaseName != tenancy.DefaultServer {
		// The schema on another server was committed there: it goes with the failed creation.
		if t, terr := org.Tenant(); terr == nil {
			_ = m.DropSchema(context.WithoutCancel(ctx), t)
		}
	}
	return org, err
}

// printNewSubscription reports a new organization's subscription.
func printNewSubscription(out io.Writer, sub billing.Subscription) {
	if sub.Status == billing.Trialing && sub.TrialEndsAt != nil {
		fmt.Fprintf(out, "✓ Suscripción: prueba del plan %s hasta %s\n", sub.PlanCode, sub.TrialEndsAt.UTC().Format(time.DateOnly))
		return
	}
	fmt.Fprintf(out, "✓ Suscripción: plan %s, %s\n", sub.PlanCode, sub.Status)
}

// organizationFlags selects one organization by --organization_id or --slug.
type organizationFlags struct {
	id   int64
	slug string
}

func (f *organizationFlags) add(cmd *cobra.Command) {
	idVar(cmd, &f.id, "organization_id", "the organization's id")
	cmd.Flags().StringVar(&f.slug, "slug", "", "the organization's slug")
}

func (f *organizationFlags) validate() error {
	switch {
	case f.id != 0 && f.slug != "":
		return usageErrorf("give --organization_id or --slug, not both")
	case f.id == 0 && f.slug == "":
		return usageErrorf("give --organization_id=N or --slug=S")
	case f.slug != "":
		if err := tenancy.ValidateSlug(f.slug); err != nil {
			return userError{err}
		}
	}
	return nil
}

func (f *organizationFlags) lookup(ctx context.Context, m *tenancy.Manager) (tenancy.Organization, error) {
	var org tenancy.Organization
	var err error
	if f.slug != "" {
		org, err = m.OrganizationBySlug(ctx, f.slug)
	} else {
		org, err = m.Organization(ctx, f.id)
	}
	return org, asUserError(err)
}

// asUserError marks errors caused by the input (unknown organization, invalid names, conflicts).
func asUserError(err error) error {
	if err == nil {
		return nil
	}
	for _, target := range []error{tenancy.ErrNotFound, tenancy.ErrInvalidName, tenancy.ErrConflict, tenancy.ErrNoSchemaName, tenancy.ErrUnknownServer} {
		if errors.Is(err, target) {
			return userError{err}
		}
	}
	return err
}

func createTenantSchemaCmd(a *app) *cobra.Command {
	var f organizationFlags
	cmd := &cobra.Command{
		Use:   "create_tenant_schema",
		Short: "Create (or complete) the schema of an existing organization",
		Long: `Create the schema of an existing organization, or complete one left behind: its role, the schema and
any pending tenant migration, in one transaction. Safe to run again: a complete schema is left as it is.`,
		Example: `  appcitas create_tenant_schema --organization_id=1
  appcitas create_tenant_schema --slug=nueva-peluqueria`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			m, err := a.openMigrated(cmd.Context())
			if err != nil {
				return err
			}
			org, err := f.lookup(cmd.Context(), m)
			if err != nil {
				return err
			}
			res, err := m.EnsureSchema(cmd.Context(), org)
			if err != nil {
				return asUserError(err)
			}
			switch {
			case res.Created:
				fmt.Fprintf(a.stdout, "✓ Schema %s creado para %s (versión %d)\n", org.SchemaName, org.Name, res.To)
			case res.From < res.To:
				fmt.Fprintf(a.stdout, "✓ Schema %s de %s completado (versión %d → %d)\n", org.SchemaName, org.Name, res.From, res.To)
			default:
				fmt.Fprintf(a.stdout, "✓ Schema %s de %s ya existe y está al día (versión %d)\n", org.SchemaName, org.Name, res.To)
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func assignSchemaNamesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "assign_schema_names",
		Short: "Give a schema_name to organizations that have none (the guide's step 2)",
		Long: `Give every organization without a schema_name one (tenant_<slug, 20 characters>_<8 hex>) and mark it
active, as the guide's step 2 does. Schemas are then created by create_tenant_schema or
migrate_all_tenants.`,
		Example: "  appcitas assign_schema_names\n  appcitas migrate_all_tenants",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := a.openMigrated(cmd.Context())
			if err != nil {
				return err
			}
			changed, err := m.AssignSchemaNames(cmd.Context())
			if err != nil {
				return err
			}
			for _, o := range changed {
				fmt.Fprintf(a.stdout, "✓ %s → %s\n", o.Name, o.SchemaName)
			}
			if len(changed) == 0 {
				fmt.Fprintln(a.stdout, "Todas las organizaciones ya tienen schema_name.")
			}
			return nil
		},
	}
}

func listTenantsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list_tenants",
		Short: "List registered tenants and the schemas found in PostgreSQL",
		Long: `List the registered tenants (id, name, schema, state, migration version against the latest, server)
and the schemas found on every registered PostgreSQL server, flagging orphan schemas (no organization)
and organizations whose schema is missing.

Under each tenant, its last successful backup in $APPCITAS_BACKUP_DIR ("nunca" when it has none), and
"✗ FALLÓ <when>: <error>" when the last scheduled backup failed after it (see list_backups --status).`,
		Example: "  appcitas list_tenants\n  APPCITAS_BACKUP_DIR=/srv/backups appcitas list_tenants",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := a.openMigrated(cmd.Context())
			if err != nil {
				return err
			}
			store := a.backupStore()
			p, err := admin.Overview{Manager: m, Backups: &store}.Tenants(cmd.Context(), admin.Filter{})
			if err != nil {
				return err
			}
			schemas, errs := m.Schemas(cmd.Context())
			statuses, backups := tenantRows(p.Tenants)
			printTenants(a.stdout, statuses, schemas, errs, backups, m.TenantMigrations().Latest(), len(m.Servers().Names()) > 1)
			return nil
		},
	}
}

// tenantBackup is one tenant's backup state for list_tenants: Err when the store could not be read.
type tenantBackup struct {
	backup.Status
	Err error
}

// tenantRows turns the fleet overview into list_tenants' rows and backup states.
// The backup states are keyed by schema name; tenants without a schema have none.
func tenantRows(list []admin.Tenant) ([]tenancy.TenantStatus, map[string]tenantBackup) {
	statuses := make([]tenancy.TenantStatus, 0, len(list))
	backups := make(map[string]tenantBackup, len(list))
	for _, t := range list {
		statuses = append(statuses, tenancy.TenantStatus{Organization: t.Organization(), Version: t.Migration.Version, Recorded: t.Migration.Recorded})
		if t.SchemaName == "" || t.Backup == nil {
			continue
		}
		b := tenantBackup{Status: backup.Status{FailureMessage: t.Backup.FailureMessage}}
		if t.Backup.Error != "" {
			b.Err = errors.New(t.Backup.Error)
		}
		if t.Backup.LastSuccess != nil {
			b.LastSuccess = *t.Backup.LastSuccess
		}
		if t.Backup.LastFailure != nil {
			b.LastFailure = *t.Backup.LastFailure
		}
		backups[t.SchemaName] = b
	}
	return statuses, backups
}

// backupLine describes a tenant's backup state on one line, in UTC.
func backupLine(b tenantBackup) string {
	const layout = "2006-01-02 15:04 UTC"
	if b.Err != nil {
		return "último backup: ? (" + b.Err.Error() + ")"
	}
	line := "último backup: nunca"
	if !b.LastSuccess.IsZero() {
		line = "último backup: " + b.LastSuccess.UTC().Format(layout)
	}
	if !b.LastFailure.IsZero() {
		line += " · ✗ FALLÓ " + b.LastFailure.UTC().Format(layout) + ": " + b.FailureMessage
	}
	return line
}

func printTenants(out io.Writer, statuses []tenancy.TenantStatus, schemas []tenancy.SchemaInfo, errs map[string]error, backups map[string]tenantBackup, latest int, multiServer bool) {
	const width = 80
	rule := strings.Repeat("=", width)
	type key struct{ server, name string }
	exists := map[key]bool{}
	for _, s := range schemas {
		exists[key{s.Server, s.Name}] = true
	}
	owner := map[key]string{}
	for _, s := range statuses {
		if s.SchemaName != "" {
			owner[key{s.DatabaseName, s.SchemaName}] = s.Name
		}
	}

	fmt.Fprintf(out, "%s\n  TENANTS REGISTRADOS\n%s\n", rule, rule)
	// Each row is its cells plus, under it, the tenant's backup line.
	rows := [][]string{{"ID", "Nombre", "Schema", "Estado", "Versión", "Servidor"}}
	under := []string{""}
	var warnings []string
	for _, s := range statuses {
		state := "✓ Activo"
		if !s.IsActive {
			state = "✗ Inactivo"
		}
		version := fmt.Sprintf("%d/%d", s.Version, latest)
		switch {
		case s.SchemaName == "":
			version = "-"
			warnings = append(warnings, fmt.Sprintf("⚠ %s (id %d) no tiene schema_name: appcitas assign_schema_names", s.Name, s.ID))
		case errs[s.DatabaseName] != nil:
			version += " ?"
		case !exists[key{s.DatabaseName, s.SchemaName}]:
			version = "sin schema"
			warnings = append(warnings, fmt.Sprintf("⚠ falta el schema %s de %s: appcitas create_tenant_schema --organization_id=%d", s.SchemaName, s.Name, s.ID))
		case s.Version < latest:
			version += " ⚠"
			warnings = append(warnings, fmt.Sprintf("⚠ %s está en la versión %d de %d: appcitas migrate_all_tenants", s.SchemaName, s.Version, latest))
		}
		name := s.Name
		if r := []rune(name); len(r) > 38 {
			name = string(r[:37]) + "…"
		}
		rows = append(rows, []string{strconv.FormatInt(s.ID, 10), name, s.SchemaName, state, version, s.DatabaseName})
		line := ""
		if b, ok := backups[s.SchemaName]; ok && s.SchemaName != "" {
			line = fmt.Sprintf("%6s└ %s", "", backupLine(b))
			if !b.LastFailure.IsZero() {
				warnings = append(warnings, fmt.Sprintf("⚠ falló el último backup de %s (id %d): appcitas list_backups --status; appcitas backup_tenant --organization_id=%d", s.Name, s.ID, s.ID))
			}
		}
		under = append(under, line)
	}
	widths := columnWidths(rows, 6)
	for i, cells := range rows {
		writeColumns(out, cells, widths)
		if i == 0 {
			fmt.Fprintln(out, strings.Repeat("-", width))
		}
		if under[i] != "" {
			fmt.Fprintln(out, under[i])
		}
	}
	if len(statuses) == 0 {
		fmt.Fprintln(out, "(ninguna organización: appcitas create_organization --name \"...\")")
	}

	fmt.Fprintf(out, "\n%s\n  SCHEMAS EN POSTGRESQL\n%s\n", rule, rule)
	for _, s := range schemas {
		label := s.Name
		if multiServer {
			label = s.Server + ":" + s.Name
		}
		switch {
		case s.Name == "public":
			fmt.Fprintf(out, "✓ %-43s→ (Schema compartido)\n", label)
		case owner[key{s.Server, s.Name}] != "":
			fmt.Fprintf(out, "✓ %-43s→ %s\n", label, owner[key{s.Server, s.Name}])
		default:
			fmt.Fprintf(out, "⚠ %-43s→ (huérfano: ninguna organización lo usa)\n", label)
		}
	}
	for server, err := range errs {
		fmt.Fprintf(out, "✗ servidor %s no responde: %v\n", server, err)
	}
	fmt.Fprintln(out, rule)
	for _, w := range warnings {
		fmt.Fprintln(out, w)
	}
}

// columnWidths returns the width of each column of rows: its widest cell in runes plus two spaces,
// and at least least.
func columnWidths(rows [][]string, least int) []int {
	var widths []int
	for _, cells := range rows {
		for i, c := range cells {
			if i == len(widths) {
				widths = append(widths, least)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c)+2)
		}
	}
	return widths
}

// writeColumns writes one row, each cell padded to its column's width but the last.
func writeColumns(out io.Writer, cells []string, widths []int) {
	var b strings.Builder
	for i, c := range cells {
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
		}
	}
	fmt.Fprintln(out, b.String())
}

func dropTenantCmd(a *app) *cobra.Command {
	var f organizationFlags
	var confirm string
	cmd := &cobra.Command{
		Use:   "drop_tenant",
		Short: "Deactivate a tenant, take a final backup, and drop it only with --confirm <schema_name>",
		Long: `Delete a tenant, never by accident:

  1. the organization is deactivated (is_active = false), so it stops being served;
  2. a final backup is taken and verified (under $APPCITAS_BACKUP_DIR);
  3. only with --confirm <schema_name>: its schema and role are dropped (table by table in batches, so a
     tenant with thousands of tables does not exhaust max_locks_per_transaction), and the organization
     and its subscription are deleted from the catalog.

Without --confirm, steps 1 and 2 run and the command says what --confirm would drop; purge_tenants
drops deactivated tenants after a retention period. restore_tenant FILE brings a dropped tenant back
from its final backup.`,
		Example: `  appcitas drop_tenant --organization_id=7
  appcitas drop_tenant --organization_id=7 --confirm tenant_barberia_juan_1a2b3c4d`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			if confirm != "" {
				if err := tenancy.ValidateSchemaName(confirm); err != nil {
					return userError{fmt.Errorf("--confirm: %w", err)}
				}
			}
			ctx := cmd.Context()
			m, err := a.openMigrated(ctx)
			if err != nil {
				return err
			}
			org, err := f.lookup(ctx, m)
			if err != nil {
				return err
			}
			if confirm != "" && confirm != org.SchemaName {
				return usageErrorf("--confirm %s does not match organization %d's schema %q: nothing was changed", confirm, org.ID, org.SchemaName)
			}
			return dropTenant(ctx, a, m, org, confirm != "")
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&confirm, "confirm", "", "the tenant's schema_name, to really drop it")
	return cmd
}

// dropTenant deactivates org, takes its final backup and, when drop, deletes it.
func dropTenant(ctx context.Context, a *app, m *tenancy.Manager, org tenancy.Organization, drop bool) error {
	org, err := m.SetActive(ctx, org.ID, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "✓ %s (id %d) desactivada\n", org.Name, org.ID)
	if org.SchemaName != "" {
		res, err := a.backupStore().Backup(ctx, m, org)
		switch {
		case errors.Is(err, tenancy.ErrSchemaMissing):
			fmt.Fprintf(a.stdout, "  el schema %s no existe en %s: no hay datos que respaldar\n", org.SchemaName, org.DatabaseName)
		case err != nil:
			return fmt.Errorf("final backup of %s failed, nothing was dropped: %w", org.SchemaName, err)
		default:
			fmt.Fprintf(a.stdout, "✓ Backup final: %s (%d filas, verificado)\n", res.Path, res.Manifest.RowCount())
		}
	}
	if !drop {
		fmt.Fprintf(a.stdout, "Nada fue eliminado. Para eliminar el schema %s (servidor %s), su rol y la organización:\n", org.SchemaName, org.DatabaseName)
		fmt.Fprintf(a.stdout, "  appcitas drop_tenant --organization_id=%d --confirm %s\n", org.ID, org.SchemaName)
		return nil
	}
	if err := m.DeleteOrganization(ctx, org); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "✓ Schema %s, su rol y la organización %d eliminados\n", org.SchemaName, org.ID)
	return nil
}

// purgeTenantsOptions are the flags of purge_tenants.
type purgeTenantsOptions struct {
	// OlderThan is the retention: only tenants deactivated longer ago than this are due.
	OlderThan time.Duration
	// Confirm drops the due tenants; without it they are only listed.
	Confirm bool
}

func purgeTenantsCmd(a *app) *cobra.Command {
	var opts purgeTenantsOptions
	cmd := &cobra.Command{
		Use:   "purge_tenants",
		Short: "Drop tenants deactivated longer ago than a retention period (after a final backup)",
		Long: `Find organizations deactivated (is_active = false) more than --older-than ago and, with --confirm, drop
each one as drop_tenant --confirm does: a final verified backup first, then its schema, role and
catalog rows. Without --confirm it only lists what it would drop. A tenant whose final backup fails is
left alone and the exit status is 1.`,
		Example: `  appcitas purge_tenants --older-than 720h
  appcitas purge_tenants --older-than 720h --confirm`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPurgeTenants(cmd.Context(), a, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.OlderThan, "older-than", 0, "retention: only tenants deactivated longer ago than this (e.g. 720h)")
	cmd.Flags().BoolVar(&opts.Confirm, "confirm", false, "really drop them")
	return cmd
}

// runPurgeTenants is purge_tenants: it lists the tenants deactivated longer ago than opts.OlderThan.
// With opts.Confirm it drops each after a final backup instead.
// A tenant that fails to drop makes the exit status 1.
// A retention that is not positive is a usage error.
func runPurgeTenants(ctx context.Context, a *app, opts purgeTenantsOptions) error {
	if opts.OlderThan <= 0 {
		return usageErrorf("--older-than must be a positive duration such as 720h (30 days)")
	}
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	orgs, err := m.Organizations(ctx)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-opts.OlderThan)
	var due []tenancy.Organization
	for _, o := range orgs {
		if !o.IsActive && o.UpdatedAt.Before(cutoff) {
			due = append(due, o)
		}
	}
	if len(due) == 0 {
		fmt.Fprintf(a.stdout, "Ningún tenant desactivado hace más de %s.\n", opts.OlderThan)
		return nil
	}
	failed := 0
	for _, o := range due {
		if !opts.Confirm {
			fmt.Fprintf(a.stdout, "- %s (id %d, schema %s, servidor %s), desactivada desde %s\n", o.Name, o.ID, o.SchemaName, o.DatabaseName, o.UpdatedAt.UTC().Format(time.DateTime))
			continue
		}
		if err := dropTenant(ctx, a, m, o, true); err != nil {
			failed++
			fmt.Fprintf(a.stdout, "✗ %s (id %d): %v\n", o.Name, o.ID, err)
		}
	}
	if !opts.Confirm {
		fmt.Fprintf(a.stdout, "%d tenants serían eliminados (tras un backup final). Repita con --confirm.\n", len(due))
		return nil
	}
	fmt.Fprintf(a.stdout, "%d eliminados, %d fallidos\n", len(due)-failed, failed)
	if failed > 0 {
		return exitStatus(1)
	}
	return nil
}

func queryAllTenantsCmd(a *app) *cobra.Command {
	var opts admin.QueryOptions
	var format string
	var ids []int64
	cmd := &cobra.Command{
		Use:   `query_all_tenants "SELECT ..."`,
		Short: "Run one read-only SELECT in every active tenant and stream the rows as CSV or JSON",
		Long: `Run one read-only query in every active tenant's schema (its schema alone in search_path) and
stream the rows to standard output, each prefixed with organization_id and organization_name: the
guide's cross-tenant UNION ALL, without naming schemas. Tenants are queried --batch at a time; the
run stops at --max-rows rows or after --timeout.

The query is parsed with PostgreSQL's own parser. Only one plain SELECT (VALUES, TABLE, UNION and
CTEs included) is accepted: no writes, no SELECT INTO, no FOR UPDATE, no schema-qualified tables, no
pg_* catalogs or functions, no functions that run SQL text or touch session settings. A syntax error
is reported once, with its position. The query runs as a dedicated read-only role that can read
tenant tables and nothing else, on connections opened for this run and closed at its end. A tenant
whose query fails (or whose columns differ, e.g. at another migration version) is reported on
standard error and left out; the exit status is then 1.`,
		Example: `  appcitas query_all_tenants "SELECT estado, count(*) AS n FROM citas_cita GROUP BY estado"
  appcitas query_all_tenants "SELECT id, nombre FROM citas_servicio WHERE precio_centavos > 5000000" --format json
  appcitas query_all_tenants "SELECT count(*) FROM citas_cita WHERE inicio > now()" --timeout 2m --max-rows 100000 > citas.csv`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("query_all_tenants takes one quoted SQL query, got %d arguments (see `%s --help`)", len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Format, opts.Organizations = admin.Format(format), ids
			return runQueryAllTenants(cmd.Context(), a, args[0], opts)
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "output format: csv or json (one object per line)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "stop the whole run after this long (also each statement's timeout)")
	cmd.Flags().IntVar(&opts.MaxRows, "max-rows", 10000, "stop after this many rows")
	cmd.Flags().IntVar(&opts.Batch, "batch", 4, "tenants queried at once")
	cmd.Flags().Int64SliceVar(&ids, "organization_id", nil, "only these organizations (repeatable)")
	return cmd
}

// runQueryAllTenants is query_all_tenants: it runs the read-only query in every active tenant.
// It streams the rows to stdout and a summary to stderr.
// A tenant whose query fails is reported on stderr and makes the exit status 1.
// Bad options or a query that is not one read-only SELECT is a usage error.
func runQueryAllTenants(ctx context.Context, a *app, query string, opts admin.QueryOptions) error {
	switch {
	case opts.Format != admin.CSV && opts.Format != admin.JSON:
		return usageErrorf("--format must be csv or json, got %q", opts.Format)
	case opts.Timeout <= 0:
		return usageErrorf("--timeout must be positive, got %s", opts.Timeout)
	case opts.MaxRows <= 0:
		return usageErrorf("--max-rows must be positive, got %d", opts.MaxRows)
	case opts.Batch < 1 || opts.Batch > 64:
		return usageErrorf("--batch must be between 1 and 64, got %d", opts.Batch)
	}
	if err := admin.CheckReadOnly(query); err != nil {
		return userError{err}
	}
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	rep, err := admin.Query(ctx, m, query, a.stdout, opts)
	for id, ferr := range rep.Failed {
		fmt.Fprintf(a.stderr, "✗ organización %d: %v\n", id, ferr)
	}
	if err != nil {
		return asUserError(err)
	}
	summary := fmt.Sprintf("%d filas de %d tenants en %s", rep.Rows, rep.Tenants, rep.Took.Round(time.Millisecond))
	if rep.Truncated {
		summary += fmt.Sprintf(" (cortado en --max-rows %d)", opts.MaxRows)
	}
	fmt.Fprintln(a.stderr, summary)
	if len(rep.Failed) > 0 {
		return exitStatus(1)
	}
	return nil
}

// moveTenantOptions are the flags of move_tenant.
type moveTenantOptions struct {
	// Org names the organization to move.
	Org organizationFlags
	// To is the registered server to move it to; empty moves nothing.
	To string
	// DropSource drops the copies left on other servers.
	DropSource bool
}

func moveTenantCmd(a *app) *cobra.Command {
	var opts moveTenantOptions
	cmd := &cobra.Command{
		Use:   "move_tenant",
		Short: "Move a tenant's schema to another registered server, with its writes paused during the copy",
		Long: `Move a tenant to another registered PostgreSQL server (add_server, or APPCITAS_SERVERS; see list_servers):

  1. the schema is created on the target at the tenant's migration version, and every table is
     bulk-copied into it with COPY from a consistent snapshot while the tenant keeps working;
  2. pause: the tenant's tables are locked on the source IN EXCLUSIVE MODE (writes wait, reads go on),
     the rows written since the snapshot are copied over, and every table's row count and sum of
     per-row hashes are compared on both sides;
  3. the organization's database_name is switched to the target;
  4. the source copy is made read-only for the tenant (a write that waited fails instead of being
     lost) and the locks are released. The pause is measured and reported.

If anything fails before the switch, the tenant stays where it was, working, and nothing is left on
the target. The source copy is kept until --drop-source (now, or in a later run without --to).`,
		Example: `  appcitas move_tenant --organization_id=7 --to enterprise1
  appcitas move_tenant --organization_id=7 --to enterprise1 --drop-source
  appcitas move_tenant --organization_id=7 --drop-source     # later: drop the copy left on the old server`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMoveTenant(cmd.Context(), a, opts)
		},
	}
	opts.Org.add(cmd)
	cmd.Flags().StringVar(&opts.To, "to", "", "registered server to move the tenant to (see list_servers)")
	cmd.Flags().BoolVar(&opts.DropSource, "drop-source", false, "drop the copy left on the old server")
	return cmd
}

// runMoveTenant is move_tenant.
// With opts.To it moves the organization's schema to that server.
// With opts.DropSource it drops the copies left on other servers, after the move if both are given.
// Neither, a bad server name, or an unregistered server is a usage error.
func runMoveTenant(ctx context.Context, a *app, opts moveTenantOptions) error {
	if err := opts.Org.validate(); err != nil {
		return err
	}
	if opts.To == "" && !opts.DropSource {
		return usageErrorf("give --to SERVER (and/or --drop-source) (see `appcitas move_tenant --help`)")
	}
	if opts.To != "" {
		if err := tenancy.ValidateServerName(opts.To); err != nil {
			return userError{err}
		}
	}
	m, err := a.openMigrated(ctx)
	if err != nil {
		return err
	}
	org, err := opts.Org.lookup(ctx, m)
	if err != nil {
		return err
	}
	if opts.To != "" {
		res, err := backup.Move(ctx, m, org, opts.To)
		if errors.Is(err, tenancy.ErrUnknownServer) {
			return usageErrorf("server %q is not registered: register it first with `appcitas add_server --name %s --host HOST --database DB` (see `appcitas list_servers`)", opts.To, opts.To)
		}
		if errors.Is(err, backup.ErrSameServer) {
			return userError{err}
		}
		if err != nil {
			return asUserError(err)
		}
		org = res.Organization
		var rows int64
		for _, s := range res.Sums {
			rows += s.Rows
		}
		fmt.Fprintf(a.stdout, "✓ %s (schema %s) movida de %s a %s: %d tablas, %d filas verificadas (conteo + suma de hashes por fila)\n",
			org.Name, org.SchemaName, res.From, res.To, len(res.Sums), rows)
		fmt.Fprintf(a.stdout, "  escrituras en pausa: %s (total %s)\n", res.Pause.Round(time.Millisecond), res.Took.Round(time.Millisecond))
		if !opts.DropSource {
			fmt.Fprintf(a.stdout, "  la copia en %s se conserva (solo lectura): appcitas move_tenant --organization_id=%d --drop-source\n", res.From, org.ID)
		}
	}
	if opts.DropSource {
		dropped, err := backup.DropSourceCopies(ctx, m, org)
		for _, s := range dropped {
			fmt.Fprintf(a.stdout, "✓ copia de %s eliminada del servidor %s\n", org.SchemaName, s)
		}
		if err != nil {
			return err
		}
		if len(dropped) == 0 {
			fmt.Fprintf(a.stdout, "No hay copias de %s fuera de %s.\n", org.SchemaName, org.DatabaseName)
		}
	}
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
				if err := migratePublic(cmd.Context(), a, m, false); err != nil {
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
