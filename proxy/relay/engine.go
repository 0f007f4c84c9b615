package relay

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// Options tune an Engine. The zero value is usable.
type Options struct {
	// ParkAfter is how long a direction may wait for data on its own
	// goroutine before it is parked in the engine's epoll set (default 1s).
	ParkAfter time.Duration
	// StartLinger is how long the directions of a flow started with Serve
	// wait for data on their own goroutines before they park (default 5ms).
	StartLinger time.Duration
	// MaxPipes bounds the pool of idle pipes (default 256).
	MaxPipes int
}

// Engine relays flows. Create it with New; it owns one epoll goroutine and
// one sweeper goroutine until Close.
type Engine struct {
	opts Options
	epfd int
	// epfile registers epfd with Go's netpoller; it owns (and closes) epfd.
	epfile *os.File
	evfd   int // wakes the epoll loop on Close
	slots  slotTable
	pipes  pipePool
	gen    atomic.Uint32
	now    atomic.Int64 // coarse clock, UnixNano, advanced by the sweeper

	mu     sync.Mutex
	closed bool
	stop   chan struct{}
	loops  sync.WaitGroup // the epoll and sweeper goroutines
	flows  sync.WaitGroup // started flows until their FlowDone returned
}

// ErrClosed is the cause of flows started after Close or killed by KillAll.
var ErrClosed = errors.New("relay: engine closed")

// New starts an engine.
func New(opts Options) (*Engine, error) {
	if opts.ParkAfter <= 0 {
		opts.ParkAfter = time.Second
	}
	if opts.StartLinger <= 0 {
		opts.StartLinger = 5 * time.Millisecond
	}
	if opts.MaxPipes <= 0 {
		opts.MaxPipes = 256
	}
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
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	e := &Engine{opts: opts, epfd: epfd, evfd: evfd, stop: make(chan struct{})}
	e.epfile = os.NewFile(uintptr(epfd), "relay-epoll")
	e.pipes.max = opts.MaxPipes
	e.slots.init()
	e.now.Store(time.Now().UnixNano())
	e.loops.Add(2)
	go e.pollLoop()
	go e.sweepLoop()
	return e, nil
}

// Close kills every flow still relayed and stops the engine's goroutines.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.KillAll()
	e.flows.Wait() // no direction touches the epoll set any more
	close(e.stop)
	var one [8]byte
	one[0] = 1
	unix.Write(e.evfd, one[:])
	e.loops.Wait()
	e.pipes.closeAll()
	unix.Close(e.evfd) // epfd: closed by pollLoop through epfile
	return nil
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// PipesInUse is the number of pipes holding or about to hold data: while
// every flow is idle it is 0.
func (e *Engine) PipesInUse() int { return int(e.pipes.inUse.Load()) }

// KillAll ends every flow at once: its sockets are closed and OnDone runs
// with ErrClosed as the cause.
func (e *Engine) KillAll() {
	e.slots.each(func(d *dir) {
		if d == &d.f.ab {
			d.f.abort(ErrClosed, false)
		}
	})
}

// pollLoop resumes parked directions whose socket became readable. The
// engine's epoll descriptor is itself waited on through Go's netpoller (an
// epoll set is readable while it has ready events), so the loop is an
// ordinary goroutine: no thread sits blocked in epoll_wait, and a wake-up
// costs no thread hand-off.
func (e *Engine) pollLoop() {
	defer e.loops.Done()
	defer e.epfile.Close()
	rc, err := e.epfile.SyscallConn()
	if err != nil {
		panic(fmt.Sprintf("relay: epoll fd: %v", err))
	}
	events := make([]unix.EpollEvent, 128)
	for {
		var n int
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = rawsock.EpollPoll(int(fd), events)
			return n > 0 || (werr != nil && werr != unix.EINTR)
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			panic(fmt.Sprintf("relay: epoll_wait: %v", err)) // EBADF/EINVAL: a bug, not a runtime condition
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == e.evfd {
				return
			}
			d := e.slots.get(int(ev.Fd))
			if d == nil || d.gen != uint32(ev.Pad) {
				continue // a stale event of a socket closed meanwhile
			}
			if d.state.CompareAndSwap(stateParked, stateRunning) {
				go d.run()
			}
		}
	}
}

// sweepLoop advances the coarse clock, parks idle directions and expires
// idle flows.
func (e *Engine) sweepLoop() {
	defer e.loops.Done()
	tick := max(e.opts.ParkAfter/2, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.sweep(now.UnixNano())
		}
	}
}

func (e *Engine) sweep(now int64) {
	e.now.Store(now)
	parkAfter := int64(e.opts.ParkAfter)
	e.slots.each(func(d *dir) {
		if d.state.Load() == stateRunning && !d.parkReq.Load() && now-d.active.Load() > parkAfter {
			d.requestPark()
		}
		if d == &d.f.ab {
			d.f.checkIdle(now)
		}
	})
}
