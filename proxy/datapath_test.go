package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// sendUrgent writes bulk bytes, "abc", an urgent "X" (MSG_OOB), "def" and
// a FIN.
func sendUrgent(c *net.TCPConn, bulk int) error {
	c.Write(bytes.Repeat([]byte("b"), bulk))
	c.Write([]byte("abc"))
	rc, _ := c.SyscallConn()
	var serr error
	rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), []byte("X"), nil, nil, unix.MSG_OOB)
		return serr != unix.EAGAIN
	})
	c.Write([]byte("def"))
	if err := c.CloseWrite(); err != nil {
		return err
	}
	return serr
}

// oobInline makes urgent bytes arrive in-line on c.
func oobInline(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1) })
	return errors.Join(err, serr)
}

// TestUrgentDataThroughPrivlink: the receiver reads what it reads on a
// direct connection (with SO_OOBINLINE): the urgent byte in-line and in
// order, and everything up to the sender's FIN, both ways, on a spliced
// direction (after a megabyte) and on the plain path (read/write through
// the loop's buffer, under 16 KiB).
func TestUrgentDataThroughPrivlink(t *testing.T) {
	for _, tc := range []struct {
		name       string
		bulk       int
		fromTarget bool
	}{
		{"client to target spliced", 1 << 20, false},
		{"client to target plain", 0, false},
		{"target to client spliced", 1 << 20, true},
		{"target to client plain", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData)
			lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1) })
			}}
			lc.SetMultipathTCP(false) // MPTCP sockets have no urgent data
			ln, err := lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(l.addr("10.20"), 9443).String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			l.start()
			direct := urgentRead(t, ln, tc.bulk, tc.fromTarget, func() *net.TCPConn {
				d := net.Dialer{Timeout: 2 * time.Second}
				nc, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				return nc.(*net.TCPConn)
			})
			if !bytes.HasSuffix(direct, []byte("abcXdef")) {
				t.Fatalf("direct: ends %q", tail(direct))
			}
			got := urgentRead(t, ln, tc.bulk, tc.fromTarget, func() *net.TCPConn { return l.dial("1.50", "1.10") })
			if !bytes.Equal(direct, got) {
				t.Fatalf("through privlink the receiver read %d bytes ending %q; directly %d ending %q", len(got), tail(got), len(direct), tail(direct))
			}
		})
	}
}

// urgentRead connects a client with dial to the target listening on ln,
// sends urgent data one way (sendUrgent) and returns what the other end
// read up to the FIN.
func urgentRead(t *testing.T, ln net.Listener, bulk int, fromTarget bool, dial func() *net.TCPConn) []byte {
	t.Helper()
	c := dial()
	defer c.Close()
	if err := oobInline(c); err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc := nc.(*net.TCPConn)
	defer sc.Close()
	from, to := c, sc
	if fromTarget {
		from, to = sc, c
	}
	sent := make(chan error, 1)
	go func() { sent <- sendUrgent(from, bulk) }()
	to.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(to)
	if serr := <-sent; err != nil || serr != nil {
		t.Fatalf("read %d bytes: %v (sender: %v)", len(got), err, serr)
	}
	return got
}

func tail(b []byte) []byte { return b[max(0, len(b)-10):] }

// TestReloadKeepsFlowsOfRemovedBuiltin: a reload that removes a built-in
// target drains it like any removed target: its live connections go on.
// They used to be closed at once.
func TestReloadKeepsFlowsOfRemovedBuiltin(t *testing.T) {
	one := "targets: [{ip: P.10.20, subnet: subnet-p1, builtin: echo}]"
	l := newLab(t, false, config.PlacementFirstData,
		"targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]", one).start()
	var conns []*net.TCPConn
	for i := range 12 {
		c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err := echo(t, c, "before"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	other := strings.ReplaceAll(strings.Replace(l.yaml, strings.ReplaceAll(one, "P.", l.p+"."), "targets: [{ip: P.10.21, subnet: subnet-p1, builtin: echo}]", 1), "P.", l.p+".")
	cfg, err := config.Parse("removed.yaml", []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if st := l.targetState(netip.AddrPortFrom(l.addr("10.20"), 9443)).State; st != StateDraining {
		t.Fatalf("removed built-in target is %s, want draining", st)
	}
	for round := range 3 {
		for i, c := range conns {
			if err := echo(t, c, fmt.Sprintf("after %d", round)); err != nil {
				t.Fatalf("connection %d to the removed built-in target, round %d: %v", i, round, err)
			}
		}
	}
	if err := echo(t, l.dial("1.99", "1.10"), "new"); err != nil {
		t.Fatalf("new connection to the added built-in target: %v", err)
	}
}

// TestRemovedBuiltinAnswersThroughItsDrain: a built-in target a reload
// removes goes on accepting for its drain (at least the dial timeout), as
// a deregistered real server goes on running: a flow that chose it just
// before the reload still reaches it. It used to stop accepting at once,
// and such a flow's client got a reset (TestSoak's rare "broken pipe").
// Added back within the drain, the same server serves on; after the
// drain it stops accepting.
func TestRemovedBuiltinAnswersThroughItsDrain(t *testing.T) {
	one := "deregistration_delay: 1s\n        targets: [{ip: P.10.20, subnet: subnet-p1, builtin: echo}]"
	l := newLab(t, false, config.PlacementFirstData,
		"targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]", one).start()
	parse := func(name, targets string) *config.Config {
		y := strings.Replace(l.yaml, strings.ReplaceAll(one, "P.", l.p+"."), strings.ReplaceAll(targets, "P.", l.p+"."), 1)
		cfg, err := config.Parse(name, []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	removed, again := parse("removed.yaml", strings.Replace(one, "P.10.20", "P.10.21", 1)), parse("again.yaml", one)
	old := l.dial("1.50", "1.10")
	if err := echo(t, old, "before"); err != nil {
		t.Fatal(err)
	}
	direct := func() error {
		c, err := net.DialTimeout("tcp", l.p+".10.20:9443", time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := l.srv.Reload(removed); err != nil {
		t.Fatal(err)
	}
	if err := direct(); err != nil {
		t.Fatalf("the removed built-in target refuses at once: %v", err)
	}
	if err := l.srv.Reload(again); err != nil {
		t.Fatalf("adding it back within its drain: %v", err)
	}
	if err := echo(t, l.dial("1.51", "1.10"), "new"); err != nil {
		t.Fatalf("new connection to the target added back: %v", err)
	}
	if err := echo(t, old, "after"); err != nil {
		t.Fatalf("connection from before: %v", err)
	}
	if err := l.srv.Reload(removed); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for direct() == nil {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the removed built-in target still accepts 10s after a 2s drain")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("the removed built-in target stopped accepting after %v, before its drain ended", d)
	}
	if err := echo(t, old, "after the drain"); err != nil {
		t.Fatalf("connection from before, after the drain: %v", err)
	}
}

// TestProviderRulesCheckedOnEveryPortTry: when the kernel refuses a source
// port and the next one is tried, the provider-side rules decide for that
// port too. The retry used to dial from a port no NACL had checked.
func TestProviderRulesCheckedOnEveryPortTry(t *testing.T) {
	const seed = 42
	p := labNet()
	node, target := netip.MustParseAddr(p+".10.5"), netip.MustParseAddrPort(p+".20.20:9443")
	order := conntrack.NewPorts(nil)
	order.SetSeed(seed)
	pl, err := order.Pool(node, target, config.DefaultPortBudget, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := pl.Allocate()
	second, _ := pl.Allocate()
	// The target subnet's NACL lets answers go back to the first port only.
	rc := rulesCase{vars: map[string]string{"TARGET_NACL": "acl-target", "NACLS": fmt.Sprintf(`  - id: acl-target
    ingress: [{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}]
    egress: [{rule: 100, protocol: tcp, ports: "%d", cidr: 0.0.0.0/0, action: allow}]`, first)}}
	cfg, err := config.Parse("rules.yaml", []byte(rc.yaml(p)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv.ports.SetSeed(seed)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Another socket holds the first port: the dial's bind fails, the second is tried.
	busy, err := net.Listen("tcp", netip.AddrPortFrom(node, first).String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(p + ".5.50:0")), Timeout: 2 * time.Second}
	nc, err := d.Dial("tcp", p+".1.10:8443")
	var c *net.TCPConn
	if err == nil {
		c = nc.(*net.TCPConn)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("x"))
	}
	if err := resetSeen(c, err); err != nil {
		t.Fatalf("flow retried from port %d, which the target NACL denies: %v", second, err)
	}
	hop := "target_nacl_egress_return"
	if v := testutil.ToFloat64(srv.m.rejected.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", hop)); v != 1 {
		t.Fatalf("rejected_flows_total{hop=%q} = %v, want 1", hop, v)
	}
}

// pendingTarget is a target address whose handshakes wait: a listener with
// a full accept queue drops SYNs (the dial stays in progress) until
// release makes room; then the target accepts with accept.
type pendingTarget struct {
	t      *testing.T
	fd     int
	filler net.Conn
}

func newPendingTarget(t *testing.T, addr netip.AddrPort) *pendingTarget {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	pt := &pendingTarget{t: t, fd: fd}
	t.Cleanup(pt.close)
	// SO_REUSEADDR: an earlier test's connections may linger in TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	if pt.filler, err = net.DialTimeout("tcp", addr.String(), time.Second); err != nil {
		t.Fatal(err)
	}
	return pt
}

// release takes the filler out of the accept queue: the next SYN
// retransmission of a waiting dial completes.
func (pt *pendingTarget) release() {
	nfd, _, err := unix.Accept(pt.fd)
	if err != nil {
		pt.t.Fatal(err)
	}
	unix.Close(nfd)
}

// accept takes the next connection, waiting up to 10 s.
func (pt *pendingTarget) accept() *net.TCPConn {
	pt.t.Helper()
	pfd := []unix.PollFd{{Fd: int32(pt.fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 10000); n != 1 || err != nil {
		pt.t.Fatalf("target: no connection (%v)", err)
	}
	nfd, _, err := unix.Accept(pt.fd)
	if err != nil {
		pt.t.Fatal(err)
	}
	f := os.NewFile(uintptr(nfd), "target")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		pt.t.Fatal(err)
	}
	pt.t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func (pt *pendingTarget) close() {
	if pt.filler != nil {
		pt.filler.Close()
	}
	unix.Close(pt.fd)
}

// waitDialing waits until one dial of srv is in progress.
func waitDialing(t *testing.T, srv *Server) {
	t.Helper()
	waitFor(t, func() bool {
		srv.dials.mu.Lock()
		defer srv.dials.mu.Unlock()
		return len(srv.dials.fds) == 1
	}, "a dial in progress")
}

// TestDiallingFlowsAreTerminated: a flow whose target is still being
// dialled is registered with its target, so rejecting its endpoint resets
// it at once, not after the dial. Such flows used to escape rejection,
// unhealthy-target resets and draining termination.
func TestDiallingFlowsAreTerminated(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	newPendingTarget(t, netip.AddrPortFrom(l.addr("10.20"), 9443))
	srv, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry(), DialTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	defer srv.Close()
	c := l.dial("1.50", "1.10")
	waitDialing(t, srv)
	if ti := l.targetState(netip.AddrPortFrom(l.addr("10.20"), 9443)); ti.ActiveFlows != 1 {
		t.Fatalf("target has %d active flows while one is dialled, want 1", ti.ActiveFlows)
	}
	if err := srv.Reject(endpointID); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := resetSeen(c, nil); err != nil {
		t.Fatalf("dialling flow of a rejected endpoint: %v", err)
	}
}

// TestNACLReloadAppliesToDiallingFlow: a reload whose NACLs deny a flow
// still being dialled stops it as it stops live flows: once connected it
// forwards nothing, and the client's next bytes get an RST.
func TestNACLReloadAppliesToDiallingFlow(t *testing.T) {
	p := labNet()
	parse := func(rc rulesCase) *config.Config {
		y := strings.Replace(rc.yaml(p), ", builtin: echo", "", 1)
		cfg, err := config.Parse("rules.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	open := rulesCase{vars: map[string]string{"EP_NACL": "acl-open"}}
	closed := rulesCase{vars: map[string]string{"EP_NACL": "acl-deny", "NACLS": "  - {id: acl-deny, ingress: [], egress: []}"}}
	pt := newPendingTarget(t, netip.MustParseAddrPort(p+".20.20:9443"))
	srv, err := Start(parse(open), Options{Registry: prometheus.NewRegistry(), DialTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(p + ".5.50:0")), Timeout: 2 * time.Second}
	nc, err := d.Dial("tcp", p+".1.10:8443")
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	waitDialing(t, srv)
	if err := srv.Reload(parse(closed)); err != nil {
		t.Fatal(err)
	}
	pt.release()
	tc := pt.accept() // the dial completed
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("denied"))
	if _, err := c.Read(make([]byte, 1)); !isConnReset(err) {
		t.Fatalf("client of a flow the new NACL denies: %v, want a reset", err)
	}
	tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if b, _ := io.ReadAll(tc); len(b) != 0 {
		t.Fatalf("the target received %q from a flow the NACL denies", b)
	}
}

// gathered is the value of an unlabelled metric in reg (0 when absent).
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestHeldDeniedConnectionsCountedApart: denied connections held silent
// count in privlink_held_denied_connections, not privlink_active_flows.
func TestHeldDeniedConnectionsCountedApart(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n").start()
	for i := range 3 {
		l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
	}
	held := func() float64 { return gathered(t, l.reg, "privlink_held_denied_connections") }
	waitFor(t, func() bool { return held() == 3 }, "3 held denied connections")
	if v := l.metric(l.srv.m.activeFlows.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", "use1-az1")); v != 0 {
		t.Fatalf("active_flows %v with only denied connections held", v)
	}
	l.srv.Close()
	if v := held(); v != 0 {
		t.Fatalf("held_denied_connections %v after shutdown", v)
	}
}

// TestTargetResetDuringConnectCounted: a target that resets each
// connection as soon as it is accepted is counted in
// privlink_tcp_target_resets_total every time, whether the reset reaches
// privlink before or after its connect completed (SO_ERROR ECONNRESET).
func TestTargetResetDuringConnectCounted(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) { c.SetLinger(0) })
	l.start()
	const n = 100
	for i := range n {
		c, err := l.tryDial(fmt.Sprintf("1.%d", 20+i%200), "1.10")
		if err := resetSeen(c, err); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	m := l.svcMetrics()
	waitFor(t, func() bool { return l.metric(m.targetResets) == n }, fmt.Sprintf("%d target resets", n))
}
