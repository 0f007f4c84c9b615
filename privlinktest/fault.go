package privlinktest

import (
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// Fault adds a fault (docs/faults.md) to the running instance, as POST
// /v1/faults does: an AWS-shaped failure (az_outage, target_blackhole,
// node_reset_all, ...) or a toxic on live bytes (latency, bandwidth,
// reset_peer, ...). Addresses in its scope (node, target) are written as
// the topology writes them and moved onto the test's block. An invalid
// fault is an error naming the field (errors.Is proxy.ErrInvalidFault).
// Build it with config.NewFault(kind), which sets toxicity 1 (every flow
// in scope); a zero Toxicity affects no flow. The fault ends with the
// instance, or earlier with RemoveFault or its duration.
func (in *Instance) Fault(f config.Fault) (proxy.FaultInfo, error) {
	if f.Scope.Node.IsValid() {
		a, err := in.moveAddr(f.Scope.Node.String())
		if err != nil {
			return proxy.FaultInfo{}, fmt.Errorf("privlinktest: fault scope.node: %w", err)
		}
		f.Scope.Node = a
	}
	if t := f.Scope.Target; t.IsValid() {
		a, err := in.moveAddr(t.Addr().String())
		if err != nil {
			return proxy.FaultInfo{}, fmt.Errorf("privlinktest: fault scope.target: %w", err)
		}
		f.Scope.Target = netip.AddrPortFrom(a, t.Port())
	}
	return in.srv.AddFault(f)
}

// RemoveFault ends the fault id at once; new flows take the path as if it
// never was (as DELETE /v1/faults/{id}).
func (in *Instance) RemoveFault(id string) error { return in.srv.RemoveFault(id) }
