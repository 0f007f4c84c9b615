package proxy

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/proxy/relay"
)

// The raw listener, accepting on the engine's loops: the accepted socket
// knows both addresses, has TCP_NODELAY and no keepalives; after Close
// nothing is accepted and the address refuses connections; a second
// listener on the address gets the bind error.
func TestListener(t *testing.T) {
	at := netip.MustParseAddrPort(labNet() + ".1.10:8443")
	ln, err := listen(at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listen(at); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second listen: %v, want address already in use", err)
	}
	e, err := relay.New(relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	accepted := make(chan *socket, 4)
	var local, remote netip.AddrPort
	ln.start(e, func(_ *relay.Loop, c *socket, l, r netip.AddrPort) { local, remote = l, r; accepted <- c }, nil)
	from := netip.MustParseAddrPort(labNet() + ".1.99:40123")
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(from), Timeout: 5 * time.Second}
	client, err := d.Dial("tcp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var s *socket
	select {
	case s = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing accepted")
	}
	defer s.Close()
	if local != at || remote != from || addrPort(s.RemoteAddr()) != from || addrPort(s.LocalAddr()) != at {
		t.Fatalf("accepted %s ← %s (the kernel: %s ← %s), want %s ← %s", local, remote, s.LocalAddr(), s.RemoteAddr(), at, from)
	}
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1}, {"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0}} {
		var v int
		var gerr error
		s.control(func(fd int) error { v, gerr = unix.GetsockoptInt(fd, o.level, o.opt); return gerr })
		if gerr != nil || v != o.want {
			t.Errorf("%s = %d (%v), want %d", o.name, v, gerr, o.want)
		}
	}
	client.Write([]byte("hi"))
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8)
	if n, err := s.Read(buf); string(buf[:n]) != "hi" || err != nil {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	ln.Close()
	if _, err := net.DialTimeout("tcp", at.String(), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Close: %v, want connection refused", err)
	}
	if len(accepted) != 0 {
		t.Fatal("accepted after Close")
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}
