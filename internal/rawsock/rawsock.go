// Package rawsock makes the data path's system calls on non-blocking
// sockets and pipes as raw system calls.
//
// A call made through syscall.Syscall tells the scheduler that a system
// call began (entersyscall). If it is still running when sysmon looks
// (every 20 µs while the process is busy), sysmon hands the goroutine's
// processor to another thread: a thread wake-up and two context switches,
// and sysmon itself keeps waking every 20 µs. On loopback a write, a
// connect or a shutdown does the peer's TCP work inline and often lasts
// that long, although none of them can block on a non-blocking socket.
// Made raw, they leave the scheduler alone. Only calls that cannot block
// belong here. (The relay's own writes are raw too, on its loop's locked
// thread; its splice from a pipe into a socket, dir.flush, still goes
// through the scheduler: unix.Splice, as are the rare calls of the urgent
// data path.)
package rawsock

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read is read(2).
func Read(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Splice moves up to n bytes from in to out, one of them a pipe, without
// blocking (SPLICE_F_NONBLOCK: a pipe end must not block either).
func Splice(in, out, n int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// SetsockoptInt is setsockopt(2) of an int option.
func SetsockoptInt(fd, level, opt, v int) error {
	x := int32(v)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&x)), 4, 0)
	return errnoErr(e)
}

// GetsockoptInt is getsockopt(2) of an int option.
func GetsockoptInt(fd, level, opt int) (int, error) {
	var x int32
	l := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&x)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return int(x), nil
}

// TCPInfo reads the socket's TCP_INFO into info (caller-owned: nothing is
// allocated).
func TCPInfo(fd int, info *unix.TCPInfo) error {
	l := uint32(unix.SizeofTCPInfo)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_TCP, unix.TCP_INFO, uintptr(unsafe.Pointer(info)), uintptr(unsafe.Pointer(&l)), 0)
	return errnoErr(e)
}

// Bind is bind(2) to ap.
func Bind(fd int, ap netip.AddrPort) error { return addrCall(unix.SYS_BIND, fd, ap) }

// Connect is connect(2) to ap; on a non-blocking socket it returns
// EINPROGRESS until the handshake is done.
func Connect(fd int, ap netip.AddrPort) error { return addrCall(unix.SYS_CONNECT, fd, ap) }

// addrCall makes a system call that takes a socket and an address.
func addrCall(trap uintptr, fd int, ap netip.AddrPort) error {
	var sa unix.RawSockaddrInet6
	p, l := sockaddr(ap, &sa)
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(p), uintptr(l))
	return errnoErr(e)
}

// errnoErr is nil for 0 and the Errno otherwise (a nil error, not a
// typed zero).
func errnoErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// Connected reports whether the socket has a peer (getpeername(2)
// succeeds): a connect in progress has none.
func Connected(fd int) bool {
	var sa unix.RawSockaddrInet6
	l := uint32(unix.SizeofSockaddrInet6)
	_, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&l)))
	return e == 0
}

// Shutdown is shutdown(2).
func Shutdown(fd, how int) error {
	_, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0)
	return errnoErr(e)
}

// EpollPoll returns the ready events of an epoll set without waiting
// (epoll_wait(2) with a zero timeout).
func EpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sockaddr writes ap as a sockaddr_in or sockaddr_in6 into sa.
func sockaddr(ap netip.AddrPort, sa *unix.RawSockaddrInet6) (unsafe.Pointer, uint32) {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port())
	if ap.Addr().Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = ap.Addr().As4()
		return unsafe.Pointer(sa4), unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Addr = ap.Addr().As16()
	return unsafe.Pointer(sa), unix.SizeofSockaddrInet6
}

// Listen is listen(2). The kernel caps backlog at net.core.somaxconn.
func Listen(fd, backlog int) error {
	_, _, e := unix.RawSyscall(unix.SYS_LISTEN, uintptr(fd), uintptr(backlog), 0)
	return errnoErr(e)
}

// Accept is accept4(2), the new socket non-blocking and close-on-exec,
// with the peer's address decoded without allocating (IPv4-mapped IPv6
// addresses unmapped).
func Accept(fd int) (int, netip.AddrPort, error) {
	var sa unix.RawSockaddrInet6
	l := uint32(unix.SizeofSockaddrInet6)
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p := uint16(port[0])<<8 | uint16(port[1])
	var addr netip.Addr
	switch sa.Family {
	case unix.AF_INET:
		addr = netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(&sa)).Addr)
	case unix.AF_INET6:
		addr = netip.AddrFrom16(sa.Addr).Unmap()
	}
	return int(r), netip.AddrPortFrom(addr, p), nil
}
