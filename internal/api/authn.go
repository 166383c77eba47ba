package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// authenticate requires a valid access token (Authorization: Bearer <jwt>) of a user who is
// active now and has not revoked the token's session, and puts its Caller, with the user's
// current superuser standing, on the request. The standing is cached by user and evicted by the
// announcement of its change (public migration 0010), so a revocation holds from the next request.
func (s *Server) authenticate(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			s.fail(w, r, apiError(http.StatusUnauthorized, "missing_token", "send Authorization: Bearer <access token> (POST /api/auth/token gives one)"))
			return
		}
		scheme, tok, _ := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			s.fail(w, r, apiError(http.StatusUnauthorized, "invalid_token", "the Authorization header must be Bearer <access token>"))
			return
		}
		claims, err := s.tokens.Verify(tok)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		uid, err := claims.UserID()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		infoFrom(r.Context()).userID = uid
		st, err := s.standing.Get(r.Context(), uid)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !st.Exists || !st.IsActive {
			s.fail(w, r, apiError(http.StatusUnauthorized, "invalid_token", "the token's user no longer exists or is inactive"))
			return
		}
		if claims.Gen < st.SessionGeneration {
			s.fail(w, r, apiError(http.StatusUnauthorized, "token_revoked", "this session was closed (signed out everywhere): log in again"))
			return
		}
		c := Caller{UserID: uid, Username: claims.Username, IsSuperuser: st.IsSuperuser, DefaultOrg: claims.Org}
		next(w, r.WithContext(withCaller(r.Context(), c)))
	}
}

// tokenRequest is the body of POST /api/auth/token.
type tokenRequest struct {
	// Username or Email identifies the user (one of them).
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
	Password string `json:"password" openapi:"required"`
	// OrganizationID, when set, becomes the token's default organization; the user must be a member.
	OrganizationID *int64 `json:"organization_id,omitempty"`
}

// tokenResponse is what POST /api/auth/token and /api/auth/refresh answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
}

// refreshRequest is the body of POST /api/auth/refresh and /api/auth/logout.
type refreshRequest struct {
	// RefreshToken is required unless the request sends X-Session-Cookie: 1 with the session cookie.
	RefreshToken string `json:"refresh_token,omitempty"`
}

// sessionCookie is the name of the cookie that holds the web app's refresh token.
const sessionCookie = "appcitas_refresh"

// sessionCookiePath scopes the session cookie to the refresh and logout endpoints.
const sessionCookiePath = "/api/auth"

// sessionHeader is the request header by which the web app asks for the refresh token in a cookie.
// A page on another origin cannot send it without a CORS preflight, which this API never grants.
const sessionHeader = "X-Session-Cookie"

// wantsCookie says the request asked for the refresh token in the session cookie.
func wantsCookie(r *http.Request) bool { return r.Header.Get(sessionHeader) == "1" }

// setSessionCookie stores refresh in the session cookie; an empty refresh clears it.
func setSessionCookie(w http.ResponseWriter, refresh string) {
	c := &http.Cookie{Name: sessionCookie, Value: refresh, Path: sessionCookiePath,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
	if refresh == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = 30 * 24 * 3600
	}
	http.SetCookie(w, c)
}

// refreshTokenOf returns the refresh token of the body, or of the session cookie when the body has
// none and the request sends X-Session-Cookie: 1.
func refreshTokenOf(r *http.Request, req refreshRequest) string {
	if req.RefreshToken != "" || !wantsCookie(r) {
		return req.RefreshToken
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// clientIP is the address of the client that sent r: the middleware's reading of the peer and
// X-Forwarded-For through the trusted proxies (clientip.go). Outside the middleware, the peer's.
func clientIP(r *http.Request) string {
	if ip := infoFrom(r.Context()).clientIP; ip != "" {
		return ip
	}
	return trustedProxies(nil).clientAddr(r)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	req.Username, req.Email = strings.TrimSpace(req.Username), strings.TrimSpace(req.Email)
	switch {
	case req.Username == "" && req.Email == "":
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "username", Message: "username or email is required"})
		return
	case req.Username != "" && req.Email != "":
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "email", Message: "send username or email, not both"})
		return
	case req.Password == "":
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "password", Message: "password is required"})
		return
	case req.OrganizationID != nil && *req.OrganizationID <= 0:
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "organization_id", Message: "organization_id must be a positive integer"})
		return
	}
	if ok, wait := s.ipLimit.Allow(clientIP(r)); !ok {
		s.fail(w, r, &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many login attempts from this address; try again later", RetryAfter: wait})
		return
	}
	account := "u:" + strings.ToLower(req.Username)
	if req.Email != "" {
		account = "e:" + strings.ToLower(req.Email)
	}
	if ok, wait := s.accountLimit.Allow(account); !ok {
		s.fail(w, r, &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many login attempts for this account; try again later", RetryAfter: wait})
		return
	}
	u, err := s.users.Authenticate(r.Context(), auth.Credentials{Username: req.Username, Email: req.Email, Password: req.Password})
	if errors.Is(err, auth.ErrInvalidCredentials) {
		s.logFailedLogin(r, req)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.accountLimit.Reset(account)
	infoFrom(r.Context()).userID = u.ID
	var org int64
	if req.OrganizationID != nil {
		org = *req.OrganizationID
		if err := s.checkMember(r.Context(), u, org); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	refresh, err := s.users.IssueRefresh(r.Context(), u.ID, org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeTokens(w, r, u, org, refresh)
}

// checkMember answers whether u may take org as the token's default organization: the
// organization exists, is active, and u has an active profile there (read in the tenant's scope)
// or is a superuser.
func (s *Server) checkMember(ctx context.Context, u auth.User, orgID int64) error {
	org, err := s.organization(ctx, orgID)
	if errors.Is(err, tenancy.ErrNotFound) {
		return apiError(http.StatusNotFound, "organization_not_found", "organization %d does not exist", orgID)
	}
	if err != nil {
		return err
	}
	if !org.IsActive {
		return apiError(http.StatusForbidden, "organization_inactive", "organization %d is inactive", orgID)
	}
	if u.IsSuperuser {
		return nil
	}
	t, err := org.Tenant()
	if err != nil {
		return err
	}
	return s.tenancy.RunWith(ctx, t, tenancy.RunOptions{ReadOnly: true}, func(tx pgx.Tx) error {
		_, found, err := booking.Open(tx, nil, nil).ActiveProfile(ctx, u.ID)
		if err == nil && !found {
			return errUnauthorizedOrganization()
		}
		return err
	})
}

func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, u auth.User, org int64, refresh string) {
	access, _, err := s.tokens.Issue(u, org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if wantsCookie(r) {
		// The refresh token goes only in the HttpOnly cookie, out of the page's reach.
		setSessionCookie(w, refresh)
		refresh = ""
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int64(s.tokens.TTL() / time.Second),
	})
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	req.RefreshToken = refreshTokenOf(r, req)
	if req.RefreshToken == "" {
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "refresh_token", Message: "refresh_token is required"})
		return
	}
	rot, err := s.users.Rotate(r.Context(), req.RefreshToken)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	infoFrom(r.Context()).userID = rot.User.ID
	s.writeTokens(w, r, rot.User, rot.Org, rot.RefreshToken)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	req.RefreshToken = refreshTokenOf(r, req)
	if wantsCookie(r) {
		setSessionCookie(w, "")
	}
	if req.RefreshToken == "" {
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "refresh_token", Message: "refresh_token is required"})
		return
	}
	if err := s.users.Revoke(r.Context(), req.RefreshToken); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logoutAll signs the caller out everywhere: every refresh token of the user is revoked and every
// access token issued before is refused from the next request on, in every process.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) {
	c, _ := callerFrom(r.Context())
	err := s.users.RevokeSessions(r.Context(), c.UserID)
	if errors.Is(err, auth.ErrUserNotFound) {
		s.fail(w, r, apiError(http.StatusUnauthorized, "invalid_token", "the token's user no longer exists or is inactive"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// This process refuses the old tokens at once; others when the announcement arrives.
	s.standing.Invalidate(c.UserID)
	w.WriteHeader(http.StatusNoContent)
}

// meUser is the user part of GET /api/me.
type meUser struct {
	ID          int64      `json:"id"`
	Username    string     `json:"username"`
	Email       string     `json:"email"`
	FirstName   string     `json:"first_name"`
	LastName    string     `json:"last_name"`
	IsSuperuser bool       `json:"is_superuser"`
	LastLogin   *time.Time `json:"last_login"`
}

// meResponse is the body of GET /api/me.
type meResponse struct {
	User meUser `json:"user"`
	// Organizations are those where the user has an active profile.
	Organizations []auth.UserOrganization `json:"organizations"`
	// DefaultOrganizationID is the token's org claim, if any.
	DefaultOrganizationID *int64 `json:"default_organization_id"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	c, _ := callerFrom(r.Context())
	u, err := s.users.User(r.Context(), c.UserID)
	if errors.Is(err, auth.ErrUserNotFound) || (err == nil && !u.IsActive) {
		s.fail(w, r, apiError(http.StatusUnauthorized, "invalid_token", "the token's user no longer exists or is inactive"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	orgs, err := s.users.Organizations(r.Context(), u.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := meResponse{
		User: meUser{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
			IsSuperuser: u.IsSuperuser, LastLogin: u.LastLogin},
		Organizations: orgs,
	}
	if resp.Organizations == nil {
		resp.Organizations = []auth.UserOrganization{}
	}
	if c.DefaultOrg > 0 {
		resp.DefaultOrganizationID = &c.DefaultOrg
	}
	writeJSON(w, http.StatusOK, resp)
}

// formatSeconds renders d as whole seconds (for Retry-After).
func formatSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
