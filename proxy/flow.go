package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/ppv2"
)

// flow is one forwarded connection: client ⇄ endpoint interface, node ⇄ target.
type flow struct {
	s      *Server
	r      *route
	client *net.TCPConn
	// target is set once after the dial, under mu, so that a forced
	// shutdown can close it; the flow's own goroutines read it freely.
	mu     sync.Mutex
	target *net.TCPConn
	killed bool
	src    netip.AddrPort // the client's address
	dst    netip.AddrPort // the chosen target
	start  time.Time

	abortOnce sync.Once
}

// serve runs the pipeline of SPEC §4 for one accepted connection.
func (f *flow) serve(ctx context.Context) {
	r := f.r
	r.zone.newFlows.Inc()
	r.zone.active.Inc()
	defer r.zone.active.Dec()

	dst, ok := r.tg.pick(r.az, f.src, r.addr)
	if !ok {
		f.s.log.Warn("no target in the node's AZ; resetting the client (enable cross_zone or add a target)",
			zap.String("service", r.serviceID), zap.String("az", r.az))
		resetConn(f.client)
		return
	}
	f.dst = dst
	t0 := time.Now()
	tc, err := f.s.dial(ctx, r.node, dst)
	r.svc.dialDuration.Observe(time.Since(t0).Seconds())
	if err != nil {
		f.dialFailed(err)
		return
	}
	if !f.setTarget(tc) {
		return
	}
	if !f.sendHeaderOnConnect() {
		return
	}
	f.forward()
	r.svc.flowDuration.Observe(time.Since(f.start).Seconds())
}

// setTarget records the target connection unless the flow was killed
// meanwhile.
func (f *flow) setTarget(tc *net.TCPConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.killed {
		tc.Close()
		return false
	}
	f.target = tc
	return true
}

// kill closes both sockets at once (forced shutdown); the flow's goroutines
// then return.
func (f *flow) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killed = true
	f.client.Close()
	if f.target != nil {
		f.target.Close()
	}
}

// dialFailed gives the client an RST, as NLB does when the target refuses;
// a refusal counts as a target reset.
func (f *flow) dialFailed(err error) {
	if errors.Is(err, syscall.ECONNREFUSED) {
		f.r.svc.targetResets.Inc()
	}
	if ce := f.s.log.Check(zap.DebugLevel, "target dial failed"); ce != nil {
		ce.Write(zap.String("service", f.r.serviceID), zap.Stringer("target", f.dst), zap.Error(err))
	}
	resetConn(f.client)
}

// sendHeaderOnConnect writes the PROXY v2 header right after the dial when
// the target group's placement is "connect".
func (f *flow) sendHeaderOnConnect() bool {
	tg := f.r.tg.cfg
	if !tg.ProxyProtocolV2 || tg.ProxyProtocolV2Placement != config.PlacementConnect {
		return true
	}
	var buf [ppv2.MaxLen]byte
	if _, err := f.target.Write(ppv2.AppendProxy(buf[:0], f.src, f.r.addr, f.r.endpointID)); err != nil {
		f.abort()
		return false
	}
	return true
}

// forward copies both ways until both directions ended, then closes.
func (f *flow) forward() {
	done := make(chan struct{})
	go f.targetToClient(done)
	f.clientToTarget()
	<-done
	f.client.Close()
	f.target.Close()
}

func (f *flow) clientToTarget() {
	tg := f.r.tg.cfg
	var first int64
	if tg.ProxyProtocolV2 && tg.ProxyProtocolV2Placement == config.PlacementFirstData {
		n, err := f.headerWithFirstData()
		first = int64(n)
		if err != nil || n == 0 {
			f.r.svc.bytesToTarget.Add(float64(first))
			f.ended(f.target, err)
			return
		}
	}
	n, err := io.Copy(f.target, f.client)
	f.r.svc.bytesToTarget.Add(float64(first + n))
	f.ended(f.target, err)
}

func (f *flow) targetToClient(done chan<- struct{}) {
	defer close(done)
	n, err := io.Copy(f.client, f.target)
	f.r.svc.bytesToClient.Add(float64(n))
	f.ended(f.client, err)
}

// firstDataSize is the buffer for the client's first bytes, which go out in
// one write together with the PROXY header.
const firstDataSize = 16 << 10

var firstDataPool = sync.Pool{New: func() any { b := make([]byte, ppv2.MaxLen+firstDataSize); return &b }}

// headerWithFirstData waits for the client's first bytes and writes them to
// the target in the same write as the PROXY v2 header, as NLB does. A client
// that closes without sending anything sends no header either: the target
// sees a connection without data, as behind AWS.
func (f *flow) headerWithFirstData() (int, error) {
	bp := firstDataPool.Get().(*[]byte)
	defer firstDataPool.Put(bp)
	b := ppv2.AppendProxy((*bp)[:0], f.src, f.r.addr, f.r.endpointID)
	h := len(b)
	n, err := f.client.Read((*bp)[h:])
	if n == 0 {
		if err == io.EOF {
			err = nil
		}
		return 0, err
	}
	if _, werr := f.target.Write((*bp)[:h+n]); werr != nil {
		return n, werr
	}
	return n, nil
}

// ended handles the end of one direction: a clean EOF propagates as a
// half-close; an error (a reset on either socket) resets both, as NLB does.
func (f *flow) ended(dst *net.TCPConn, err error) {
	if err == nil {
		dst.CloseWrite()
		return
	}
	f.abort()
}

// abort resets both sockets, once, counting who reset first.
func (f *flow) abort() {
	f.abortOnce.Do(func() {
		switch {
		case isReset(f.client):
			f.r.svc.clientResets.Inc()
		case isReset(f.target):
			f.r.svc.targetResets.Inc()
		}
		resetConn(f.client)
		if f.target != nil {
			resetConn(f.target)
		}
	})
}
