package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/config"
)

// spreadConns is how many connections TestFlowHashSpreadsOneHost makes per
// target count. The pick of a well-mixed hash is as good as random, so each
// target's share is binomial: 200 connections over 4 targets land outside
// ±25% of even about once in seven runs, 1,000 about once in 20,000.
const spreadConns = 1000

// One client host's connections, from ports the kernel chooses at
// connect() (even ports on Linux), spread over 2, 3 and 4 targets, each
// within ±25% of an even share (a hash whose low bits follow the
// port sends one host to one target).
func TestFlowHashSpreadsOneHost(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 3,000 connections")
	}
	for _, n := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("%d targets", n), func(t *testing.T) {
			var hosts []string
			for i := range n {
				hosts = append(hosts, fmt.Sprintf("{ip: P.10.%d, subnet: subnet-p1}", 20+i))
			}
			l := newLab(t, false, config.PlacementFirstData,
				"health_check: {enabled: false}", "health_check: {enabled: false}\n        port_reuse_delay: 1s",
				"targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]",
				"targets: ["+strings.Join(hosts, ", ")+"]")
			var ets []*echoTarget
			for i := range n {
				ets = append(ets, l.echoTarget(fmt.Sprintf("10.%d", 20+i), false))
			}
			l.start()
			d := oneHostDialer(l.addr("1.50"))
			to := netip.AddrPortFrom(l.addr("1.10"), 8443).String()
			for i := range spreadConns {
				c, err := d.Dial("tcp", to)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				err = echo(t, c.(*net.TCPConn), "x")
				c.Close()
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
			}
			even := float64(spreadConns) / float64(n)
			var counts []int64
			for _, et := range ets {
				counts = append(counts, et.flows.Load())
			}
			for i, c := range counts {
				if f := float64(c); f < 0.75*even || f > 1.25*even {
					t.Errorf("target %d got %d of %d connections (even: %.0f ±25%%); all: %v", i, c, spreadConns, even, counts)
				}
			}
		})
	}
}

// oneHostDialer dials from ip with the source port chosen at connect(), as
// an unbound client's would be (IP_BIND_ADDRESS_NO_PORT).
func oneHostDialer(ip netip.Addr) *net.Dialer {
	return &net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)),
		Timeout:   5 * time.Second,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			}); err != nil {
				return err
			}
			return serr
		},
	}
}

func BenchmarkFlowHash(b *testing.B) {
	client := netip.MustParseAddrPort("127.0.1.50:43098")
	iface := netip.MustParseAddrPort("127.0.1.10:8443")
	b.ReportAllocs()
	var sum uint64
	for i := range b.N {
		sum += flowHash(netip.AddrPortFrom(client.Addr(), uint16(i)), iface)
	}
	hashSink = sum
}

var hashSink uint64

// The pick's hash allocates nothing (it runs for every new flow).
func TestFlowHashAllocatesNothing(t *testing.T) {
	client := netip.MustParseAddrPort("127.0.1.50:43098")
	iface := netip.MustParseAddrPort("[::1]:8443")
	if n := testing.AllocsPerRun(100, func() { hashSink += flowHash(client, iface) }); n != 0 {
		t.Fatalf("flowHash allocates %v times", n)
	}
}
