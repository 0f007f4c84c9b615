package relay

import (
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	// Toxics shape the flow's bytes (toxic.go); nil: the usual path.
	Toxics *Toxics

	// l is the loop that runs the flow, owned by it; home is the loop it
	// started on, which other goroutines post to (a flow that moved
	// follows l: move.go).
	l, home     *Loop
	a, b        side
	ab, ba      dir
	links[Flow] // in the loop's wheel
	cause       error
	// HeaderFirst makes the relay write Owner.AppendHeader's bytes to B in
	// one write together with the first bytes A sends (PROXY protocol
	// placement "first_data"). If A closes without sending, no header is sent.
	HeaderFirst bool
	done        int8 // directions finished
	counted     bool // counts in the loop's load
	closed      bool // FlowClosing ran
	caused      bool // cause is set: the first one stays
	bulk        bool // counts in its loop's bulk flows (move.go)
	moved       bool // moved from home to l; a flow moves once
	ended       atomic.Bool
	// kills is the number of the last KillAll when the flow moved.
	kills uint32

	expired atomic.Bool
	// The idle timeout's state (idle.go), owned by the loop.
	segs uint32 // segments both sockets had received at the last sample; 0: none since data moved
	due  int64  // the time of the wheel slot the flow is in; 0: untimed
	kept int64  // when keepalives were last seen: the idle timer restarts
}

// Start relays f until both directions have ended. It returns at once.
func (e *Engine) Start(f *Flow) { e.Serve(f, nil) }

// Serve relays f like Start; registered, when not nil, runs once Kill and
// Terminate work on f, before Serve returns.
func (e *Engine) Serve(f *Flow, registered func()) {
	f.l = e.loops[int(e.next.Add(1))%len(e.loops)]
	f.home = f.l
	if !e.admit() {
		f.closeUnstarted(ErrClosed)
		if registered != nil {
			registered()
		}
		return
	}
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
	f.ended.Store(true)
	f.setCause(cause)
	f.A.Close()
	f.B.Close()
	if f.Owner != nil {
		f.Owner.FlowDone(f)
	}
}

// Start relays f on l: call it from a callback running on l (Listen's,
// Connect's). B may be the socket of a Connect on l that succeeded.
func (l *Loop) Start(f *Flow) {
	f.l, f.home = l, l
	if !l.e.admit() {
		l.Release()
		f.closeUnstarted(ErrClosed)
		return
	}
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
	l.wheel.add(f, f.checkIdle(now, l.wheel.tick))
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
	if f.Toxics != nil {
		f.startToxics(now)
	}
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

// Kill ends the flow (both sockets closed) on its loop's next turn;
// FlowDone follows there. Call it after Engine.Start (or Loop.Start); on
// a flow that has ended, or that the engine refused, it does nothing.
func (f *Flow) Kill() { f.post(opKill) }

// Terminate ends the flow with an RST to both peers, as the load balancer
// does to flows of a target that turned unhealthy or finished draining;
// the cause is ErrTerminated. Like Kill, it does nothing on a flow that
// has ended.
func (f *Flow) Terminate() { f.post(opTerminate) }

func (f *Flow) post(k opKind) {
	if f.home != nil && !f.ended.Load() {
		f.home.post(op{kind: k, f: f})
	}
}

// setCause records why the flow ends; the first cause stays.
func (f *Flow) setCause(err error) {
	if !f.caused {
		f.caused, f.cause = true, err
	}
}

// Expire stops forwarding silently, as if the idle timeout had passed:
// each direction stops at its next read (bytes already read still go
// out), and the next peer that sends gets an RST (a stateless rule that
// now denies the flow, for example). It may be called from any goroutine;
// called before Start, with Owner set, the flow starts expired.
func (f *Flow) Expire() {
	if f.expired.CompareAndSwap(false, true) && f.Owner != nil {
		f.Owner.FlowExpired(f)
	}
}

// abort records cause, closes both sockets (with an RST when reset is
// set) and ends the flow. It runs on the loop.
func (f *Flow) abort(cause error, reset bool) {
	if f.ended.Load() {
		return
	}
	f.setCause(cause)
	f.closing()
	for _, s := range []*side{&f.a, &f.b} {
		if reset && !s.closed {
			s.conn().SetLinger(0)
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
	f.ended.Store(true)
	f.caused = true // a clean end: cause stays nil
	f.closing()
	f.a.close()
	f.b.close()
	f.l.wheel.remove(f)
	if f.Toxics != nil {
		f.stopToxics()
	}
	if f.counted {
		f.l.load.Add(-1)
	}
	if f.bulk {
		f.l.bulk.Add(-1)
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

// side is one socket of a flow, as the loop sees it.
type side struct {
	f       *Flow
	fd      int
	in, out *dir // the direction reading it, the one writing it
	closed  bool
	// readable and writable are the socket's readiness as last seen: set
	// by an edge, cleared by EAGAIN (or a short read, unless ends).
	readable, writable bool
	// ends: the last event showed a FIN, an RST or urgent data queued. A
	// read stops short before them and they raise no new edge, so only
	// EAGAIN shows the socket drained. Without them, a read shorter than
	// asked took all there was: anything that arrives later raises a new
	// edge.
	ends bool
	// urgent: the peer sent urgent data (EPOLLPRI) that the direction has
	// not read past yet; inline: the socket has SO_OOBINLINE (urgent.go).
	urgent, inline bool
}

func (s *side) init(f *Flow, c Conn, in, out *dir) {
	s.f, s.in, s.out, s.fd = f, in, out, connFD(c)
}

// conn is the side's socket: Flow.A or Flow.B.
func (s *side) conn() Conn {
	if s == &s.f.a {
		return s.f.A
	}
	return s.f.B
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
		if ev&unix.EPOLLPRI != 0 {
			s.urgentData()
		}
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
			seen, ok = h.ev, h.c == s.conn() && h.ok
		case *watch:
			seen, ok = h.ev, h.c == s.conn()
		}
		if ok {
			l.socks[s.fd].h = s
			s.readable = seen&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLPRI) != 0
			s.ends = seen&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLPRI) != 0
			if seen&unix.EPOLLPRI != 0 {
				s.urgentData()
			}
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
	s.conn().Close()
}
