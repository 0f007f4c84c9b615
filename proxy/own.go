package proxy

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/privlink/privlink/config"
)

// ownListener names the privlink socket a target at ap would reach — an
// endpoint listener, a built-in target, the admin API as configured or as
// bound (admin.listen port 0) — or returns "".
func (s *Server) ownListener(cfg *config.Config, ap netip.AddrPort) string {
	if what := cfg.OwnListener(ap); what != "" {
		return what
	}
	s.mu.Lock()
	admin := s.adminAddr
	s.mu.Unlock()
	if admin != nil && config.ListenCovers(addrOf(admin), ap) {
		return fmt.Sprintf("admin API (%s)", admin)
	}
	return ""
}

// addrOf converts a TCP socket's net.Addr (the zero AddrPort otherwise).
func addrOf(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
