package inspect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Handler serves GET /v1/headers[?limit=N]: {"headers": [...]}, the last N
// accepted headers oldest first (all that are kept without limit; a limit
// above the ring size returns the whole ring). Errors are HTTP 4xx with
// {"error": "..."}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/headers", s.serveHeaders)
	mux.HandleFunc("/v1/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET", r.Method))
	})
	return mux
}

func (s *Server) serveHeaders(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" || r.URL.Query().Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a positive integer", v))
			return
		}
		limit = n
	}
	writeJSON(w, http.StatusOK, struct {
		Headers []Record `json:"headers"`
	}{s.Headers(limit)})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
