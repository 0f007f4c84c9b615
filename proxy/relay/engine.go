package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Options tune an Engine. The zero value is usable.
type Options struct {
	// Loops is the number of event loops, each a goroutine locked to its
	// own thread with its own epoll set (default GOMAXPROCS). While the
	// engine runs, GOMAXPROCS is raised by Loops (see procs).
	Loops int
	// Tick is how often each loop checks the idle timeouts that came due
	// and its connects' deadlines (default 100ms): the precision of both.
	Tick time.Duration
	// MaxPipes bounds each loop's pool of idle pipes (default 128).
	MaxPipes int
}

// Engine relays flows on a few event loops. Create it with New; it owns
// its loops' goroutines until Close.
type Engine struct {
	opts  Options
	loops []*Loop
	next  atomic.Uint32
	gen   atomic.Uint32
	kills atomic.Uint32 // KillAll calls, numbered (move.go)

	mu      sync.Mutex
	closed  bool
	closing atomic.Bool    // closed, for the loops
	wg      sync.WaitGroup // the loops' goroutines and the ticker
	stop    chan struct{}  // stops the ticker
	flows   sync.WaitGroup // started flows until their FlowDone returned
}

// ErrClosed is the cause of flows started after Close or killed by KillAll.
var ErrClosed = errors.New("relay: engine closed")

// New starts an engine.
func New(opts Options) (*Engine, error) {
	if opts.Loops <= 0 {
		opts.Loops = baseProcs()
	}
	if opts.Tick <= 0 {
		opts.Tick = 100 * time.Millisecond
	}
	if opts.MaxPipes <= 0 {
		opts.MaxPipes = 128
	}
	e := &Engine{opts: opts}
	for i := 0; i < opts.Loops; i++ {
		l, err := newLoop(e)
		if err != nil {
			for _, l := range e.loops {
				l.close()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	addProcs(len(e.loops))
	e.wg.Add(len(e.loops) + 1)
	for _, l := range e.loops {
		go l.run()
	}
	e.stop = make(chan struct{})
	go e.tick()
	return e, nil
}

// Close kills every flow still relayed and stops the loops.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.closing.Store(true)
	e.mu.Unlock()
	e.KillAll()
	e.flows.Wait()
	for _, l := range e.loops {
		l.post(op{kind: opStop})
	}
	close(e.stop)
	e.wg.Wait()
	for _, l := range e.loops {
		l.close()
	}
	addProcs(-len(e.loops))
	return nil
}

// Release tells l that a connection it accepted ended without a flow
// started for it (Loop.Start): l owns one connection less.
func (l *Loop) Release() { l.load.Add(-1) }

// tick has the loops check their flows' idle timeouts every Tick.
func (e *Engine) tick() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			for _, l := range e.loops {
				l.post(op{kind: opSweep})
			}
		}
	}
}

// PipesInUse is the number of pipes holding or about to hold data: while
// every flow is idle it is 0.
func (e *Engine) PipesInUse() int {
	n := int64(0)
	for _, l := range e.loops {
		n += l.pipes.inUse.Load()
	}
	return int(n)
}

// KillAll ends every flow at once: its sockets are closed and FlowDone
// runs with ErrClosed as the cause.
func (e *Engine) KillAll() {
	gen := e.kills.Add(1)
	for _, l := range e.loops {
		l.post(op{kind: opKillAll, gen: gen})
	}
}

// Loop is one event loop: a goroutine locked to its thread, waiting in
// its own epoll set for the sockets of its flows. Everything about those
// flows (their sockets, buffers, pipes, ends) happens on it; other
// goroutines reach it through its inbox.
type Loop struct {
	e    *Engine
	epfd int
	evfd int // wakes the loop when its inbox gets an op

	mu      sync.Mutex
	inbox   []op
	spare   []op
	posted  bool // the eventfd was written since the loop last took the inbox
	stopped bool // the loop has stopped: posts are dropped
	// load is the connections the loop owns: accepted and not yet ended
	// (Release), or relayed and not yet done.
	load atomic.Int32
	// bulk is the loop's flows that carry bulk traffic (move.go).
	bulk atomic.Int32
	// busy is the share of the last sweep interval the loop's thread ran,
	// in thousandths (move.go).
	busy atomic.Int32

	// Owned by the loop's goroutine.
	socks []slot                  // by file descriptor
	wheel wheel                   // the loop's flows, by their next idle check
	conns list[connect, *connect] // connects in progress
	lns   []*loopListener
	// resumeAt is when the first listener that backed off accepts again
	// (0: none backs off).
	resumeAt int64
	ready    []*dir // directions that used up their budget with more to read
	buf      []byte // the buffer of a read and its write
	pipes    pipePool
	// now is the loop's coarse clock (UnixNano), read once per wait: the
	// time of data moved (Flow.LastActivity), of idle checks and deadlines.
	now int64
	// yielded is when the loop last went through the scheduler.
	yielded int64

	// timers are the toxic directions' (toxictimer.go).
	timers timerHeap
	// movers are flows that turned bulk and may move to a loop with fewer
	// bulk flows (move.go).
	movers []*Flow
	// killGen is the last KillAll the loop ran (move.go).
	killGen uint32
	// cpuAt and sweptAt are the thread's CPU time and the loop's clock at
	// the last sweep (move.go).
	cpuAt, sweptAt int64
}

// op is a request to a loop from another goroutine.
type op struct {
	kind   opKind
	f      *Flow
	ln     *Listener
	fd     int            // opAccepted
	remote netip.AddrPort // opAccepted
	tox    *Toxics        // opToxics
	gen    uint32         // opKillAll: its number (Engine.kills)
}

type opKind uint8

const (
	opStart opKind = iota
	opKill
	opTerminate
	opKillAll
	opStop
	opListen
	opUnlisten
	opSweep
	opAccepted
	opHold
	opToxics
	opAdopt
)

func newLoop(e *Engine) (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("relay: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("relay: epoll_ctl: %w", err)
	}
	l := &Loop{e: e, epfd: epfd, evfd: evfd, buf: make([]byte, 0, hdrRoom+msgBufSize)}
	l.pipes.max = e.opts.MaxPipes
	l.now = time.Now().UnixNano()
	l.wheel.init(int64(e.opts.Tick), l.now)
	return l, nil
}

func (l *Loop) close() {
	l.pipes.closeAll()
	unix.Close(l.evfd)
	unix.Close(l.epfd)
}

// post hands an op to the loop, waking it unless a wake-up is pending; it
// reports false when the loop has stopped (the op is dropped).
func (l *Loop) post(o op) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.inbox = append(l.inbox, o)
	wake := !l.posted
	l.posted = true
	l.mu.Unlock()
	if wake {
		one := uint64(1)
		unix.Write(l.evfd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
	return true
}

// run is the loop: wait, dispatch the sockets' events, run the
// directions that are due, and take the inbox (the ticker's sweeps come
// through it too).
func (l *Loop) run() {
	defer l.e.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := epollWait(l.epfd, events, l.waitTimeout())
		if err != nil && err != unix.EINTR {
			panic(fmt.Sprintf("relay: epoll_wait: %v", err)) // EBADF/EINVAL: a bug
		}
		l.now = time.Now().UnixNano()
		if l.now-l.yielded > yieldEvery {
			l.yielded = l.now
			runtime.Gosched()
		}
		if l.resumeAt != 0 && l.now >= l.resumeAt {
			l.resumeListeners()
		}
		if len(l.timers.h) > 0 {
			l.timers.run(l.now)
		}
		inbox := false
		for _, ev := range events[:n] {
			if int(ev.Fd) == l.evfd {
				inbox = true
				continue
			}
			if fd := int(ev.Fd); fd < len(l.socks) {
				if sl := l.socks[fd]; sl.h != nil && sl.gen == uint32(ev.Pad) {
					sl.h.event(ev.Events)
				} // else: a socket closed meanwhile
			}
		}
		if len(l.ready) > 0 {
			l.runReady()
		}
		if len(l.movers) > 0 {
			l.moveBulk()
		}
		if inbox && l.takeInbox() {
			l.stop()
			return
		}
	}
}

// waitTimeout is how long the loop may wait for events, in milliseconds
// (-1: until one comes): not at all with directions ready, until its
// first listener that backed off may accept again.
func (l *Loop) waitTimeout() int {
	switch {
	case len(l.ready) > 0:
		return 0
	case l.resumeAt != 0:
		ms := int(max(0, (l.resumeAt-l.now+int64(time.Millisecond)-1)/int64(time.Millisecond)))
		if t := l.timers.wait(l.now); t >= 0 {
			ms = min(ms, t)
		}
		return ms
	}
	return l.timers.wait(l.now)
}

// yieldEvery is how often a busy loop goes through Go's scheduler
// (runtime.Gosched). A goroutine that never does looks to sysmon like one
// running for 10 ms straight: sysmon then preempts it with a signal, or
// takes its processor while it waits in epoll_pwait, and each time it does,
// sysmon itself polls every 20 µs again for a while. Measured on the
// connection test: sysmon's wake-ups 0.21 → 0.02 per connection, no
// preemption signals, 2–3 µs less proxy CPU per connection.
const yieldEvery = int64(8 * time.Millisecond)

// epollWait waits in epoll_pwait; the thread gives its processor up to
// the scheduler (syscall.Syscall6 enters a system call) while it blocks.
func epollWait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	var n uintptr
	var e syscall.Errno
	if msec == 0 {
		n, _, e = syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	} else {
		n, _, e = syscall.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// stop marks the loop stopped: later posts are dropped, and ops that came
// after opStop are answered (a Listener waits for its acks).
func (l *Loop) stop() {
	l.mu.Lock()
	l.stopped = true
	ops := l.inbox
	l.inbox = nil
	l.mu.Unlock()
	for _, o := range ops {
		switch o.kind {
		case opListen, opUnlisten:
			o.ln.acks.Done()
		case opAccepted:
			unix.Close(o.fd)
		}
	}
}

// takeInbox runs the ops posted to the loop; true means stop.
func (l *Loop) takeInbox() bool {
	var b [8]byte
	unix.Read(l.evfd, b[:])
	l.mu.Lock()
	ops := l.inbox
	l.inbox, l.spare = l.spare[:0], nil
	l.posted = false
	l.mu.Unlock()
	stop := false
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opStart:
			l.start(o.f)
		case opKill, opTerminate, opHold, opToxics:
			if o.f.l != l { // the flow moved: its loop runs it (move.go)
				o.f.l.post(*o)
				break
			}
			switch o.kind {
			case opKill:
				o.f.abort(ErrClosed, false)
			case opTerminate:
				o.f.abort(ErrTerminated, true)
			case opHold:
				o.f.hold()
			case opToxics:
				o.f.setToxics(o.tox)
			}
		case opKillAll:
			l.killGen = max(l.killGen, o.gen)
			l.wheel.each(func(f *Flow) { f.abort(ErrClosed, false) })
			l.conns.each(func(x *connect) { x.finish(ErrClosed) })
		case opListen:
			l.listen(o.ln)
		case opUnlisten:
			l.unlisten(o.ln)
		case opAccepted:
			o.ln.accepted(l, o.fd, o.remote)
		case opSweep:
			l.sweep()
		case opAdopt:
			l.adopt(o.f)
		case opStop:
			stop = true
		}
		*o = op{}
	}
	l.mu.Lock()
	if l.spare == nil {
		l.spare = ops[:0]
	}
	l.mu.Unlock()
	return stop
}

// runReady gives the directions that used up their budget another turn,
// after the events of this round (fairness among flows).
func (l *Loop) runReady() {
	ready := l.ready
	l.ready = nil
	for _, d := range ready {
		d.queued = false
		d.pump()
	}
	if l.ready == nil {
		l.ready = ready[:0]
	}
}

// sweep runs the idle checks that came due and ends connects past their
// deadline.
func (l *Loop) sweep() {
	l.measureBusy()
	l.wheel.advance(l.now)
	l.conns.each(func(x *connect) {
		if l.now >= x.deadline {
			x.finish(os.ErrDeadlineExceeded)
		}
	})
}

// handler is what the loop calls with a socket's epoll events.
type handler interface{ event(ev uint32) }

// slot is the handler of a descriptor, with the generation its epoll
// registration carries: an event of a closed socket whose number was
// reused meanwhile does not match.
type slot struct {
	h   handler
	gen uint32
}

// socketEvents are the epoll events of a connection's socket,
// edge-triggered for reading and writing: the loop tracks readiness
// itself and never re-arms.
const socketEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLET

// attach adds fd to the loop's epoll set for h, with a new generation.
func (l *Loop) attach(fd int, h handler, events uint32) error {
	if fd >= len(l.socks) {
		n := max(2*len(l.socks), fd+1, 1024)
		socks := make([]slot, n)
		copy(socks, l.socks)
		l.socks = socks
	}
	gen := l.e.gen.Add(1)
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(gen)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	l.socks[fd] = slot{h, gen}
	return nil
}

// detach forgets fd's handler h before the socket is closed (closing
// removes it from the epoll set).
func (l *Loop) detach(fd int, h handler) {
	if fd >= 0 && fd < len(l.socks) && l.socks[fd].h == h {
		l.socks[fd] = slot{}
	}
}
