package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
	"github.com/privlink/privlink/proxy/relay"
)

// dial connects to the target from the node's IP and allocated port, so
// the target's socket sees node:port as its peer (SNAT), and waits for the
// connection in Go's netpoller: health checks use it. Flows dial with
// startDial, and their loop waits. Both use the system calls directly:
// net.Dialer would add what a connection whose addresses are known needs
// none of (address parsing, a context and a timer, getsockname and
// getpeername) — a third of the dial's cost. A forced shutdown aborts dials
// in progress through their sockets (abortDials).
func (s *Server) dial(from, target netip.AddrPort, timeout time.Duration) (*socket, error) {
	c, pending, err := s.startDial(from, target)
	if !pending {
		return c, err
	}
	defer s.dials.remove(c.fd)
	if err := waitConnected(c.file(), timeout); err != nil {
		c.Close()
		return nil, dialError(from, target, err)
	}
	return c, nil
}

// startDial starts a connect from from to target. pending: the connect is
// in progress (EINPROGRESS) and the socket in the dials set until the
// caller's wait ends (dials.remove). Otherwise the dial is over: a
// connected socket with TCP_NODELAY, or an error.
func (s *Server) startDial(from, target netip.AddrPort) (c *socket, pending bool, err error) {
	if from.Addr().Is4() != target.Addr().Is4() {
		return nil, false, fmt.Errorf("dial %s from %s: the node and the target are of different IP families", target, from)
	}
	fd, err := boundSocket(from)
	if err != nil {
		return nil, false, dialError(from, target, err)
	}
	if !s.dials.add(fd) {
		unix.Close(fd)
		return nil, false, ErrServerClosed
	}
	rawsock.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c = newSocket(fd)
	switch err := rawsock.Connect(fd, target); err {
	case unix.EINPROGRESS:
		return c, true, nil
	case nil:
		s.dials.remove(fd)
		return c, false, nil
	default:
		s.dials.remove(fd)
		c.Close()
		return nil, false, dialError(from, target, os.NewSyscallError("connect", err))
	}
}

func dialError(from, target netip.AddrPort, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Source: net.TCPAddrFromAddrPort(from), Addr: net.TCPAddrFromAddrPort(target), Err: err}
}

// boundSocket returns a non-blocking TCP socket bound to addr, with
// SO_REUSEADDR: a listener's address, or a dial's exact source port (whose
// earlier connection may still be in TIME_WAIT).
func boundSocket(addr netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if addr.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := rawsock.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	if err := rawsock.Bind(fd, addr); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

// waitConnected waits until a non-blocking connect has finished: an error
// in SO_ERROR, or a peer name (as net does: the poller may wake early).
func waitConnected(f *os.File, timeout time.Duration) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	f.SetWriteDeadline(time.Now().Add(timeout))
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		v, err := rawsock.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			serr = os.NewSyscallError("getsockopt", err)
			return true
		case v != 0 && v != int(unix.EINPROGRESS) && v != int(unix.EALREADY) && v != int(unix.EINTR):
			serr = os.NewSyscallError("connect", unix.Errno(v))
			return true
		}
		return rawsock.Connected(int(fd))
	})
	f.SetWriteDeadline(time.Time{})
	if err != nil {
		return err // os.ErrDeadlineExceeded: the dial timed out
	}
	return serr
}

// socket is a TCP connection privlink made with raw system calls: one a
// listener accepted from a client, or one it dialled to a target. Flows'
// sockets stay out of Go's netpoller: the relay engine's loops wait for
// them. It has the controls the relay needs (relay.Conn, relay.FDer) and is
// a net.Conn for the rest of the pipeline (a denied client held silent, a
// health check): those wait in the netpoller through an os.File made on
// first use.
type socket struct {
	// mu serialises Close with Control from other goroutines (the admin
	// API's TCP_INFO reads): a closed descriptor's number may name another
	// socket at once. The owner (a loop, or the goroutine holding a denied
	// client) uses fd without it.
	mu sync.Mutex
	fd int      // -1 once closed
	f  *os.File // once the socket waits in the netpoller
	// No addresses: the flow's table entry has them, and a socket kept as
	// small as this one (24 bytes) costs an idle flow 144 bytes less than
	// one that held its two addresses.
}

func newSocket(fd int) *socket { return &socket{fd: fd} }

// file moves the socket into Go's netpoller (deadlines, blocking reads).
func (c *socket) file() *os.File {
	if c.f == nil {
		c.f = os.NewFile(uintptr(c.fd), "tcp")
	}
	return c.f
}

// FD is the descriptor (relay.FDer).
func (c *socket) FD() int { return c.fd }

func (c *socket) SyscallConn() (syscall.RawConn, error) {
	if c.f != nil {
		return c.f.SyscallConn()
	}
	return (*rawConn)(c), nil
}

func (c *socket) Read(b []byte) (int, error)         { return c.file().Read(b) }
func (c *socket) SetDeadline(t time.Time) error      { return c.file().SetDeadline(t) }
func (c *socket) SetReadDeadline(t time.Time) error  { return c.file().SetReadDeadline(t) }
func (c *socket) SetWriteDeadline(t time.Time) error { return c.file().SetWriteDeadline(t) }

// LocalAddr and RemoteAddr ask the kernel (getsockname, getpeername): they
// are for errors and the odd caller, not the data path. A closed socket,
// or a peer gone, gives an empty address.
func (c *socket) LocalAddr() net.Addr  { return c.addr(unix.Getsockname) }
func (c *socket) RemoteAddr() net.Addr { return c.addr(unix.Getpeername) }

func (c *socket) addr(get func(int) (unix.Sockaddr, error)) net.Addr {
	c.mu.Lock()
	var sa unix.Sockaddr
	if c.fd >= 0 {
		sa, _ = get(c.fd)
	}
	c.mu.Unlock()
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)))
	case *unix.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)))
	}
	return &net.TCPAddr{}
}

// Write writes b: through the netpoller once the socket is there;
// otherwise at once, and a socket whose buffer is full fails with EAGAIN
// (its only use then is a PROXY header on a fresh connection).
func (c *socket) Write(b []byte) (int, error) {
	if c.f != nil {
		return c.f.Write(b)
	}
	n := 0
	for n < len(b) {
		w, err := unix.Write(c.fd, b[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", err)}
		}
		n += w
	}
	return n, nil
}

func (c *socket) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.f != nil:
		c.fd = -1
		return c.f.Close()
	case c.fd < 0:
		return net.ErrClosed
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// CloseWrite sends a FIN (a half-close).
func (c *socket) CloseWrite() error {
	return c.control(func(fd int) error { return rawsock.Shutdown(fd, unix.SHUT_WR) })
}

// SetLinger as on net.TCPConn; 0 makes Close send an RST.
func (c *socket) SetLinger(sec int) error {
	l := unix.Linger{Onoff: 1, Linger: int32(sec)}
	if sec < 0 {
		l = unix.Linger{}
	}
	return c.control(func(fd int) error { return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l) })
}

// abortConnect makes a connect in progress fail at once (a shutdown of a
// connecting socket aborts it; the loop waiting for it then sees the
// failure), from any goroutine: the socket's lock keeps it from touching
// a descriptor closed meanwhile.
func (c *socket) abortConnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd >= 0 {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// control runs fn with the descriptor, for the socket's owner.
func (c *socket) control(fn func(fd int) error) error {
	if c.fd < 0 {
		return net.ErrClosed
	}
	return fn(c.fd)
}

// TCPInfo reads the socket's TCP_INFO (conntrack.TCPInfoReader), from any
// goroutine: the socket's lock keeps the descriptor from being closed
// meanwhile.
func (c *socket) TCPInfo(info *unix.TCPInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	return rawsock.TCPInfo(c.fd, info)
}

// rawConn is a socket's syscall.RawConn while it is not in the netpoller:
// Control only (TCP_INFO, socket options).
type rawConn socket

func (rc *rawConn) Control(fn func(fd uintptr)) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fd < 0 {
		return net.ErrClosed
	}
	fn(uintptr(rc.fd))
	return nil
}

var errNotPolled = errors.New("proxy: socket not in the netpoller")

func (rc *rawConn) Read(func(fd uintptr) bool) error  { return errNotPolled }
func (rc *rawConn) Write(func(fd uintptr) bool) error { return errNotPolled }

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

// isAborted reports whether abortDials ran.
func (d *dialing) isAborted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aborted
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

// resetConn closes c with an RST instead of a FIN.
func resetConn(c *socket) {
	c.SetLinger(0)
	c.Close()
}

// listener is an endpoint interface's listening socket. The relay
// engine's loops accept on it (start) with raw system calls: net.TCPListener
// would add, per connection, a getsockname (the local address is the
// listener's), the conversion of both addresses to net.TCPAddr, and the
// allocations of a netFD, its addresses and a net.TCPConn, which stay with
// every idle connection. The accepted socket gets TCP_NODELAY (inherited
// from the listening socket, as is SO_OOBINLINE) and no keepalives (NLB
// sends none; they would keep idle flows from expiring).
type listener struct {
	fd   int
	addr netip.AddrPort
	ln   *relay.Listener
}

// listenBacklog asks for the most the kernel allows (net.core.somaxconn).
const listenBacklog = 1 << 16

func listen(addr netip.AddrPort) (*listener, error) {
	fd, err := boundSocket(addr)
	if err != nil {
		return nil, bindError(addr, err)
	}
	// Accepted sockets inherit both, at no cost per connection: no Nagle
	// delay, and urgent data in-line (relay/urgent.go).
	rawsock.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	rawsock.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	if err := rawsock.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return nil, bindError(addr, os.NewSyscallError("listen", err))
	}
	return &listener{fd: fd, addr: addr}, nil
}

// start makes the engine's loops accept: accepted runs on the loop that
// accepted, with the client's socket.
func (l *listener) start(e *relay.Engine, accepted func(lp *relay.Loop, c *socket, local, remote netip.AddrPort), failed func(error, time.Duration)) {
	l.ln = e.Listen(l.fd, func(lp *relay.Loop, fd int, remote netip.AddrPort) {
		accepted(lp, newSocket(fd), l.addr, remote)
	}, failed)
}

// Close stops accepting (when it returns, no connection is accepted any
// more) and closes the socket; connections already accepted go on.
func (l *listener) Close() error {
	if l.fd < 0 {
		return net.ErrClosed
	}
	if l.ln != nil {
		l.ln.Close()
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}

func (l *listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }
