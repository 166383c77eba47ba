package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestRevocationOnNextRequest checks that every authenticated route uses the user's current
// standing, not the token's claims: a change made with SQL from another connection (as psql makes
// it) holds from the first request after its announcement evicted the user's cached standing.
func TestRevocationOnNextRequest(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute)
	org := e.createOrg("Barbería Revocada")
	e.addService(org, "Corte")
	waitWatching(t, e.s.orgs)
	waitFor(t, e.s.standing.Watching)

	// psql is a connection of its own, outside the app.
	psql, err := pgx.Connect(e.ctx, e.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = psql.Close(context.Background()) })
	// change runs set on the user from psql, then waits until the API process has heard of it: the
	// user's standing, kept before (read by a request with tok), is evicted.
	change := func(t *testing.T, u auth.User, tok, set string) {
		t.Helper()
		// The announcement of the user's creation may still be on its way and evict a first read.
		waitFor(t, func() bool {
			e.do("GET", "/api/me", nil, bearer(tok)...)
			return e.s.standing.Holds(u.ID)
		})
		if _, err := psql.Exec(e.ctx, `UPDATE public.auth_user SET `+set+` WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return !e.s.standing.Holds(u.ID) })
	}
	services := func(tok string) *httptest.ResponseRecorder {
		return e.do("GET", "/api/test/servicios", nil, append(bearer(tok), "X-Organization-ID", strconv.FormatInt(org.ID, 10))...)
	}
	query := func(tok string) *httptest.ResponseRecorder {
		return e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT nombre FROM citas_servicio"}, bearer(tok)...)
	}

	t.Run("DeactivatedUserLosesTenantAccess", func(t *testing.T) {
		ana := e.createUser("ana", false)
		e.addProfile(org, ana, "admin", true)
		tok := e.token(ana, 0)
		expect(t, services(tok), http.StatusOK, "")
		change(t, ana, tok, "is_active = false")
		expect(t, services(tok), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("DemotedSuperuserIsNoLongerAdminInTenants", func(t *testing.T) {
		root := e.createUser("root", true)
		tok := e.token(root, 0)
		if got := expect(t, services(tok), http.StatusOK, "").Header().Get("X-Role"); got != "admin" {
			t.Fatalf("a superuser without a profile acts as %q; want admin", got)
		}
		change(t, root, tok, "is_superuser = false")
		expect(t, services(tok), http.StatusForbidden, "unauthorized_organization")
	})
	t.Run("DemotedSuperuserLosesTheCrossTenantQuery", func(t *testing.T) {
		boss := e.createUser("boss", true)
		tok := e.token(boss, 0)
		expect(t, query(tok), http.StatusOK, "")
		change(t, boss, tok, "is_superuser = false")
		expect(t, query(tok), http.StatusForbidden, "superuser_required")
	})
	t.Run("DeactivatedSuperuserLosesEveryRoute", func(t *testing.T) {
		op := e.createUser("op", true)
		tok := e.token(op, 0)
		expect(t, query(tok), http.StatusOK, "")
		change(t, op, tok, "is_active = false")
		expect(t, query(tok), http.StatusUnauthorized, "invalid_token")
		expect(t, services(tok), http.StatusUnauthorized, "invalid_token")
		expect(t, e.do("GET", "/api/me", nil, bearer(tok)...), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("PromotedUserIsAdminOnTheNextRequest", func(t *testing.T) {
		eva := e.createUser("eva", false)
		tok := e.token(eva, 0)
		expect(t, services(tok), http.StatusForbidden, "unauthorized_organization")
		change(t, eva, tok, "is_superuser = true")
		expect(t, services(tok), http.StatusOK, "")
	})
	t.Run("SessionsRevokedElsewhereRefuseOldTokens", func(t *testing.T) {
		leo := e.createUser("leo", false)
		e.addProfile(org, leo, "staff", true)
		tok := e.token(leo, 0)
		expect(t, services(tok), http.StatusOK, "")
		// What `appcitas revoke_sessions` does in another process.
		change(t, leo, tok, "session_generation = session_generation + 1")
		expect(t, services(tok), http.StatusUnauthorized, "token_revoked")
		expect(t, e.do("GET", "/api/me", nil, bearer(tok)...), http.StatusUnauthorized, "token_revoked")
	})
	t.Run("LogoutAllRevokesEverySession", func(t *testing.T) {
		e.createUser("sol", false)
		login := func() tokenResponse {
			return decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "sol", "password": "password-sol"}))
		}
		phone, laptop := login(), login()
		expect(t, e.do("GET", "/api/me", nil, bearer(laptop.AccessToken)...), http.StatusOK, "")
		if rec := e.do("POST", "/api/auth/logout_all", nil, bearer(phone.AccessToken)...); rec.Code != http.StatusNoContent {
			t.Fatalf("logout_all = %d %s", rec.Code, rec.Body.String())
		}
		for _, s := range []tokenResponse{phone, laptop} {
			expect(t, e.do("GET", "/api/me", nil, bearer(s.AccessToken)...), http.StatusUnauthorized, "token_revoked")
			expect(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.RefreshToken}), http.StatusUnauthorized, "invalid_refresh_token")
		}
		again := login()
		expect(t, e.do("GET", "/api/me", nil, bearer(again.AccessToken)...), http.StatusOK, "")
		refreshed := decodeTokens(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": again.RefreshToken}))
		expect(t, e.do("GET", "/api/me", nil, bearer(refreshed.AccessToken)...), http.StatusOK, "")
	})
	t.Run("LogoutAllNeedsAToken", func(t *testing.T) {
		expect(t, e.do("POST", "/api/auth/logout_all", nil), http.StatusUnauthorized, "missing_token")
	})
	t.Run("MetricsReportTheWatchUp", func(t *testing.T) {
		body := e.do("GET", "/metrics", nil).Body.String()
		if !strings.Contains(body, "\nappcitas_invalidation_watch_up 1\n") {
			t.Fatalf("/metrics lacks appcitas_invalidation_watch_up 1:\n%s", body)
		}
	})
	t.Run("MetricsReportTheWatchDown", func(t *testing.T) {
		// Another process's Manager that watches nothing.
		m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: e.pool.Config().ConnConfig.ConnString()}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		met, err := newMetrics(m, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		met.handler().ServeHTTP(rec, httptestRequest("GET", "/metrics"))
		if body := rec.Body.String(); !strings.Contains(body, "\nappcitas_invalidation_watch_up 0\n") {
			t.Fatalf("an unwatched Manager's metrics lack appcitas_invalidation_watch_up 0:\n%s", body)
		}
	})
}

// expect checks a response's status and, when code is set, its error code; it returns rec.
func expect(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) *httptest.ResponseRecorder {
	t.Helper()
	if code != "" {
		wantError(t, rec, status, code)
	} else if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	return rec
}
