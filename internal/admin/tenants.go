package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// The fleet overview: every organization with its migration, subscription, backup and schema
// state, and what one tenant holds.
// The tenant dashboard and list_tenants both read it.

// CountsTimeout bounds the statement that counts a tenant's rows in [Overview.Counts].
const CountsTimeout = 5 * time.Second

// Tenant is one organization as the overview lists it.
type Tenant struct {
	ID           int64     `json:"id"`
	Nombre       string    `json:"nombre"`
	Slug         string    `json:"slug"`
	SchemaName   string    `json:"schema_name"`
	DatabaseName string    `json:"database_name"`
	IsActive     bool      `json:"is_active"`
	ZonaHoraria  string    `json:"zona_horaria"`
	CreatedAt    time.Time `json:"created_at"`
	// Migration is the schema's version in the ledger against the latest tenant migration.
	Migration Migration `json:"migration"`
	// SchemaExists says whether the schema is on its server.
	// It is null when the server was not asked (no schema name).
	// It is null when the server did not answer (ServerError says so).
	SchemaExists *bool  `json:"schema_exists"`
	ServerError  string `json:"server_error,omitempty"`
	// Subscription is null for an organization without one.
	Subscription *Subscription `json:"subscription"`
	// Backup is null when no backup store is configured.
	Backup *Backup `json:"backup"`
}

// Organization returns the catalog fields of t.
func (t Tenant) Organization() tenancy.Organization {
	return tenancy.Organization{ID: t.ID, Name: t.Nombre, Slug: t.Slug, SchemaName: t.SchemaName, IsActive: t.IsActive,
		DatabaseName: t.DatabaseName, TimeZone: t.ZonaHoraria, CreatedAt: t.CreatedAt}
}

// Migration is a tenant's migration state.
type Migration struct {
	Version int  `json:"version"`
	Latest  int  `json:"latest"`
	Behind  bool `json:"behind"`
	// Recorded is false when the ledger has no row for the schema (never created).
	Recorded bool `json:"recorded"`
}

// Subscription is a tenant's plan and subscription state.
type Subscription struct {
	Status      string     `json:"status"`
	PlanCode    string     `json:"plan_code"`
	PlanName    string     `json:"plan_name"`
	TrialEndsAt *time.Time `json:"trial_ends_at"`
	PeriodStart time.Time  `json:"period_start"`
	PeriodEnd   time.Time  `json:"period_end"`
	GraceEndsAt *time.Time `json:"grace_ends_at"`
	CancelledAt *time.Time `json:"cancelled_at"`
}

// Backup is a tenant's backup state in the store.
type Backup struct {
	// LastSuccess is when its newest backup was taken.
	// It is null when it has none.
	LastSuccess *time.Time `json:"last_success"`
	// LastFailure is the last failed backup into the store newer than the last success.
	LastFailure    *time.Time `json:"last_failure"`
	FailureMessage string     `json:"failure_message,omitempty"`
	// Error says why the store could not be read for this tenant.
	Error string `json:"error,omitempty"`
}

// Counts is what a tenant holds, read in its own schema.
type Counts struct {
	// Branches, Services and Members count the active ones.
	Branches int64 `json:"branches"`
	Services int64 `json:"services"`
	Members  int64 `json:"members"`
	// AppointmentsNext30Days counts appointments that are not cancelled starting in the next 30 days.
	AppointmentsNext30Days int64 `json:"appointments_next_30_days"`
}

// Filter selects organizations for [Overview.Tenants].
type Filter struct {
	// Query matches a substring of the name or slug, the start of the schema name, or an exact id.
	// Matching ignores case, and % and _ are literal.
	// "" matches every organization.
	Query string
	// Active selects active or inactive organizations; nil selects both.
	Active *bool
	// Subscription is a billing status, "none" (no subscription), or "" (any).
	Subscription string
	// Limit is the page size; 0 means every organization.
	Limit int
	// After is the cursor: only organizations with a greater id are listed.
	After int64
}

// Page is one page of [Overview.Tenants].
type Page struct {
	// Tenants are sorted by id.
	Tenants []Tenant
	// Total is how many organizations match the filter over every page.
	Total int64
	// Next is the cursor of the next page; nil on the last page.
	Next *int64
}

// Overview reads the fleet overview.
type Overview struct {
	// Manager is the tenant catalog and the door into tenant schemas.
	Manager *tenancy.Manager
	// Backups is the store each tenant's backup state is read from; nil leaves Tenant.Backup null.
	Backups *backup.Store
	// Log receives a warning when a server does not answer; nil logs nothing.
	Log *slog.Logger
}

// tenantSelect reads organizations with their ledger version and subscription, in one query.
const tenantSelect = `SELECT o.id, o.nombre, o.slug, o.schema_name, o.database_name, o.is_active, o.zona_horaria, o.created_at,
	coalesce(l.version, 0), l.schema_name IS NOT NULL,
	s.estado, p.codigo, p.nombre, s.prueba_termina_en, s.periodo_actual_inicio, s.periodo_actual_fin, s.gracia_termina_en, s.cancelada_en`

const tenantFrom = ` FROM public.organizacion_organizacion o
	LEFT JOIN public.migraciones_ledger l ON l.schema_name = o.schema_name AND o.schema_name <> ''
	LEFT JOIN public.billing_suscripcion s ON s.organizacion_id = o.id
	LEFT JOIN public.billing_plan p ON p.id = s.plan_id`

// tenantWhere takes these parameters:
//   - $1 the substring pattern, empty for none;
//   - $2 the raw query;
//   - $3 is_active (NULL: any);
//   - $4 the subscription filter: empty for any, 'none', or a status;
//   - $5 the prefix pattern.
//
// The schema name is matched by its start only.
// Its random suffix would match any short query.
const tenantWhere = ` WHERE ($1 = '' OR o.nombre ILIKE $1 OR o.slug ILIKE $1 OR o.schema_name ILIKE $5 OR o.id::text = $2)
	AND ($3::boolean IS NULL OR o.is_active = $3::boolean)
	AND ($4 = '' OR ($4 = 'none' AND s.id IS NULL) OR s.estado = $4)`

// likeEscape escapes LIKE's wildcards in q, so that q matches itself only.
func likeEscape(q string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
}

func scanTenant(row pgx.Row, latest int) (Tenant, error) {
	var t Tenant
	var status, planCode, planName *string
	var periodStart, periodEnd *time.Time
	var sub Subscription
	err := row.Scan(&t.ID, &t.Nombre, &t.Slug, &t.SchemaName, &t.DatabaseName, &t.IsActive, &t.ZonaHoraria, &t.CreatedAt,
		&t.Migration.Version, &t.Migration.Recorded,
		&status, &planCode, &planName, &sub.TrialEndsAt, &periodStart, &periodEnd, &sub.GraceEndsAt, &sub.CancelledAt)
	if err != nil {
		return t, err
	}
	t.Migration.Latest = latest
	t.Migration.Behind = t.SchemaName != "" && t.Migration.Version < latest
	if status != nil {
		sub.Status = *status
		if planCode != nil {
			sub.PlanCode = *planCode
		}
		if planName != nil {
			sub.PlanName = *planName
		}
		if periodStart != nil {
			sub.PeriodStart = *periodStart
		}
		if periodEnd != nil {
			sub.PeriodEnd = *periodEnd
		}
		t.Subscription = &sub
	}
	return t, nil
}

// Tenants returns one page of organizations matching f, with their schema and backup state.
// The count and the page travel in one round trip to the default server, whatever the fleet's size.
func (o Overview) Tenants(ctx context.Context, f Filter) (Page, error) {
	pool, err := o.Manager.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return Page{}, err
	}
	substring, prefix := "", ""
	if f.Query != "" {
		substring, prefix = "%"+likeEscape(f.Query)+"%", likeEscape(f.Query)+"%"
	}
	args := []any{substring, f.Query, f.Active, f.Subscription, prefix}
	var limit *int
	if f.Limit > 0 {
		n := f.Limit + 1
		limit = &n
	}
	b := &pgx.Batch{}
	var p Page
	b.Queue(`SELECT count(*)`+tenantFrom+tenantWhere, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&p.Total)
	})
	latest := o.Manager.TenantMigrations().Latest()
	b.Queue(tenantSelect+tenantFrom+tenantWhere+` AND o.id > $6 ORDER BY o.id LIMIT $7`,
		append(args, f.After, limit)...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			t, err := scanTenant(rows, latest)
			if err != nil {
				return err
			}
			p.Tenants = append(p.Tenants, t)
		}
		return rows.Err()
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return Page{}, fmt.Errorf("listing tenants: %w", err)
	}
	if f.Limit > 0 && len(p.Tenants) > f.Limit {
		p.Tenants = p.Tenants[:f.Limit]
		next := p.Tenants[f.Limit-1].ID
		p.Next = &next
	}
	if p.Tenants == nil {
		p.Tenants = []Tenant{}
	}
	o.enrich(ctx, p.Tenants)
	return p, nil
}

// Tenant returns one organization as listed, with its schema and backup state.
// It returns an error matching [tenancy.ErrNotFound] when there is no organization id.
func (o Overview) Tenant(ctx context.Context, id int64) (Tenant, error) {
	pool, err := o.Manager.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return Tenant{}, err
	}
	t, err := scanTenant(pool.QueryRow(ctx, tenantSelect+tenantFrom+` WHERE o.id = $1`, id),
		o.Manager.TenantMigrations().Latest())
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("%w: id %d", tenancy.ErrNotFound, id)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("reading organization %d: %w", id, err)
	}
	list := []Tenant{t}
	o.enrich(ctx, list)
	return list[0], nil
}

// enrich fills in what is not in public's tables for a list of tenants.
//   - Whether each schema exists: one catalog query per server of the list, not per tenant.
//   - The backup state: file names and failure records of the listed tenants only.
func (o Overview) enrich(ctx context.Context, list []Tenant) {
	byServer := map[string][]string{}
	for _, t := range list {
		if t.SchemaName != "" {
			byServer[t.DatabaseName] = append(byServer[t.DatabaseName], t.SchemaName)
		}
	}
	type key struct{ server, schema string }
	found := map[key]bool{}
	failed := map[string]string{}
	for server, schemas := range byServer {
		names, err := o.schemasOn(ctx, server, schemas)
		if err != nil {
			if o.Log != nil {
				o.Log.WarnContext(ctx, "admin: reading schemas", "server", server, "err", err)
			}
			failed[server] = fmt.Sprintf("server %s did not answer", server)
			continue
		}
		for _, n := range names {
			found[key{server, n}] = true
		}
	}
	for i := range list {
		t := &list[i]
		if t.SchemaName != "" {
			if msg, bad := failed[t.DatabaseName]; bad {
				t.ServerError = msg
			} else {
				ok := found[key{t.DatabaseName, t.SchemaName}]
				t.SchemaExists = &ok
			}
		}
		if o.Backups == nil {
			continue
		}
		t.Backup = &Backup{}
		if t.SchemaName != "" {
			*t.Backup = o.backupOf(t.Organization())
		}
	}
}

// backupOf reads org's backup state from the store.
func (o Overview) backupOf(org tenancy.Organization) Backup {
	var b Backup
	st, err := o.Backups.Status(org)
	if err != nil {
		b.Error = err.Error()
		return b
	}
	if !st.LastSuccess.IsZero() {
		v := st.LastSuccess
		b.LastSuccess = &v
	}
	if !st.LastFailure.IsZero() {
		v := st.LastFailure
		b.LastFailure, b.FailureMessage = &v, st.FailureMessage
	}
	return b
}

// schemasOn returns which of schemas exist on server.
func (o Overview) schemasOn(ctx context.Context, server string, schemas []string) ([]string, error) {
	pool, err := o.Manager.Servers().Shared(ctx, server)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])`, schemas)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Counts reads what t holds through its scope, the only door into tenant data.
// The transaction is read-only, runs on the bulk pool and has [CountsTimeout] as statement timeout.
// The dashboard is not the tenant's request path.
// It returns an error without reading:
//   - matching [tenancy.ErrNoSchemaName] when t has no schema name;
//   - matching [tenancy.ErrSchemaMissing] when t's schema is known to be missing.
//
// now starts the 30 days of AppointmentsNext30Days.
func (o Overview) Counts(ctx context.Context, t Tenant, now time.Time) (Counts, error) {
	var c Counts
	if t.SchemaName == "" {
		return c, fmt.Errorf("organization %d: %w", t.ID, tenancy.ErrNoSchemaName)
	}
	if t.SchemaExists != nil && !*t.SchemaExists {
		return c, fmt.Errorf("%s: %w", t.SchemaName, tenancy.ErrSchemaMissing)
	}
	tn := tenancy.Tenant{OrganizationID: t.ID, Schema: t.SchemaName, Server: t.DatabaseName}
	opts := tenancy.RunOptions{ReadOnly: true, StatementTimeoutMillis: int(CountsTimeout.Milliseconds()), Bulk: true}
	err := o.Manager.RunWith(ctx, tn, opts, func(tx pgx.Tx) error {
		n, err := booking.CountHoldings(ctx, tx, now, now.AddDate(0, 0, 30))
		c = Counts{Branches: n.Branches, Services: n.Services, Members: n.Members, AppointmentsNext30Days: n.Appointments}
		return err
	})
	if err != nil {
		return c, fmt.Errorf("counting rows of %s: %w", t.SchemaName, err)
	}
	return c, nil
}
