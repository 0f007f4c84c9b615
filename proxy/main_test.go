package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/privlink/privlink/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// net16 hands every test its own 127.N.0.0/16, so tests never share an address.
var net16 atomic.Int32

// labNets are the second octets of the package's lab networks: 101–254
// and the ones below that no other package's tests use (they run at the
// same time) and no other test of this package names. One run of the
// package takes about 185: each test gets a network no earlier test had,
// whose TIME_WAIT sockets and draining servers cannot be in the way.
var labNets = func() []int {
	var ns []int
	for n := 101; n <= 254; n++ {
		ns = append(ns, n)
	}
	for _, r := range [][2]int{{32, 39}, {46, 52}, {56, 59}, {65, 65}, {67, 71}, {73, 76}, {81, 86}, {88, 90}, {92, 92}, {96, 96}, {100, 100}} {
		for n := r[0]; n <= r[1]; n++ {
			ns = append(ns, n)
		}
	}
	return ns
}()

// labNet returns the next "127.N" for a test; -count=N runs wrap around to
// networks whose tests finished the longest ago.
func labNet() string { return fmt.Sprintf("127.%d", labNets[int(net16.Add(1)-1)%len(labNets)]) }

// lab is a two-AZ topology on a private 127.N range:
//
//	clients  P.1.0/24 (az1)  P.2.0/24 (az2)   endpoint interfaces P.1.10, P.2.10 :8443
//	nodes    P.10.5 (az1)    P.11.5 (az2)
//	targets  P.10.20:9443 (az1)  P.11.20:9443 (az2)   — served by the test
type lab struct {
	t    *testing.T
	p    string // "127.N"
	srv  *Server
	reg  *prometheus.Registry
	cfg  *config.Config
	yaml string
}

const labYAML = `
admin: {listen: "off"}
dns: {listen: "off"}
subnets:
  - {id: subnet-c1, az: use1-az1, cidr: P.1.0/24}
  - {id: subnet-c2, az: use1-az2, cidr: P.2.0/24}
  - {id: subnet-p1, az: use1-az1, cidr: P.10.0/24}
  - {id: subnet-p2, az: use1-az2, cidr: P.11.0/24}
security_groups:
  - {id: sg-endpoint, ingress: [{protocol: tcp, ports: 8440-8450, cidr: 127.0.0.0/8}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-p1, ip: P.10.5}, {subnet: subnet-p2, ip: P.11.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        proxy_protocol_v2: PPV2
        proxy_protocol_v2_placement: PLACEMENT
        health_check: {enabled: false}
        targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: P.1.10}, {subnet: subnet-c2, ip: P.2.10}]
`

const endpointID = "vpce-0c1308d7312217abc"

// newLab parses the lab topology; edits are applied as old→new replacements.
func newLab(t *testing.T, ppv2 bool, placement config.Placement, edits ...string) *lab {
	t.Helper()
	p := labNet()
	y := strings.NewReplacer("P.", p+".", "PPV2", fmt.Sprint(ppv2), "PLACEMENT", string(placement)).Replace(labYAML)
	for i := 0; i+1 < len(edits); i += 2 {
		y = strings.Replace(y, strings.ReplaceAll(edits[i], "P.", p+"."), strings.ReplaceAll(edits[i+1], "P.", p+"."), 1)
	}
	cfg, err := config.Parse(t.Name()+".yaml", []byte(y))
	if err != nil {
		t.Fatalf("lab config: %v\n%s", err, y)
	}
	return &lab{t: t, p: p, cfg: cfg, yaml: y}
}

// start runs privlink on the lab topology.
func (l *lab) start() *lab {
	l.t.Helper()
	l.reg = prometheus.NewRegistry()
	srv, err := Start(l.cfg, Options{Registry: l.reg, DialTimeout: 2 * time.Second})
	if err != nil {
		l.t.Fatal(err)
	}
	l.srv = srv
	l.t.Cleanup(func() { srv.Close() })
	return l
}

func (l *lab) addr(s string) netip.Addr { return netip.MustParseAddr(l.p + "." + s) }

// dial connects as a client with the given host part (e.g. "1.50") to the
// endpoint interface of az ("1.10" or "2.10").
func (l *lab) dial(client, iface string) *net.TCPConn {
	l.t.Helper()
	c, err := l.tryDial(client, iface)
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

func (l *lab) tryDial(client, iface string) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr(client), 0)), Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", netip.AddrPortFrom(l.addr(iface), 8443).String())
	if err != nil {
		return nil, err
	}
	l.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn), nil
}

// resetSeen reports whether the client saw an RST, during its connect (the
// RST can beat the handshake's completion in the client) or on a read.
func resetSeen(c *net.TCPConn, dialErr error) error {
	if dialErr != nil {
		if isConnReset(dialErr) {
			return nil
		}
		return dialErr
	}
	if _, err := c.Read(make([]byte, 1)); !isConnReset(err) {
		return fmt.Errorf("read: %v, want connection reset", err)
	}
	return nil
}

// target listens on a target address ("10.20" or "11.20") and hands every
// accepted connection to handle; the returned func stops listening.
func (l *lab) target(host string, handle func(*net.TCPConn)) (stop func()) {
	l.t.Helper()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr(host), 9443)))
	if err != nil {
		l.t.Fatal(err)
	}
	done := make(chan struct{})
	stop = func() { ln.Close(); <-done }
	l.t.Cleanup(stop)
	go func() {
		defer close(done)
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			handle(c) // handlers are short and run inline, so Cleanup waits for them
			c.Close()
		}
	}()
	return stop
}

func (l *lab) metric(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func (l *lab) svcMetrics() serviceMetrics { return l.srv.m.forService("vpce-svc-03d5ebb7d9579a2b3") }

// readHeader parses the PROXY header at the start of c.
func readHeader(t *testing.T, c io.Reader) (*proxyproto.Header, *bufio.Reader) {
	t.Helper()
	br := bufio.NewReader(c)
	h, err := proxyproto.Read(br)
	if err != nil {
		t.Errorf("target: reading PROXY header: %v", err)
		return nil, br
	}
	return h, br
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("read: %v", err)
	}
	return string(b)
}

// addrPort converts a net.Addr of a test's socket.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
