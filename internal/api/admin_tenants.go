package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/appcitas/appcitas/internal/admin"
	"github.com/appcitas/appcitas/internal/billing"
)

// The tenant dashboard's JSON endpoints.
// GET /admin is the page that drives them.
// They list the fleet's organizations, show one tenant's detail and take the operator's actions.
// The data comes from admin's fleet overview; the actions are in admin_actions.go.
// Every one of them is for superusers only.

const (
	// adminDefaultLimit and adminMaxLimit bound a page of GET /api/admin/tenants.
	adminDefaultLimit = 50
	adminMaxLimit     = 200
	// adminQueryMaxLen bounds the q filter.
	adminQueryMaxLen = 200
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
