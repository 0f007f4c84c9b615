package proxy

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/internal/testnet"
)

// twoSockets is a flow's pair of sockets for conntrack.ConnStats.
type twoSockets struct{ client, target syscall.Conn }

func (s twoSockets) Sockets() (client, target syscall.Conn) { return s.client, s.target }

// Sampling a flow's TCP counters (at its end, for the flow log, and by
// snapshots) allocates nothing: privlink's sockets read their own
// TCP_INFO. Through syscall.RawConn's Control it cost two allocations per
// socket, four per connection.
func TestSampleAllocatesNothing(t *testing.T) {
	c, s := testnet.TCPPair(t, "127.0.45.1")
	sock := func(tc *net.TCPConn) *socket {
		f, err := tc.File() // a descriptor of its own, blocking mode is fine here
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		return newSocket(fd)
	}
	a, b := sock(c), sock(s)
	defer a.Close()
	defer b.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	stats := conntrack.ConnStats{Src: twoSockets{a, b}}
	if smp := stats.Sample(); smp.Client.PktsOut == 0 || smp.Target.PktsIn == 0 {
		t.Fatalf("sample %+v: no packets read", smp)
	}
	if n := testing.AllocsPerRun(100, func() { stats.Sample() }); n != 0 {
		t.Fatalf("a sample allocates %v times, want 0", n)
	}
}
