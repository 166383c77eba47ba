package api

import (
	"embed"
)

// webappFiles are the businesses' web app (/app): page, script and style sheet, plain HTML,
// JavaScript modules and CSS with no build step. Each file is named here, so a missing one fails
// the build.
//
//go:embed webapp/index.html webapp/app.js webapp/app.css
var webappFiles embed.FS

// webappAssets reads the web app's embedded files.
func webappAssets() (page, script, style dashboardAsset, err error) {
	return pageAssets(webappFiles, "webapp", "the web app", "/app")
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
	}
}
