package conntrack

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// dialFrom connects from node:port to target, as the proxy's SNAT dial does.
func dialFrom(node netip.Addr, port uint16, target netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(node, port)), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// With a budget of 5, five connections from the node hold five ports the
// target sees; the 6th finds none until a port's reuse delay has passed.
func TestPortBudgetOverRealSockets(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.47.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	node := netip.MustParseAddr("127.0.47.5")
	clk := newFakeClock()
	ps := NewPorts(clk.Now)
	pool, err := ps.Pool(node, target, 5, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*net.TCPConn
	var ports []uint16
	for i := 0; i < 5; i++ {
		port, ok := pool.Allocate()
		if !ok {
			t.Fatalf("allocation %d failed", i)
		}
		c, err := dialFrom(node, port, target)
		for errors.Is(err, syscall.EADDRINUSE) { // a port some other socket holds
			pool.Skip(port)
			if port, ok = pool.Allocate(); !ok {
				t.Fatal("pool exhausted by skips")
			}
			c, err = dialFrom(node, port, target)
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		if got := s.RemoteAddr().(*net.TCPAddr).AddrPort(); got != netip.AddrPortFrom(node, port) {
			t.Fatalf("target sees %s, want %s:%d", got, node, port)
		}
		s.Close()
		conns, ports = append(conns, c), append(ports, port)
	}
	if _, ok := pool.Allocate(); ok {
		t.Fatal("6th connection got a port with budget 5")
	}
	conns[0].Close()
	pool.Release(ports[0])
	if _, ok := pool.Allocate(); ok {
		t.Fatal("port reused within the reuse delay")
	}
	clk.Advance(100 * time.Millisecond)
	if _, ok := pool.Allocate(); !ok {
		t.Fatal("no port after the reuse delay")
	}
	for _, c := range conns[1:] {
		c.Close()
	}
}

// The table's counters, read through ConnStats from TCP_INFO, match what
// was sent each way.
func TestConnStatsMatchTraffic(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.47.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	proxySide, err := ln.AcceptTCP() // privlink's client socket
	if err != nil {
		t.Fatal(err)
	}
	defer proxySide.Close()
	tb := NewTable(TableOptions{})
	stats := ConnStats{Src: socketPair{client: proxySide}}
	e := testEntry(1)
	e.Stats = &stats
	tb.Insert(e)
	go client.Write(make([]byte, 70_000))
	io.ReadFull(proxySide, make([]byte, 70_000))
	proxySide.Write(make([]byte, 1234))
	io.ReadFull(client, make([]byte, 1234))
	var v View
	waitUntil(t, func() bool {
		v = tb.Snapshot(Filter{}, nil)[0]
		return v.ClientSide.BytesOut == 1234
	})
	if v.ClientSide.BytesIn != 70_000 || v.ClientSide.PktsIn < 2 || v.ClientSide.PktsOut < 2 {
		t.Fatalf("counters %+v", v.ClientSide)
	}
	proxySide.Close()
	if s := stats.Sample(); s.Client != v.ClientSide {
		t.Fatalf("after close: %+v, want the last values %+v", s.Client, v.ClientSide)
	}
	tb.Remove(e)
}

// socketPair is Sockets over two given sockets.
type socketPair struct{ client, target syscall.Conn }

func (p socketPair) Sockets() (client, target syscall.Conn) { return p.client, p.target }

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
	}
}
