package proxy

import (
	"net/http"

	"github.com/privlink/privlink/proxy/dashboard"
)

// dashboardRoutes adds the dashboard (docs/dashboard.md) to the admin API: the page
// at GET /, its scripts and style under /dashboard/, the topology it draws
// and the live frames it shows. The page acts through the same JSON
// endpoints as scripts, behind the same same-origin guard. The hub
// returned runs the live frames' sampler while a page is connected.
func (s *Server) dashboardRoutes(mux *http.ServeMux) *dashHub {
	hub := newDashHub(s)
	mux.Handle("GET /{$}", dashboard.Page())
	mux.Handle("GET /dashboard/", dashboard.Assets("/dashboard/"))
	mux.HandleFunc("GET /v1/dashboard/topology", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.DashboardTopology())
	})
	mux.HandleFunc("GET /v1/dashboard/live", hub.serveLive)
	return hub
}
