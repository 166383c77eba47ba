package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/invitations"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// organizationBody is the answer of GET/PATCH /api/organizacion.
type organizationBody struct {
	ID       int64  `json:"id"`
	Name     string `json:"nombre"`
	Slug     string `json:"slug"`
	TimeZone string `json:"zona_horaria"`
}

// organizationPatch is the body of PATCH /api/organizacion; absent fields stay as they are.
type organizationPatch struct {
	Name     *string `json:"nombre"`
	TimeZone *string `json:"zona_horaria"`
}

// invitationRequest is the body of POST /api/invitaciones.
type invitationRequest struct {
	Email string `json:"email"`
	// Role is admin, receptionist or staff.
	Role        string `json:"role"`
	DisplayName string `json:"nombre_visible,omitempty"`
}

// invitationToken carries the token of an invitation link.
type invitationToken struct {
	Token string `json:"token"`
}

// invitationInfo is what an invitee sees before accepting.
type invitationInfo struct {
	Organization string    `json:"organizacion"`
	Role         string    `json:"role"`
	Email        string    `json:"email"`
	ExpiresAt    time.Time `json:"expira_at"`
}

// acceptNewUserRequest is the body of POST /api/invitaciones/aceptar.
type acceptNewUserRequest struct {
	Token    string `json:"token"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// acceptResponse says where the invitee now belongs.
type acceptResponse struct {
	OrganizationID int64  `json:"organizacion_id"`
	Organization   string `json:"organizacion"`
	Role           string `json:"role"`
	UserID         int64  `json:"user_id"`
	Username       string `json:"username"`
}

// planChangeRequest is the body of PUT /api/billing/plan.
type planChangeRequest struct {
	Plan string `json:"plan"`
}

// asAdmin checks, in the routed tenant's transaction, that the caller is an admin there; false
// means the answer was already written.
func (s *Server) asAdmin(w http.ResponseWriter, r *http.Request) bool {
	ok := false
	s.inTenant(w, r, func(_ context.Context, _ pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		ok = true
		return nil
	})
	return ok
}

func orgBody(o tenancy.Organization) organizationBody {
	return organizationBody{ID: o.ID, Name: o.Name, Slug: o.Slug, TimeZone: o.TimeZone}
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) {
	if !s.asAdmin(w, r) {
		return
	}
	c, _ := callerFrom(r.Context())
	writeJSON(w, http.StatusOK, orgBody(c.Org))
}

func (s *Server) patchOrganization(w http.ResponseWriter, r *http.Request) {
	var in organizationPatch
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.asAdmin(w, r) {
		return
	}
	c, _ := callerFrom(r.Context())
	org, err := s.tenancy.UpdateOrganization(r.Context(), c.Org.ID, tenancy.OrganizationPatch{Name: in.Name, TimeZone: in.TimeZone})
	if errors.Is(err, tenancy.ErrInvalidName) {
		field := "nombre"
		if in.TimeZone != nil && strings.Contains(err.Error(), "time zone") {
			field = "zona_horaria"
		}
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: field, Message: strings.TrimPrefix(err.Error(), tenancy.ErrInvalidName.Error()+": "), Err: err})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The catalog trigger announces the change to every process; this one need not wait for it.
	s.orgs.Invalidate(org.ID)
	writeJSON(w, http.StatusOK, orgBody(org))
}

// invitationAPIError maps the invitation store's errors.
func invitationAPIError(err error) error {
	switch {
	case errors.Is(err, invitations.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "invitation_not_found", Message: "the invitation does not exist, was already used or revoked, or has expired", Err: err}
	case errors.Is(err, invitations.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Message: strings.TrimPrefix(err.Error(), invitations.ErrInvalid.Error()+": "), Err: err}
	case errors.Is(err, invitations.ErrMailUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "mail_unavailable", Message: "e-mail is not configured on this server (APPCITAS_SMTP_ADDR), so no invitation can be sent", Err: err}
	case errors.Is(err, invitations.ErrMailFailed):
		return &Error{Status: http.StatusBadGateway, Code: "mail_failed", Message: "the invitation e-mail could not be sent; nothing was saved, try again", Err: err}
	}
	return err
}

// appURL is where the web app is reached: PublicURL, else the scheme and host of r.
func (s *Server) appURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/") + "/app"
	}
	scheme := "http"
	if r.TLS != nil || (s.peerIsProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/app"
}

// peerIsProxy reports whether r's peer is a trusted proxy.
func (s *Server) peerIsProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return err == nil && s.proxies.trusts(a)
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) {
	if !s.asAdmin(w, r) {
		return
	}
	c, _ := callerFrom(r.Context())
	list, err := s.invites.Pending(r.Context(), c.Org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []invitations.Invitation{}
	}
	writeJSON(w, http.StatusOK, listOf[invitations.Invitation]{Items: list})
}

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request) {
	var in invitationRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.asAdmin(w, r) {
		return
	}
	c, _ := callerFrom(r.Context())
	base := s.appURL(r)
	inv, err := s.invites.Create(r.Context(), invitations.NewInvitation{
		OrganizationID: c.Org.ID, OrganizationName: c.Org.Name, Email: in.Email, Role: in.Role, DisplayName: in.DisplayName,
		InvitedBy: c.UserID, Link: func(token string) string { return base + "#/invitacion/" + token },
	})
	if err != nil {
		s.fail(w, r, invitationAPIError(err))
		return
	}
	writeJSON(w, http.StatusCreated, inv)
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.asAdmin(w, r) {
		return
	}
	c, _ := callerFrom(r.Context())
	if err := s.invites.Revoke(r.Context(), c.Org.ID, id); err != nil {
		s.fail(w, r, invitationAPIError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// invitationLimit refuses a client address that tries too many tokens (the login limiter's).
func (s *Server) invitationLimit(w http.ResponseWriter, r *http.Request) bool {
	if ok, wait := s.ipLimit.Allow(clientIP(r)); !ok {
		s.fail(w, r, &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many attempts from this address; try again later", RetryAfter: wait})
		return false
	}
	return true
}

func (s *Server) lookupInvitation(w http.ResponseWriter, r *http.Request) {
	var in invitationToken
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.invitationLimit(w, r) {
		return
	}
	inv, err := s.invites.Lookup(r.Context(), in.Token)
	if err != nil {
		s.fail(w, r, invitationAPIError(err))
		return
	}
	org, err := s.organization(r.Context(), inv.OrganizationID)
	if err != nil || !org.IsActive {
		s.fail(w, r, invitationAPIError(invitations.ErrNotFound))
		return
	}
	writeJSON(w, http.StatusOK, invitationInfo{Organization: org.Name, Role: inv.Role, Email: inv.Email, ExpiresAt: inv.ExpiresAt})
}

func (s *Server) acceptInvitationNewUser(w http.ResponseWriter, r *http.Request) {
	var in acceptNewUserRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.invitationLimit(w, r) {
		return
	}
	if err := auth.ValidateUsername(strings.TrimSpace(in.Username)); err != nil {
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "username", Message: strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": "), Err: err})
		return
	}
	if err := auth.ValidatePassword(in.Password); err != nil {
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "password", Message: strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": "), Err: err})
		return
	}
	var user auth.User
	s.acceptInvitation(w, r, in.Token, func(ctx context.Context, tx pgx.Tx, inv invitations.Invitation) (auth.User, error) {
		store := auth.NewStore(tx, auth.StoreOptions{Hash: s.cfg.PasswordHash, Now: s.cfg.Now})
		var err error
		user, err = store.CreateUser(ctx, auth.NewUser{Username: in.Username, Email: inv.Email, Password: in.Password})
		if errors.Is(err, auth.ErrConflict) && strings.Contains(err.Error(), "email") {
			return auth.User{}, &Error{Status: http.StatusConflict, Code: "email_taken", Field: "email",
				Message: "this e-mail already has an account: sign in to accept the invitation", Err: err}
		}
		if errors.Is(err, auth.ErrConflict) {
			return auth.User{}, &Error{Status: http.StatusConflict, Code: "username_taken", Field: "username",
				Message: "this username is taken: choose another", Err: err}
		}
		return user, err
	})
}

func (s *Server) acceptInvitationSignedIn(w http.ResponseWriter, r *http.Request) {
	var in invitationToken
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c, _ := callerFrom(r.Context())
	s.acceptInvitation(w, r, in.Token, func(ctx context.Context, _ pgx.Tx, _ invitations.Invitation) (auth.User, error) {
		return s.users.User(ctx, c.UserID)
	})
}

// acceptInvitation claims the invitation of token and, while it is held, finds the user who joins
// (who may be created in the claim's transaction on public), adds their profile in the tenant
// with the invitation's role (through addMemberTx, as POST /api/miembros does) and mirrors it in
// public. The invitation stays pending when any step fails.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, token string,
	who func(ctx context.Context, tx pgx.Tx, inv invitations.Invitation) (auth.User, error)) {
	var out acceptResponse
	_, err := s.invites.Accept(r.Context(), token, func(ctx context.Context, tx pgx.Tx, inv invitations.Invitation) (int64, error) {
		org, err := s.organization(ctx, inv.OrganizationID)
		if err != nil || !org.IsActive {
			return 0, invitations.ErrNotFound
		}
		t, err := org.Tenant()
		if err != nil {
			return 0, err
		}
		u, err := who(ctx, tx, inv)
		if err != nil {
			return 0, err
		}
		name := inv.DisplayName
		if name == "" {
			name = u.Username
		}
		var mb booking.Member
		err = s.tenancy.Run(ctx, t, func(ttx pgx.Tx) error {
			var err error
			mb, err = s.addMemberTx(ctx, ttx, org.ID, booking.NewMember{UserID: u.ID, Role: inv.Role, DisplayName: name})
			return err
		})
		if err != nil {
			return 0, err
		}
		if err := auth.SyncMembership(ctx, tx, auth.Membership{UserID: u.ID, OrganizationID: org.ID, Role: mb.Role, IsActive: mb.Active}); err != nil {
			return 0, err
		}
		out = acceptResponse{OrganizationID: org.ID, Organization: org.Name, Role: mb.Role, UserID: u.ID, Username: u.Username}
		return u.ID, nil
	})
	if err != nil {
		var be *booking.Error
		if errors.As(err, &be) && errors.Is(be.Kind, booking.ErrConflict) {
			err = &Error{Status: http.StatusConflict, Code: "already_member", Message: "you are already a member of this organization", Err: err}
		}
		s.fail(w, r, billingAPIError(invitationAPIError(err)))
		return
	}
	infoFrom(r.Context()).userID = out.UserID
	writeJSON(w, http.StatusOK, out)
}

// addMemberTx adds a user to organization orgID with a role, in its tenant's transaction tx:
// the plan's staff limit first, then booking.AddMember. POST /api/miembros and accepting an
// invitation both add members through it.
func (s *Server) addMemberTx(ctx context.Context, tx pgx.Tx, orgID int64, in booking.NewMember) (booking.Member, error) {
	if in.Role == booking.RoleStaff && s.cfg.Billing != nil {
		err := s.cfg.Billing.CheckLimitTx(ctx, tx, orgID, billing.LimitStaff, s.cfg.Now())
		if errors.Is(err, billing.ErrLimitReached) {
			return booking.Member{}, billingAPIError(err)
		}
		if err != nil {
			return booking.Member{}, err
		}
	}
	return booking.AddMember(ctx, tx, in)
}

func (s *Server) changePlan(w http.ResponseWriter, r *http.Request) {
	var in planChangeRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	in.Plan = strings.TrimSpace(in.Plan)
	if in.Plan == "" {
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "plan", Message: "plan is required (a code of GET /api/plans)"})
		return
	}
	if !s.asAdmin(w, r) {
		return
	}
	c, _ := callerFrom(r.Context())
	plan, err := s.cfg.Billing.Plan(r.Context(), in.Plan)
	if err == nil && !plan.IsActive {
		err = billing.ErrNotFound
	}
	if errors.Is(err, billing.ErrNotFound) {
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "plan", Message: "plan " + in.Plan + " is not offered (see GET /api/plans)", Err: err})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.cfg.Billing.ChangePlan(r.Context(), c.Org.ID, plan.Code, "admin: plan change in the web app"); err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	out, err := s.subscriptionBody(r.Context(), c.Org.ID)
	if err != nil {
		s.fail(w, r, billingAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
