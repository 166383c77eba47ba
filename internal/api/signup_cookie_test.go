package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/appcitas/appcitas/internal/auth"
)

// TestSignupSessionCookie checks that the web app's signup signs the new owner in as its login
// does: the refresh token in the session cookie, never in the body.
func TestSignupSessionCookie(t *testing.T) {
	t.Parallel()
	be := setupBilling(t, auth.LimitOptions{})

	t.Run("SetsTheSessionCookieAndKeepsTheRefreshTokenOutOfTheBody", func(t *testing.T) {
		rec := be.do("POST", "/api/signup", signupBody("juan@barberia.co"), sessionHeader, "1")
		if rec.Code != http.StatusCreated {
			t.Fatalf("signup: %d %s", rec.Code, rec.Body.String())
		}
		c := sessionCookieOf(t, rec)
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != sessionCookiePath || c.Value == "" {
			t.Fatalf("cookie = %+v", c)
		}
		var out signupResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		if out.Tokens.AccessToken == "" || out.Tokens.RefreshToken != "" {
			t.Fatalf("tokens = %+v: want an access token and no refresh token", out.Tokens)
		}
		// The cookie is a working session: the refresh endpoint trades it for tokens.
		ref := be.do("POST", "/api/auth/refresh", map[string]any{}, sessionHeader, "1", "Cookie", c.String())
		if ref.Code != http.StatusOK {
			t.Fatalf("refresh with the signup's cookie: %d %s", ref.Code, ref.Body.String())
		}
	})

	t.Run("WithoutTheHeaderAnswersTheRefreshTokenInTheBody", func(t *testing.T) {
		rec := be.do("POST", "/api/signup", signupBody("ana@spa.co"))
		if rec.Code != http.StatusCreated || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("signup: %d, cookies %v", rec.Code, rec.Header().Values("Set-Cookie"))
		}
		var out signupResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		if out.Tokens.RefreshToken == "" {
			t.Fatalf("body = %s: want the refresh token", rec.Body.String())
		}
	})
}
