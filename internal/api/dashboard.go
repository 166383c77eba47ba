package api

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// dashboardFiles are the tenant dashboard's page, script and style sheet: plain HTML, vanilla
// JavaScript and CSS, no build step and nothing loaded from elsewhere. Each file is named here, so
// a missing one fails the build.
//
//go:embed dashboard/index.html dashboard/app.js dashboard/app.css
var dashboardFiles embed.FS

// dashboardCSP lets the page load only its own script and style sheet and talk only to this
// server: no inline script or style, no frames, no form posts elsewhere.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// dashboardAsset is one embedded file, read once when the routes are built.
type dashboardAsset struct {
	body        []byte
	contentType string
	etag        string
}

// dashboardAssets reads the dashboard's embedded files.
func dashboardAssets() (page, script, style dashboardAsset, err error) {
	return pageAssets(dashboardFiles, "dashboard", "the dashboard", "/admin")
}

// newAsset is body served as contentType, with an ETag from its SHA-256.
func newAsset(body []byte, contentType string) dashboardAsset {
	sum := sha256.Sum256(body)
	return dashboardAsset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// pageAssets reads an embedded page's index.html, app.js and app.css from dir in fsys. It checks
// that the page loads the script and the style sheet from prefix, where they are served. label
// names the page in errors.
func pageAssets(fsys embed.FS, dir, label, prefix string) (page, script, style dashboardAsset, err error) {
	read := func(name, contentType string) (dashboardAsset, error) {
		b, err := fsys.ReadFile(dir + "/" + name)
		if err != nil {
			return dashboardAsset{}, fmt.Errorf("reading %s's %s: %w", label, name, err)
		}
		return newAsset(b, contentType), nil
	}
	if page, err = read("index.html", "text/html; charset=utf-8"); err != nil {
		return
	}
	if script, err = read("app.js", "text/javascript; charset=utf-8"); err != nil {
		return
	}
	if style, err = read("app.css", "text/css; charset=utf-8"); err != nil {
		return
	}
	for _, ref := range []string{`src="` + prefix + `/app.js"`, `href="` + prefix + `/app.css"`} {
		if !strings.Contains(string(page.body), ref) {
			return page, script, style, fmt.Errorf("%s's index.html does not load %s", label, ref)
		}
	}
	return page, script, style, nil
}

// dashboardRoutes serves the tenant dashboard: GET /admin (and /admin/) is the page, which logs in
// through /api/auth/token and drives the /api/admin/tenants endpoints. The page itself is public
// (it holds no data); everything it shows comes from the superuser-only JSON endpoints.
func (s *Server) dashboardRoutes() []route {
	page, script, style, err := dashboardAssets()
	serve := func(a dashboardAsset) http.HandlerFunc { return s.serveAsset(a, err) }
	if err != nil {
		s.log.Error("the tenant dashboard cannot be served", "err", err)
	}
	return []route{
		{method: "GET", path: "/admin", access: public, handler: serve(page), tag: "dashboard",
			summary: "The tenant dashboard (HTML page for superusers: log in, list, filter and manage tenants)", response: "", contentTypes: []string{"text/html"}, notModified: true,
			responseHeaders: []param{qString("ETag", "The version of the file").must()}},
		{method: "GET", path: "/admin/{$}", access: public, handler: serve(page), tag: "dashboard",
			summary: "The tenant dashboard (same page as /admin)", response: "", contentTypes: []string{"text/html"}, notModified: true,
			responseHeaders: []param{qString("ETag", "The version of the file").must()}},
		{method: "GET", path: "/admin/app.js", access: public, handler: serve(script), tag: "dashboard",
			summary: "The dashboard's script", response: "", contentTypes: []string{"text/javascript"}, notModified: true,
			responseHeaders: []param{qString("ETag", "The version of the file").must()}},
		{method: "GET", path: "/admin/app.css", access: public, handler: serve(style), tag: "dashboard",
			summary: "The dashboard's style sheet", response: "", contentTypes: []string{"text/css"}, notModified: true,
			responseHeaders: []param{qString("ETag", "The version of the file").must()}},
	}
}

// serveAsset answers with one embedded file under the strict Content-Security-Policy, with its
// ETag; err, when set, is the reason the files could not be read (a 500).
func (s *Server) serveAsset(a dashboardAsset, err error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		if r.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", a.contentType)
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(a.body)
		}
	}
}
