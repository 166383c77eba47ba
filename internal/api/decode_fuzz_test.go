package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/auth"
)

// FuzzTokenRequest posts arbitrary bodies to POST /api/auth/token: bad JSON, wrong types, huge
// bodies, unknown fields, odd numbers. Every answer must be a 4xx error in the API's shape (or a
// 200 for the right credentials), never a 5xx.
func FuzzTokenRequest(f *testing.F) {
	e := setup(f, func(c *Config) {
		c.MaxBodyBytes = 4096
		c.LoginPerAccount = auth.LimitOptions{Burst: 1 << 30, Every: 1}
		c.LoginPerIP = auth.LimitOptions{Burst: 1 << 30, Every: 1}
	})
	org := e.createOrg("Barbería Juan")
	ana := e.createUser("ana", false)
	e.addProfile(org, ana, "admin", true)

	seeds := []string{
		`{"username":"ana","password":"password-ana"}`,
		`{"email":"ana@example.com","password":"password-ana","organization_id":1}`,
		`{"username":"ana","password":"wrong"}`,
		`{"username":"ana","password":"password-ana","organization_id":99999999999999999999}`,
		`{"username":"ana","password":"password-ana","organization_id":1.5}`,
		`{"username":"ana","password":"password-ana","organization_id":"1"}`,
		`{"username":"ana","password":"password-ana","organization_id":-1}`,
		`{"username":"ana","password":"password-ana","organization_id":null}`,
		`{"username":["ana"],"password":{"x":1}}`,
		`{"username":"ana","password":"x","is_superuser":true}`,
		`{"username":"ana","password":"x"}{"username":"bob"}`,
		`{"username":"ana\u0000","password":"x"}`,
		`{"username":"` + strings.Repeat("ñ", 3000) + `","password":"x"}`,
		`{"password":"` + strings.Repeat("x", 2000) + `","username":"ana"}`,
		strings.Repeat("[", 5000),
		strings.Repeat(`{"a":`, 1000),
		`null`, `true`, `"string"`, `12`, `[]`, `{}`, ``, ` `, `{`, `}`, `{"username":}`, "\xff\xfe",
		`{"username":"ana","password":"password-ana","USERNAME":"bob"}`,
		`{"username":1e400,"password":"x"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{"username":"ana","password":"password-ana"}`), "text/plain")
	f.Add([]byte(`{"username":"ana","password":"password-ana"}`), "")
	f.Add([]byte(`{}`), "application/json; charset=\x00")

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		req := httptest.NewRequest("POST", "/api/auth/token", bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		e.contract.boundTo(t).ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("body %q (%q): status %d: %s", body, contentType, rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusOK {
			return
		}
		if rec.Code < 400 {
			t.Fatalf("body %q: unexpected status %d", body, rec.Code)
		}
		errorOf(t, rec)
	})
}
