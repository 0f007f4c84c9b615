package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// With port_budget 5 the sixth concurrent connection to one target gets an
// RST and is counted; the target sees node IP:allocated port; released
// ports come back only after port_reuse_delay.
func TestPortBudget(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"        health_check: {enabled: false}", "        health_check: {enabled: false}\n        port_budget: 5\n        port_reuse_delay: 700ms",
		"admin:", "deny_action: reset\nadmin:")
	peers := make(chan netip.AddrPort, 16)
	l.target("10.20", func(c *net.TCPConn) { peers <- addrPort(c.RemoteAddr()) }) // accept and close: we only need the peer
	l.echoTarget("11.20", false)
	l.start()
	// Hold 5 connections open to the az2 target (echo keeps them alive).
	var held []*net.TCPConn
	for i := range 5 {
		c := l.dial(fmt.Sprintf("2.%d", 50+i), "2.10")
		if err := echo(t, c, "hold"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	conns := l.srv.table.Snapshot(conntrack.Filter{}, nil)
	if len(conns) != 5 {
		t.Fatalf("table has %d connections, want 5", len(conns))
	}
	for _, v := range conns {
		if v.Node.Addr() != l.addr("11.5") || v.Node.Port() < 1024 {
			t.Fatalf("translated tuple %s, want node %s with an allocated port", v.Node, l.addr("11.5"))
		}
	}
	target := netip.AddrPortFrom(l.addr("11.20"), 9443)
	svc := "vpce-svc-03d5ebb7d9579a2b3"
	if err := resetSeen(l.tryDial("2.60", "2.10")); err != nil {
		t.Fatalf("6th connection: %v", err)
	}
	if n := testutil.ToFloat64(l.srv.m.portErrors.WithLabelValues(svc, target.String())); n != 1 {
		t.Fatalf("port_allocation_errors_total %v, want 1", n)
	}
	if got := gauge(t, l.reg, "privlink_port_budget_in_use", target.String()); got != 5 {
		t.Fatalf("port_budget_in_use %v, want 5", got)
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, func() bool { return l.srv.table.Len() == 0 }, "connections closed")
	// The ports wait out the reuse delay.
	if err := resetSeen(l.tryDial("2.61", "2.10")); err != nil {
		t.Fatalf("within the reuse delay: %v", err)
	}
	time.Sleep(800 * time.Millisecond)
	if err := echo(t, l.dial("2.62", "2.10"), "back"); err != nil {
		t.Fatalf("after the reuse delay: %v", err)
	}
	// The other target has its own budget; its peer is node:port.
	c := l.dial("1.50", "1.10")
	c.Write([]byte("x"))
	if p := <-peers; p.Addr() != l.addr("10.5") || p.Port() < 1024 {
		t.Fatalf("target saw %s", p)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name, target string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "target" && lp.GetValue() == target {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// /v1/connections shows a live flow with exact byte counts; the stream
// reports it as new, established and closed.
func TestConnectionsAPI(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData)
	l.echoTarget("10.20", true)
	l.start()
	url := l.admin()
	resp, err := http.Get(url + "/v1/connections/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c := l.dial("1.50", "1.10")
	msg := strings.Repeat("z", 1000)
	if err := echo(t, c, msg); err != nil {
		t.Fatal(err)
	}
	// The relay counts bytes once its write returns, which may be just
	// after the client has read them: poll briefly.
	var list []conntrack.View
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		list = nil
		getJSON(t, url+"/v1/connections?endpoint="+endpointID, &list)
		if len(list) != 1 || list[0].ClientSide.BytesOut == 1000 || time.Now().After(deadline) {
			break
		}
	}
	if len(list) != 1 {
		t.Fatalf("%d connections", len(list))
	}
	v := list[0]
	if v.State != conntrack.StateEstablished || v.Client != addrPort(c.LocalAddr()) || v.Target != netip.AddrPortFrom(l.addr("10.20"), 9443) {
		t.Fatalf("connection %+v", v)
	}
	if v.ClientSide.BytesIn != 1000 || v.ClientSide.BytesOut != 1000 || v.ClientSide.PktsIn == 0 {
		t.Fatalf("client-side counters %+v, want 1000 bytes each way", v.ClientSide)
	}
	c.Close()
	sc := bufio.NewScanner(resp.Body)
	var types []string
	for len(types) < 3 && sc.Scan() {
		var ev struct {
			Type string `json:"type"`
		}
		json.Unmarshal(sc.Bytes(), &ev)
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != "[new established closed]" {
		t.Fatalf("stream events %v", types)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

var flowLogLine = regexp.MustCompile(`^2 111122223333 eni-[0-9a-f]{17} (\S+) (\S+) (\d+|-) (\d+|-) 6 (\d+) (\d+) \d+ \d+ (ACCEPT|REJECT) OK$`)

// Flow logs: an accepted flow shows on the endpoint interface and on the
// node interface, each direction its own record; a denied flow is a REJECT.
func TestFlowLogRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.log")
	p := labNet()
	rc := rulesCase{vars: map[string]string{"EP_SGS": "[sg-low]", "SGS": `  - {id: sg-low, ingress: [{protocol: tcp, ports: "8443", cidr: P.5.0/25}]}`}}
	y := strings.Replace(rc.yaml(p), "admin:", fmt.Sprintf("flow_logs: {path: %q, interval: 60s}\nadmin:", path), 1)
	cfg, err := config.Parse("flowlogs.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	dial := func(host string) (*net.TCPConn, error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(p+"."+host), 0)), Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", p+".1.10:8443")
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	c, err := dial("5.50")
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(t, c, "logged"); err != nil {
		t.Fatal(err)
	}
	client := addrPort(c.LocalAddr())
	c.Close()
	if err := resetSeen(dial("5.200")); err != nil {
		t.Fatalf("denied client: %v", err)
	}
	waitFor(t, func() bool { return srv.table.Len() == 0 }, "flows closed")
	srv.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flow log:\n%s", data)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var accepts, rejects int
	seen := map[string]bool{}
	for _, line := range lines {
		m := flowLogLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not a v2 record: %q", line)
			continue
		}
		seen[m[1]+">"+m[2]] = true
		if m[7] == "ACCEPT" && m[5] != "0" {
			accepts++
		}
		if m[7] == "REJECT" {
			rejects++
			if m[1] != p+".5.200" {
				t.Errorf("REJECT for %s, want the denied client", m[1])
			}
		}
	}
	for _, dir := range []string{client.Addr().String() + ">" + p + ".1.10", p + ".1.10>" + client.Addr().String(), p + ".10.5>" + p + ".20.20", p + ".20.20>" + p + ".10.5"} {
		if !seen[dir] {
			t.Errorf("no record %s in\n%s", dir, data)
		}
	}
	if accepts < 4 || rejects != 1 {
		t.Errorf("%d ACCEPT records with packets, %d REJECT; want 4 and 1:\n%s", accepts, rejects, data)
	}
}

// A flow-log path that cannot be written is a clear startup error.
func TestFlowLogPathUnwritable(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, "admin:", "flow_logs: {path: /nonexistent/dir/flows.log}\nadmin:")
	_, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry()})
	if err == nil || !strings.Contains(err.Error(), "flow_logs.path") || !strings.Contains(err.Error(), "/nonexistent/dir/flows.log") {
		t.Fatalf("start: %v", err)
	}
}

// A reload applies new NACLs to live flows (stateless), but SG changes
// only to new flows (stateful, tracked).
func TestReloadRulesOnLiveFlows(t *testing.T) {
	p := labNet()
	open := rulesCase{vars: map[string]string{"EP_NACL": "acl-open"}}
	sgClosed := rulesCase{vars: map[string]string{"EP_NACL": "acl-open", "EP_SGS": "[sg-none]", "SGS": "  - {id: sg-none}"}}
	naclClosed := rulesCase{vars: map[string]string{"EP_NACL": "acl-deny", "NACLS": "  - {id: acl-deny, ingress: [], egress: []}"}}
	parse := func(rc rulesCase) *config.Config {
		cfg, err := config.Parse("rules.yaml", []byte(rc.yaml(p)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	srv, err := Start(parse(open), Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(p + ".5.50:0"))}
	nc, err := d.Dial("tcp", p+".1.10:8443")
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	if err := echo(t, c, "before"); err != nil {
		t.Fatal(err)
	}
	// SG change: the tracked flow goes on; a new one is denied.
	if err := srv.Reload(parse(sgClosed)); err != nil {
		t.Fatal(err)
	}
	if err := echo(t, c, "tracked"); err != nil {
		t.Fatalf("SG change cut a tracked flow: %v", err)
	}
	d2 := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(p + ".5.51:0"))}
	if err := resetSeen(func() (*net.TCPConn, error) {
		nc, err := d2.Dial("tcp", p+".1.10:8443")
		if err != nil {
			return nil, err
		}
		return nc.(*net.TCPConn), nil
	}()); err != nil {
		t.Fatalf("new flow after the SG change: %v", err)
	}
	// NACL change: the live flow stops; its next send gets an RST.
	if err := srv.Reload(parse(naclClosed)); err != nil {
		t.Fatal(err)
	}
	err = echo(t, c, "after")
	if err == nil {
		t.Fatal("a NACL that denies the flow left it forwarding")
	}
	if !isConnReset(err) {
		t.Fatalf("live flow after the NACL change: %v, want a reset", err)
	}
}

// A half-closed connection shows as closing in the table until the other
// side closes too; then it is gone.
func TestConnectionClosingState(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	release := make(chan struct{})
	l.target("10.20", func(c *net.TCPConn) {
		io.Copy(io.Discard, c) // until the client's FIN
		<-release
	})
	l.start()
	c := l.dial("1.50", "1.10")
	c.Write([]byte("bye"))
	c.CloseWrite()
	waitFor(t, func() bool {
		v := l.srv.table.Snapshot(conntrack.Filter{}, nil)
		return len(v) == 1 && v[0].State == conntrack.StateClosing
	}, "the connection closing")
	close(release)
	waitFor(t, func() bool { return l.srv.table.Len() == 0 }, "the connection gone")
}
