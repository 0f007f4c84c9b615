package proxy

import (
	"net/netip"

	"github.com/privlink/privlink/config"
)

// A built-in target strips a PROXY header only from the NLB nodes that
// send it one, as a real target configured for PROXY protocol behind NLB
// would: the nodes of the services whose target group holds it with
// proxy_protocol_v2. A header a client sent (NLB passes it on after its
// own: headers stack) or one from any other peer is data and echoed back.

// trustNodes records the nodes of sv as senders of headers to target when
// tg sends them.
func (t *topology) trustNodes(target netip.AddrPort, sv *config.Service, tg *config.TargetGroup) {
	if !tg.ProxyProtocolV2 {
		return
	}
	m := t.headerFrom[target]
	if m == nil {
		m = map[netip.Addr]bool{}
		t.headerFrom[target] = m
	}
	for _, n := range sv.LoadBalancer.Nodes {
		m[n.IP.Unmap()] = true
	}
}

// headerTrust is the TrustHeader of the built-in target at addr, read from
// the live generation (a reload may turn proxy_protocol_v2 on or off).
func (s *Server) headerTrust(addr netip.AddrPort) func(netip.Addr) bool {
	return func(peer netip.Addr) bool { return s.top.Load().headerFrom[addr][peer.Unmap()] }
}
