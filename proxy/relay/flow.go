package relay

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Owner is told when a flow ends and when it expires, and writes the
// header of flows with HeaderFirst.
type Owner interface {
	// AppendHeader appends the header to send to B with A's first bytes.
	AppendHeader(b []byte) []byte
	// FlowDone runs once, after both sockets are closed; Flow.Cause says why.
	FlowDone(*Flow)
	// FlowExpired runs when the idle timeout expired the flow (from the
	// engine's sweeper; keep it short).
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

// Conn is a connected stream socket the relay moves bytes for:
// *net.TCPConn, or any socket with the same controls (privlink dials its
// targets with raw system calls).
type Conn interface {
	SyscallConn() (syscall.RawConn, error)
	SetReadDeadline(t time.Time) error
	SetLinger(sec int) error
	CloseWrite() error
	Close() error
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

	e      *Engine
	ab, ba dir
	done   atomic.Int32
	once   sync.Once
	cause  error

	expired atomic.Bool
	closed  atomic.Bool // FlowClosing ran
	segs    uint64      // segments received by both sockets at the last idle check
}

// Start relays f until both directions have ended. It returns at once;
// both directions start parked.
func (e *Engine) Start(f *Flow) {
	if !e.register(f) {
		return
	}
	for _, d := range []*dir{&f.ab, &f.ba} {
		if d.state.CompareAndSwap(stateNew, stateRunning) && !d.park() {
			go d.run()
		}
	}
}

// Serve relays f like Start, but runs the first moments of the flow
// without parking: B→A on a new goroutine and A→B on the caller's, each for
// up to Options.StartLinger of waiting before it parks. A short connection
// (request, answer, close) then never goes through the epoll set, and an
// idle one costs a goroutine only for the linger. registered runs once the
// flow is registered (Kill and Terminate work from then on), before any
// byte moves. Serve returns when A→B has finished or parked.
func (e *Engine) Serve(f *Flow, registered func()) {
	ok := e.register(f)
	if registered != nil {
		registered()
	}
	if !ok {
		return
	}
	deadline := time.Now().Add(e.opts.StartLinger)
	for _, d := range []*dir{&f.ba, &f.ab} {
		if !d.state.CompareAndSwap(stateNew, stateRunning) {
			continue // aborted meanwhile
		}
		d.parkReq.Store(true)
		d.src.SetReadDeadline(deadline)
		if d == &f.ba {
			go d.run()
		} else {
			d.run()
		}
	}
}

// register prepares f and adds it to the engine; false when the engine is
// closed (f has been aborted).
func (e *Engine) register(f *Flow) bool {
	f.e = e
	aRC, errA := f.A.SyscallConn()
	bRC, errB := f.B.SyscallConn()
	if errA != nil || errB != nil {
		f.abort(ErrClosed, false)
		return false
	}
	f.ab.init(f, f.A, f.B, aRC, bRC)
	f.ba.init(f, f.B, f.A, bRC, aRC)
	f.ab.first = f.HeaderFirst
	// Registration happens under e.mu, so Close's KillAll sees every flow
	// that got past this point.
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		f.e = nil // not counted in the engine's flows
		f.abort(ErrClosed, false)
		return false
	}
	e.flows.Add(1)
	now := e.now.Load()
	for _, d := range []*dir{&f.ab, &f.ba} {
		d.active.Store(now)
		d.gen = e.gen.Add(1)
		e.slots.set(d.fd, d)
	}
	e.mu.Unlock()
	return true
}

// Sockets returns A and B (conntrack.Sockets).
func (f *Flow) Sockets() (a, b syscall.Conn) { return f.A, f.B }

// Bytes returns the bytes relayed A→B and B→A so far.
func (f *Flow) Bytes() (ab, ba uint64) { return f.ab.n.Load(), f.ba.n.Load() }

// Cause is why the flow ended: nil for a clean close both ways, ErrResetA,
// ErrResetB, ErrExpired, ErrClosed, or another socket error.
func (f *Flow) Cause() error { return f.cause }

// LastActivity is when data last moved in either direction (coarse).
func (f *Flow) LastActivity() time.Time {
	return time.Unix(0, max(f.ab.active.Load(), f.ba.active.Load()))
}

// Kill ends the flow at once (both sockets closed); OnDone follows.
func (f *Flow) Kill() { f.abort(ErrClosed, false) }

// Terminate ends the flow at once with an RST to both peers, as the load
// balancer does to flows of a target that turned unhealthy or finished
// draining; the cause is ErrTerminated. Call it only after Engine.Start.
func (f *Flow) Terminate() { f.abort(ErrTerminated, true) }

// abort records cause, closes both sockets (with an RST when reset is
// set) and finishes the parked directions; running ones end on their own
// as their sockets fail.
func (f *Flow) abort(cause error, reset bool) {
	first := false
	f.once.Do(func() { f.cause, first = cause, true })
	if first {
		f.closing()
		for _, c := range []Conn{f.A, f.B} {
			if reset {
				c.SetLinger(0)
			}
			c.Close()
		}
	}
	for _, d := range []*dir{&f.ab, &f.ba} {
		if d.state.CompareAndSwap(stateParked, stateFinished) || d.state.CompareAndSwap(stateNew, stateFinished) {
			d.finished()
		}
	}
}

// complete runs when both directions finished.
func (f *Flow) complete() {
	f.once.Do(func() {}) // a clean end: cause stays nil
	for _, d := range []*dir{&f.ab, &f.ba} {
		if f.e != nil {
			f.e.slots.clear(d.fd, d)
		}
		d.releasePipe()
	}
	f.closing()
	f.A.Close()
	f.B.Close()
	if f.Owner != nil {
		f.Owner.FlowDone(f)
	}
	if f.e != nil {
		f.e.flows.Done()
	}
}

// closing runs the owner's FlowClosing hook once.
func (f *Flow) closing() {
	if c, ok := f.Owner.(Closer); ok && f.closed.CompareAndSwap(false, true) {
		c.FlowClosing(f)
	}
}

// Expire stops forwarding at once, silently, as if the idle timeout had
// passed: the next peer that sends gets an RST (a stateless rule that now
// denies the flow, for example). Call it only after Engine.Start.
func (f *Flow) Expire() {
	if f.expired.CompareAndSwap(false, true) {
		f.ab.requestPark()
		f.ba.requestPark()
		if f.Owner != nil {
			f.Owner.FlowExpired(f)
		}
	}
}

// checkIdle expires the flow after IdleTimeout without traffic. TCP
// keepalives from either peer count as traffic, as on NLB: they are seen as
// segments received by the sockets (TCP_INFO) between checks.
func (f *Flow) checkIdle(now int64) {
	to := int64(f.IdleTimeout)
	if to <= 0 {
		return
	}
	if f.expired.Load() {
		// Held until a peer sends (it gets an RST) or closes: resetting
		// quiet peers would tell them what AWS never does.
		return
	}
	idle := now - max(f.ab.active.Load(), f.ba.active.Load())
	if idle < to/2 {
		f.segs = 0
		return
	}
	segs := segsIn(f.A) + segsIn(f.B)
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

// segsIn returns the segments the socket received, or 0.
func segsIn(c Conn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint64
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO); err == nil {
			n = uint64(info.Segs_in)
		}
	})
	return n
}

// Direction states.
const (
	stateNew int32 = iota
	stateRunning
	stateParked
	stateFinished
)

// dir is one direction of a flow: it reads src and writes dst.
type dir struct {
	f            *Flow
	src, dst     Conn
	srcRC, dstRC syscall.RawConn
	fd           int // src's descriptor, the epoll and slot key while src is open
	gen          uint32
	armed        bool // src is registered in the engine's epoll set

	state   atomic.Int32
	parkReq atomic.Bool
	n       atomic.Uint64
	active  atomic.Int64 // coarse time data last moved

	p     *pipe
	first bool    // the owner's header goes out with the first bytes
	buf   *[]byte // bytes read and not yet written (with the header, the first time)
	bufN  int
	// spliced: bulk traffic moves through a pipe; until then, through buf.
	spliced bool
}

func (d *dir) init(f *Flow, src, dst Conn, srcRC, dstRC syscall.RawConn) {
	d.f, d.src, d.dst, d.srcRC, d.dstRC = f, src, dst, srcRC, dstRC
	d.fd = -1
	srcRC.Control(func(fd uintptr) { d.fd = int(fd) })
}

var aLongTimeAgo = time.Unix(1, 0)

// requestPark makes the direction's goroutine give up waiting in the
// netpoller and park in the engine's epoll set.
func (d *dir) requestPark() {
	if d.state.Load() != stateRunning {
		return
	}
	d.parkReq.Store(true)
	d.src.SetReadDeadline(aLongTimeAgo)
}

// finished counts a direction's end; the second ends the flow.
func (d *dir) finished() {
	if d.f.done.Add(1) == 2 {
		d.f.complete()
	}
}

func (d *dir) releasePipe() {
	if d.p != nil {
		d.f.e.pipes.put(d.p)
		d.p = nil
	}
	d.releaseBuf()
}
