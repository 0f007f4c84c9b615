package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/conntrack"
)

// The Go API of what the admin API serves over HTTP, for in-process
// callers such as the privlinktest kit: tracked connections, live explain,
// and endpoint addresses that fail loudly.

// Conns returns the tracked connections matching f (the zero Filter: all),
// in ID order, as GET /v1/connections lists them.
func (s *Server) Conns(f conntrack.Filter) []conntrack.View {
	return s.table.Snapshot(f, []conntrack.View{})
}

// Explain answers q as GET /v1/explain does: the rules of the running
// generation weighed with its live state (endpoint state, registered
// targets and their health, port pools). q.Live is set by Explain. The
// error wraps acl.ErrUnknownEndpoint or acl.ErrUnknownPort for a query
// naming nothing configured.
func (s *Server) Explain(q acl.Query) (*acl.Report, error) {
	q.From = q.From.Unmap()
	q.Live = s.live(q)
	return acl.Explain(s.rules.Load(), q)
}

// EndpointAddr returns the address a client connects to for endpoint id's
// interface in az (an AZ ID such as use1-az1; "" = the first interface) on
// listener port (0 = the first listener). Unlike EndpointInfo.Addr, it
// fails, wrapping ErrNotFound, with an error naming what does not exist
// and what does: an unknown endpoint, an AZ without an interface, a port
// without a listener.
func (s *Server) EndpointAddr(id, az string, port uint16) (netip.AddrPort, error) {
	eps := s.Endpoints()
	i := slices.IndexFunc(eps, func(e EndpointInfo) bool { return e.ID == id })
	if i < 0 {
		ids := make([]string, len(eps))
		for j, e := range eps {
			ids[j] = e.ID
		}
		return netip.AddrPort{}, fmt.Errorf("%w: no endpoint %q (have: %s)", ErrNotFound, id, listOrNone(ids))
	}
	e := eps[i]
	if ap := e.Addr(az, port); ap.IsValid() {
		return ap, nil
	}
	var azs, ports []string
	for _, in := range e.Interfaces {
		azs = append(azs, in.AZ)
		if az == "" || in.AZ == az {
			for _, l := range in.Listeners {
				ports = append(ports, strconv.Itoa(int(l.Port())))
			}
		}
	}
	if az != "" && !slices.Contains(azs, az) {
		return netip.AddrPort{}, fmt.Errorf("%w: endpoint %s has no interface in AZ %q (have: %s; AZ IDs such as use1-az1)", ErrNotFound, id, az, listOrNone(azs))
	}
	return netip.AddrPort{}, fmt.Errorf("%w: endpoint %s has no listener on port %d (have: %s)", ErrNotFound, id, port, listOrNone(slices.Compact(ports)))
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
