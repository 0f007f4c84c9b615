package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/ppv2"
	"github.com/privlink/privlink/proxy/relay"
)

// flow is one forwarded connection: client ⇄ endpoint interface, node ⇄ target.
type flow struct {
	relay.Flow // A = client, B = target

	s     *Server
	r     *route
	src   netip.AddrPort // the client's address
	dst   netip.AddrPort // the chosen target
	start time.Time
}

// serve runs the pipeline of SPEC §4 for one accepted connection, up to
// handing the two sockets to the relay engine.
func (f *flow) serve(ctx context.Context, client *net.TCPConn) {
	r := f.r
	r.zone.newFlows.Inc()
	r.zone.active.Inc()
	dst, ok := r.tg.pick(r.az, f.src, r.addr)
	if !ok {
		f.s.log.Warn("no target in the node's AZ; resetting the client (enable cross_zone or add a target)",
			zap.String("service", r.serviceID), zap.String("az", r.az))
		f.end(client, nil)
		return
	}
	f.dst = dst
	t0 := time.Now()
	target, err := f.s.dial(ctx, r.node, dst)
	r.svc.dialDuration.Observe(time.Since(t0).Seconds())
	if err != nil {
		f.dialFailed(client, err)
		return
	}
	if !f.prepareHeader(target) {
		f.end(client, target)
		return
	}
	f.A, f.B, f.Owner = client, target, f
	f.IdleTimeout = r.listener.IdleTimeout.D()
	f.s.eng.Start(&f.Flow)
}

// dialFailed gives the client an RST, as NLB does when the target refuses;
// a refusal counts as a target reset.
func (f *flow) dialFailed(client *net.TCPConn, err error) {
	if errors.Is(err, syscall.ECONNREFUSED) {
		f.r.svc.targetResets.Inc()
	}
	if ce := f.s.log.Check(zap.DebugLevel, "target dial failed"); ce != nil {
		ce.Write(zap.String("service", f.r.serviceID), zap.Stringer("target", f.dst), zap.Error(err))
	}
	f.end(client, nil)
}

// prepareHeader writes the PROXY v2 header right after the dial (placement
// "connect") or sets it up to go with the client's first bytes.
func (f *flow) prepareHeader(target *net.TCPConn) bool {
	tg := f.r.tg.cfg
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
	return ppv2.AppendProxy(b, f.src, f.r.addr, f.r.endpointID)
}

// end finishes a flow that never reached the relay: the client gets an RST.
func (f *flow) end(client, target *net.TCPConn) {
	resetConn(client)
	if target != nil {
		resetConn(target)
	}
	f.r.zone.active.Dec()
	f.s.flowEnded()
}

// FlowDone is called by the relay engine when both sockets are closed.
func (f *flow) FlowDone(rf *relay.Flow) {
	svc := &f.r.svc
	ab, ba := rf.Bytes()
	svc.bytesToTarget.Add(float64(ab))
	svc.bytesToClient.Add(float64(ba))
	switch rf.Cause() {
	case relay.ErrResetA:
		svc.clientResets.Inc()
	case relay.ErrResetB:
		svc.targetResets.Inc()
	}
	svc.flowDuration.Observe(time.Since(f.start).Seconds())
	f.r.zone.active.Dec()
	f.s.flowEnded()
}

// FlowELBReset is called by the relay engine when it reset a peer that sent
// after the idle timeout (TCP_ELB_Reset_Count).
func (f *flow) FlowELBReset(*relay.Flow) { f.r.svc.elbResets.Inc() }

// FlowExpired is called by the relay engine when the idle timeout expired
// the flow: forwarding stopped silently.
func (f *flow) FlowExpired(*relay.Flow) {
	if ce := f.s.log.Check(zap.DebugLevel, "idle timeout: flow expired"); ce != nil {
		ce.Write(zap.String("service", f.r.serviceID), zap.Stringer("target", f.dst))
	}
}
