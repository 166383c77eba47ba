package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// The tenant dashboard's JSON endpoints (GET /admin is the page that drives them): the fleet's
// organizations with their migration, subscription, backup and schema state, one tenant's detail,
// and the operator's actions. Every one of them is for superusers only.

const (
	// adminDefaultLimit and adminMaxLimit bound a page of GET /api/admin/tenants.
	adminDefaultLimit = 50
	adminMaxLimit     = 200
	// adminQueryMaxLen bounds the q filter.
	adminQueryMaxLen = 200
	// adminCountsTimeout bounds the statement that counts a tenant's rows for its detail.
	adminCountsTimeout = 5 * time.Second
	// adminBackupWriteTimeout is how long the answer of a backup taken from the dashboard may take.
	adminBackupWriteTimeout = 30 * time.Minute
)

// adminTenant is one organization as the dashboard lists it.
type adminTenant struct {
	ID           int64     `json:"id"`
	Nombre       string    `json:"nombre"`
	Slug         string    `json:"slug"`
	SchemaName   string    `json:"schema_name"`
	DatabaseName string    `json:"database_name"`
	IsActive     bool      `json:"is_active"`
	ZonaHoraria  string    `json:"zona_horaria"`
	CreatedAt    time.Time `json:"created_at"`
	// Migration is the schema's version in the ledger against the latest tenant migration.
	Migration adminMigration `json:"migration"`
	// SchemaExists says whether the schema is on its server; null when the server was not asked
	// (no schema name) or did not answer (ServerError).
	SchemaExists *bool  `json:"schema_exists"`
	ServerError  string `json:"server_error,omitempty"`
	// Subscription is null for an organization without one.
	Subscription *adminSubscription `json:"subscription"`
	// Backup is null when the server has no backup store configured.
	Backup *adminBackup `json:"backup"`
}

// adminMigration is a tenant's migration state.
type adminMigration struct {
	Version int  `json:"version"`
	Latest  int  `json:"latest"`
	Behind  bool `json:"behind"`
	// Recorded is false when the ledger has no row for the schema (never created).
	Recorded bool `json:"recorded"`
}

// adminSubscription is a tenant's plan and subscription state.
type adminSubscription struct {
	Status      string     `json:"status"`
	PlanCode    string     `json:"plan_code"`
	PlanName    string     `json:"plan_name"`
	TrialEndsAt *time.Time `json:"trial_ends_at"`
	PeriodStart time.Time  `json:"period_start"`
	PeriodEnd   time.Time  `json:"period_end"`
	GraceEndsAt *time.Time `json:"grace_ends_at"`
	CancelledAt *time.Time `json:"cancelled_at"`
}

// adminBackup is a tenant's backup state in the store (as list_tenants shows it).
type adminBackup struct {
	// LastSuccess is when its newest backup was taken; null: never.
	LastSuccess *time.Time `json:"last_success"`
	// LastFailure is the last failed backup into the store (scheduled, from the dashboard or
	// backup_tenant) newer than the last success.
	LastFailure    *time.Time `json:"last_failure"`
	FailureMessage string     `json:"failure_message,omitempty"`
	// Error says why the store could not be read for this tenant.
	Error string `json:"error,omitempty"`
}

// adminTenantList is the answer of GET /api/admin/tenants.
type adminTenantList struct {
	Tenants []adminTenant `json:"tenants"`
	// Total is how many organizations match the filters (over every page).
	Total int64 `json:"total"`
	Limit int   `json:"limit"`
	// NextCursor is the cursor of the next page; null on the last page.
	NextCursor *int64 `json:"next_cursor"`
	// LatestVersion is the latest tenant migration.
	LatestVersion     int  `json:"latest_version"`
	BackupsConfigured bool `json:"backups_configured"`
	BillingConfigured bool `json:"billing_configured"`
}

// adminTenantCounts is what a tenant holds, read in its own schema.
type adminTenantCounts struct {
	// Branches, Services and Members count the active ones.
	Branches int64 `json:"branches"`
	Services int64 `json:"services"`
	Members  int64 `json:"members"`
	// AppointmentsNext30Days counts appointments that are not cancelled starting in the next 30 days.
	AppointmentsNext30Days int64 `json:"appointments_next_30_days"`
}

// adminTenantDetail is the answer of GET /api/admin/tenants/{id}.
type adminTenantDetail struct {
	adminTenant
	// Counts is null when the tenant's schema could not be read (CountsError says why).
	Counts      *adminTenantCounts `json:"counts"`
	CountsError string             `json:"counts_error,omitempty"`
}

// adminExtendTrialRequest is the body of POST /api/admin/tenants/{id}/extend_trial.
type adminExtendTrialRequest struct {
	// Days to add to the trial: 1-365.
	Days int `json:"days"`
}

// adminBackupResponse is the answer of POST /api/admin/tenants/{id}/backup.
type adminBackupResponse struct {
	OrganizationID int64 `json:"organization_id"`
	// Name is the archive's file name in the store; Path its full path on the server.
	Name             string    `json:"name"`
	Path             string    `json:"path"`
	SizeBytes        int64     `json:"size_bytes"`
	Tables           int       `json:"tables"`
	Rows             int64     `json:"rows"`
	MigrationVersion int       `json:"migration_version"`
	TookMillis       int64     `json:"took_ms"`
	TakenAt          time.Time `json:"taken_at"`
}

func (s *Server) adminTenantRoutes() []route {
	list := []param{
		qString("q", "Substring of the name or slug, start of the schema name (case-insensitive; % and _ are literal), or an exact id"),
		qEnum("estado", "Organization state", "active", "inactive", "activo", "inactivo"),
		qEnum("suscripcion", "Subscription status, or none (no subscription)", "trialing", "active", "past_due", "suspended", "cancelled", "none"),
		qInt("limit", fmt.Sprintf("Page size (default %d)", adminDefaultLimit), 1, adminMaxLimit),
		{name: "cursor", description: "The next_cursor of the previous page (organizations are sorted by id)", schema: map[string]any{"type": "integer", "format": "int64", "minimum": 0}},
	}
	return []route{
		{method: "GET", path: "/api/admin/tenants", access: authenticated, handler: s.superuserOnly(s.adminListTenants), tag: "admin",
			summary: "Superusers: every organization with its migration version, plan and subscription, last backup and schema presence; filtered and paginated by id",
			query:   list, response: adminTenantList{}, errors: []int{400, 403}},
		{method: "GET", path: "/api/admin/tenants/{id}", access: authenticated, handler: s.superuserOnly(s.adminGetTenant), tag: "admin",
			summary:  "Superusers: one organization as listed, plus what its schema holds (active branches, services, members, appointments in the next 30 days)",
			response: adminTenantDetail{}, errors: []int{400, 403, 404}},
		{method: "POST", path: "/api/admin/tenants/{id}/deactivate", access: authenticated, handler: s.superuserOnly(s.adminSetActive(false)), tag: "admin",
			summary:  "Superusers: deactivate an organization (its API answers 403 organization_inactive; data is kept). Optional body: {}",
			response: adminTenant{}, errors: []int{400, 403, 404, 413, 415}},
		{method: "POST", path: "/api/admin/tenants/{id}/activate", access: authenticated, handler: s.superuserOnly(s.adminSetActive(true)), tag: "admin",
			summary:  "Superusers: activate an organization again. Optional body: {}",
			response: adminTenant{}, errors: []int{400, 403, 404, 413, 415}},
		{method: "POST", path: "/api/admin/tenants/{id}/backup", access: authenticated, handler: s.superuserOnly(s.adminBackup), tag: "admin",
			summary:  "Superusers: take a verified backup of the tenant now, into the server's backup store (as appcitas backup_tenant)",
			response: adminBackupResponse{}, status: http.StatusCreated, errors: []int{400, 403, 404, 409, 413, 415, 501}},
		{method: "POST", path: "/api/admin/tenants/{id}/extend_trial", access: authenticated, handler: s.superuserOnly(s.adminExtendTrial), tag: "admin",
			summary: "Superusers: give the organization days more of trial (as appcitas subscriptions extend_trial)",
			request: adminExtendTrialRequest{}, response: adminTenant{}, errors: []int{400, 403, 404, 409, 413, 415, 501}},
	}
}

// superuserOnly answers 403 superuser_required to callers who are not superusers: the caller's
// cached standing must say so, and the account must be an active superuser in the table now (one
// query), so that demoting or deactivating an operator takes effect on the admin routes even
// before the announcement of the change arrives. The answers of the admin endpoints are never
// cached.
func (s *Server) superuserOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		c, _ := callerFrom(r.Context())
		if !c.IsSuperuser {
			s.fail(w, r, apiError(http.StatusForbidden, "superuser_required", "the admin routes are for superusers"))
			return
		}
		st, err := s.users.Standing(r.Context(), c.UserID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !st.Exists || !st.IsActive || !st.IsSuperuser {
			s.fail(w, r, apiError(http.StatusForbidden, "superuser_required", "this account is no longer an active superuser"))
			return
		}
		next(w, r)
	}
}

// adminFilter is the parsed query of GET /api/admin/tenants.
type adminFilter struct {
	q      string
	active *bool
	// subscription is a billing status, "none", or "" (any).
	subscription string
	limit        int
	cursor       int64
}

func badParam(name, format string, args ...any) *Error {
	e := apiError(http.StatusBadRequest, "invalid_query_parameter", "%s: "+format, append([]any{name}, args...)...)
	e.Field = name
	return e
}

// parseAdminFilter reads and validates the list's query parameters.
func parseAdminFilter(r *http.Request) (adminFilter, error) {
	qv := r.URL.Query()
	f := adminFilter{limit: adminDefaultLimit}
	for _, name := range []string{"q", "estado", "suscripcion", "limit", "cursor"} {
		if len(qv[name]) > 1 {
			return f, badParam(name, "give it once")
		}
	}
	f.q = strings.TrimSpace(qv.Get("q"))
	if !utf8.ValidString(f.q) || utf8.RuneCountInString(f.q) > adminQueryMaxLen || strings.ContainsRune(f.q, 0) {
		return f, badParam("q", "want at most %d characters of text", adminQueryMaxLen)
	}
	switch v := qv.Get("estado"); v {
	case "":
	case "active", "activo":
		t := true
		f.active = &t
	case "inactive", "inactivo":
		t := false
		f.active = &t
	default:
		return f, badParam("estado", "want active or inactive, got %q", v)
	}
	if v := qv.Get("suscripcion"); v != "" {
		if v != "none" {
			if _, err := billing.ParseStatus(v); err != nil {
				return f, badParam("suscripcion", "want trialing, active, past_due, suspended, cancelled or none, got %q", v)
			}
		}
		f.subscription = v
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminMaxLimit {
			return f, badParam("limit", "want an integer 1-%d, got %q", adminMaxLimit, v)
		}
		f.limit = n
	}
	if v := qv.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, badParam("cursor", "want the next_cursor of the previous page, got %q", v)
		}
		f.cursor = n
	}
	return f, nil
}

// likeEscape escapes LIKE's wildcards in q, so that q matches itself only.
func likeEscape(q string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
}

// adminTenantSelect reads organizations with their ledger version and subscription, in one query.
const adminTenantSelect = `SELECT o.id, o.nombre, o.slug, o.schema_name, o.database_name, o.is_active, o.zona_horaria, o.created_at,
	coalesce(l.version, 0), l.schema_name IS NOT NULL,
	s.estado, p.codigo, p.nombre, s.prueba_termina_en, s.periodo_actual_inicio, s.periodo_actual_fin, s.gracia_termina_en, s.cancelada_en`

const adminTenantFrom = ` FROM public.organizacion_organizacion o
	LEFT JOIN public.migraciones_ledger l ON l.schema_name = o.schema_name AND o.schema_name <> ''
	LEFT JOIN public.billing_suscripcion s ON s.organizacion_id = o.id
	LEFT JOIN public.billing_plan p ON p.id = s.plan_id`

// adminTenantWhere takes $1 the substring pattern (” for none), $2 the raw q, $3 is_active
// (NULL: any), $4 the subscription filter (” any, 'none', or a status), $5 the prefix pattern.
// The schema name is matched by its start only: its random suffix would match any short q.
const adminTenantWhere = ` WHERE ($1 = '' OR o.nombre ILIKE $1 OR o.slug ILIKE $1 OR o.schema_name ILIKE $5 OR o.id::text = $2)
	AND ($3::boolean IS NULL OR o.is_active = $3::boolean)
	AND ($4 = '' OR ($4 = 'none' AND s.id IS NULL) OR s.estado = $4)`

func scanAdminTenant(row pgx.Row, latest int) (adminTenant, error) {
	var t adminTenant
	var status, planCode, planName *string
	var periodStart, periodEnd *time.Time
	var sub adminSubscription
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

// listAdminTenants returns one page of organizations matching f and how many match in all: the
// count and the page travel in one round trip to the default server, whatever the fleet's size.
func (s *Server) listAdminTenants(ctx context.Context, f adminFilter) ([]adminTenant, int64, error) {
	pool, err := s.tenancy.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return nil, 0, err
	}
	substring, prefix := "", ""
	if f.q != "" {
		substring, prefix = "%"+likeEscape(f.q)+"%", likeEscape(f.q)+"%"
	}
	args := []any{substring, f.q, f.active, f.subscription, prefix}
	b := &pgx.Batch{}
	var total int64
	b.Queue(`SELECT count(*)`+adminTenantFrom+adminTenantWhere, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&total)
	})
	latest := s.tenancy.TenantMigrations().Latest()
	var page []adminTenant
	b.Queue(adminTenantSelect+adminTenantFrom+adminTenantWhere+` AND o.id > $6 ORDER BY o.id LIMIT $7`,
		append(args, f.cursor, f.limit+1)...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			t, err := scanAdminTenant(rows, latest)
			if err != nil {
				return err
			}
			page = append(page, t)
		}
		return rows.Err()
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, fmt.Errorf("listing tenants: %w", err)
	}
	return page, total, nil
}

// adminTenantByID returns one organization as listed (schema and backup state included).
func (s *Server) adminTenantByID(ctx context.Context, id int64) (adminTenant, error) {
	pool, err := s.tenancy.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return adminTenant{}, err
	}
	t, err := scanAdminTenant(pool.QueryRow(ctx, adminTenantSelect+adminTenantFrom+` WHERE o.id = $1`, id),
		s.tenancy.TenantMigrations().Latest())
	if errors.Is(err, pgx.ErrNoRows) {
		return adminTenant{}, fmt.Errorf("%w: id %d", tenancy.ErrNotFound, id)
	}
	if err != nil {
		return adminTenant{}, fmt.Errorf("reading organization %d: %w", id, err)
	}
	list := []adminTenant{t}
	s.enrichAdminTenants(ctx, list)
	return list[0], nil
}

// enrichAdminTenants fills in what is not in public's tables for one page of tenants: whether each
// schema exists (one catalog query per server of the page, not per tenant) and the backup state
// (file names and the failure record of the page's tenants only).
func (s *Server) enrichAdminTenants(ctx context.Context, list []adminTenant) {
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
		names, err := s.schemasOn(ctx, server, schemas)
		if err != nil {
			s.log.WarnContext(ctx, "admin: reading schemas", "server", server, "err", err)
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
		if s.cfg.Backups == nil {
			continue
		}
		b := &adminBackup{}
		t.Backup = b
		if t.SchemaName == "" {
			continue
		}
		st, err := s.cfg.Backups.Status(tenancy.Organization{ID: t.ID, SchemaName: t.SchemaName})
		if err != nil {
			b.Error = err.Error()
			continue
		}
		if !st.LastSuccess.IsZero() {
			v := st.LastSuccess
			b.LastSuccess = &v
		}
		if !st.LastFailure.IsZero() {
			v := st.LastFailure
			b.LastFailure, b.FailureMessage = &v, st.FailureMessage
		}
	}
}

// schemasOn returns which of schemas exist on server.
func (s *Server) schemasOn(ctx context.Context, server string, schemas []string) ([]string, error) {
	pool, err := s.tenancy.Servers().Shared(ctx, server)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])`, schemas)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (s *Server) adminListTenants(w http.ResponseWriter, r *http.Request) {
	f, err := parseAdminFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, total, err := s.listAdminTenants(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := adminTenantList{Tenants: page, Total: total, Limit: f.limit, LatestVersion: s.tenancy.TenantMigrations().Latest(),
		BackupsConfigured: s.cfg.Backups != nil, BillingConfigured: s.cfg.Billing != nil}
	if len(page) > f.limit {
		out.Tenants = page[:f.limit]
		next := out.Tenants[f.limit-1].ID
		out.NextCursor = &next
	}
	if out.Tenants == nil {
		out.Tenants = []adminTenant{}
	}
	s.enrichAdminTenants(r.Context(), out.Tenants)
	writeJSON(w, http.StatusOK, out)
}

// adminTenantID reads the {id} of an admin tenant route: a positive integer.
func adminTenantID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 || strings.HasPrefix(v, "+") {
		return 0, apiError(http.StatusBadRequest, "invalid_id", "the organization id must be a positive integer, got %q", v)
	}
	return id, nil
}

func (s *Server) adminGetTenant(w http.ResponseWriter, r *http.Request) {
	id, err := adminTenantID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	t, err := s.adminTenantByID(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := adminTenantDetail{adminTenant: t}
	counts, err := s.adminCounts(ctx, t)
	switch {
	case err == nil:
		out.Counts = &counts
	case ctx.Err() != nil:
		s.fail(w, r, err)
		return
	default:
		s.log.WarnContext(ctx, "admin: reading tenant counts", "organization_id", id, "err", err)
		out.CountsError = toAPIError(ctx, err).Message
	}
	writeJSON(w, http.StatusOK, out)
}

// adminCounts reads the tenant's counts through its scope (tenancy.RunWith, read-only, with a
// statement timeout, on the bulk pool: the dashboard is not the tenant's request path): the only
// door into tenant data.
func (s *Server) adminCounts(ctx context.Context, t adminTenant) (adminTenantCounts, error) {
	var c adminTenantCounts
	if t.SchemaName == "" {
		return c, fmt.Errorf("organization %d: %w", t.ID, tenancy.ErrNoSchemaName)
	}
	if t.SchemaExists != nil && !*t.SchemaExists {
		return c, fmt.Errorf("%s: %w", t.SchemaName, tenancy.ErrSchemaMissing)
	}
	tn := tenancy.Tenant{OrganizationID: t.ID, Schema: t.SchemaName, Server: t.DatabaseName}
	now := s.cfg.Now()
	err := s.tenancy.RunWith(ctx, tn, tenancy.RunOptions{ReadOnly: true, StatementTimeoutMillis: int(adminCountsTimeout.Milliseconds()), Bulk: true},
		func(tx pgx.Tx) error {
			n, err := booking.CountHoldings(ctx, tx, now, now.AddDate(0, 0, 30))
			c = adminTenantCounts{Branches: n.Branches, Services: n.Services, Members: n.Members, AppointmentsNext30Days: n.Appointments}
			return err
		})
	if err != nil {
		return c, fmt.Errorf("counting rows of %s: %w", t.SchemaName, err)
	}
	return c, nil
}

// emptyBody accepts a request without a body, or with an empty JSON object; anything else is a 4xx.
func (s *Server) emptyBody(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return apiError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json), got %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var none struct{}
	if err := dec.Decode(&none); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, "invalid_json", "the request body must hold a single JSON value")
	}
	return nil
}

// auditAdmin logs an operator's action.
func (s *Server) auditAdmin(r *http.Request, action string, id int64, attrs ...any) {
	c, _ := callerFrom(r.Context())
	s.log.InfoContext(r.Context(), "admin action", append([]any{"action", action, "organization_id", id,
		"user_id", c.UserID, "username", c.Username, "request_id", infoFrom(r.Context()).id}, attrs...)...)
}

// adminSetActive activates or deactivates an organization through tenancy.SetActive. The
// catalog's trigger announces the change to every process, which evicts its cached row; this
// process evicts its own at once too, so the very next tenant request sees the new state.
func (s *Server) adminSetActive(active bool) http.HandlerFunc {
	action := "deactivate"
	if active {
		action = "activate"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := adminTenantID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.emptyBody(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		ctx := r.Context()
		if _, err := s.tenancy.SetActive(ctx, id, active); err != nil {
			s.fail(w, r, err)
			return
		}
		s.orgs.Invalidate(id)
		s.auditAdmin(r, action, id)
		t, err := s.adminTenantByID(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	}
}

// adminBackup takes a backup of the tenant now into the configured store, as backup_tenant does.
func (s *Server) adminBackup(w http.ResponseWriter, r *http.Request) {
	id, err := adminTenantID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.emptyBody(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Backups == nil {
		s.fail(w, r, apiError(http.StatusNotImplemented, "backups_not_configured",
			"this server has no backup store configured (api.Config.Backups); use appcitas backup_tenant"))
		return
	}
	ctx := r.Context()
	org, err := s.tenancy.Organization(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if org.SchemaName == "" {
		s.fail(w, r, apiError(http.StatusConflict, "no_schema_name", "organization %d has no schema yet: run appcitas assign_schema_names", id))
		return
	}
	// A large tenant's backup can outlast the server's write timeout: give this answer more time
	// (a no-op where the writer does not support deadlines).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(adminBackupWriteTimeout))
	// The backup finishes even when the operator leaves the page: its result is in the store (the
	// tenant's last backup or last failure) and in the audit log.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), adminBackupWriteTimeout)
	defer cancel()
	res, err := s.cfg.Backups.Backup(bctx, s.tenancy, org)
	if errors.Is(err, backup.ErrInProgress) {
		s.fail(w, r, &Error{Status: http.StatusConflict, Code: "backup_in_progress",
			Message: fmt.Sprintf("another backup of organization %d is running; its result will show as the last backup", id), Err: err})
		return
	}
	if errors.Is(err, tenancy.ErrSchemaMissing) {
		s.fail(w, r, &Error{Status: http.StatusConflict, Code: "schema_missing",
			Message: fmt.Sprintf("the schema %s does not exist: run appcitas create_tenant_schema --organization_id=%d", org.SchemaName, id), Err: err})
		return
	}
	if err != nil {
		s.auditAdmin(r, "backup_failed", id, "err", err)
		s.fail(w, r, fmt.Errorf("backing up organization %d: %w", id, err))
		return
	}
	s.auditAdmin(r, "backup", id, "file", res.Path, "bytes", res.Size)
	writeJSON(w, http.StatusCreated, adminBackupResponse{
		OrganizationID: id, Name: filepath.Base(res.Path), Path: res.Path, SizeBytes: res.Size,
		Tables: len(res.Manifest.Tables), Rows: res.Manifest.RowCount(), MigrationVersion: res.Manifest.MigrationVersion,
		TookMillis: res.Took.Milliseconds(), TakenAt: res.Manifest.CreatedAt,
	})
}

// adminExtendTrial gives the organization days more of trial through the billing service.
func (s *Server) adminExtendTrial(w http.ResponseWriter, r *http.Request) {
	id, err := adminTenantID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req adminExtendTrialRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Days < 1 || req.Days > 365 {
		e := apiError(http.StatusBadRequest, "invalid_input", "days: want an integer 1-365, got %d", req.Days)
		e.Field = "days"
		s.fail(w, r, e)
		return
	}
	if s.cfg.Billing == nil {
		s.fail(w, r, apiError(http.StatusNotImplemented, "billing_not_configured",
			"this server runs without billing (api.Config.Billing); use appcitas subscriptions extend_trial"))
		return
	}
	ctx := r.Context()
	if _, err := s.tenancy.Organization(ctx, id); err != nil {
		s.fail(w, r, err)
		return
	}
	c, _ := callerFrom(ctx)
	_, err = s.cfg.Billing.ExtendTrial(ctx, id, req.Days, "admin dashboard: extend_trial by "+c.Username)
	switch {
	case errors.Is(err, billing.ErrNotFound):
		s.fail(w, r, &Error{Status: http.StatusConflict, Code: "no_subscription", Message: fmt.Sprintf("organization %d has no subscription", id), Err: err})
		return
	case errors.Is(err, billing.ErrConflict), errors.Is(err, billing.ErrTransition):
		msg := strings.TrimPrefix(err.Error(), billing.ErrConflict.Error()+": ")
		s.fail(w, r, &Error{Status: http.StatusConflict, Code: "not_in_trial", Message: msg, Err: err})
		return
	case err != nil:
		s.fail(w, r, billingAPIError(err))
		return
	}
	s.auditAdmin(r, "extend_trial", id, "days", req.Days)
	t, err := s.adminTenantByID(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
