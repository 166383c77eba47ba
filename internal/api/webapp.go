package api

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"
)

// webappFiles are the businesses' web app (/app): page, script and style sheet, plain HTML,
// JavaScript modules and CSS with no build step. Each file is named here, so a missing one fails
// the build.
//
//go:embed webapp/index.html webapp/app.js webapp/app.css webapp/report.js
var webappFiles embed.FS

// webappAssets reads the web app's embedded files and checks that the page loads the script and
// the style sheet it is served with.
func webappAssets() (page, script, style dashboardAsset, err error) {
	read := func(name, contentType string) (dashboardAsset, error) {
		b, err := webappFiles.ReadFile("webapp/" + name)
		if err != nil {
			return dashboardAsset{}, fmt.Errorf("reading the web app's %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		return dashboardAsset{body: b, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
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
	for _, ref := range []string{`src="/app/app.js"`, `href="/app/app.css"`} {
		if !strings.Contains(string(page.body), ref) {
			return page, script, style, fmt.Errorf("the web app's index.html does not load %s", ref)
		}
	}
	return page, script, style, nil
}

// webappModule reads one of the web app's embedded JavaScript modules, name being its file name.
func webappModule(name string) (dashboardAsset, error) {
	b, err := webappFiles.ReadFile("webapp/" + name)
	if err != nil {
		return dashboardAsset{}, fmt.Errorf("reading the web app's %s: %w", name, err)
	}
	sum := sha256.Sum256(b)
	return dashboardAsset{body: b, contentType: "text/javascript; charset=utf-8", etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// webappRoutes serves the businesses' web app: GET /app (and /app/) is the page, which signs in
// through /api/auth/token with the session cookie and drives the booking API. The page holds no
// data; everything it shows comes from the tenant endpoints, under their role rules.
func (s *Server) webappRoutes() []route {
	page, script, style, err := webappAssets()
	if err != nil {
		s.log.Error("the web app cannot be served", "err", err)
	}
	etag := []param{qString("ETag", "The version of the file").must()}
	report, reportErr := webappModule("report.js")
	if reportErr != nil {
		s.log.Error("the web app's report module cannot be served", "err", reportErr)
	}
	return []route{
		{method: "GET", path: "/app", access: public, handler: s.serveAsset(page, err), tag: "app",
			summary: "The businesses' web app (HTML page: sign in, pick the organization, the agenda)", response: "",
			contentTypes: []string{"text/html"}, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/app/{$}", access: public, handler: s.serveAsset(page, err), tag: "app",
			summary: "The web app (same page as /app)", response: "", contentTypes: []string{"text/html"}, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/app/app.js", access: public, handler: s.serveAsset(script, err), tag: "app",
			summary: "The web app's script", response: "", contentTypes: []string{"text/javascript"}, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/app/app.css", access: public, handler: s.serveAsset(style, err), tag: "app",
			summary: "The web app's style sheet", response: "", contentTypes: []string{"text/css"}, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/app/report.js", access: public, handler: s.serveAsset(report, reportErr), tag: "app",
			summary: "The web app's report module", response: "", contentTypes: []string{"text/javascript"}, notModified: true, responseHeaders: etag},
	}
}
