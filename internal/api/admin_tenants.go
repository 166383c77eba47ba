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

	"github.com/appcitas/appcitas/internal/admin"
	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/billing"
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
	// adminBackupWriteTimeout is how long the answer of a backup taken from the dashboard may take.
	adminBackupWriteTimeout = 30 * time.Minute
)

// adminTenant is one organization as the dashboard lists it.
type adminTenant = admin.Tenant

// adminMigration is a tenant's migration state.
type adminMigration = admin.Migration

// adminTenantCounts is what a tenant holds, read in its own schema.
type adminTenantCounts = admin.Counts

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

func badParam(name, format string, args ...any) *Error {
	e := apiError(http.StatusBadRequest, "invalid_query_parameter", "%s: "+format, append([]any{name}, args...)...)
	e.Field = name
	return e
}

// parseAdminFilter reads and validates the list's query parameters.
func parseAdminFilter(r *http.Request) (admin.Filter, error) {
	qv := r.URL.Query()
	f := admin.Filter{Limit: adminDefaultLimit}
	for _, name := range []string{"q", "estado", "suscripcion", "limit", "cursor"} {
		if len(qv[name]) > 1 {
			return f, badParam(name, "give it once")
		}
	}
	f.Query = strings.TrimSpace(qv.Get("q"))
	if !utf8.ValidString(f.Query) || utf8.RuneCountInString(f.Query) > adminQueryMaxLen || strings.ContainsRune(f.Query, 0) {
		return f, badParam("q", "want at most %d characters of text", adminQueryMaxLen)
	}
	switch v := qv.Get("estado"); v {
	case "":
	case "active", "activo":
		t := true
		f.Active = &t
	case "inactive", "inactivo":
		t := false
		f.Active = &t
	default:
		return f, badParam("estado", "want active or inactive, got %q", v)
	}
	if v := qv.Get("suscripcion"); v != "" {
		if v != "none" {
			if _, err := billing.ParseStatus(v); err != nil {
				return f, badParam("suscripcion", "want trialing, active, past_due, suspended, cancelled or none, got %q", v)
			}
		}
		f.Subscription = v
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminMaxLimit {
			return f, badParam("limit", "want an integer 1-%d, got %q", adminMaxLimit, v)
		}
		f.Limit = n
	}
	if v := qv.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, badParam("cursor", "want the next_cursor of the previous page, got %q", v)
		}
		f.After = n
	}
	return f, nil
}

// overview is the fleet overview the dashboard reads.
func (s *Server) overview() admin.Overview {
	return admin.Overview{Manager: s.tenancy, Backups: s.cfg.Backups, Log: s.log}
}

func (s *Server) adminListTenants(w http.ResponseWriter, r *http.Request) {
	f, err := parseAdminFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.overview().Tenants(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminTenantList{Tenants: p.Tenants, Total: p.Total, Limit: f.Limit, NextCursor: p.Next,
		LatestVersion: s.tenancy.TenantMigrations().Latest(), BackupsConfigured: s.cfg.Backups != nil, BillingConfigured: s.cfg.Billing != nil})
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
	t, err := s.overview().Tenant(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := adminTenantDetail{adminTenant: t}
	counts, err := s.overview().Counts(ctx, t, s.cfg.Now())
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
		t, err := s.overview().Tenant(ctx, id)
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
	t, err := s.overview().Tenant(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
