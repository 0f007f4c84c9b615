package proxy

import "net/netip"

// healthDenied reports whether the rules between a node and a target deny
// a health check (the hop and rule that deny it).
func (s *Server) healthDenied(t *target, node netip.Addr, dst netip.AddrPort) (hop, rule string, denied bool) {
	return "", "", false
}
