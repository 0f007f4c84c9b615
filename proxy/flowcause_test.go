package proxy

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/loadtest"
)

// streamEvents follows GET /v1/connections/stream of the lab's admin API.
func (l *lab) streamEvents() <-chan conntrack.Event {
	l.t.Helper()
	resp, err := http.Get(l.admin() + "/v1/connections/stream")
	if err != nil {
		l.t.Fatal(err)
	}
	evs := make(chan conntrack.Event, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev conntrack.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				evs <- ev
			}
		}
	}()
	l.t.Cleanup(func() { resp.Body.Close(); <-done })
	return evs
}

// nextEvent returns the next event of type typ.
func nextEvent(t *testing.T, evs <-chan conntrack.Event, typ conntrack.EventType) conntrack.View {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-evs:
			if ev.Type == typ {
				return ev.Conn
			}
		case <-timeout:
			t.Fatalf("no %s event in 10s", typ)
		}
	}
}

// Denied connections appear in the event stream with the hop and the
// rule that denied them; connections whose target was not reached appear
// as failed, with the reason and the target.
func TestStreamShowsWhyFlowsStop(t *testing.T) {
	nacl := "network_acls:\n  - id: acl-c1\n    ingress: [{rule: 50, protocol: tcp, ports: \"8443\", cidr: P.2.66/32, action: deny}, {rule: 100, protocol: -1, cidr: 127.0.0.0/8, action: allow}]\n" +
		"    egress: [{rule: 100, protocol: -1, cidr: 127.0.0.0/8, action: allow}]\nsubnets:"
	tests := []struct {
		name           string
		edits          []string
		client         string
		typ            conntrack.EventType
		hop, rule, why string
		target         bool // the event names the target
	}{
		{name: "security group", client: "1.200", typ: conntrack.EventDenied, hop: "endpoint_sg_ingress", rule: "no matching rule",
			edits: []string{"cidr: 127.0.0.0/8}]}", "cidr: P.1.0/25}]}"}},
		{name: "network ACL", client: "2.66", typ: conntrack.EventDenied, hop: "endpoint_nacl_ingress", rule: "acl-c1 rule 50",
			edits: []string{"subnets:", nacl, "{id: subnet-c1, az: use1-az1, cidr: P.1.0/24}", "{id: subnet-c1, az: use1-az1, cidr: P.1.0/24, network_acl: acl-c1}"}},
		{name: "endpoint state", client: "1.50", typ: conntrack.EventDenied, hop: "endpoint_state", rule: "endpoint pendingAcceptance",
			edits: []string{"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n"}},
		{name: "refused", client: "1.50", typ: conntrack.EventFailed, why: conntrack.ReasonRefused, target: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData, append(tt.edits, "admin:", "deny_action: reset\nadmin:")...).start()
			evs := l.streamEvents()
			if err := resetSeen(l.tryDial(tt.client, "1.10")); err != nil {
				t.Fatal(err)
			}
			v := nextEvent(t, evs, tt.typ)
			if v.Hop != tt.hop || v.Rule != tt.rule || v.Reason != tt.why || v.Client.Addr() != l.addr(tt.client) {
				t.Fatalf("%s event %+v, want hop %q rule %q reason %q", tt.typ, v, tt.hop, tt.rule, tt.why)
			}
			if tt.target && v.Target != netip.AddrPortFrom(l.addr("10.20"), 9443) {
				t.Fatalf("failed event names target %s", v.Target)
			}
			if c := nextEvent(t, evs, conntrack.EventClosed); c.ID != v.ID {
				t.Fatalf("closed #%d after %s #%d", c.ID, tt.typ, v.ID)
			}
		})
	}
}

// A target that never answers the node's SYN fails the flow with reason
// timeout.
func TestStreamShowsDialTimeout(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	full := blackhole(t, netip.AddrPortFrom(l.addr("10.20"), 9443))
	defer full()
	srv, err := Start(l.cfg, Options{DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	t.Cleanup(func() { srv.Close() })
	evs := l.streamEvents()
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatal(err)
	}
	if v := nextEvent(t, evs, conntrack.EventFailed); v.Reason != conntrack.ReasonTimeout || v.Target.Addr() != l.addr("10.20") {
		t.Fatalf("failed event %+v, want reason timeout", v)
	}
}

// privlink loadtest through privlink to a target that refuses: every
// error is reset_before_data (the client cannot tell a refused dial from
// a port allocation error), never port_allocation.
func TestLoadtestClassifiesRefusedTargetThroughPrivlink(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start() // no target listening
	res, err := loadtest.Run(t.Context(), loadtest.Options{
		Target: netip.AddrPortFrom(l.addr("1.10"), 8443).String(), Mode: loadtest.WorkloadConnect,
		Conns: 2, Size: 16, Duration: 300 * time.Millisecond, Source: netip.PrefixFrom(l.addr("1.50"), 32),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	var j struct{ Errors map[string]int64 }
	json.Unmarshal(b, &j)
	if j.Errors["reset_before_data"] == 0 || j.Errors["port_allocation"] != 0 || res.ErrorTotal() != j.Errors["reset_before_data"] {
		t.Fatalf("errors %v, want only reset_before_data", j.Errors)
	}
	if n := l.metric(l.srv.m.portErrors.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", l.p+".10.20:9443")); n != 0 {
		t.Fatalf("port_allocation_errors_total %v", n)
	}
}

// A target that resets the connection before privlink saw its connect
// finish fails the flow with reason reset, counted as a target reset. The
// target accepts and resets at once; testHookDialing holds the flow's
// loop until that reset has arrived, so the loop finds the connect ended
// by it (a SYN answered by an RST is "refused", not "reset").
func TestStreamShowsDialReset(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr("10.20"), 9443)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reset := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			c.SetLinger(0)
			c.Close()
			reset <- struct{}{}
		}
	}()
	testHookDialing = func(*flow) {
		select {
		case <-reset:
			time.Sleep(20 * time.Millisecond) // the RST crosses loopback
		case <-time.After(5 * time.Second):
		}
	}
	t.Cleanup(func() { testHookDialing = nil }) // after the server stopped
	l.start()
	evs := l.streamEvents()
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatal(err)
	}
	if v := nextEvent(t, evs, conntrack.EventFailed); v.Reason != conntrack.ReasonReset || v.Target.Addr() != l.addr("10.20") {
		t.Fatalf("failed event %+v, want reason reset", v)
	}
	if n := l.metric(l.srv.m.targetResets.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3")); n != 1 {
		t.Fatalf("privlink_tcp_target_resets_total %v, want 1", n)
	}
}
