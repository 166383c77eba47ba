package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestDashboardPage(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)

	t.Run("PageIsServedAtAdminWithAndWithoutSlash", func(t *testing.T) {
		for _, p := range []string{"/admin", "/admin/"} {
			rec := e.do("GET", p, nil)
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("GET %s: %d %s", p, rec.Code, rec.Header().Get("Content-Type"))
			}
			body := rec.Body.String()
			for _, want := range []string{`<html lang="es">`, `src="/admin/app.js"`, `href="/admin/app.css"`, `id="login-form"`, "Iniciar sesión"} {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s lacks %s", p, want)
				}
			}
		}
	})

	t.Run("PageCarriesSecurityHeaders", func(t *testing.T) {
		for _, p := range []string{"/admin", "/admin/app.js", "/admin/app.css"} {
			h := e.do("GET", p, nil).Header()
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %s", p, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("%s: CSP allows unsafe sources: %q", p, csp)
			}
			for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"} {
				if h.Get(k) != v {
					t.Errorf("%s: %s = %q, want %q", p, k, h.Get(k), v)
				}
			}
		}
	})

	t.Run("AssetsAreServedWithTheirTypesAndRevalidated", func(t *testing.T) {
		for p, ct := range map[string]string{"/admin/app.js": "text/javascript", "/admin/app.css": "text/css"} {
			rec := e.do("GET", p, nil)
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ct) || rec.Body.Len() < 500 {
				t.Fatalf("GET %s: %d %q %d bytes", p, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
			}
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s: no ETag", p)
			}
			if again := e.do("GET", p, nil, "If-None-Match", etag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Fatalf("GET %s with its ETag: %d", p, again.Code)
			}
		}
	})

	t.Run("NothingIsInlineOrLoadedFromElsewhere", func(t *testing.T) {
		page := e.do("GET", "/admin", nil).Body.String()
		// Every script has a src (the CSP would block an inline one), and no element has an
		// inline handler or style.
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
			if !strings.Contains(m, `src="/admin/`) {
				t.Errorf("inline or foreign script: %s", m)
			}
		}
		if regexp.MustCompile(`(?i)\son[a-z]+=|\sstyle=`).MatchString(page) {
			t.Error("the page has inline event handlers or styles")
		}
		for _, p := range []string{"/admin", "/admin/app.js", "/admin/app.css"} {
			body := e.do("GET", p, nil).Body.String()
			if regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`).MatchString(body) {
				t.Errorf("%s refers to another host", p)
			}
			if strings.Contains(body, "innerHTML") || strings.Contains(body, "eval(") || strings.Contains(body, "localStorage") {
				t.Errorf("%s uses innerHTML, eval or localStorage", p)
			}
		}
	})

	t.Run("UnknownDashboardPathIsJSON404", func(t *testing.T) {
		wantError(t, e.do("GET", "/admin/nope", nil), http.StatusNotFound, "not_found")
	})

	t.Run("PageAndEndpointsAreInTheOpenAPIDocument", func(t *testing.T) {
		var doc struct {
			Paths map[string]map[string]struct {
				OperationID string                    `json:"operationId"`
				Responses   map[string]map[string]any `json:"responses"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(e.do("GET", "/api/openapi.json", nil).Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/admin", "/admin/", "/api/admin/tenants", "/api/admin/tenants/{id}", "/api/admin/tenants/{id}/deactivate",
			"/api/admin/tenants/{id}/activate", "/api/admin/tenants/{id}/backup", "/api/admin/tenants/{id}/extend_trial"} {
			if len(doc.Paths[p]) == 0 {
				t.Errorf("%s is not documented", p)
			}
		}
		if c, _ := json.Marshal(doc.Paths["/admin"]["get"].Responses["200"]); !strings.Contains(string(c), "text/html") {
			t.Errorf("/admin is not documented as HTML: %s", c)
		}
		ids := map[string]string{}
		for p, ops := range doc.Paths {
			for m, op := range ops {
				if prev, dup := ids[op.OperationID]; dup {
					t.Errorf("operationId %s is used by %s and %s %s", op.OperationID, prev, m, p)
				}
				ids[op.OperationID] = m + " " + p
			}
		}
	})
}
