package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// sessionCookieOf returns the session cookie a response sets, failing when there is none.
func sessionCookieOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v (status %d: %s)", sessionCookie, rec.Header().Values("Set-Cookie"), rec.Code, rec.Body.String())
	return nil
}

func TestAuthSessionCookie(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute)
	juan := e.createOrg("Barbería Juan")
	ana := e.createUser("ana", false)
	e.addProfile(juan, ana, "admin", true)
	login := map[string]any{"username": "ana", "password": "password-ana"}

	t.Run("TokenSetsAStrictHttpOnlySecureCookieScopedToAuth", func(t *testing.T) {
		rec := e.do("POST", "/api/auth/token", login, sessionHeader, "1")
		c := sessionCookieOf(t, rec)
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/auth" || c.Value == "" || c.MaxAge <= 0 {
			t.Fatalf("cookie = %+v", c)
		}
		var tr tokenResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &tr)
		if tr.AccessToken == "" || tr.RefreshToken != "" {
			t.Fatalf("body = %s: want an access token and no refresh token", rec.Body.String())
		}
	})

	t.Run("TokenWithoutTheHeaderKeepsTheJSONBehaviour", func(t *testing.T) {
		rec := e.do("POST", "/api/auth/token", login)
		decodeTokens(t, rec)
		if len(rec.Result().Cookies()) != 0 {
			t.Fatalf("cookies set without asking: %v", rec.Header().Values("Set-Cookie"))
		}
	})

	t.Run("RefreshReadsAndRotatesTheCookie", func(t *testing.T) {
		first := sessionCookieOf(t, e.do("POST", "/api/auth/token", login, sessionHeader, "1"))
		rec := e.do("POST", "/api/auth/refresh", map[string]any{}, sessionHeader, "1", "Cookie", first.String())
		second := sessionCookieOf(t, rec)
		if second.Value == first.Value || !second.HttpOnly || !second.Secure || second.Path != "/api/auth" {
			t.Fatalf("rotated cookie = %+v", second)
		}
		var tr tokenResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &tr)
		if tr.AccessToken == "" || tr.RefreshToken != "" {
			t.Fatalf("refresh body = %s", rec.Body.String())
		}
		// The spent cookie is refused.
		if rec := e.do("POST", "/api/auth/refresh", map[string]any{}, sessionHeader, "1", "Cookie", first.String()); rec.Code != 401 {
			t.Fatalf("refresh with the spent cookie = %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("RejectsTheCookieWithoutTheHeader", func(t *testing.T) {
		c := sessionCookieOf(t, e.do("POST", "/api/auth/token", login, sessionHeader, "1"))
		wantError(t, e.do("POST", "/api/auth/refresh", map[string]any{}, "Cookie", c.String()), 400, "invalid_input")
	})

	t.Run("LogoutClearsAndRevokesTheCookie", func(t *testing.T) {
		c := sessionCookieOf(t, e.do("POST", "/api/auth/token", login, sessionHeader, "1"))
		rec := e.do("POST", "/api/auth/logout", map[string]any{}, sessionHeader, "1", "Cookie", c.String())
		if rec.Code != 204 {
			t.Fatalf("logout = %d %s", rec.Code, rec.Body.String())
		}
		cleared := sessionCookieOf(t, rec)
		if cleared.MaxAge >= 0 || cleared.Value != "" || cleared.Path != "/api/auth" {
			t.Fatalf("cleared cookie = %+v", cleared)
		}
		if rec := e.do("POST", "/api/auth/refresh", map[string]any{}, sessionHeader, "1", "Cookie", c.String()); rec.Code != 401 {
			t.Fatalf("refresh after logout = %d %s", rec.Code, rec.Body.String())
		}
	})
}
