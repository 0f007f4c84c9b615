package privlinktest

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// Fault takes a target out as the topology names it (moved onto the
// test's block): the client through that AZ is reset; RemoveFault brings
// the path back.
func TestFault(t *testing.T) {
	in := Start(t, twoAZ)
	ctx := ctxT(t)
	f := config.NewFault(config.FaultKind("target_reset"))
	f.Scope.Target = netip.MustParseAddrPort("127.0.10.20:9443")
	info, err := in.Fault(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := in.Dial(ctx, endpointID, 8443, InAZ("use1-az1"))
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("through a target_reset target: %v, want a connection reset", err)
	}
	if err := in.RemoveFault(info.ID); err != nil {
		t.Fatal(err)
	}
	c, err = in.Dial(ctx, endpointID, 8443, InAZ("use1-az1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "back"); got != "back" {
		t.Errorf("after RemoveFault: echo %q", got)
	}
	// An address outside the topology's net, and an invalid fault.
	f.Scope.Target = netip.MustParseAddrPort("127.99.0.1:9443")
	if _, err := in.Fault(f); err == nil || !strings.Contains(err.Error(), "scope.target") {
		t.Errorf("a target outside the net: %v", err)
	}
	bad := config.NewFault(config.FaultKind("latency"))
	if _, err := in.Fault(bad); !errors.Is(err, proxy.ErrInvalidFault) {
		t.Errorf("latency without a latency: %v, want ErrInvalidFault", err)
	}
}

// A fault declared in the topology has its scope's addresses moved too.
func TestTopologyFaultIsMoved(t *testing.T) {
	y := twoAZ + "faults:\n  - {id: down, kind: target_reset, scope: {target: \"127.0.11.20:9443\"}, start_after: 1h}\n"
	in := Start(t, y)
	got := in.Config().Faults[0].Scope.Target
	if want := netip.AddrPortFrom(in.IP("127.0.11.20"), 9443); got != want {
		t.Errorf("fault scope.target %s, want %s", got, want)
	}
}
