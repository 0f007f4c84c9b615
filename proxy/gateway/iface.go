package gateway

import (
	"errors"
	"net"
	"net/http"
	"net/netip"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// S3 interface endpoints (AWS PrivateLink for S3): the S3 front also
// listens on each interface IP of an interface endpoint whose service is
// S3, at s3.interface_port. A client reaches it as any interface endpoint:
// its own SG egress and subnet NACL, the endpoint subnet's NACL and the
// endpoint's security groups (acl.ConsumerPath; no route table, no prefix
// list). Its requests are then decided by that endpoint's policy, with
// aws:SourceVpce the endpoint's ID and aws:VpcSourceIp the client's IP,
// exactly as through a gateway endpoint.

// ifaceRoute is one interface of an S3 interface endpoint.
type ifaceRoute struct {
	ep       *gwEndpoint
	consumer *acl.ConsumerPath
	path     *conntrack.Path
}

// compileIfaces adds the interfaces of S3 interface endpoints to snap.
func (snap *snapshot) compileIfaces(cfg *config.Config, ev *acl.Evaluator) {
	snap.ifaces = map[netip.AddrPort]*ifaceRoute{}
	for i := range cfg.Endpoints {
		e := &cfg.Endpoints[i]
		if !e.IsS3Interface() || snap.endpoints[e.ID] == nil {
			continue
		}
		for _, in := range e.Interfaces {
			addr := netip.AddrPortFrom(in.IP.Unmap(), cfg.S3.InterfacePort)
			snap.ifaces[addr] = &ifaceRoute{ep: snap.endpoints[e.ID], consumer: ev.Consumer(addr),
				path: &conntrack.Path{Iface: addr, Endpoint: e.ID, Service: e.Service, AZ: in.AZ, Subnet: in.Subnet}}
		}
	}
}

// retireIfaces shuts down, gracefully, the interface listeners cfg no
// longer has.
func (s *Server) retireIfaces(cfg *config.Config) {
	want := map[netip.AddrPort]bool{}
	for _, addr := range cfg.S3InterfaceAddrs() {
		want[addr] = true
	}
	s.mu.Lock()
	var gone []*http.Server
	for addr, srv := range s.ifaces {
		if !want[addr] {
			gone = append(gone, srv)
			delete(s.ifaces, addr)
		}
	}
	s.mu.Unlock()
	for _, srv := range gone {
		s.retire(srv)
	}
}

// serveIface serves one interface address on ln, a listener on it.
func (s *Server) serveIface(addr netip.AddrPort, ln net.Listener) {
	srv := s.httpServer("s3-interface")
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return
	}
	s.ifaces[addr] = srv
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(&gateListener{Listener: ln, s: s, sv: serviceS3, iface: addr}); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("S3 interface endpoint stopped", zap.Stringer("listen", addr), zap.Error(err))
		}
	}()
}

// admitIface decides a new connection to an S3 interface endpoint's
// interface with the current snapshot: the consumer side of the path.
func (s *Server) admitIface(addr netip.AddrPort, c *net.TCPConn) *gateConn {
	snap, client := s.snap.Load(), remoteOf(c)
	ir := snap.ifaces[addr]
	var v acl.Verdict
	if ir == nil || ir.consumer == nil || !ir.consumer.Check(client, &v) {
		path := snap.noRoute[serviceS3][""]
		if ir != nil {
			path = ir.path
		}
		s.deny(serviceS3, c, snap, path, ir != nil, client, &v)
		return nil
	}
	return s.track(&gateConn{TCPConn: c, s: s, sv: serviceS3, client: client, iface: addr}, ir.path)
}

// endpointOf is the endpoint a connection's requests go through now: its
// interface's endpoint, or the one its route leads to (nil: none any more).
func (snap *snapshot) endpointOf(gc *gateConn) *gwEndpoint {
	if gc.iface.IsValid() {
		if ir := snap.ifaces[gc.iface]; ir != nil {
			return ir.ep
		}
		return nil
	}
	ep, _ := snap.route(gc.sv, gc.client.Addr())
	return ep
}
