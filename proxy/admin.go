package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
)

// Handler returns the admin API of the server. Requests must be addressed
// to an IP address, localhost or admin.listen's host (knownHost: no DNS
// rebinding); state-changing requests must come from its own origin with
// JSON (sameOrigin); a path asked with a method it has no route for
// answers 405 with Allow.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.top.Load().cfg.Admin.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /v1/endpoints", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Endpoints())
	})
	mux.HandleFunc("POST /v1/endpoints/{id}/accept", s.endpointAction(s.Accept))
	mux.HandleFunc("POST /v1/endpoints/{id}/reject", s.endpointAction(s.Reject))
	mux.HandleFunc("GET /v1/targets", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Targets())
	})
	mux.HandleFunc("POST /v1/target-groups/{name}/register", s.targetsAction(s.Register))
	mux.HandleFunc("POST /v1/target-groups/{name}/deregister", s.targetsAction(s.Deregister))
	mux.HandleFunc("GET /v1/explain", s.explain)
	mux.Handle("GET /v1/connections", s.table.ListHandler())
	mux.Handle("GET /v1/connections/stream", s.table.StreamHandler())
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ReloadFromSource(); err != nil {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
	s.faultRoutes(mux)
	s.dashboardRoutes(mux)
	mux.HandleFunc("/", fallback(mux))
	return knownHost(sameOrigin(mux), func() string { return s.top.Load().cfg.Admin.Listen })
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ready := s.started && !s.closing
	s.mu.Unlock()
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) startAdmin(cfg *config.Config) error {
	if !cfg.Admin.Enabled() {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("%s: admin.listen: %w", cfg.Source, err)
	}
	if ap := addrOf(ln.Addr()); !ap.Addr().IsLoopback() {
		s.log.Warn("the admin API listens beyond loopback: whoever reaches it can register targets, reject endpoints and reload; keep admin.listen on 127.0.0.1 unless other hosts need it",
			zap.Stringer("listen", ln.Addr()))
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(s.log.Named("admin"))}
	s.mu.Lock()
	s.admin, s.adminAddr = srv, ln.Addr()
	s.mu.Unlock()
	s.adminWG.Add(1)
	go func() {
		defer s.adminWG.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", zap.Error(err))
		}
	}()
	return nil
}

func (s *Server) stopAdmin() {
	s.mu.Lock()
	srv := s.admin
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
	s.adminWG.Wait()
}

// AdminAddr is the address the admin API listens on, or "" when it is off.
func (s *Server) AdminAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adminAddr == nil {
		return ""
	}
	return s.adminAddr.String()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(jsonLists(v))
}

// writeError answers an API error as {"error": "..."}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// apiError answers an error of the endpoint or target APIs.
func apiError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

func (s *Server) endpointAction(act func(string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := act(id); err != nil {
			apiError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Endpoint(id))
	}
}

// targetsBody is the body of register and deregister.
type targetsBody struct {
	Targets []TargetSpec `json:"targets"`
}

func (s *Server) targetsAction(act func(group, service string, ts []TargetSpec) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body targetsBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "request body: "+jsonProblem(err)+`; want {"targets":[{"ip":"127.0.10.30","port":9443,"az":"use1-az1"}]}`)
			return
		}
		if len(body.Targets) == 0 {
			writeError(w, http.StatusBadRequest, `request body: "targets" is empty`)
			return
		}
		name, service := r.PathValue("name"), r.URL.Query().Get("service")
		if err := act(name, service, body.Targets); err != nil {
			apiError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Targets())
	}
}

// jsonProblem phrases a JSON decoding error for a human.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: %v is not a valid %s", typ.Field, typ.Value, typ.Type)
	}
	return err.Error()
}
