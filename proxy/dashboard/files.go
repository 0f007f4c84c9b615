package dashboard

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed index.html app.js topology.js style.css
var files embed.FS

// securityHeaders keeps the page to its own origin: scripts, styles and
// fetches from the admin address only, and no framing by another site
// (its buttons change state: clickjacking).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// Page serves the dashboard's HTML page.
func Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		http.ServeFileFS(w, r, files, "index.html")
	})
}

// Assets serves the page's scripts and style sheet under prefix
// (prefix+"app.js", "topology.js", "style.css"); any other name is a 404.
func Assets(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, prefix)
		if name != "app.js" && name != "topology.js" && name != "style.css" {
			http.NotFound(w, r)
			return
		}
		securityHeaders(w.Header())
		http.ServeFileFS(w, r, files, name)
	})
}
