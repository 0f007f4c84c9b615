package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// dial connects to the target from the node's IP and allocated port, so
// the target's socket sees node:port as its peer (SNAT). It uses the
// system calls directly: net.Dialer would add what a connection whose
// addresses are known needs none of (address parsing, a context and a
// timer, getsockname and getpeername) — a third of the dial's cost. A
// forced shutdown aborts dials in progress through their sockets
// (abortDials). Flows and health checks both dial through it.
func (s *Server) dial(from, target netip.AddrPort, timeout time.Duration) (*socket, error) {
	if from.Addr().Is4() != target.Addr().Is4() {
		return nil, fmt.Errorf("dial %s from %s: the node and the target are of different IP families", target, from)
	}
	opError := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Source: net.TCPAddrFromAddrPort(from), Addr: net.TCPAddrFromAddrPort(target), Err: err}
	}
	fd, err := boundSocket(from)
	if err != nil {
		return nil, opError(err)
	}
	if !s.dials.add(fd) {
		unix.Close(fd)
		return nil, ErrServerClosed
	}
	defer s.dials.remove(fd)
	// Registered with the netpoller before the connect (the fd is
	// non-blocking), so the connect's completion is never missed.
	f := os.NewFile(uintptr(fd), "tcp")
	if err := rawsock.Connect(fd, target); err != nil {
		if err == unix.EINPROGRESS {
			err = waitConnected(f, timeout)
		} else {
			err = os.NewSyscallError("connect", err)
		}
		if err != nil {
			f.Close()
			return nil, opError(err)
		}
	}
	rawsock.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return &socket{f: f, local: from, remote: target}, nil
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
// listener accepted from a client, or one it dialled to a target. It has
// the controls the relay needs (relay.Conn) and is a net.Conn for the rest
// of the pipeline (a denied client held silent, a PROXY header written).
type socket struct {
	f             *os.File
	local, remote netip.AddrPort
}

func newSocket(fd int, local, remote netip.AddrPort) *socket {
	return &socket{f: os.NewFile(uintptr(fd), "tcp"), local: local, remote: remote}
}

func (c *socket) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }
func (c *socket) Read(b []byte) (int, error)            { return c.f.Read(b) }
func (c *socket) Write(b []byte) (int, error)           { return c.f.Write(b) }
func (c *socket) Close() error                          { return c.f.Close() }
func (c *socket) SetDeadline(t time.Time) error         { return c.f.SetDeadline(t) }
func (c *socket) SetReadDeadline(t time.Time) error     { return c.f.SetReadDeadline(t) }
func (c *socket) SetWriteDeadline(t time.Time) error    { return c.f.SetWriteDeadline(t) }
func (c *socket) LocalAddr() net.Addr                   { return net.TCPAddrFromAddrPort(c.local) }
func (c *socket) RemoteAddr() net.Addr                  { return net.TCPAddrFromAddrPort(c.remote) }

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

func (c *socket) control(fn func(fd int) error) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
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

// resetConn closes c with an RST instead of a FIN.
func resetConn(c *socket) {
	c.SetLinger(0)
	c.Close()
}

// listener accepts clients on an endpoint interface with raw system calls:
// net.TCPListener would add, per connection, a getsockname (the local
// address is the listener's), the conversion of both addresses to
// net.TCPAddr, and the allocations of a netFD, its addresses and a
// net.TCPConn, which stay with every idle connection. The accepted socket
// gets TCP_NODELAY and no keepalives (NLB sends none; they would keep idle
// flows from expiring).
type listener struct {
	f      *os.File
	rc     syscall.RawConn
	addr   netip.AddrPort
	closed atomic.Bool

	// One Accept at a time: its state and callback are made once, not per
	// connection.
	mu     sync.Mutex
	fd     int
	remote netip.AddrPort
	aerr   error
	accept func(fd uintptr) bool
}

// listenBacklog asks for the most the kernel allows (net.core.somaxconn).
const listenBacklog = 1 << 16

func listen(addr netip.AddrPort) (*listener, error) {
	fd, err := boundSocket(addr)
	if err != nil {
		return nil, bindError(addr, err)
	}
	if err := rawsock.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return nil, bindError(addr, os.NewSyscallError("listen", err))
	}
	f := os.NewFile(uintptr(fd), "tcp-listener")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, bindError(addr, err)
	}
	l := &listener{f: f, rc: rc, addr: addr}
	l.accept = l.acceptOnce
	return l, nil
}

// acceptOnce accepts a pending connection; like net, it skips those the
// client aborted before they were accepted (ECONNABORTED).
func (l *listener) acceptOnce(lfd uintptr) bool {
	for {
		l.fd, l.remote, l.aerr = rawsock.Accept(int(lfd))
		if l.aerr != unix.EINTR && l.aerr != unix.ECONNABORTED {
			return l.aerr != unix.EAGAIN
		}
	}
}

// Accept waits for the next client (net.Listener). After Close it returns
// net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.rc.Read(l.accept)
	switch {
	case err != nil:
		if l.closed.Load() { // os reports "use of closed file"
			err = net.ErrClosed
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
	case l.aerr != nil:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", l.aerr)}
	}
	rawsock.SetsockoptInt(l.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return newSocket(l.fd, l.addr, l.remote), nil
}

func (l *listener) Close() error {
	l.closed.Store(true)
	return l.f.Close()
}

func (l *listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }
