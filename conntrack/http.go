package conntrack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
)

// ParseFilter reads the query parameters endpoint, target (IP or IP:port)
// and state of GET /v1/connections; an error names the parameter.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	f.Endpoint = q.Get("endpoint")
	if s := q.Get("target"); s != "" {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return Filter{}, fmt.Errorf("target: %q is not an IP address or IP:port", s)
			}
			ap = netip.AddrPortFrom(a, 0)
		}
		f.Target = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if s := q.Get("state"); s != "" {
		st, err := ParseState(s)
		if err != nil {
			return Filter{}, fmt.Errorf("state: %w", err)
		}
		f.State = st
	}
	return f, nil
}

// Values writes f as query parameters (the inverse of ParseFilter).
func (f Filter) Values() url.Values {
	q := url.Values{}
	if f.Endpoint != "" {
		q.Set("endpoint", f.Endpoint)
	}
	switch {
	case f.Target.Port() != 0:
		q.Set("target", f.Target.String())
	case f.Target.Addr().IsValid():
		q.Set("target", f.Target.Addr().String())
	}
	if f.State != 0 {
		q.Set("state", f.State.String())
	}
	return q
}

// ListHandler serves GET /v1/connections[?endpoint=&target=&state=]: a
// JSON array of views in ID order; a bad parameter is a 400
// {"error": "..."} naming it.
func (t *Table) ListHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseFilter(r.URL.Query())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, t.Snapshot(f, []View{}))
	})
}

// StreamHandler serves GET /v1/connections/stream: one JSON event per
// line, flushed as it happens, until the client goes away or the table
// closes. The query filters as for ListHandler (dropped events always
// pass). A client that stops reading loses events (announced by a
// "dropped" event); it never slows the data path.
func (t *Table) StreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseFilter(r.URL.Query())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sub := t.Subscribe(StreamBuffer)
		defer sub.Close()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		enc := json.NewEncoder(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case ev, ok := <-sub.Events():
				if !ok {
					return
				}
				if ev.Type != EventDropped && !f.matchView(&ev.Conn) {
					continue
				}
				if enc.Encode(ev) != nil || rc.Flush() != nil {
					return
				}
			}
		}
	})
}

// StreamBuffer is the events a stream client may lag behind before it
// loses some.
const StreamBuffer = 4096

func (f Filter) matchView(v *View) bool { return f.matches(v.Endpoint, v.Target, v.State) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
