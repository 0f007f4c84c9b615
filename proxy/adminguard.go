package proxy

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// openPaths answer whatever name the request addresses privlink by: probes
// and scrapers (a load balancer, Prometheus) may use a DNS name, and these
// paths neither change nor reveal the topology's state.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// knownHost refuses requests addressed to a name privlink does not answer
// to, so that a web page cannot read or drive the admin API through DNS
// rebinding (evil.example resolving to 127.0.0.1: the browser then treats
// the API as evil.example's own origin). The Host must be an IP literal,
// localhost, or the host of listen (admin.listen); GET and HEAD of
// /healthz, /readyz and /metrics take any Host. Refusals are 403.
func knownHost(next http.Handler, listen func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open := openPaths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		if !open && !hostAllowed(r.Host, listen()) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("Host %s refused: the admin API answers only requests addressed to an IP address, localhost or admin.listen's host (DNS rebinding protection); use http://127.0.0.1:PORT or http://localhost:PORT", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether host (a Host header, port optional) is an IP
// literal, localhost or listen's host. An empty Host (HTTP/1.0) is allowed:
// browsers always send one.
func hostAllowed(host, listen string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	lh, _, err := net.SplitHostPort(listen)
	return err == nil && lh != "" && strings.EqualFold(host, strings.TrimSuffix(lh, "."))
}

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
