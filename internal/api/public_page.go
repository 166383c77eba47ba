package api

import (
	"fmt"
	"strings"

	"github.com/appcitas/appcitas/internal/api/publicpage"
)

// publicPageAssets reads the public booking page's embedded files.
func publicPageAssets() (page, script, style dashboardAsset, err error) {
	read := func(name, contentType string) (dashboardAsset, error) {
		b, err := publicpage.Files.ReadFile(name)
		if err != nil {
			return dashboardAsset{}, fmt.Errorf("reading the public page's %s: %w", name, err)
		}
		return newAsset(b, contentType), nil
	}
	if page, err = read("index.html", "text/html; charset=utf-8"); err != nil {
		return
	}
	if script, err = read("reservar.js", "text/javascript; charset=utf-8"); err != nil {
		return
	}
	if style, err = read("reservar.css", "text/css; charset=utf-8"); err != nil {
		return
	}
	for _, ref := range []string{`src="/r/_/reservar.js"`, `href="/r/_/reservar.css"`} {
		if !strings.Contains(string(page.body), ref) {
			return page, script, style, fmt.Errorf("the public page's index.html does not load %s", ref)
		}
	}
	return page, script, style, nil
}

// pageRoutes serves the public booking page: /r/{slug} books, /r/{slug}/cita/{token} manages a
// booking. The page holds no data: its script reads the public API, and says so when the
// organization does not exist or its online booking is off.
func (p *publicAPI) pageRoutes(tag string) []route {
	page, script, style, err := publicPageAssets()
	if err != nil {
		p.s.log.Error("the public booking page cannot be served", "err", err)
	}
	etag := []param{qString("ETag", "The version of the file").must()}
	html := []string{"text/html"}
	return []route{
		{method: "GET", path: "/r/{slug}", access: public, handler: p.s.serveAsset(page, err), tag: tag,
			summary: "The public booking page of an organization (HTML)", response: "", contentTypes: html, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/r/{slug}/cita/{token}", access: public, handler: p.s.serveAsset(page, err), tag: tag,
			summary: "The page where a client reschedules or cancels a booking (HTML; same page)", response: "", contentTypes: html, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/r/_/reservar.js", access: public, handler: p.s.serveAsset(script, err), tag: tag,
			summary: "The public page's script", response: "", contentTypes: []string{"text/javascript"}, notModified: true, responseHeaders: etag},
		{method: "GET", path: "/r/_/reservar.css", access: public, handler: p.s.serveAsset(style, err), tag: tag,
			summary: "The public page's style sheet", response: "", contentTypes: []string{"text/css"}, notModified: true, responseHeaders: etag},
	}
}
