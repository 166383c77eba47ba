package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/appcitas/appcitas/internal/admin"
)

// adminQueryRequest is the body of POST /api/admin/query.
type adminQueryRequest struct {
	// SQL is one read-only SELECT, run in every active tenant's scope.
	SQL string `json:"sql" openapi:"required"`
	// Format is "json" (NDJSON, the default) or "csv".
	Format string `json:"format,omitempty"`
	// MaxRows caps the rows over all tenants: 1-100000, default 10000.
	MaxRows int `json:"max_rows,omitempty"`
	// TimeoutSeconds bounds the run: 1-300, default 30.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// OrganizationIDs, when set, limits the run to these organizations.
	OrganizationIDs []int64 `json:"organization_ids,omitempty"`
}

// adminRoutes are the superusers' routes: the cross-tenant query and the tenant dashboard's JSON
// endpoints (admin_tenants.go).
func (s *Server) adminRoutes() []route {
	rs := []route{
		{method: "POST", path: "/api/admin/query", access: authenticated, handler: s.superuserOnly(s.adminQuery), tag: "admin",
			summary: "Superusers: one read-only SELECT over every active tenant (rows carry organization_id and " +
				"organization_name; X-Tenants, X-Rows, X-Truncated and X-Failed headers report the run)",
			request: adminQueryRequest{}, response: "", contentTypes: []string{"application/x-ndjson", "text/csv"}, errors: []int{400, 403, 413, 415, 504},
			responseHeaders: []param{qInt("X-Tenants", "Tenants the query ran in", 0, math.MaxInt32).must(), qInt("X-Rows", "Rows written", 0, math.MaxInt32).must(),
				qBool("X-Truncated", "true when max_rows cut the result").must(), qInt("X-Failed", "Tenants where the query failed", 0, math.MaxInt32).must()}},
	}
	return append(rs, s.adminTenantRoutes()...)
}

// superuserOnly answers 403 superuser_required to callers who are not superusers.
// Two checks must pass:
//   - the caller's cached standing says superuser;
//   - the account is an active superuser in the table now (one query).
//
// So demoting or deactivating an operator takes effect on the admin routes before the
// announcement of the change arrives.
// The answers of the admin endpoints are never cached.
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

// auditAdmin logs an operator's action.
func (s *Server) auditAdmin(r *http.Request, action string, id int64, attrs ...any) {
	c, _ := callerFrom(r.Context())
	s.log.InfoContext(r.Context(), "admin action", append([]any{"action", action, "organization_id", id,
		"user_id", c.UserID, "username", c.Username, "request_id", infoFrom(r.Context()).id}, attrs...)...)
}

// adminQuery is the HTTP twin of `appcitas query_all_tenants`, for superusers only (superuserOnly).
// The whole result (bounded by max_rows) is collected before answering, so an error mid-run still
// gets its status.
func (s *Server) adminQuery(w http.ResponseWriter, r *http.Request) {
	var req adminQueryRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	opts := admin.QueryOptions{Format: admin.JSON, MaxRows: 10000, Timeout: 30 * time.Second, Organizations: req.OrganizationIDs}
	switch strings.ToLower(req.Format) {
	case "", "json":
	case "csv":
		opts.Format = admin.CSV
	default:
		s.fail(w, r, apiError(http.StatusBadRequest, "invalid_input", "format: want json or csv, got %q", req.Format))
		return
	}
	if req.MaxRows != 0 {
		if req.MaxRows < 1 || req.MaxRows > 100000 {
			s.fail(w, r, apiError(http.StatusBadRequest, "invalid_input", "max_rows: want 1-100000, got %d", req.MaxRows))
			return
		}
		opts.MaxRows = req.MaxRows
	}
	if req.TimeoutSeconds != 0 {
		if req.TimeoutSeconds < 1 || req.TimeoutSeconds > 300 {
			s.fail(w, r, apiError(http.StatusBadRequest, "invalid_input", "timeout_seconds: want 1-300, got %d", req.TimeoutSeconds))
			return
		}
		opts.Timeout = time.Duration(req.TimeoutSeconds) * time.Second
	}
	if err := admin.CheckReadOnly(req.SQL); err != nil {
		code := "not_read_only"
		if errors.Is(err, admin.ErrSyntax) {
			code = "syntax_error"
		}
		s.fail(w, r, apiError(http.StatusBadRequest, code, "sql: %v", err))
		return
	}
	var buf bytes.Buffer
	rep, err := admin.Query(r.Context(), s.tenancy, req.SQL, &buf, opts)
	switch {
	case errors.Is(err, admin.ErrNotReadOnly), errors.Is(err, admin.ErrColumnsDiffer):
		s.fail(w, r, apiError(http.StatusBadRequest, "invalid_query", "%v", err))
		return
	case errors.Is(err, context.DeadlineExceeded):
		s.fail(w, r, apiError(http.StatusGatewayTimeout, "query_timeout", "the query did not finish within %s", opts.Timeout))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	ct := "application/x-ndjson"
	if opts.Format == admin.CSV {
		ct = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Tenants", fmt.Sprint(rep.Tenants))
	w.Header().Set("X-Rows", fmt.Sprint(rep.Rows))
	w.Header().Set("X-Truncated", fmt.Sprint(rep.Truncated))
	w.Header().Set("X-Failed", fmt.Sprint(len(rep.Failed)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
