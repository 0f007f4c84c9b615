package proxy

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// sameOrigin refuses state-changing requests (every method but GET, HEAD
// and OPTIONS) that a web page of another origin could have sent, so that
// a page open in the user's browser cannot drive the admin API (CSRF):
//
//   - Sec-Fetch-Site, when present, must be same-origin or none (a page on
//     another port of the same host is same-site, and refused);
//   - Origin, when present, must be the request's own scheme://Host;
//   - the body must be JSON: Content-Type application/json, or no
//     Content-Type and an empty body (curl -X POST .../accept).
//
// A browser sends a cross-origin request with an Origin header, and a JSON
// one only after a CORS preflight the API never grants; curl and Go
// clients send neither header. Refusals are 403 (origin) and 415 (type).
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if msg := crossOrigin(r); msg != "" {
			writeError(w, http.StatusForbidden, msg)
			return
		}
		if msg := notJSON(r); msg != "" {
			writeError(w, http.StatusUnsupportedMediaType, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin says why r may come from another origin, or "".
func crossOrigin(r *http.Request) string {
	const why = "the admin API accepts state-changing requests only from its own origin (CSRF protection)"
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Sprintf("cross-origin request refused (Sec-Fetch-Site: %s): %s", site, why)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if err != nil || u.Scheme != scheme || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Sprintf("cross-origin request refused (Origin %s, Host %s): %s", origin, r.Host, why)
	}
	return ""
}

// notJSON says why r's body is not acceptable JSON, or "".
func notJSON(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return ""
		}
		return "a request body needs Content-Type: application/json"
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return fmt.Sprintf("Content-Type %q refused: send application/json (curl: -H 'Content-Type: application/json')", ct)
	}
	return ""
}

// adminMethods are the methods an admin route may answer to.
var adminMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// fallback answers requests no route takes: 405 with Allow when the path
// has routes for other methods, else 404.
func fallback(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if allow := allowed(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such admin API path: %s %s", r.Method, r.URL.Path))
	}
}

// allowed lists the methods with a route (other than the fallback) for r's path.
func allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range adminMethods {
		try := r.Clone(r.Context())
		try.Method = m
		if _, pattern := mux.Handler(try); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}
