package proxy

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
)

// cutEdits puts two targets in az1 (P.10.20 and P.10.21: one stays healthy
// when the other turns unhealthy) and turns on deregistration connection
// termination.
var cutEdits = []string{
	"health_check: {enabled: false}", "health_check: {enabled: false}\n        deregistration_connection_termination: true",
	"targets: [{ip: P.10.20, subnet: subnet-p1}", "targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.10.21, subnet: subnet-p1}",
}

// cut is a termination that resets the flows of a target: the endpoint
// rejected, the target turned unhealthy, its drain ended.
type cut struct {
	name string
	do   func(t *testing.T, s *Server, tg *target)
}

var cuts = []cut{
	{"endpoint rejected", func(t *testing.T, s *Server, _ *target) {
		if err := s.Reject(endpointID); err != nil {
			t.Error(err)
		}
	}},
	{"target unhealthy", func(_ *testing.T, s *Server, tg *target) {
		s.healthResult(tg, config.HealthCheck{UnhealthyThreshold: 1}, ReasonTimeout, "test")
	}},
	{"drain ended", func(t *testing.T, s *Server, tg *target) {
		err := s.Deregister("tg", "vpce-svc-03d5ebb7d9579a2b3", []TargetSpec{{IP: tg.addr.Addr().String()}})
		if err != nil {
			t.Error(err)
		}
		tg.mu.Lock()
		tg.drainDone.Stop()
		tg.mu.Unlock()
		s.finishDrain(tg.g, tg)
	}},
}

// startSlowDial starts the lab's server with a one-minute dial timeout: a
// flow reset only when its dial gives up is not reset promptly. A test
// hook is set before it and cleared by a cleanup registered before it: the
// server's loops read it.
func startSlowDial(t *testing.T, l *lab) {
	t.Helper()
	srv, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry(), DialTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	t.Cleanup(func() { srv.Close() })
}

// dialingTarget is the target of the one flow being dialled.
func dialingTarget(t *testing.T, s *Server) *target {
	t.Helper()
	for _, tg := range s.allTargets() {
		if len(tg.liveFlows()) == 1 {
			return tg
		}
	}
	t.Fatal("no target has the dialling flow")
	return nil
}

// resetPromptly asserts that the client is reset within 5 s, well before
// the one-minute dial timeout.
func resetPromptly(t *testing.T, l *lab, client string) {
	t.Helper()
	c, err := l.tryDial(client, "1.10")
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	if err := resetSeen(c, err); err != nil {
		t.Fatal(err)
	}
}

// TestDiallingFlowIsCut: a flow whose target is still being dialled is
// reset at once by every termination that resets its target's flows.
func TestDiallingFlowIsCut(t *testing.T) {
	for _, k := range cuts {
		t.Run(k.name, func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData, cutEdits...)
			newPendingTarget(t, netip.AddrPortFrom(l.addr("10.20"), 9443))
			newPendingTarget(t, netip.AddrPortFrom(l.addr("10.21"), 9443))
			startSlowDial(t, l)
			c := l.dial("1.50", "1.10")
			waitDialing(t, l.srv)
			k.do(t, l.srv, dialingTarget(t, l.srv))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := resetSeen(c, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCutBeforeDialMarked: a termination that comes after the flow is
// registered with its target but before its connect is marked in progress
// (testHookDialing) aborts the connect too. The client used to be reset
// only when the dial timed out.
func TestCutBeforeDialMarked(t *testing.T) {
	for _, k := range cuts {
		t.Run(k.name, func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData, cutEdits...)
			newPendingTarget(t, netip.AddrPortFrom(l.addr("10.20"), 9443))
			newPendingTarget(t, netip.AddrPortFrom(l.addr("10.21"), 9443))
			testHookDialing = func(f *flow) { k.do(t, f.s, f.t) }
			t.Cleanup(func() { testHookDialing = nil }) // after the server stopped
			startSlowDial(t, l)
			resetPromptly(t, l, "1.50")
		})
	}
}

// TestCutBetweenPickAndRegistration: a termination that comes after the
// flow picked its target but before it is registered with it
// (testHookPicked) cuts it too. The flow used to go on to its target.
func TestCutBetweenPickAndRegistration(t *testing.T) {
	for _, k := range cuts {
		t.Run(k.name, func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData, cutEdits...)
			l.echoTarget("10.20", false)
			l.echoTarget("10.21", false)
			testHookPicked = func(f *flow) { k.do(t, f.s, f.t) }
			t.Cleanup(func() { testHookPicked = nil }) // after the server stopped
			startSlowDial(t, l)
			resetPromptly(t, l, "1.50")
		})
	}
}

// TestFaultBetweenPickAndRegistration: an az_outage or a node_reset_all
// that starts after a flow picked its target but before it is registered
// with it (testHookPicked) cuts it too, counted once for the fault. The
// flow used to be relayed through the whole outage.
func TestFaultBetweenPickAndRegistration(t *testing.T) {
	for _, kind := range []config.FaultKind{config.FaultAZOutage, config.FaultNodeResetAll} {
		t.Run(string(kind), func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData, cutEdits...)
			l.echoTarget("10.20", false)
			l.echoTarget("10.21", false)
			var once sync.Once
			testHookPicked = func(f *flow) {
				once.Do(func() {
					sc := config.FaultScope{AZ: "use1-az1"}
					if kind == config.FaultNodeResetAll {
						sc = config.FaultScope{Node: f.r.node}
					}
					if _, err := f.s.AddFault(newFault(kind, sc)); err != nil {
						t.Error(err)
					}
				})
			}
			t.Cleanup(func() { testHookPicked = nil }) // after the server stopped
			startSlowDial(t, l)
			resetPromptly(t, l, "1.50")
			if fs := l.srv.Faults(); len(fs) != 1 || fs[0].Flows != 1 {
				t.Fatalf("faults %+v, want one that affected 1 flow", fs)
			}
		})
	}
}
