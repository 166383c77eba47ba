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
