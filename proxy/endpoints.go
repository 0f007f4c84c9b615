package proxy

import (
	"cmp"
	"iter"
	"maps"
	"net/netip"
	"slices"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/dns"
)

// EndpointInfo describes an endpoint and where clients connect to it.
type EndpointInfo struct {
	ID         string          `json:"id"`
	Service    string          `json:"service"`
	State      string          `json:"state"`
	Reason     string          `json:"reason,omitempty"`
	Interfaces []InterfaceInfo `json:"interfaces"`
	// DNSEntries are the endpoint's names (regional, zonal per AZ, then
	// the private name) as AWS's DescribeVpcEndpoints lists them.
	DNSEntries []dns.Entry `json:"dns_entries"`
}

// InterfaceInfo is one endpoint network interface.
type InterfaceInfo struct {
	AZ        string           `json:"az"`
	Subnet    string           `json:"subnet"`
	IP        netip.Addr       `json:"ip"`
	Listeners []netip.AddrPort `json:"listeners"`
	Node      netip.Addr       `json:"node"`
}

// Endpoints lists the configured endpoints in configuration order.
func (s *Server) Endpoints() []EndpointInfo {
	top := s.top.Load()
	var out []EndpointInfo
	for _, ep := range top.cfg.Endpoints {
		info := EndpointInfo{ID: ep.ID, Service: ep.Service, State: EndpointAvailable, DNSEntries: slices.Clone(top.names.Entries(ep.ID))}
		if e := s.lookupEndpoint(ep.ID); e != nil {
			info.State, info.Reason = e.snapshot()
		}
		svc := findService(top, ep.Service)
		if ep.IsS3Interface() {
			svc = top.cfg.S3InterfaceService() // no NLB node: Node stays zero
		}
		for _, in := range ep.Interfaces {
			ii := InterfaceInfo{AZ: in.AZ, Subnet: in.Subnet, IP: in.IP}
			if n := svc.Node(in.AZ); n != nil {
				ii.Node = n.IP
			}
			for _, l := range svc.LoadBalancer.Listeners {
				ii.Listeners = append(ii.Listeners, netip.AddrPortFrom(in.IP, l.Port))
			}
			info.Interfaces = append(info.Interfaces, ii)
		}
		out = append(out, info)
	}
	return out
}

// Endpoint returns the endpoint with the given ID (zero value if unknown).
func (s *Server) Endpoint(id string) EndpointInfo {
	for _, e := range s.Endpoints() {
		if e.ID == id {
			return e
		}
	}
	return EndpointInfo{}
}

// Addr returns the address to connect to for the endpoint's interface in az
// on listener port; with az "" the first interface, with port 0 the first
// listener. The zero AddrPort means there is none; Server.EndpointAddr
// says instead which of endpoint, AZ or port does not exist.
func (e EndpointInfo) Addr(az string, port uint16) netip.AddrPort {
	for _, in := range e.Interfaces {
		if az != "" && in.AZ != az {
			continue
		}
		for _, l := range in.Listeners {
			if port == 0 || l.Port() == port {
				return l
			}
		}
	}
	return netip.AddrPort{}
}

func findService(top *topology, id string) *config.Service {
	for i := range top.cfg.Services {
		if top.cfg.Services[i].ID == id {
			return &top.cfg.Services[i]
		}
	}
	return nil
}

// sortedKeys iterates a map keyed by address in address order, so sockets
// open (and errors appear) in a stable order.
func sortedKeys[V any](m map[netip.AddrPort]V) iter.Seq2[netip.AddrPort, V] {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b netip.AddrPort) int { return cmp.Compare(a.String(), b.String()) })
	return func(yield func(netip.AddrPort, V) bool) {
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
