package relay

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// Owner is told when a flow ends and when it expires, and writes the
// header of flows with HeaderFirst. Its methods run on the flow's loop
// (FlowExpired also on the goroutine that called Expire): keep them short
// and never block in them.
type Owner interface {
	// AppendHeader appends the header to send to B with A's first bytes.
	AppendHeader(b []byte) []byte
	// FlowDone runs once, after both sockets are closed; Flow.Cause says why.
	FlowDone(*Flow)
	// FlowExpired runs when the idle timeout (or Expire) expired the flow.
	FlowExpired(*Flow)
	// FlowELBReset runs each time the engine resets a peer that sent after
	// the flow expired.
	FlowELBReset(*Flow)
}

// Closer is an optional interface of an Owner: FlowClosing runs once, just
// before the relay closes the flow's sockets, e.g. to read their final
// TCP_INFO counters.
type Closer interface {
	FlowClosing(*Flow)
}

// HalfCloser is an optional interface of an Owner: FlowHalfClosed runs
// when one direction ended with a FIN while the other still runs.
type HalfCloser interface {
	FlowHalfClosed(*Flow)
}

// Conn is a connected, non-blocking stream socket the relay moves bytes
// for: *net.TCPConn, or any socket with the same controls (privlink's own
// sockets, made with raw system calls, also implement FDer). Once a flow
// is started, only the engine touches its sockets, and it closes them.
type Conn interface {
	SyscallConn() (syscall.RawConn, error)
	SetLinger(sec int) error
	CloseWrite() error
	Close() error
}

// FDer is an optional interface of a Conn: its descriptor, without a
// RawConn.
type FDer interface {
	FD() int
}

// Causes of a flow's end besides a clean close (nil) and ErrClosed.
var (
	ErrResetA  = errors.New("relay: reset by A")
	ErrResetB  = errors.New("relay: reset by B")
	ErrExpired = errors.New("relay: idle timeout")
	// ErrTerminated: the owner cut the flow with Terminate.
	ErrTerminated = errors.New("relay: terminated")
)

// Flow is one relayed pair: A is the client side, B the target side. Set
// the exported fields, then pass it to Engine.Start; a Flow is not reused.
type Flow struct {
	A, B  Conn
	Owner Owner
	// IdleTimeout expires the flow after no traffic either way (0 = never).
	IdleTimeout time.Duration
	// HeaderFirst makes the relay write Owner.AppendHeader's bytes to B in
	// one write together with the first bytes A sends (PROXY protocol
	// placement "first_data"). If A closes without sending, no header is sent.
	HeaderFirst bool

	l           *Loop
	a, b        side
	ab, ba      dir
	links[Flow]      // in the loop's flows
	done        int8 // directions finished
	ended       bool // complete ran
	counted     bool // counts in the loop's load
	once        sync.Once
	cause       error

	expired atomic.Bool
	closed  bool   // FlowClosing ran
	segs    uint64 // segments received by both sockets at the last idle check
}

// Start relays f until both directions have ended. It returns at once.
func (e *Engine) Start(f *Flow) { e.Serve(f, nil) }

// Serve relays f like Start; registered, when not nil, runs once Kill and
// Terminate work on f, before Serve returns.
func (e *Engine) Serve(f *Flow, registered func()) {
	if !e.admit() {
		f.closeUnstarted(ErrClosed)
		if registered != nil {
			registered()
		}
		return
	}
	f.l = e.loops[int(e.next.Add(1))%len(e.loops)]
	f.l.post(op{kind: opStart, f: f})
	if registered != nil {
		registered()
	}
}

// admit counts a flow about to start; false when the engine is closed.
func (e *Engine) admit() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.flows.Add(1)
	return true
}

// closeUnstarted ends a flow the engine never took.
func (f *Flow) closeUnstarted(cause error) {
	f.ended = true
	f.once.Do(func() { f.cause = cause })
	f.A.Close()
	f.B.Close()
	if f.Owner != nil {
		f.Owner.FlowDone(f)
	}
}

// Start relays f on l: call it from a callback running on l (Listen's,
// Connect's). B may be the socket of a Connect on l that succeeded.
func (l *Loop) Start(f *Flow) {
	if !l.e.admit() {
		l.Release()
		f.closeUnstarted(ErrClosed)
		return
	}
	f.l = l
	f.counted = true
	l.start(f)
}

// start sets f up on its loop and moves what its sockets already hold.
func (l *Loop) start(f *Flow) {
	f.a.init(f, f.A, &f.ab, &f.ba)
	f.b.init(f, f.B, &f.ba, &f.ab)
	f.ab.init(f, &f.a, &f.b)
	f.ba.init(f, &f.b, &f.a)
	f.ab.first = f.HeaderFirst
	now := l.now
	f.ab.active.Store(now)
	f.ba.active.Store(now)
	l.flows.push(f)
	if f.a.fd < 0 || f.b.fd < 0 || l.e.closing.Load() {
		f.abort(ErrClosed, false)
		return
	}
	if err := f.a.attach(l); err != nil {
		f.abort(err, true)
		return
	}
	if err := f.b.attach(l); err != nil {
		f.abort(err, true)
		return
	}
	f.a.writable, f.b.writable = true, true
	f.ab.pump()
	f.ba.pump()
}

func (f *Flow) linksOf() *links[Flow] { return &f.links }

// Sockets returns A and B (conntrack.Sockets).
func (f *Flow) Sockets() (a, b syscall.Conn) { return f.A, f.B }

// Bytes returns the bytes relayed A→B and B→A so far.
func (f *Flow) Bytes() (ab, ba uint64) { return f.ab.n.Load(), f.ba.n.Load() }

// Cause is why the flow ended: nil for a clean close both ways, ErrResetA,
// ErrResetB, ErrExpired, ErrClosed, ErrTerminated, or another socket error.
// Read it from FlowDone on.
func (f *Flow) Cause() error { return f.cause }

// LastActivity is when data last moved in either direction (coarse).
func (f *Flow) LastActivity() time.Time {
	return time.Unix(0, max(f.ab.active.Load(), f.ba.active.Load()))
}

// Kill ends the flow at once (both sockets closed); FlowDone follows on
// the flow's loop. Call it only after Engine.Start (or Loop.Start).
func (f *Flow) Kill() { f.l.post(op{kind: opKill, f: f}) }

// Terminate ends the flow at once with an RST to both peers, as the load
// balancer does to flows of a target that turned unhealthy or finished
// draining; the cause is ErrTerminated. Call it only after Engine.Start.
func (f *Flow) Terminate() { f.l.post(op{kind: opTerminate, f: f}) }

// Expire stops forwarding at once, silently, as if the idle timeout had
// passed: the next peer that sends gets an RST (a stateless rule that now
// denies the flow, for example). Call it only after Engine.Start.
func (f *Flow) Expire() {
	if f.expired.CompareAndSwap(false, true) && f.Owner != nil {
		f.Owner.FlowExpired(f)
	}
}

// abort records cause, closes both sockets (with an RST when reset is
// set) and ends the flow. It runs on the loop.
func (f *Flow) abort(cause error, reset bool) {
	if f.ended {
		return
	}
	f.once.Do(func() { f.cause = cause })
	f.closing()
	for _, s := range []*side{&f.a, &f.b} {
		if reset && !s.closed {
			s.c.SetLinger(0)
		}
		s.close()
	}
	f.ab.finish()
	f.ba.finish()
}

// finished counts a direction's end; the second ends the flow.
func (f *Flow) finished() {
	if f.done++; f.done == 2 {
		f.complete()
	}
}

// complete runs when both directions finished.
func (f *Flow) complete() {
	f.ended = true
	f.once.Do(func() {}) // a clean end: cause stays nil
	f.closing()
	f.a.close()
	f.b.close()
	f.l.flows.remove(f)
	if f.counted {
		f.l.load.Add(-1)
	}
	if f.Owner != nil {
		f.Owner.FlowDone(f)
	}
	f.l.e.flows.Done()
}

// closing runs the owner's FlowClosing hook once.
func (f *Flow) closing() {
	if f.closed {
		return
	}
	f.closed = true
	if c, ok := f.Owner.(Closer); ok {
		c.FlowClosing(f)
	}
}

// checkIdle expires the flow after IdleTimeout without traffic. TCP
// keepalives from either peer count as traffic, as on NLB: they are seen as
// segments received by the sockets (TCP_INFO) between checks.
func (f *Flow) checkIdle(now int64) {
	to := int64(f.IdleTimeout)
	if to <= 0 || f.expired.Load() {
		// Expired flows are held until a peer sends (it gets an RST) or
		// closes: resetting quiet peers would tell them what AWS never does.
		return
	}
	idle := now - max(f.ab.active.Load(), f.ba.active.Load())
	if idle < to/2 {
		f.segs = 0
		return
	}
	segs := f.a.segsIn() + f.b.segsIn()
	switch {
	case f.segs == 0:
		f.segs = segs
	case segs != f.segs:
		f.segs = segs
		f.ab.active.Store(now)
	case idle >= to:
		f.Expire()
	}
}

// side is one socket of a flow, as the loop sees it.
type side struct {
	f       *Flow
	c       Conn
	fd      int
	in, out *dir // the direction reading it, the one writing it
	closed  bool
	// readable and writable are the socket's readiness as last seen: set
	// by an edge, cleared by EAGAIN (or a short read, unless ends).
	readable, writable bool
	// ends: the last event showed a FIN, an RST or urgent data queued (or
	// no event was seen yet). A read stops short before them and they
	// raise no new edge, so only EAGAIN shows the socket drained. Without
	// them, a read shorter than asked took all there was: anything that
	// arrives later raises a new edge.
	ends bool
}

func (s *side) init(f *Flow, c Conn, in, out *dir) {
	s.f, s.c, s.in, s.out, s.fd = f, c, in, out, connFD(c)
}

// event handles an epoll event of the socket.
func (s *side) event(ev uint32) {
	if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		s.writable = true
		if s.out.pending() {
			s.out.pump()
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLPRI) != 0 && !s.closed {
		s.readable = true
		s.ends = ev&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLPRI) != 0
		s.in.pump()
	}
}

// attach registers the socket with l, or takes over the registration of
// the Connect on l that made it.
func (s *side) attach(l *Loop) error {
	if s.fd < len(l.socks) {
		// Registered by Connect or Watch: readable only if it saw data.
		seen, ok := uint32(0), false
		switch h := l.socks[s.fd].h.(type) {
		case *connect:
			seen, ok = h.ev, h.c == s.c && h.ok
		case *watch:
			seen, ok = h.ev, h.c == s.c
		}
		if ok {
			l.socks[s.fd].h = s
			s.readable = seen&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLPRI) != 0
			s.ends = seen&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLPRI) != 0
			return nil
		}
	}
	// Newly registered: if data (or an end) is queued already, the
	// registration raises an event at once, with the mask that tells
	// whether one read will do; the loop's next wait returns it.
	return l.attach(s.fd, s, socketEvents)
}

func (s *side) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.f.l.detach(s.fd, s)
	s.c.Close()
}

func (s *side) segsIn() uint64 {
	if s.closed || s.fd < 0 {
		return 0
	}
	var info unix.TCPInfo
	if rawsock.TCPInfo(s.fd, &info) != nil {
		return 0
	}
	return uint64(info.Segs_in)
}
