package proxy

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The raw listener: the accepted socket knows both addresses, has
// TCP_NODELAY and no keepalives, and Close ends a waiting Accept with
// net.ErrClosed; a second listener on the address gets the bind error.
func TestListener(t *testing.T) {
	at := netip.MustParseAddrPort(labNet() + ".1.10:8443")
	ln, err := listen(at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listen(at); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second listen: %v, want address already in use", err)
	}
	from := netip.MustParseAddrPort(labNet() + ".1.99:40123")
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(from), Timeout: 5 * time.Second}
	client, err := d.Dial("tcp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s := c.(*socket)
	defer s.Close()
	if s.local != at || s.remote != from || addrPort(s.RemoteAddr()) != from || addrPort(s.LocalAddr()) != at {
		t.Fatalf("accepted %s ← %s, want %s ← %s", s.local, s.remote, at, from)
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

	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Accept")
	}
}
