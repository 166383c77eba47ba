package api

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/auth"
)

func decodeTokens(t *testing.T, rec *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 900 {
		t.Fatalf("token response = %+v", tr)
	}
	return tr
}

func TestAuthEndpoints(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute)
	juan := e.createOrg("Barbería Juan")
	dental := e.createOrg("Clínica Dental")
	ana := e.createUser("ana", false)
	e.addProfile(juan, ana, "admin", true)

	t.Run("IssuesTokensForUsernameAndPassword", func(t *testing.T) {
		tr := decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana"}))
		rec := e.do("GET", "/api/me", nil, bearer(tr.AccessToken)...)
		if rec.Code != 200 {
			t.Fatalf("/api/me = %d %s", rec.Code, rec.Body.String())
		}
		var me meResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &me)
		if me.User.Username != "ana" || len(me.Organizations) != 1 || me.Organizations[0].ID != juan.ID ||
			me.Organizations[0].Role != "admin" || me.DefaultOrganizationID != nil {
			t.Fatalf("/api/me = %+v", me)
		}
	})

	t.Run("IssuesTokensForEmail", func(t *testing.T) {
		decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"email": "ANA@example.com", "password": "password-ana"}))
	})

	t.Run("OrganizationIDSetsTheClaimForAMember", func(t *testing.T) {
		tr := decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana", "organization_id": juan.ID}))
		rec := e.do("GET", "/api/test/servicios", nil, bearer(tr.AccessToken)...)
		if rec.Code != 200 {
			t.Fatalf("tenant route with the claim = %d %s", rec.Code, rec.Body.String())
		}
		rec = e.do("GET", "/api/me", nil, bearer(tr.AccessToken)...)
		if !strings.Contains(rec.Body.String(), `"default_organization_id":`+strconv.FormatInt(juan.ID, 10)) {
			t.Fatalf("/api/me = %s", rec.Body.String())
		}
	})

	t.Run("OrganizationIDOfANonMemberIs403", func(t *testing.T) {
		rec := e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana", "organization_id": dental.ID})
		wantError(t, rec, 403, "unauthorized_organization")
		rec = e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana", "organization_id": 999999})
		wantError(t, rec, 404, "organization_not_found")
	})

	t.Run("WrongPasswordIs401", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "nope-nope"}), 401, "invalid_credentials")
		wantError(t, e.do("POST", "/api/auth/token", map[string]any{"username": "nobody", "password": "nope-nope"}), 401, "invalid_credentials")
	})

	t.Run("BadRequestsAre400", func(t *testing.T) {
		for _, body := range []any{
			map[string]any{"password": "x"},
			map[string]any{"username": "ana", "email": "ana@example.com", "password": "x"},
			map[string]any{"username": "ana"},
			map[string]any{"username": "ana", "password": "x", "organization_id": -3},
		} {
			wantError(t, e.do("POST", "/api/auth/token", body), 400, "invalid_input")
		}
	})

	t.Run("RefreshRotatesAndRefusesTheOldToken", func(t *testing.T) {
		tr := decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana", "organization_id": juan.ID}))
		tr2 := decodeTokens(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": tr.RefreshToken}))
		if tr2.RefreshToken == tr.RefreshToken {
			t.Fatal("refresh token not rotated")
		}
		// The refreshed access token keeps the default organization.
		if rec := e.do("GET", "/api/test/servicios", nil, bearer(tr2.AccessToken)...); rec.Code != 200 {
			t.Fatalf("refreshed token on a tenant route = %d %s", rec.Code, rec.Body.String())
		}
		wantError(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": tr.RefreshToken}), 401, "invalid_refresh_token")
		// Reuse revoked the whole login.
		wantError(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": tr2.RefreshToken}), 401, "invalid_refresh_token")
	})

	t.Run("LogoutRevokesTheRefreshToken", func(t *testing.T) {
		tr := decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana"}))
		if rec := e.do("POST", "/api/auth/logout", map[string]any{"refresh_token": tr.RefreshToken}); rec.Code != 204 {
			t.Fatalf("logout = %d %s", rec.Code, rec.Body.String())
		}
		wantError(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": tr.RefreshToken}), 401, "invalid_refresh_token")
	})

	t.Run("MeRefusesADeactivatedUser", func(t *testing.T) {
		gone := e.createUser("gone", false)
		tok := e.token(gone, 0)
		if _, err := e.pool.Exec(e.ctx, `UPDATE public.auth_user SET is_active = false WHERE id = $1`, gone.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", "/api/me", nil, bearer(tok)...), 401, "invalid_token")
	})
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) {
		c.LoginPerAccount = auth.LimitOptions{Burst: 3, Every: time.Minute}
		c.LoginPerIP = auth.LimitOptions{Burst: 6, Every: time.Minute}
	})
	e.createUser("ana", false)

	t.Run("PerAccountAnswers429WithRetryAfter", func(t *testing.T) {
		for range 3 {
			wantError(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "wrong-pass"}), 401, "invalid_credentials")
		}
		rec := e.do("POST", "/api/auth/token", map[string]any{"username": "ANA", "password": "password-ana"})
		wantError(t, rec, 429, "too_many_requests")
		if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After = %q", rec.Header().Get("Retry-After"))
		}
		e.clock.add(time.Minute)
		decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana"}))
	})

	t.Run("PerAddressAnswers429AcrossAccounts", func(t *testing.T) {
		e.clock.add(10 * time.Minute)
		var last *httptest.ResponseRecorder
		for i := range 8 {
			last = e.do("POST", "/api/auth/token", map[string]any{"username": "user" + strconv.Itoa(i), "password": "wrong-pass"})
		}
		wantError(t, last, 429, "too_many_requests")
	})
}
