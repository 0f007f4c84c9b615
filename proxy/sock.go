package proxy

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// dial connects to the target from the node's IP and allocated port, so
// the target's socket sees node:port as its peer (SNAT). The dial's context
// does not derive from the server's (that would register every dial with
// one shared parent); a forced shutdown aborts dials in progress through
// their sockets instead (abortDials).
func (s *Server) dial(from, target netip.AddrPort) (*net.TCPConn, error) {
	fd := -1
	var serr error
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(from),
		Timeout:   s.opts.DialTimeout,
		KeepAlive: -1, // NLB sends no keepalives
		Control: func(_, _ string, c syscall.RawConn) error {
			if err := c.Control(func(f uintptr) {
				fd = int(f)
				serr = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}); err != nil {
				return err
			}
			if serr == nil && !s.dials.add(fd) {
				serr = ErrServerClosed
			}
			return serr
		},
	}
	c, err := d.DialContext(context.Background(), "tcp", target.String())
	if fd >= 0 {
		s.dials.remove(fd)
	}
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// dialing is the set of sockets of dials in progress.
type dialing struct {
	mu      sync.Mutex
	fds     map[int]struct{}
	aborted bool
}

func (d *dialing) add(fd int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.aborted {
		return false
	}
	if d.fds == nil {
		d.fds = map[int]struct{}{}
	}
	d.fds[fd] = struct{}{}
	return true
}

func (d *dialing) remove(fd int) {
	d.mu.Lock()
	delete(d.fds, fd)
	d.mu.Unlock()
}

// abortDials makes every dial in progress fail at once (a shutdown of a
// connecting socket aborts the connect) and every later one fail. A socket
// whose dial failed may be closed before it leaves the set; its number may
// then name another socket, which this shuts down too: abortDials only
// runs when the server closes every connection anyway.
func (s *Server) abortDials() {
	s.dials.mu.Lock()
	defer s.dials.mu.Unlock()
	s.dials.aborted = true
	for fd := range s.dials.fds {
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
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
