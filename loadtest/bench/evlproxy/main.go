// Command evlproxy is a measurement reference, not part of privlink: a TCP
// proxy built as an event loop in Go. Each loop is one goroutine locked to
// its thread with its own epoll set and its own SO_REUSEPORT listener. It
// accepts, connects and relays with read/write through raw system calls,
// and Go's netpoller and scheduler are not involved per connection. It has
// no features (no PROXY header, rules, table, port pool, metrics or flow
// logs) and handles errors only as far as the bench needs: a reset or a
// failed connect closes both sides, and an accept that fails waits for the
// next connection. It shows what privlink's data path could reach with the
// event-loop design docs/performance.md names as the next step.
//
//	evlproxy LISTEN TARGET LOOPS
package main

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

type conn struct {
	fd        int
	peer      *conn
	pend      []byte
	rdEOF     bool
	wrShut    bool
	connected bool
	closed    bool
}

type loop struct {
	ep    int
	lfd   int
	conns map[int]*conn
	buf   []byte
	tgt   netip.AddrPort
}

func sockaddr(ap netip.AddrPort) (unsafe.Pointer, uint32, *unix.RawSockaddrInet4) {
	sa := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().As4()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	return unsafe.Pointer(sa), unix.SizeofSockaddrInet4, sa
}

func listen(ap netip.AddrPort) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		panic(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		panic(err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		panic(err)
	}
	return fd
}

func (l *loop) add(fd int) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (l *loop) closePair(c *conn) {
	for _, x := range []*conn{c, c.peer} {
		if x != nil && !x.closed {
			x.closed = true
			delete(l.conns, x.fd)
			unix.Close(x.fd)
		}
	}
}

func (l *loop) accept() {
	for {
		nfd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(l.lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e != 0 {
			return
		}
		cfd := int(nfd)
		unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		tfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			unix.Close(cfd)
			continue
		}
		unix.SetsockoptInt(tfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &conn{fd: cfd, connected: true}
		t := &conn{fd: tfd}
		c.peer, t.peer = t, c
		l.conns[cfd], l.conns[tfd] = c, t
		l.add(cfd)
		l.add(tfd)
		p, n, sa := sockaddr(l.tgt)
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(tfd), uintptr(p), uintptr(n))
		runtime.KeepAlive(sa)
		if e != 0 && e != unix.EINPROGRESS {
			l.closePair(c)
		}
	}
}

func (l *loop) flush(x *conn) bool {
	for len(x.pend) > 0 {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(x.fd), uintptr(unsafe.Pointer(&x.pend[0])), uintptr(len(x.pend)))
		if e == unix.EAGAIN {
			return true
		}
		if e != 0 {
			l.closePair(x)
			return false
		}
		x.pend = x.pend[n:]
	}
	x.pend = nil
	if x.peer.rdEOF && !x.wrShut {
		x.wrShut = true
		unix.Shutdown(x.fd, unix.SHUT_WR)
	}
	return true
}

func (l *loop) event(ev unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.lfd {
		l.accept()
		return
	}
	x := l.conns[fd]
	if x == nil || x.closed {
		return
	}
	p := x.peer
	if ev.Events&unix.EPOLLOUT != 0 {
		if !x.connected {
			v, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if v != 0 {
				l.closePair(x)
				return
			}
			x.connected = true
		}
		if !l.flush(x) {
			return
		}
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !x.rdEOF {
		for {
			n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&l.buf[0])), uintptr(len(l.buf)))
			if e == unix.EAGAIN {
				break
			}
			if e != 0 {
				l.closePair(x)
				return
			}
			if n == 0 {
				x.rdEOF = true
				if p.connected && len(p.pend) == 0 && !p.wrShut {
					p.wrShut = true
					unix.Shutdown(p.fd, unix.SHUT_WR)
				}
				break
			}
			p.pend = append(p.pend, l.buf[:n]...)
			if p.connected && !l.flush(p) {
				return
			}
		}
	}
	if x.rdEOF && p.rdEOF && len(x.pend) == 0 && len(p.pend) == 0 {
		l.closePair(x)
	}
}

func (l *loop) run() {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 256)
	for {
		n, _, e := syscall.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), uintptr(unsafe.Pointer(&events[0])), 256, ^uintptr(0), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			panic(e)
		}
		for _, ev := range events[:n] {
			l.event(ev)
		}
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: evlproxy LISTEN TARGET LOOPS")
		os.Exit(2)
	}
	la := netip.MustParseAddrPort(os.Args[1])
	ta := netip.MustParseAddrPort(os.Args[2])
	nl, err := strconv.Atoi(os.Args[3])
	if err != nil || nl < 1 {
		fmt.Fprintln(os.Stderr, "evlproxy: LOOPS must be a positive number")
		os.Exit(2)
	}
	for i := 0; i < nl; i++ {
		ep, _ := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		l := &loop{ep: ep, lfd: listen(la), conns: map[int]*conn{}, buf: make([]byte, 16<<10), tgt: ta}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.lfd)}
		unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.lfd, &ev)
		go l.run()
	}
	fmt.Println("evlproxy ready")
	select {}
}
