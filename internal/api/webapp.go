package api

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// webappFiles are the businesses' web app (/app): one page, its JavaScript modules and its style
// sheet, plain HTML, JavaScript and CSS with no build step.
//
//go:embed webapp/*.html webapp/*.js webapp/*.css
var webappFiles embed.FS

// webappImport matches a module's static import of another of the web app's modules.
var webappImport = regexp.MustCompile(`from '/app/([a-z0-9_-]+\.js)'`)

// webappAssets reads the web app's embedded files: the page, and every script and style sheet by
// file name. It checks that the page loads app.js and app.css and that every module a script
// imports is embedded.
func webappAssets() (page dashboardAsset, files map[string]dashboardAsset, err error) {
	page, script, style, err := pageAssets(webappFiles, "webapp", "the web app", "/app")
	if err != nil {
		return page, nil, err
	}
	files = map[string]dashboardAsset{"app.js": script, "app.css": style}
	entries, err := fs.ReadDir(webappFiles, "webapp")
	if err != nil {
		return page, nil, fmt.Errorf("listing the web app's files: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := files[name]; ok || path.Ext(name) != ".js" && path.Ext(name) != ".css" {
			continue
		}
		b, err := webappFiles.ReadFile("webapp/" + name)
		if err != nil {
			return page, nil, fmt.Errorf("reading the web app's %s: %w", name, err)
		}
		contentType := "text/javascript; charset=utf-8"
		if path.Ext(name) == ".css" {
			contentType = "text/css; charset=utf-8"
		}
		files[name] = newAsset(b, contentType)
	}
	for name, f := range files {
		for _, m := range webappImport.FindAllStringSubmatch(string(f.body), -1) {
			if _, ok := files[m[1]]; !ok {
				return page, nil, fmt.Errorf("the web app's %s imports /app/%s, which is not embedded", name, m[1])
			}
		}
	}
	return page, files, nil
}

// webappRoutes serves the businesses' web app: GET /app (and /app/) is the page, which signs in
// through /api/auth/token with the session cookie and drives the booking API, and /app/<file> its
// modules and style sheet. The page holds no data; everything it shows comes from the tenant
// endpoints, under their role rules.
func (s *Server) webappRoutes() []route {
	page, files, err := webappAssets()
	if err != nil {
		s.log.Error("the web app cannot be served", "err", err)
	}
	etag := []param{qString("ETag", "The version of the file").must()}
	routes := []route{
		{method: "GET", path: "/app", access: public, handler: s.serveAsset(page, err), tag: "app",
			summary: "The businesses' web app (HTML page: sign in, pick the organization, the agenda)", response: "",
			contentTypes: []string{"text/html"}, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/app/{$}", access: public, handler: s.serveAsset(page, err), tag: "app",
			summary: "The web app (same page as /app)", response: "", contentTypes: []string{"text/html"}, notModified: true, responseHeaders: etag},
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := files[name]
		kind := "script"
		if strings.HasSuffix(name, ".css") {
			kind = "style sheet"
		}
		routes = append(routes, route{method: "GET", path: "/app/" + name, access: public, handler: s.serveAsset(f, err), tag: "app",
			summary: "The web app's " + kind + " " + name, response: "",
			contentTypes: []string{strings.TrimSuffix(f.contentType, "; charset=utf-8")}, notModified: true, responseHeaders: etag})
	}
	return routes
}
