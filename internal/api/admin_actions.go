package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// The tenant dashboard's actions: deactivate, activate, back up and extend a trial.
// Their routes are in admin_tenants.go.

// adminBackupWriteTimeout is how long the answer of a backup taken from the dashboard may take.
const adminBackupWriteTimeout = 30 * time.Minute

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

// adminSetActive activates or deactivates an organization through tenancy.SetActive.
// The catalog's trigger announces the change to every process, which evicts its cached row.
// This process evicts its own at once too.
// So the very next tenant request sees the new state.
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
