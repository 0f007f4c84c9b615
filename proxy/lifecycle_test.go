package proxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
)

// echoTarget is a target host serving each connection in its own
// goroutine: it reads the PROXY header when ppv2 is on, counts LOCAL (health
// check) headers, records the peers of data connections and echoes.
type echoTarget struct {
	t      *testing.T
	addr   netip.AddrPort
	ppv2   bool
	ln     *net.TCPListener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*net.TCPConn]bool
	locals atomic.Int64
	flows  atomic.Int64
}

func (l *lab) echoTarget(host string, ppv2 bool) *echoTarget {
	l.t.Helper()
	et := &echoTarget{t: l.t, addr: netip.AddrPortFrom(l.addr(host), 9443), ppv2: ppv2, conns: map[*net.TCPConn]bool{}}
	et.listen()
	l.t.Cleanup(et.kill)
	return et
}

func (et *echoTarget) listen() {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(et.addr))
	if err != nil {
		et.t.Fatal(err)
	}
	et.ln = ln
	et.wg.Add(1)
	go func() {
		defer et.wg.Done()
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			et.mu.Lock()
			et.conns[c] = true
			et.mu.Unlock()
			et.wg.Add(1)
			go func() {
				defer et.wg.Done()
				et.serve(c)
				et.mu.Lock()
				delete(et.conns, c)
				et.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

func (et *echoTarget) serve(c *net.TCPConn) {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var r io.Reader = c
	if et.ppv2 {
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		if err != nil {
			return // a health check that closed before sending, or garbage
		}
		if h.Command.IsLocal() {
			et.locals.Add(1)
			return
		}
		r = br
	}
	et.flows.Add(1)
	io.Copy(c, r)
}

// kill stops the target as a crashed process would: listener gone (new
// connections refused), live connections reset.
func (et *echoTarget) kill() {
	et.ln.Close()
	et.mu.Lock()
	for c := range et.conns {
		c.SetLinger(0)
		c.Close()
	}
	et.mu.Unlock()
	et.wg.Wait()
}

// echo sends a line over c and checks it comes back.
func echo(t *testing.T, c *net.TCPConn, msg string) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

func (l *lab) targetState(addr netip.AddrPort) TargetInfo {
	for _, ti := range l.srv.Targets() {
		if ti.Target == addr {
			return ti
		}
	}
	return TargetInfo{State: "absent"}
}

func (l *lab) waitState(addr netip.AddrPort, state string, within time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l.targetState(addr).State == state {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.t.Fatalf("target %s is %+v after %s, want %s", addr, l.targetState(addr), within, state)
}

const healthEdits = `        health_check: {enabled: false}`

// fastHealth turns on health checks every 100ms (thresholds: healthy 2,
// unhealthy 2), with two targets in az1.
func fastHealth(extra string) []string {
	return []string{
		healthEdits, "        health_check: {interval: 100ms, timeout: 80ms, healthy_threshold: 2, unhealthy_threshold: 2}" + extra,
		"targets: [{ip: P.10.20, subnet: subnet-p1}", "targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.10.21, subnet: subnet-p1}",
	}
}

// A stopped target turns unhealthy within interval × threshold; its flows
// are reset and new flows move to the healthy target. Health checks come
// from the node IP and carry the LOCAL header.
func TestUnhealthyTargetLosesTraffic(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData, fastHealth("")...)
	a, b := l.echoTarget("10.20", true), l.echoTarget("10.21", true)
	l.start()
	if st := l.targetState(a.addr); st.State != StateInitial || st.Reason != ReasonInitialHealth {
		t.Fatalf("new target: %+v, want initial/%s", st, ReasonInitialHealth)
	}
	l.waitState(a.addr, StateHealthy, 2*time.Second)
	l.waitState(b.addr, StateHealthy, 2*time.Second)
	if a.locals.Load() == 0 || b.locals.Load() == 0 {
		t.Fatalf("health checks sent no LOCAL header: %d, %d", a.locals.Load(), b.locals.Load())
	}
	// Open flows until one lands on each target.
	var onB []*net.TCPConn
	for i := 0; i < 40 && len(onB) < 2; i++ {
		before := b.flows.Load()
		c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err := echo(t, c, "hi"); err != nil {
			t.Fatal(err)
		}
		if b.flows.Load() > before {
			onB = append(onB, c)
		}
	}
	if len(onB) == 0 {
		t.Fatal("no flow reached the second target")
	}
	// The target stops accepting (health checks are refused) while its live
	// connections stay up: privlink itself must reset them.
	t0 := time.Now()
	b.ln.Close()
	l.waitState(b.addr, StateUnhealthy, time.Second)
	if d := time.Since(t0); d > 900*time.Millisecond {
		t.Errorf("unhealthy after %s, want within about interval × threshold (200ms) plus a loaded machine's delays", d)
	}
	if st := l.targetState(b.addr); st.Reason != ReasonFailedHealth {
		t.Errorf("reason %q, want %s", st.Reason, ReasonFailedHealth)
	}
	for _, c := range onB {
		if err := resetSeen(c, nil); err != nil {
			t.Fatalf("flow of the unhealthy target: %v", err)
		}
	}
	waitFor(t, func() bool { return l.metric(l.svcMetrics().elbResets) == float64(len(onB)) }, "tcp_elb_resets_total")
	// All new flows go to the healthy target.
	before := a.flows.Load()
	for i := range 10 {
		c := l.dial(fmt.Sprintf("1.%d", 100+i), "1.10")
		if err := echo(t, c, "again"); err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
	}
	if got := a.flows.Load() - before; got != 10 {
		t.Fatalf("healthy target got %d of 10 new flows", got)
	}
	if n := l.metric(l.srv.m.healthyTargets.WithLabelValues("tg", "use1-az1")); n != 1 {
		t.Errorf("healthy_targets %v, want 1", n)
	}
	if n := l.metric(l.srv.m.unhealthyTargets.WithLabelValues("tg", "use1-az1")); n != 1 {
		t.Errorf("unhealthy_targets %v, want 1", n)
	}
}

// With every target unhealthy, NLB fails open: flows go to all of them and
// are counted as unhealthy routing.
func TestAllUnhealthyFailsOpen(t *testing.T) {
	edits := fastHealth("")
	edits[1] = "        health_check: {port: 9999, interval: 100ms, timeout: 80ms, healthy_threshold: 2, unhealthy_threshold: 2}"
	l := newLab(t, false, config.PlacementFirstData, edits...)
	a, b := l.echoTarget("10.20", false), l.echoTarget("10.21", false)
	l.start()
	l.waitState(a.addr, StateUnhealthy, 2*time.Second)
	l.waitState(b.addr, StateUnhealthy, 2*time.Second)
	for i := range 20 {
		c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err := echo(t, c, "open"); err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
	}
	if a.flows.Load() == 0 || b.flows.Load() == 0 {
		t.Errorf("fail open should use every target: %d / %d flows", a.flows.Load(), b.flows.Load())
	}
	if n := l.metric(l.svcMetrics().unhealthyRouting); n != 20 {
		t.Errorf("unhealthy_routing_flows_total %v, want 20", n)
	}
}

// Without cross-zone load balancing a node only uses its own AZ's targets
// (failing open inside the AZ); with it, every AZ's.
func TestAZSelection(t *testing.T) {
	for _, cross := range []bool{false, true} {
		t.Run(fmt.Sprint("cross_zone=", cross), func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData, "listeners:", fmt.Sprintf("cross_zone: %v\n      listeners:", cross))
			a, b := l.echoTarget("10.20", false), l.echoTarget("11.20", false)
			l.start()
			for i := range 20 {
				c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
				if err := echo(t, c, "az"); err != nil {
					t.Fatal(err)
				}
			}
			if a.flows.Load() == 0 {
				t.Fatal("the interface's own AZ got no flow")
			}
			if cross != (b.flows.Load() > 0) {
				t.Fatalf("cross_zone=%v: the other AZ got %d of 20 flows", cross, b.flows.Load())
			}
		})
	}
}

func (l *lab) admin() string {
	ts := httptest.NewServer(l.srv.Handler())
	l.t.Cleanup(ts.Close)
	return ts.URL
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Deregistration drains: no new flows, live ones continue, and with
// connection termination they are reset when the delay ends; runtime
// registration adds a target that gets traffic once healthy.
func TestRegisterDeregisterDrain(t *testing.T) {
	edits := append(fastHealth(""), "port: 9443", "port: 9443\n        deregistration_delay: 400ms\n        deregistration_connection_termination: true")
	l := newLab(t, false, config.PlacementFirstData, edits...)
	a, b := l.echoTarget("10.20", false), l.echoTarget("10.21", false)
	l.start()
	url := l.admin()
	l.waitState(a.addr, StateHealthy, 2*time.Second)
	l.waitState(b.addr, StateHealthy, 2*time.Second)
	var onB *net.TCPConn
	for i := 0; i < 40 && onB == nil; i++ {
		before := b.flows.Load()
		c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err := echo(t, c, "x"); err != nil {
			t.Fatal(err)
		}
		if b.flows.Load() > before {
			onB = c
		}
	}
	if onB == nil {
		t.Fatal("no flow reached the second target")
	}
	code, body := post(t, url+"/v1/target-groups/tg/deregister", fmt.Sprintf(`{"targets":[{"ip":"%s"}]}`, b.addr.Addr()))
	if code != 200 {
		t.Fatalf("deregister: %d %s", code, body)
	}
	if st := l.targetState(b.addr); st.State != StateDraining || st.Reason != ReasonDeregistration {
		t.Fatalf("after deregister: %+v", st)
	}
	if err := echo(t, onB, "still here"); err != nil {
		t.Fatalf("a draining target's flow must continue: %v", err)
	}
	before := b.flows.Load()
	for i := range 10 {
		if err := echo(t, l.dial(fmt.Sprintf("1.%d", 120+i), "1.10"), "new"); err != nil {
			t.Fatal(err)
		}
	}
	if b.flows.Load() != before {
		t.Fatal("a draining target got new flows")
	}
	// After the delay: the flow is reset and the target is gone.
	if err := resetSeen(onB, nil); err != nil {
		t.Fatalf("flow after the deregistration delay: %v", err)
	}
	l.waitState(b.addr, "absent", time.Second)

	// Register it again over the API: initial, then healthy and used.
	code, body = post(t, url+"/v1/target-groups/tg/register", fmt.Sprintf(`{"targets":[{"ip":"%s","port":9443}]}`, b.addr.Addr()))
	if code != 200 || !strings.Contains(body, `"state": "initial"`) {
		t.Fatalf("register: %d %s", code, body)
	}
	l.waitState(b.addr, StateHealthy, 2*time.Second)
}

// Bad bodies and names get a 4xx naming what is wrong; nothing changes.
func TestTargetAPIErrors(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	url := l.admin()
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v1/target-groups/nope/register", `{"targets":[{"ip":"127.0.0.1"}]}`, 404, `no target group \"nope\" (have: tg)`},
		{"/v1/target-groups/tg/register", `{"targets":[{"ip":"banana"}]}`, 400, `targets[0].ip: \"banana\" is not an IP address`},
		{"/v1/target-groups/tg/register", `{"targets":[{"ip":"127.0.0.1","port":70000}]}`, 400, "targets[0].port: 70000 is outside 1-65535"},
		{"/v1/target-groups/tg/register", `{"targets":[{"ip":"10.9.9.9"}]}`, 400, "targets[0].ip: 10.9.9.9 is in no configured subnet"},
		{"/v1/target-groups/tg/register", fmt.Sprintf(`{"targets":[{"ip":"%s","az":"use1-az2"}]}`, l.addr("10.30")), 400, "targets[0].az: use1-az2 does not match subnet subnet-p1, which is in use1-az1"},
		{"/v1/target-groups/tg/register", `{"targets":[{"ip":"127.0.0.1","colour":"red"}]}`, 400, `unknown field \"colour\"`},
		{"/v1/target-groups/tg/register", `{"targets":[]}`, 400, `\"targets\" is empty`},
		{"/v1/target-groups/tg/register", `{"targets":[{"ip":`, 400, "request body"},
		{"/v1/target-groups/tg/deregister", fmt.Sprintf(`{"targets":[{"ip":"%s"}]}`, l.addr("10.99")), 404, "is not registered with tg"},
		{"/v1/endpoints/vpce-nope/accept", ``, 404, `no endpoint \"vpce-nope\"`},
		{"/v1/endpoints/" + endpointID + "/accept", ``, 409, "only a pendingAcceptance or rejected endpoint can be accepted"},
		{"/v1/reload", ``, 422, "in-memory configuration"},
	} {
		code, body := post(t, url+tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %s: %d %s\nwant %d containing %q", tc.path, tc.body, code, body, tc.code, tc.want)
		}
	}
	if n := len(l.srv.Targets()); n != 2 {
		t.Errorf("%d targets after failed calls, want 2", n)
	}
}

// webhook collects notification events.
type webhook struct {
	mu     sync.Mutex
	events []map[string]any
	url    string
}

func newWebhook(t *testing.T) *webhook {
	wh := &webhook{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		wh.mu.Lock()
		wh.events = append(wh.events, ev)
		wh.mu.Unlock()
	}))
	t.Cleanup(ts.Close)
	wh.url = ts.URL + "/hook"
	return wh
}

func (wh *webhook) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		wh.mu.Lock()
		var got []string
		for _, e := range wh.events {
			got = append(got, fmt.Sprintf("%s:%s", e["event"], e["state"]))
		}
		wh.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// acceptance_required: the endpoint starts pendingAcceptance and passes no
// traffic; accept opens it; reject cuts live flows. Each step notifies.
func TestAcceptanceWorkflow(t *testing.T) {
	wh := newWebhook(t)
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n",
		"admin:", fmt.Sprintf("notifications: [{service: vpce-svc-03d5ebb7d9579a2b3, url: %q, events: [Connect, Accept, Reject]}]\ndeny_action: reset\nadmin:", wh.url))
	l.echoTarget("10.20", false)
	l.start()
	url := l.admin()
	if ep := l.srv.Endpoint(endpointID); ep.State != EndpointPendingAcceptance {
		t.Fatalf("endpoint %s, want pendingAcceptance", ep.State)
	}
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatalf("pending endpoint: %v", err)
	}
	if n := l.metric(l.srv.m.rejected.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", "endpoint_state")); n != 1 {
		t.Errorf("rejected_flows_total{hop=endpoint_state} %v", n)
	}
	if code, body := post(t, url+"/v1/endpoints/"+endpointID+"/accept", ""); code != 200 || !strings.Contains(body, `"state": "available"`) {
		t.Fatalf("accept: %d %s", code, body)
	}
	c := l.dial("1.51", "1.10")
	if err := echo(t, c, "accepted"); err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, url+"/v1/endpoints/"+endpointID+"/reject", ""); code != 200 {
		t.Fatalf("reject: %d %s", code, body)
	}
	if err := resetSeen(c, nil); err != nil {
		t.Fatalf("live flow after reject: %v", err)
	}
	if err := resetSeen(l.tryDial("1.52", "1.10")); err != nil {
		t.Fatalf("rejected endpoint: %v", err)
	}
	got := wh.wait(t, 3)
	want := []string{"Connect:pendingAcceptance", "Accept:available", "Reject:rejected"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications %v, want %v", got, want)
	}
}

// A principal outside allowed_principals leaves the endpoint rejected, with the reason.
func TestPrincipalNotAllowed(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    allowed_principals: [\"arn:aws:iam::444455556666:root\"]\n")
	l.echoTarget("10.20", false)
	l.start()
	ep := l.srv.Endpoint(endpointID)
	if ep.State != EndpointRejected || !strings.Contains(ep.Reason, "not in the allowed_principals") {
		t.Fatalf("endpoint %+v", ep)
	}
}

// deny_action drop holds a denied connection silent (no RST, no data, no
// EOF) until the hold ends; Shutdown releases held connections at once.
func TestDenyDropHoldsSilently(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n")
	l.echoTarget("10.20", false)
	l.start()
	c := l.dial("1.50", "1.10")
	c.Write([]byte("hello?"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("denied connection: %v, want silence (timeout)", err)
	}
	t0 := time.Now()
	l.srv.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); isTimeout(err) {
		t.Fatal("shutdown did not release the held connection")
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("shutdown took %s with a held connection", d)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Reload under a bounded load loses no established connection; a new
// listener opens, a removed one closes, and a failed reload keeps the old
// configuration and reports it in the metric.
func TestReloadUnderLoad(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	const workers = 8
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, workers)
	var msgs atomic.Int64
	for w := range workers {
		c := l.dial(fmt.Sprintf("1.%d", 50+w), []string{"1.10", "2.10"}[w%2])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := echo(t, c, fmt.Sprintf("w%d-%d|", w, i)); err != nil {
					errs <- fmt.Errorf("worker %d message %d: %w", w, i, err)
					return
				}
				msgs.Add(1)
			}
		}()
	}
	add := strings.Replace(l.yaml, "listeners: [{port: 8443, target_group: tg}]", "listeners: [{port: 8443, target_group: tg}, {port: 8444, target_group: tg}]", 1)
	for i := range 6 {
		y := l.yaml
		if i%2 == 0 {
			y = add
		}
		cfg, err := config.Parse(fmt.Sprintf("reload%d.yaml", i), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.srv.Reload(cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		port8444 := netip.AddrPortFrom(l.addr("1.10"), 8444)
		c, err := net.DialTimeout("tcp", port8444.String(), time.Second)
		if i%2 == 0 {
			if err != nil {
				t.Fatalf("reload %d: new listener: %v", i, err)
			}
			if err := echo(t, c.(*net.TCPConn), "via 8444"); err != nil {
				t.Fatal(err)
			}
			c.Close()
		} else if err == nil {
			c.Close()
			t.Fatalf("reload %d: removed listener still accepts", i)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A reload that cannot bind keeps the old generation.
	blocker, err := net.Listen("tcp", netip.AddrPortFrom(l.addr("1.10"), 8445).String())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	bad, err := config.Parse("bad.yaml", []byte(strings.Replace(l.yaml, "listeners: [{port: 8443, target_group: tg}]", "listeners: [{port: 8443, target_group: tg}, {port: 8445, target_group: tg}]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(bad); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload onto a used port: %v", err)
	}
	if v := l.metric(l.srv.m.reloadOK); v != 0 {
		t.Errorf("config_last_reload_successful %v after a failed reload", v)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if msgs.Load() < workers {
		t.Fatalf("only %d messages went through", msgs.Load())
	}
	if c := l.dial("1.99", "1.10"); echo(t, c, "after") != nil {
		t.Fatal("the old generation stopped working after a failed reload")
	}
}

// POST /v1/reload loads the configuration again (Options.Loader); an
// endpoint the new one drops is deleted: its flows reset, Delete notified.
func TestReloadAPIDeletesEndpoint(t *testing.T) {
	wh := newWebhook(t)
	l := newLab(t, false, config.PlacementFirstData,
		"admin:", fmt.Sprintf("notifications: [{service: vpce-svc-03d5ebb7d9579a2b3, url: %q, events: [Connect, Delete]}]\nadmin:", wh.url))
	l.echoTarget("10.20", false)
	second := strings.Replace(l.yaml, "endpoints:", `endpoints:
  - id: vpce-0aaaaaaaaaaaaaaaa
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: P.1.11}]`, 1)
	second = strings.ReplaceAll(second, "P.", l.p+".")
	var next string
	loader := func() (*config.Config, error) { return config.Parse("reloaded.yaml", []byte(next)) }
	l.reg = prometheus.NewRegistry()
	srv, err := Start(l.cfg, Options{Registry: l.reg, Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	defer srv.Close()
	url := l.admin()
	next = "region: [broken"
	if code, body := post(t, url+"/v1/reload", ""); code != 422 || !strings.Contains(body, "reloaded.yaml") {
		t.Fatalf("broken reload: %d %s", code, body)
	}
	next = second
	if code, body := post(t, url+"/v1/reload", ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	c, err := net.DialTimeout("tcp", l.p+".1.11:8443", time.Second)
	if err != nil {
		t.Fatalf("the new endpoint: %v", err)
	}
	defer c.Close()
	if err := echo(t, c.(*net.TCPConn), "new endpoint"); err != nil {
		t.Fatal(err)
	}
	next = l.yaml // without the new endpoint
	if code, body := post(t, url+"/v1/reload", ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if err := resetSeen(c.(*net.TCPConn), nil); err != nil {
		t.Fatalf("flow of the deleted endpoint: %v", err)
	}
	got := wh.wait(t, 3)
	want := []string{"Connect:available", "Connect:available", "Delete:deleted"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications %v, want %v", got, want)
	}
}

// Past Options.MaxHeld silent holds, a denied connection is reset.
func TestDenyDropHoldIsBounded(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n")
	srv, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry(), MaxHeld: 2})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	defer srv.Close()
	for i := range 2 {
		l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
	}
	waitFor(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.held) == 2
	}, "two held connections")
	if err := resetSeen(l.tryDial("1.60", "1.10")); err != nil {
		t.Fatalf("third denied connection: %v", err)
	}
}

// A reload that fails leaves no trace of what it would have added: its new
// endpoint is unknown to the API and no notification mentions it.
func TestFailedReloadAddsNoEndpoint(t *testing.T) {
	wh := newWebhook(t)
	l := newLab(t, false, config.PlacementFirstData,
		"admin:", fmt.Sprintf("notifications: [{service: vpce-svc-03d5ebb7d9579a2b3, url: %q, events: [Connect, Delete]}]\nadmin:", wh.url))
	l.start()
	blocker, err := net.Listen("tcp", l.p+".1.11:8443")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	y := strings.ReplaceAll(strings.Replace(l.yaml, "endpoints:", `endpoints:
  - id: vpce-0aaaaaaaaaaaaaaaa
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: P.1.11}]`, 1), "P.", l.p+".")
	bad, err := config.Parse("bad.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(bad); err == nil {
		t.Fatal("reload onto a used address succeeded")
	}
	if err := l.srv.Accept("vpce-0aaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("accept of the failed reload's endpoint: %v, want not found", err)
	}
	good, _ := config.Parse("good.yaml", []byte(l.yaml))
	if err := l.srv.Reload(good); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := wh.wait(t, 1); fmt.Sprint(got) != "[Connect:available]" {
		t.Fatalf("notifications %v, want only the first endpoint's Connect", got)
	}
}
