package relay

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// Listener accepts on a listening socket on the engine's first loop; a
// new connection is handled by that loop, or by another while the first
// is busy (move.go).
type Listener struct {
	fd       int
	accepted func(l *Loop, fd int, remote netip.AddrPort)
	failed   func(err error, backoff time.Duration)
	e        *Engine
	acks     sync.WaitGroup
	closed   bool
}

// Listen makes the engine accept on fd, a non-blocking listening socket
// (accepted sockets inherit its options, TCP_NODELAY among them). The
// first loop accepts; accepted runs with the new non-blocking socket on
// that loop while it has time to spare, else on the loop that owns fewest
// connections (move.go), which then owns it: a Flow started on it with
// Loop.Start, or Loop.Release when the connection ends without one.
// failed (may be nil) is told when accepting fails for lack of resources
// (descriptors, memory): the loop stops accepting for a back-off, from
// 5 ms doubling up to 1 s (its wait for events ends when the back-off
// does). The caller keeps fd and closes it after Listener.Close.
func (e *Engine) Listen(fd int, accepted func(l *Loop, fd int, remote netip.AddrPort), failed func(err error, backoff time.Duration)) *Listener {
	ln := &Listener{fd: fd, accepted: accepted, failed: failed, e: e}
	ln.acks.Add(1)
	if !e.loops[0].post(op{kind: opListen, ln: ln}) {
		ln.acks.Done() // the engine is closed: nothing accepts
	}
	ln.acks.Wait()
	return ln
}

// Close stops accepting; when it returns, no loop uses the socket any
// more and accepted is not called again.
func (ln *Listener) Close() {
	if ln.closed {
		return
	}
	ln.closed = true
	ln.acks.Add(1)
	if !ln.e.loops[0].post(op{kind: opUnlisten, ln: ln}) {
		ln.acks.Done()
	}
	ln.acks.Wait()
}

// loopListener is a listener's state on one loop.
type loopListener struct {
	l       *Loop
	ln      *Listener
	off     bool // backing off
	backoff time.Duration
	retry   int64
}

// acceptBatch bounds the accepts of one event: the listener is
// level-triggered, so the rest wait for the next round, after the other
// sockets' events.
const acceptBatch = 32

func (l *Loop) listen(ln *Listener) {
	defer ln.acks.Done()
	x := &loopListener{l: l, ln: ln}
	l.lns = append(l.lns, x)
	x.resume(l)
}

func (l *Loop) unlisten(ln *Listener) {
	defer ln.acks.Done()
	for i, x := range l.lns {
		if x.ln == ln {
			if !x.off {
				unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
				l.detach(ln.fd, x)
			}
			l.lns = append(l.lns[:i], l.lns[i+1:]...)
			return
		}
	}
}

// resume (re)registers the listening socket, level-triggered.
func (x *loopListener) resume(l *Loop) {
	if err := l.attach(x.ln.fd, x, unix.EPOLLIN); err != nil {
		x.pause(l, err)
		return
	}
	x.off = false
}

func (x *loopListener) pause(l *Loop, err error) {
	x.backoff = min(max(2*x.backoff, 5*time.Millisecond), time.Second)
	x.off, x.retry = true, l.now+int64(x.backoff)
	if l.resumeAt == 0 || x.retry < l.resumeAt {
		l.resumeAt = x.retry
	}
	if x.ln.failed != nil {
		x.ln.failed(err, x.backoff)
	}
}

// resumeListeners makes the listeners whose back-off is over accept again.
func (l *Loop) resumeListeners() {
	l.resumeAt = 0
	for _, x := range l.lns {
		if x.off && l.now >= x.retry {
			x.resume(l) // may back off again
		}
	}
	for _, x := range l.lns {
		if x.off && (l.resumeAt == 0 || x.retry < l.resumeAt) {
			l.resumeAt = x.retry
		}
	}
}

func (x *loopListener) event(uint32) {
	l := x.l
	for range acceptBatch {
		fd, remote, err := rawsock.Accept(x.ln.fd)
		switch err {
		case nil:
			x.backoff = 0
			to := l.placement()
			to.load.Add(1)
			if to == l {
				x.ln.accepted(l, fd, remote)
			} else if !to.post(op{kind: opAccepted, ln: x.ln, fd: fd, remote: remote}) {
				to.load.Add(-1)
				unix.Close(fd)
			}
			continue
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return
		}
		// Out of descriptors or memory: stop accepting here for a while
		// (a level-triggered listener would wake the loop at once again).
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, x.ln.fd, nil)
		l.detach(x.ln.fd, x)
		x.pause(l, err)
		return
	}
}
