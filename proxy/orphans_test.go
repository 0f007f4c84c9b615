package proxy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
)

// TestDrainedTargetFlowsStayReachable: a flow outlives its target's
// deregistration (no connection termination, as on NLB); rejecting its
// endpoint still resets it. Such flows used to be out of every target
// list once the delay ended: rejection, deletion and NACL rechecks missed
// them.
func TestDrainedTargetFlowsStayReachable(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"        health_check: {enabled: false}", "        health_check: {enabled: false}\n        deregistration_delay: 100ms")
	l.echoTarget("10.20", false)
	l.start()
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "before"); err != nil {
		t.Fatal(err)
	}
	p := strings.NewReplacer("P.", l.p+".")
	y := strings.Replace(l.yaml, p.Replace("{ip: P.10.20, subnet: subnet-p1}, "), "", 1)
	cfg, err := config.Parse("deregistered.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	l.waitState(netip.AddrPortFrom(l.addr("10.20"), 9443), "absent", 5*time.Second)
	if err := echo(t, c, "after the delay"); err != nil {
		t.Fatalf("flow of a drained target: %v", err)
	}
	if err := l.srv.Reject(endpointID); err != nil {
		t.Fatal(err)
	}
	if err := resetSeen(c, nil); err != nil {
		t.Fatalf("flow of a drained target after its endpoint was rejected: %v", err)
	}
}
