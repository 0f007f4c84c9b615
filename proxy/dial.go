package proxy

import (
	"errors"
	"net/netip"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// The dial stage of a flow (port, provider rules, connect): from its
// registration with the target it picked to the target's accept, or to the
// client's RST.

// maxPortTries bounds the ports tried when the kernel refuses one (another
// socket on the host holds node:port towards the target).
const maxPortTries = 4

// connect takes a source port from the pool of (node, target), checks the
// provider-side rules for it and dials the target from node:port without
// waiting: the flow's loop goes on with established once the target
// accepts. On failure the client is answered. From here on the flow is
// registered with its target: terminations (endpoint rejected, target
// unhealthy or drained) and a reload's NACLs reach it while its target is
// dialled too. One that came between the pick and the registration is
// caught here (missedReset).
func (f *flow) connect(client *socket, failOpen bool) {
	pool, err := f.s.pool(f.r, f.t)
	if err != nil {
		f.s.log.Error("port pool", zap.Error(err))
		f.end(client, nil)
		return
	}
	f.t.addFlow(f)
	if f.missedReset(failOpen) {
		f.killed.Store(true)
		f.cut(client, nil)
		return
	}
	f.pool = pool
	f.dial(client, 0, time.Now())
}

// missedReset reports whether a termination that resets the flows of its
// target may have run between the flow's pick and its registration, and
// would have cut it: its endpoint is no longer available, an az_outage or
// a node_reset_all that covers it started (cutFlows), its target turned
// unhealthy (picked healthy, and reset as resetFlows' caller in
// healthResult would), or its drain ended with connection termination
// (finishDrain).
func (f *flow) missedReset(failOpen bool) bool {
	if !f.r.ep.available.Load() {
		return true
	}
	if fs := f.s.faults.active.Load(); fs != nil && f.missedFault(*fs) {
		return true
	}
	g := f.t.g
	cfg := g.cfg.Load()
	switch f.t.currentState() {
	case StateUnhealthy:
		if failOpen || !cfg.UnhealthyConnectionTermination {
			return false
		}
		g.mu.Lock() // healthResult holds it from the state change to its resets
		defer g.mu.Unlock()
		return g.healthyIn(f.t.az) > 0
	case StateUnused:
		return cfg.DeregistrationConnectionTermination
	}
	return false
}

// missedFault reports whether an active fault that cuts the live flows it
// covers when it starts (az_outage, node_reset_all) covers the flow; it
// counts the flow for the fault unless cutFlows cut it already.
func (f *flow) missedFault(fs []*fault) bool {
	for _, ft := range fs {
		var covers bool
		switch ft.spec.Kind {
		case config.FaultAZOutage:
			covers = f.r.az == ft.spec.Scope.AZ && ft.onRoute(f.r)
		case config.FaultNodeResetAll:
			covers = ft.onFlow(f.r, f.t)
		}
		if covers && ft.rolls() && f.killed.CompareAndSwap(false, true) {
			f.s.faults.hit(ft, 1)
			f.ct.Why = &conntrack.Cause{Fault: ft.spec.ID}
			return true
		}
	}
	return false
}

// dial makes try number try: another socket on the host may hold
// node:port towards the target, the kernel refuses it, and the next port
// is tried.
func (f *flow) dial(client *socket, try int, t0 time.Time) {
	port, ok := f.pool.Allocate()
	if !ok {
		f.portAllocationError(client)
		return
	}
	f.ct.Node = netip.AddrPortFrom(f.r.node, port)
	if !f.providerAllows(client, port) {
		return
	}
	if fs := f.s.faults.active.Load(); fs != nil && f.faultAtDial(*fs, client, t0) {
		return
	}
	target, pending, err := f.s.startDial(f.ct.Node, f.ct.Target)
	if !pending {
		f.dialed(client, target, err, try, t0)
		return
	}
	f.l.Watch(client) // its first bytes arrive while the target is dialled
	f.await(client, target, try, t0)
}

// providerAllows checks the provider-side rules (the NLB's and the
// target's security groups and subnet NACLs) for a connection from
// node:port, on every try: each port the kernel is asked for is one the
// rules allow. A denial answers the client.
func (f *flow) providerAllows(client *socket, port uint16) bool {
	pp := f.s.rules.Load().Provider(f.r.serviceID, f.r.node, f.ct.Target)
	if pp == nil || pp.Check(port, nil) {
		return true
	}
	var v acl.Verdict
	pp.Check(port, &v)
	f.denyTrace(&v)
	f.reject(conntrack.HopNode, v.Denied)
	f.pool.Release(port)
	f.pool = nil
	f.t.removeFlow(f)
	f.deny(client, v.Denied.String())
	return false
}

// await waits on the flow's loop for a connect in progress (terminate may
// abort it meanwhile), then goes on with dialed.
func (f *flow) await(client, target *socket, try int, t0 time.Time) {
	if testHookDialing != nil {
		testHookDialing(f)
	}
	f.dialing.Store(target)
	if f.killed.Load() { // terminate ran before the store: it could not abort
		target.abortConnect()
	}
	f.l.Connect(target, f.s.opts.DialTimeout, func(err error) {
		f.dialing.Store(nil)
		f.s.dials.remove(target.fd)
		if err != nil {
			target.Close()
			target = nil
			err = dialError(f.ct.Node, f.ct.Target, err)
		}
		f.dialed(client, target, err, try, t0)
	})
}

// dialed goes on after a dial: to the relay, to the next port, or to the
// client's RST; a flow terminated meanwhile ends with an RST (an ELB reset).
func (f *flow) dialed(client, target *socket, err error, try int, t0 time.Time) {
	if f.killed.Load() {
		f.cut(client, target)
		return
	}
	if err == nil {
		f.r.svc.dialDuration.Observe(time.Since(t0).Seconds())
		f.established(client, target)
		return
	}
	port := f.ct.Node.Port()
	if (errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)) && try+1 < maxPortTries {
		f.pool.Skip(port)
		f.dial(client, try+1, t0)
		return
	}
	f.pool.Release(port)
	f.pool = nil
	f.dialFailed(client, err)
}

// cut ends a flow terminated before it reached the relay with an RST to
// the client: an ELB reset, or a target reset by a target_reset fault.
func (f *flow) cut(client, target *socket) {
	if f.s.faults.flows.done(f) {
		f.r.svc.targetResets.Inc()
	} else {
		f.r.svc.elbResets.Inc()
	}
	f.end(client, target)
}

// portAllocationError answers a connection for which the node has no free
// port towards the target: the client gets an RST, as with NLB.
func (f *flow) portAllocationError(client *socket) {
	f.t.portErrors.Inc()
	f.ct.Node = netip.AddrPortFrom(f.r.node, 0)
	if fl := f.s.flowLog; fl != nil {
		fl.PortAllocationError(&f.ct)
	}
	f.s.log.Warn("port allocation error: the node has no free port towards the target (raise port_budget or add targets)",
		zap.String("service", f.r.serviceID), zap.Stringer("target", f.ct.Target))
	f.faultAtPortError()
	f.failed(conntrack.ReasonPortAllocation)
	f.end(client, nil)
}

// dialFailed gives the client an RST, as NLB does when the target refuses;
// a refusal, or a reset before the connect was seen done, counts as a
// target reset.
func (f *flow) dialFailed(client *socket, err error) {
	if f.s.targetReset(err) {
		f.r.svc.targetResets.Inc()
	}
	if ce := f.s.log.Check(zap.DebugLevel, "target dial failed"); ce != nil {
		ce.Write(zap.String("service", f.r.serviceID), zap.Stringer("target", f.ct.Target), zap.Error(err))
	}
	f.failed(dialReason(err))
	f.end(client, nil)
}
