package rawsock

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dial connects a raw non-blocking socket from `from` to a listener at
// ln, returning the socket and the accepted peer.
func dial(t *testing.T, from netip.AddrPort, ln *net.TCPListener) (int, *net.TCPConn) {
	t.Helper()
	family := unix.AF_INET
	if from.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if v, err := GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); err != nil || v != 1 {
		t.Fatalf("SO_REUSEADDR = %d, %v", v, err)
	}
	if err := Bind(fd, from); err != nil {
		t.Fatal(err)
	}
	if Connected(fd) {
		t.Fatal("an unconnected socket has a peer")
	}
	to := ln.Addr().(*net.TCPAddr).AddrPort()
	if err := Connect(fd, to); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		t.Fatal(err)
	}
	peer, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for !Connected(fd) {
		if time.Now().After(deadline) {
			t.Fatal("not connected after 5s")
		}
		time.Sleep(time.Millisecond)
	}
	if v, err := GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || v != 0 {
		t.Fatalf("SO_ERROR = %d, %v", v, err)
	}
	if got := peer.RemoteAddr().(*net.TCPAddr).AddrPort(); got != from {
		t.Fatalf("the peer sees %s, want the bound %s", got, from)
	}
	return fd, peer
}

func TestSocketCalls(t *testing.T) {
	for _, c := range []struct{ listen, from string }{
		{"127.0.0.1:0", "127.91.0.7:47001"},
		{"[::1]:0", "[::1]:47002"},
	} {
		t.Run(c.from, func(t *testing.T) {
			ln, err := net.Listen("tcp", c.listen)
			if err != nil {
				t.Skip(err) // no IPv6 loopback here
			}
			defer ln.Close()
			fd, peer := dial(t, netip.MustParseAddrPort(c.from), ln.(*net.TCPListener))
			peer.SetDeadline(time.Now().Add(5 * time.Second))

			if n, err := unix.Write(fd, []byte("ping")); n != 4 || err != nil {
				t.Fatalf("write %d, %v", n, err)
			}
			buf := make([]byte, 8)
			if n, err := peer.Read(buf); string(buf[:n]) != "ping" || err != nil {
				t.Fatalf("peer read %q, %v", buf[:n], err)
			}
			if _, err := Read(fd, buf); !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("read of an empty socket: %v, want EAGAIN", err)
			}
			peer.Write([]byte("pong"))
			var info unix.TCPInfo
			for n := 0; n == 0; {
				if n, err = Read(fd, buf); err != nil && !errors.Is(err, unix.EAGAIN) {
					t.Fatal(err)
				}
				if n > 0 && string(buf[:n]) != "pong" {
					t.Fatalf("read %q", buf[:n])
				}
			}
			if err := TCPInfo(fd, &info); err != nil || info.Segs_in == 0 || info.Bytes_acked < 4 {
				t.Fatalf("TCP_INFO %+v, %v", info, err)
			}

			// Splice: socket → pipe.
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			peer.Write([]byte("spliced"))
			var n int
			for deadline := time.Now().Add(5 * time.Second); n == 0 && time.Now().Before(deadline); {
				if n, err = Splice(fd, p[1], 1<<16); err != nil && !errors.Is(err, unix.EAGAIN) {
					t.Fatal(err)
				}
			}
			if got, _ := unix.Read(p[0], buf); string(buf[:got]) != "spliced" || n != 7 {
				t.Fatalf("spliced %d bytes, pipe holds %q", n, buf[:got])
			}

			if err := Shutdown(fd, unix.SHUT_WR); err != nil {
				t.Fatal(err)
			}
			if n, err := peer.Read(buf); n != 0 || err == nil {
				t.Fatalf("after shutdown the peer read %d, %v; want EOF", n, err)
			}
		})
	}
}

func TestErrorsAreErrnos(t *testing.T) {
	if _, err := Read(-1, make([]byte, 1)); !errors.Is(err, unix.EBADF) {
		t.Fatalf("read(-1): %v", err)
	}
	if err := Bind(-1, netip.MustParseAddrPort("127.0.0.1:1")); !errors.Is(err, unix.EBADF) {
		t.Fatalf("bind(-1): %v", err)
	}
	if n, err := Read(-1, nil); n != 0 || err != nil {
		t.Fatalf("an empty read makes no call: %d, %v", n, err)
	}
}

func TestEpollPoll(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	if n, err := EpollPoll(epfd, events); n != 0 || err != nil {
		t.Fatalf("nothing ready: %d, %v", n, err)
	}
	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	if n, err := EpollPoll(epfd, events); n != 1 || err != nil || events[0].Fd != int32(efd) {
		t.Fatalf("after a write: %d events, %v", n, err)
	}
}

func TestListenAccept(t *testing.T) {
	for _, c := range []struct{ listen, from string }{
		{"127.91.0.9:47003", "127.91.0.10:47004"},
		{"[::1]:47005", "[::1]:47006"},
	} {
		t.Run(c.listen, func(t *testing.T) {
			at := netip.MustParseAddrPort(c.listen)
			family := unix.AF_INET
			if at.Addr().Is6() {
				family = unix.AF_INET6
			}
			fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := Bind(fd, at); err != nil {
				t.Skip(err) // no IPv6 loopback here
			}
			if err := Listen(fd, 16); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Accept(fd); !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("accept with nothing pending: %v, want EAGAIN", err)
			}
			from := netip.MustParseAddrPort(c.from)
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(from)}
			conn, err := d.Dial("tcp", at.String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			nfd, peer, err := Accept(fd)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(nfd)
			if peer != from {
				t.Fatalf("accepted a peer at %s, want %s", peer, from)
			}
			if fl, _ := unix.FcntlInt(uintptr(nfd), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
				t.Fatal("the accepted socket blocks")
			}
		})
	}
}
