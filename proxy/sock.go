package proxy

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// dial connects to the target from the node's IP and allocated port, so
// the target's socket sees node:port as its peer (SNAT).
func (s *Server) dial(ctx context.Context, from, target netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(from),
		Timeout:   s.opts.DialTimeout,
		KeepAlive: -1, // NLB sends no keepalives
		Control:   reuseAddr,
	}
	c, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// reuseAddr sets SO_REUSEADDR on a socket that binds a node IP and an
// explicit port: many connections share a node port towards different
// targets, as the per-target port budget assumes, and a port can be bound
// again while an earlier connection from it is in TIME_WAIT. (Binding port
// 0 instead would make the kernel scan the port space for a port no socket
// on the node IP holds, which got slower with every TIME_WAIT socket and
// dominated the connection rate.)
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
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
