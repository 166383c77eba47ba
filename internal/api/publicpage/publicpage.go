// Package publicpage holds the public booking page, /r/<slug>: one HTML page, its script and its
// style sheet, plain files with no build step, embedded in the binary. The api package serves
// them under a strict Content-Security-Policy; the page reads and writes only the public JSON API
// (/api/publico/<slug>/...).
package publicpage

import "embed"

// Files are index.html, reservar.js and reservar.css.
//
//go:embed index.html reservar.js reservar.css
var Files embed.FS
