package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// An AZ outage with deny_action reset: the AZ's interface resets new
// connections, its live flows are cut, and a client that retries on the
// other AZ's interface gets through. Removing the fault restores the AZ.
func TestFaultAZOutageReset(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, denyReset...)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	live := l.dial("1.50", "1.10")
	if err := echo(t, live, "before"); err != nil {
		t.Fatal(err)
	}
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"}))
	if err := resetSeen(live, nil); err != nil {
		t.Fatalf("live flow through the AZ: %v", err)
	}
	c, err := l.tryDial("1.50", "1.10")
	if err := resetSeen(c, err); err != nil {
		t.Fatalf("new connection to the AZ's interface: %v", err)
	}
	if err := l.echoes("1.50", "2.10"); err != nil { // the client retries on the other AZ
		t.Fatalf("other AZ: %v", err)
	}
	if fi, _ := l.srv.Fault("az_outage-1"); fi.Flows != 2 {
		t.Fatalf("fault counted %d flows, want 2 (one cut, one refused)", fi.Flows)
	}
	if err := l.srv.RemoveFault("az_outage-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.echoes("1.50", "1.10"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// With deny_action drop (AWS), the AZ's interface answers nothing: the
// client times out and moves to the other AZ; the denial shows in the
// connection events naming the fault, and no flow-log record is written.
func TestFaultAZOutageSilent(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	evs := l.streamEvents()
	l.addFault(config.Fault{ID: "az1-down", Kind: config.FaultAZOutage, Scope: config.FaultScope{AZ: "use1-az1"}, Toxicity: 1})
	c, err := l.tryDial("1.50", "1.10")
	if err == nil {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err = c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read through the AZ in an outage: %v, want a timeout (silence)", err)
		}
	}
	if v := nextEvent(t, evs, conntrack.EventDenied); v.Fault != "az1-down" || v.Hop != hopFault {
		t.Fatalf("denied event %+v, want fault az1-down at hop fault", v)
	}
	if err := l.echoes("1.50", "2.10"); err != nil {
		t.Fatalf("other AZ: %v", err)
	}
}

// A black-holed target: flows to it fail after the dial timeout, its
// health checks time out until it is unhealthy (NLB reports
// Target.FailedHealthChecks, "Request timed out"), and new flows go to the
// healthy target.
func TestFaultTargetBlackhole(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, fastHealth("")...)
	l.echoTarget("10.20", false)
	b := l.echoTarget("10.21", false)
	l.start()
	a := l.addr("10.20")
	l.waitState(netipAP(a, 9443), StateHealthy, 3*time.Second)
	l.waitState(b.addr, StateHealthy, 3*time.Second)
	l.addFault(newFault(config.FaultTargetBlackhole, config.FaultScope{Target: netipAP(a, 9443)}))
	l.waitState(netipAP(a, 9443), StateUnhealthy, 3*time.Second)
	if st := l.targetState(netipAP(a, 9443)); st.Reason != ReasonFailedHealth || !strings.Contains(st.Description, "Request timed out") {
		t.Fatalf("black-holed target: %+v, want %s / Request timed out", st, ReasonFailedHealth)
	}
	for i := range 5 {
		if err := l.echoes("1.50", "1.10"); err != nil {
			t.Fatalf("flow %d after the target turned unhealthy: %v", i, err)
		}
	}
}

// A flow that picks a black-holed target waits out the dial timeout and is
// reset; the failed event says timeout and names the fault.
func TestFaultTargetBlackholeDial(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.start()
	evs := l.streamEvents()
	l.addFault(config.Fault{ID: "bh", Kind: config.FaultTargetBlackhole, Scope: config.FaultScope{TargetGroup: "tg"}, Toxicity: 1})
	t0 := time.Now()
	c, err := l.tryDial("1.50", "1.10")
	if err := resetSeen(c, err); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 2*time.Second {
		t.Fatalf("reset after %s, want the dial timeout (2s) first", d)
	}
	if v := nextEvent(t, evs, conntrack.EventFailed); v.Reason != conntrack.ReasonTimeout || v.Fault != "bh" {
		t.Fatalf("failed event %+v, want reason timeout naming fault bh", v)
	}
}

// target_reset: new connections are refused by the target (client RST,
// a target reset), live flows are reset and counted as the target's.
func TestFaultTargetReset(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	live := l.dial("1.50", "1.10")
	if err := echo(t, live, "x"); err != nil {
		t.Fatal(err)
	}
	before := l.metric(l.svcMetrics().targetResets)
	l.addFault(newFault(config.FaultTargetReset, config.FaultScope{Target: netipAP(l.addr("10.20"), 9443)}))
	if err := resetSeen(live, nil); err != nil {
		t.Fatalf("live flow: %v", err)
	}
	c, err := l.tryDial("1.50", "1.10")
	if err := resetSeen(c, err); err != nil {
		t.Fatalf("new flow: %v", err)
	}
	waitFor(t, func() bool { return l.metric(l.svcMetrics().targetResets)-before == 2 }, "two target resets")
	if err := l.srv.RemoveFault("target_reset-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.echoes("1.50", "1.10"); err != nil {
		t.Fatalf("after removing the fault: %v", err)
	}
}

// node_reset_all resets every live flow through the node (ELB resets);
// flows through the other node go on.
func TestFaultNodeResetAll(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	a1, a2, b := l.dial("1.50", "1.10"), l.dial("1.51", "1.10"), l.dial("2.50", "2.10")
	for _, c := range []*net.TCPConn{a1, a2, b} {
		if err := echo(t, c, "x"); err != nil {
			t.Fatal(err)
		}
	}
	before := l.metric(l.svcMetrics().elbResets)
	fi := l.addFault(newFault(config.FaultNodeResetAll, config.FaultScope{Node: l.addr("10.5")}))
	for _, c := range []*net.TCPConn{a1, a2} {
		if err := resetSeen(c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := echo(t, b, "still"); err != nil {
		t.Fatalf("flow through the other node: %v", err)
	}
	waitFor(t, func() bool { return l.metric(l.svcMetrics().elbResets)-before == 2 }, "two ELB resets")
	if fi, _ = l.srv.Fault(fi.ID); fi.Flows != 2 {
		t.Fatalf("fault counted %d flows, want 2", fi.Flows)
	}
}

// port_budget shrinks the pool at once: with one port, a second
// connection while the first lives is a port allocation error. The
// refused connection is counted as the fault's (GET /v1/faults, the
// metric), and its failed event names the fault; the one that got a
// port is not the fault's.
func TestFaultPortBudget(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	evs := l.streamEvents()
	f := newFault(config.FaultPortBudget, config.FaultScope{TargetGroup: "tg"})
	f.ID, f.Budget = "ports", 1
	l.addFault(f)
	first := l.dial("1.50", "1.10")
	if err := echo(t, first, "x"); err != nil {
		t.Fatal(err)
	}
	if v := nextEvent(t, evs, conntrack.EventEstablished); v.Fault != "" {
		t.Fatalf("the flow within the budget names fault %q", v.Fault)
	}
	c, err := l.tryDial("1.51", "1.10")
	if err := resetSeen(c, err); err != nil {
		t.Fatalf("second connection with a budget of 1: %v", err)
	}
	target := netipAP(l.addr("10.20"), 9443).String()
	if n := l.metric(l.srv.m.portErrors.WithLabelValues(svcID, target)); n != 1 {
		t.Fatalf("port allocation errors = %v, want 1", n)
	}
	if v := nextEvent(t, evs, conntrack.EventFailed); v.Reason != conntrack.ReasonPortAllocation || v.Fault != "ports" {
		t.Fatalf("failed event %+v, want reason port_allocation naming fault ports", v)
	}
	if fi, _ := l.srv.Fault("ports"); fi.Flows != 1 {
		t.Fatalf("fault counted %d flows, want 1 (the refused connection)", fi.Flows)
	}
	if n := l.metric(l.srv.faults.flowsC.WithLabelValues("port_budget")); n != 1 {
		t.Fatalf("privlink_fault_flows_total{kind=port_budget} = %v, want 1", n)
	}
}

// idle_timeout overrides the listener's: the flow expires and the next
// side that sends gets an RST.
func TestFaultIdleTimeout(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	f := newFault(config.FaultIdleTimeout, config.FaultScope{Listener: 8443})
	f.IdleTimeout = config.Duration(300 * time.Millisecond)
	l.addFault(f)
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		vs := l.srv.table.Snapshot(conntrack.Filter{}, nil)
		return len(vs) == 1 && vs[0].State == conntrack.StateExpired
	}, "the flow to expire")
	c.Write([]byte("late"))
	if err := resetSeen(c, nil); err != nil {
		t.Fatal(err)
	}
}

// Flow logs where AWS would log: no record for SYNs an AZ outage swallows
// (the interface is gone), records as usual on the other AZ.
func TestFaultAZOutageFlowLogs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.log")
	l := newLab(t, false, config.PlacementFirstData, "admin:", fmt.Sprintf("flow_logs: {path: %q, interval: 60s}\nadmin:", path))
	l.echoTarget("11.20", false)
	l.start()
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"}))
	if c, err := l.tryDial("1.50", "1.10"); err == nil {
		c.Write([]byte("lost"))
		c.Close()
	}
	if err := l.echoes("2.50", "2.10"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { fi, _ := l.srv.Fault("az_outage-1"); return fi.Flows == 1 }, "the swallowed connection")
	l.srv.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if text := string(data); strings.Contains(text, l.p+".1.10") || strings.Contains(text, l.p+".1.50") || !strings.Contains(text, l.p+".2.10") {
		t.Fatalf("flow log, want records of az2 only:\n%s", text)
	}
}

// While an AZ is out, the endpoint's regional name answers only the
// other AZ's interface; it comes back when the fault ends.
func TestFaultAZOutageDNS(t *testing.T) {
	l := dnsLab(t).start()
	r := l.srv.Resolver()
	lookup := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := r.LookupHost(ctx, regionalOf(endpointID))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"}))
	if got := lookup(); len(got) != 1 || got[0] != l.p+".2.10" {
		t.Fatalf("during the outage: %v, want only %s.2.10", got, l.p)
	}
	if err := l.srv.RemoveFault("az_outage-1"); err != nil {
		t.Fatal(err)
	}
	if got := lookup(); len(got) != 2 {
		t.Fatalf("after the outage: %v, want both interfaces", got)
	}
}

// lookupFunc resolves names through the lab's DNS server, over its sockets.
func (l *lab) lookupFunc() func(name string) []string {
	r := l.srv.Resolver()
	return func(name string) []string {
		l.t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := r.LookupHost(ctx, name)
		if err != nil {
			l.t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
}

// Two outages of one AZ: the AZ stays out of DNS until both ended.
func TestFaultAZOutageDNSTwoFaults(t *testing.T) {
	l := dnsLab(t).start()
	lookup, name := l.lookupFunc(), regionalOf(endpointID)
	az2Only := []string{l.p + ".2.10"}
	l.addFault(config.Fault{ID: "first", Kind: config.FaultAZOutage, Scope: config.FaultScope{AZ: "use1-az1"}, Toxicity: 1})
	l.addFault(config.Fault{ID: "second", Kind: config.FaultAZOutage, Scope: config.FaultScope{AZ: "use1-az1", Endpoint: endpointID}, Toxicity: 1})
	if got := lookup(name); !slices.Equal(got, az2Only) {
		t.Fatalf("during both outages: %v, want %v", got, az2Only)
	}
	if err := l.srv.RemoveFault("first"); err != nil {
		t.Fatal(err)
	}
	if got := lookup(name); !slices.Equal(got, az2Only) {
		t.Fatalf("with the second outage still active: %v, want %v", got, az2Only)
	}
	if err := l.srv.RemoveFault("second"); err != nil {
		t.Fatal(err)
	}
	if got := lookup(name); len(got) != 2 {
		t.Fatalf("after both outages: %v, want both interfaces", got)
	}
}

// otherEndpoint is a second endpoint of the lab's service, on P.1.11 and
// P.2.11 (an edit for newLab).
const otherEndpoint = "vpce-0d2222222222222ab"

var withOtherEndpoint = []string{"endpoints:\n", "endpoints:\n  - id: " + otherEndpoint +
	"\n    service: vpce-svc-03d5ebb7d9579a2b3\n    security_groups: [sg-endpoint]\n" +
	"    interfaces: [{subnet: subnet-c1, ip: P.1.11}, {subnet: subnet-c2, ip: P.2.11}]\n"}

// An outage scoped to one endpoint takes the AZ out of that endpoint's
// names only; the other endpoint's names keep both AZs.
func TestFaultAZOutageDNSScope(t *testing.T) {
	l := dnsLab(t, withOtherEndpoint...).start()
	lookup := l.lookupFunc()
	l.addFault(config.Fault{ID: "one", Kind: config.FaultAZOutage, Scope: config.FaultScope{AZ: "use1-az1", Endpoint: otherEndpoint}, Toxicity: 1})
	if got := lookup(regionalOf(otherEndpoint)); !slices.Equal(got, []string{l.p + ".2.11"}) {
		t.Fatalf("the endpoint in scope answers %v, want %s.2.11 only", got, l.p)
	}
	if got := lookup(regionalOf(endpointID)); len(got) != 2 {
		t.Fatalf("the endpoint out of scope answers %v, want both interfaces", got)
	}
	if err := l.srv.RemoveFault("one"); err != nil {
		t.Fatal(err)
	}
	if got := lookup(regionalOf(otherEndpoint)); len(got) != 2 {
		t.Fatalf("after the outage: %v, want both interfaces", got)
	}
}

// An endpoint a reload adds during an outage of its service's AZ answers
// without that AZ.
func TestFaultAZOutageDNSReload(t *testing.T) {
	l := dnsLab(t).start()
	lookup := l.lookupFunc()
	l.addFault(config.Fault{ID: "svc", Kind: config.FaultAZOutage, Scope: config.FaultScope{AZ: "use1-az1", Service: svcID}, Toxicity: 1})
	next := dnsLab(t, withOtherEndpoint...)
	cfg, err := config.Parse("reload.yaml", []byte(strings.ReplaceAll(next.yaml, next.p+".", l.p+".")))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{endpointID, otherEndpoint} {
		if got := lookup(regionalOf(ep)); len(got) != 1 || !strings.HasSuffix(got[0], ".2.10") && !strings.HasSuffix(got[0], ".2.11") {
			t.Fatalf("%s after the reload: %v, want its az2 interface only", ep, got)
		}
	}
}

// The node of an AZ in an outage sends no health checks; they resume
// when the AZ is back.
func TestFaultAZOutageStopsHealthChecks(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData, fastHealth("")...)
	a := l.echoTarget("10.20", true)
	l.echoTarget("10.21", true)
	l.start()
	l.waitState(a.addr, StateHealthy, 3*time.Second)
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"}))
	time.Sleep(150 * time.Millisecond) // a probe already sent may still land
	before := a.locals.Load()
	time.Sleep(500 * time.Millisecond) // five intervals
	if n := a.locals.Load() - before; n != 0 {
		t.Fatalf("%d health checks from the node of an AZ in an outage", n)
	}
	if st := l.targetState(a.addr); st.State != StateHealthy {
		t.Fatalf("target %+v: a node that sends no checks changes nothing", st)
	}
	if err := l.srv.RemoveFault("az_outage-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return a.locals.Load() > before }, "health checks to resume")
}

// crossZone turns on cross-zone load balancing in the lab (an edit).
var crossZone = []string{"listeners:", "cross_zone: true\n      listeners:"}

// With cross-zone load balancing a target fault scoped by AZ takes the
// targets in that AZ, whatever interface the flow came in on: a
// target_reset of use1-az2 resets the live flows az1's interface sent to
// az2's target and refuses the new ones; flows to az1's target go on.
func TestFaultTargetResetAZCrossZone(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, crossZone...)
	a, b := l.echoTarget("10.20", false), l.echoTarget("11.20", false)
	l.start()
	live := map[netip.AddrPort]*net.TCPConn{}
	for i := range 20 {
		c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err := echo(t, c, "x"); err != nil {
			t.Fatal(err)
		}
		live[addrPort(c.LocalAddr())] = c
	}
	if a.flows.Load() == 0 || b.flows.Load() == 0 {
		t.Fatalf("flows %d to az1's target, %d to az2's: want both used", a.flows.Load(), b.flows.Load())
	}
	toB := map[netip.AddrPort]bool{}
	for _, v := range l.srv.table.Snapshot(conntrack.Filter{}, nil) {
		toB[v.Client] = v.Target == b.addr
	}
	fi := l.addFault(newFault(config.FaultTargetReset, config.FaultScope{AZ: "use1-az2", TargetGroup: "tg"}))
	for client, c := range live {
		if toB[client] {
			if err := resetSeen(c, nil); err != nil {
				t.Fatalf("live flow to az2's target: %v", err)
			}
		} else if err := echo(t, c, "y"); err != nil {
			t.Fatalf("live flow to az1's target: %v", err)
		}
	}
	before, refused := b.flows.Load(), 0
	for i := range 20 {
		c, err := l.tryDial(fmt.Sprintf("1.%d", 100+i), "1.10")
		if err == nil {
			err = echo(t, c, "z")
		}
		switch {
		case err == nil:
		case isConnReset(err):
			refused++
		default:
			t.Fatalf("new flow %d: %v", i, err)
		}
	}
	if refused == 0 || b.flows.Load() != before {
		t.Fatalf("%d new flows refused, az2's target got %d more: want some refused, none through", refused, b.flows.Load()-before)
	}
	if fi, _ = l.srv.Fault(fi.ID); fi.Flows != uint64(int(before)+refused) {
		t.Fatalf("fault counted %d flows, want %d cut + %d refused", fi.Flows, before, refused)
	}
}

// With cross-zone load balancing, port_budget scoped by AZ shrinks the
// pools towards that AZ's targets from every node: az1's node gets one
// port towards az2's target; its connections to az1's target are not
// limited. Live explain notes the fault on az1's path.
func TestFaultPortBudgetAZCrossZone(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, crossZone...)
	a, b := l.echoTarget("10.20", false), l.echoTarget("11.20", false)
	l.start()
	f := newFault(config.FaultPortBudget, config.FaultScope{AZ: "use1-az2", TargetGroup: "tg"})
	f.Budget = 1
	fi := l.addFault(f)
	r := liveExplain(t, l.admin(), l.addr("1.50").String())
	if p := r.Paths[0]; p.AZ != "use1-az1" || !strings.Contains(strings.Join(p.Notes, "\n"), "fault port_budget-1 (port_budget)") {
		t.Fatalf("az1's path does not note the fault:\n%s", reportText(r))
	}
	refused := 0
	for i := range 30 { // each connection stays open: its port stays taken
		c, err := l.tryDial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err == nil {
			err = echo(t, c, "x")
		}
		switch {
		case err == nil:
		case isConnReset(err):
			refused++
		default:
			t.Fatalf("flow %d: %v", i, err)
		}
	}
	if b.flows.Load() != 1 || refused == 0 || a.flows.Load() != int64(29-refused) {
		t.Fatalf("az2's target got %d flows, az1's %d, %d refused: want 1 to az2, the others of az2 refused", b.flows.Load(), a.flows.Load(), refused)
	}
	if fi, _ = l.srv.Fault(fi.ID); fi.Flows != uint64(refused) {
		t.Fatalf("fault counted %d flows, want %d", fi.Flows, refused)
	}
}
