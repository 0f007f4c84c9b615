package proxy

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// dial connects to the target from the node's IP, so the target's socket
// sees the node as its peer (SNAT).
func (s *Server) dial(ctx context.Context, node netip.Addr, target netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(node, 0)),
		Timeout:   s.opts.DialTimeout,
		KeepAlive: -1, // NLB sends no keepalives
		Control:   dialControl,
	}
	c, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// dialControl prepares a socket dialling from a node IP. SO_REUSEADDR lets
// many connections share a node source port towards different targets, as
// the per-target port budget assumes. IP_BIND_ADDRESS_NO_PORT defers the
// choice of an ephemeral port from bind to connect, where the kernel picks
// one unique for the 4-tuple instead of one no socket on the node IP holds:
// without it every bind scans the port space, and gets slower with every
// socket in TIME_WAIT (HAProxy and Envoy set it for the same reason).
func dialControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		}
	}); err != nil {
		return err
	}
	return serr
}

// resetConn closes c with an RST instead of a FIN.
func resetConn(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// addrPort converts a net.Addr from the socket layer once, at the edge.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
