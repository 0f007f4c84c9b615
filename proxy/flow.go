package proxy

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/proxy/ppv2"
	"github.com/privlink/privlink/proxy/relay"
)

// flow is one forwarded connection: client ⇄ endpoint interface, node ⇄ target.
type flow struct {
	relay.Flow // A = client, B = target

	s *Server
	r *route
	t *target
	l *relay.Loop // the loop that accepted the client (a bulk flow may move on: relay/move.go)

	// killed and relayed make terminate safe at any point of the pipeline:
	// whichever of serve and terminate comes second cuts the flow.
	killed, relayed atomic.Bool
	// recheck: a reload's NACLs are to be applied to the flow, by
	// recheckFlows once it is relayed, else by established (recheck.go).
	recheck atomic.Bool
	denied  bool                   // deny ran: the flow left privlink_active_flows
	dialing atomic.Pointer[socket] // the target socket while its connect is in progress

	// ct is the flow in the connection table: the client (Client), the
	// target (Target), the node's port (Node), the start (Start).
	ct   conntrack.Entry
	st   conntrack.ConnStats // its live counters
	pool *conntrack.Pool     // the node's port pool towards the target
}

// serve runs the pipeline (endpoint state, rules, target choice, dial) for
// one accepted connection, up to handing the two sockets to the relay
// engine.
func (f *flow) serve(client *socket) {
	r := f.r
	r.zone.newFlows.Inc()
	r.zone.active.Inc()
	if fs := f.s.faults.active.Load(); fs != nil && f.faultAtAccept(*fs, client) {
		return
	}
	if !r.ep.available.Load() {
		f.deniedState()
		f.deny(client, hopEndpointState)
		return
	}
	if !r.consumer.Check(f.ct.Client, nil) {
		var v acl.Verdict
		r.consumer.Check(f.ct.Client, &v)
		f.denyTrace(&v)
		f.reject(conntrack.HopInterface, v.Denied)
		f.deny(client, v.Denied.String())
		return
	}
	t, failOpen := r.tg.pick(r.az, f.ct.Client, r.addr)
	if t == nil {
		f.s.log.Warn("no registered target for the node's AZ; resetting the client (enable cross_zone or register a target)",
			zap.String("service", r.serviceID), zap.String("az", r.az))
		f.failed(conntrack.ReasonNoTarget)
		f.end(client, nil)
		return
	}
	if failOpen {
		r.svc.unhealthyRouting.Inc()
	}
	f.t, f.ct.Target = t, t.addr
	if testHookPicked != nil {
		testHookPicked(f)
	}
	f.connect(client, failOpen)
}

// testHookPicked and testHookDialing, when set by a test, run on the
// flow's loop right after the flow picked its target (before it is
// registered with it) and right before its connect is marked in progress.
var testHookPicked, testHookDialing func(*flow)

// established hands a flow whose target is connected to the relay. A
// reload's NACLs that came while the target was dialled apply before the
// first byte moves; a termination that races the start cuts the flow
// right after it.
func (f *flow) established(client, target *socket) {
	if !f.prepareHeader(target) {
		f.end(client, target)
		return
	}
	f.A, f.B, f.Owner = client, target, f
	f.IdleTimeout = f.r.listener.IdleTimeout.D()
	var toxic []*fault
	if fs := f.s.faults.active.Load(); fs != nil {
		toxic = f.faultAtStart(*fs)
	}
	f.st = conntrack.ConnStats{Src: &f.Flow}
	f.ct.Stats = &f.st
	f.s.table.Insert(&f.ct)
	f.s.table.SetState(&f.ct, conntrack.StateEstablished)
	f.recheckHere()
	f.l.Start(&f.Flow)
	f.relayed.Store(true)
	if toxic != nil { // now SetToxics reaches the flow
		f.s.faults.flows.track(f, toxic)
	}
	f.recheckHere()
	if f.killed.Load() {
		f.Terminate()
	}
}

// terminate resets both peers of the flow: at once when it is relayed;
// a dial in progress is aborted, and the client reset when the loop sees
// it fail (dialed).
func (f *flow) terminate() {
	f.killed.Store(true)
	if f.relayed.Load() {
		f.Terminate()
		return
	}
	if c := f.dialing.Load(); c != nil {
		c.abortConnect()
	}
}

// deny applies deny_action to a connection the rules or the endpoint state
// refuse: nothing is forwarded. "reset" answers with an RST at once; "drop"
// (AWS: packets vanish, clients time out) holds the socket silently until
// the client gives up or Options.DenyHold passes.
func (f *flow) deny(client *socket, hop string) {
	r := f.r
	f.denied = true
	r.zone.active.Dec() // not a flow: held ones count in privlink_held_denied_connections
	f.s.m.rejected.WithLabelValues(r.serviceID, hop).Inc()
	if ce := f.s.log.Check(zap.DebugLevel, "flow denied"); ce != nil {
		ce.Write(zap.String("service", r.serviceID), zap.String("endpoint", r.endpointID), zap.String("hop", hop))
	}
	f.denyAction(client)
}

// denyAction answers a denied connection as deny_action says.
func (f *flow) denyAction(client *socket) {
	if f.s.top.Load().cfg.DenyAction != config.DenyReset {
		// Held off the loop: the hold waits in Go's netpoller.
		go func() {
			f.s.hold(client)
			f.end(client, nil)
		}()
		return
	}
	f.end(client, nil)
}

// reject records a denial: a REJECT flow-log record on the interface that
// denied it (for a return-path hop, ACCEPT for the request and REJECT for
// the reply), and a denied entry in the table while the client is held.
func (f *flow) reject(where conntrack.Hop, hop acl.Hop) {
	if fl := f.s.flowLog; fl != nil {
		fl.Reject(&f.ct, where, isReturnHop(hop))
	}
	f.s.table.InsertAs(&f.ct, conntrack.StateDenied)
}

func isReturnHop(h acl.Hop) bool {
	switch h {
	case acl.HopEndpointNACLEgressReturn, acl.HopClientNACLIngressReturn, acl.HopTargetNACLEgressReturn, acl.HopNodeNACLIngressReturn:
		return true
	}
	return false
}

// prepareHeader writes the PROXY v2 header right after the dial (placement
// "connect") or sets it up to go with the client's first bytes.
func (f *flow) prepareHeader(target *socket) bool {
	tg := f.r.tg.cfg.Load()
	if !tg.ProxyProtocolV2 {
		return true
	}
	if tg.ProxyProtocolV2Placement == config.PlacementConnect {
		var buf [ppv2.MaxLen]byte
		_, err := target.Write(f.AppendHeader(buf[:0]))
		return err == nil
	}
	f.HeaderFirst = true
	return true
}

// AppendHeader appends the flow's PROXY v2 header: the client's address,
// the endpoint interface and listener port, and the endpoint ID.
func (f *flow) AppendHeader(b []byte) []byte {
	return ppv2.AppendProxy(b, f.ct.Client, f.r.addr, f.r.endpointID)
}

// end finishes a flow that never reached the relay: the client gets an RST.
func (f *flow) end(client, target *socket) {
	resetConn(client)
	if target != nil {
		target.SetLinger(0)
		target.Close()
	}
	if f.pool != nil {
		f.pool.Release(f.ct.Node.Port())
	}
	if f.t != nil {
		f.t.removeFlow(f)
		f.s.faults.flows.done(f) // forget what faults tracked of it
	}
	f.s.table.Remove(&f.ct)
	if !f.denied {
		f.r.zone.active.Dec()
	}
	f.l.Release()
	f.s.flowEnded()
}

// FlowDone is called by the relay engine when both sockets are closed.
func (f *flow) FlowDone(rf *relay.Flow) {
	svc := &f.r.svc
	ab, ba := rf.Bytes()
	byTarget := f.s.faults.flows.done(f)
	svc.bytesToTarget.Add(float64(ab))
	svc.bytesToClient.Add(float64(ba))
	switch rf.Cause() {
	case relay.ErrResetA:
		svc.clientResets.Inc()
	case relay.ErrResetB:
		svc.targetResets.Inc()
	case relay.ErrTerminated:
		if byTarget { // a target_reset fault: the target sent it
			svc.targetResets.Inc()
		} else {
			svc.elbResets.Inc()
		}
	}
	f.t.removeFlow(f)
	f.s.table.Remove(&f.ct)
	f.pool.Release(f.ct.Node.Port())
	svc.flowDuration.Observe(time.Since(f.ct.Start).Seconds())
	f.r.zone.active.Dec()
	f.s.flowEnded()
}

// FlowELBReset is called by the relay engine when it reset a peer that sent
// after the idle timeout (TCP_ELB_Reset_Count).
func (f *flow) FlowELBReset(*relay.Flow) { f.r.svc.elbResets.Inc() }

// FlowExpired is called by the relay engine when the idle timeout expired
// the flow: forwarding stopped silently.
func (f *flow) FlowExpired(*relay.Flow) {
	f.s.table.SetState(&f.ct, conntrack.StateExpired)
	if ce := f.s.log.Check(zap.DebugLevel, "idle timeout: flow expired"); ce != nil {
		ce.Write(zap.String("service", f.r.serviceID), zap.Stringer("target", f.ct.Target))
	}
}

// hopEndpointState is the rejected_flows_total hop of connections to an
// endpoint that is not available (pending acceptance, rejected, deleted).
const hopEndpointState = "endpoint_state"

// DefaultDenyHold is the default Options.DenyHold: about as long as a
// Linux client retries a SYN that gets no answer.
const DefaultDenyHold = 2 * time.Minute

// DefaultMaxHeld is the default Options.MaxHeld.
const DefaultMaxHeld = 4096

// FlowClosing samples the sockets' final counters for the table and the
// flow logs just before the relay closes them.
func (f *flow) FlowClosing(*relay.Flow) {
	if f.s.flowLog != nil {
		f.st.Sample()
	}
}

// FlowHalfClosed marks the flow closing in the table: one side sent its
// FIN, the other still sends.
func (f *flow) FlowHalfClosed(*relay.Flow) { f.s.table.SetState(&f.ct, conntrack.StateClosing) }
