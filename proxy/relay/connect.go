package relay

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// Connect waits on l for the non-blocking connect of c (whose connect(2)
// returned EINPROGRESS) to finish, then runs done on l: nil when c is
// connected (then start c's flow on l with Loop.Start, which takes over
// the registration), or why it failed (os.ErrDeadlineExceeded after
// timeout, ErrClosed when the engine closes). Call it on l.
func (l *Loop) Connect(c Conn, timeout time.Duration, done func(error)) {
	x := &connect{l: l, c: c, done: done, fd: connFD(c), deadline: l.now + int64(timeout)}
	if x.fd < 0 {
		done(ErrClosed)
		return
	}
	if l.e.closing.Load() {
		done(ErrClosed)
		return
	}
	if err := l.attach(x.fd, x, socketEvents); err != nil {
		done(os.NewSyscallError("epoll_ctl", err))
		return
	}
	l.conns.push(x)
}

// connect is a connect in progress on a loop.
type connect struct {
	l              *Loop
	c              Conn
	fd             int
	deadline       int64
	done           func(error)
	ok             bool   // connected: the registration waits for Loop.Start
	ev             uint32 // the events seen
	links[connect]        // in the loop's connects
}

func (x *connect) event(ev uint32) {
	if x.ok {
		x.ev |= ev // connected; the flow has not started yet
		return
	}
	x.ev = ev
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) == 0 {
		if ev&unix.EPOLLOUT != 0 {
			x.finish(nil) // writable without an error: connected
		}
		return
	}
	v, err := rawsock.GetsockoptInt(x.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		x.finish(os.NewSyscallError("getsockopt", err))
	case v != 0:
		x.finish(os.NewSyscallError("connect", unix.Errno(v)))
	case rawsock.Connected(x.fd):
		x.finish(nil)
	default: // shut down while connecting (abortDials)
		x.finish(os.NewSyscallError("connect", unix.ECONNABORTED))
	}
}

// finish ends the wait: on success the socket stays registered for the
// flow; on failure the loop forgets it (the caller closes it).
func (x *connect) finish(err error) {
	x.l.conns.remove(x)
	if err == nil {
		x.ok = true
	} else {
		x.l.detach(x.fd, x)
	}
	x.done(err)
}

func (x *connect) linksOf() *links[connect] { return &x.links }

// Watch registers c, a socket a flow will be started for on l, ahead of
// that flow: the events it raises meanwhile (the client's first bytes
// while its target is dialled) are kept, so Loop.Start knows whether c
// holds data, and whether one read takes all of it, without a read that
// finds nothing. Call it on l.
func (l *Loop) Watch(c Conn) {
	if fd := connFD(c); fd >= 0 {
		l.attach(fd, &watch{c: c}, socketEvents) // on failure, Start registers c itself
	}
}

// watch keeps the events of a socket registered by Watch.
type watch struct {
	c  Conn
	ev uint32
}

func (x *watch) event(ev uint32) { x.ev |= ev }

// connFD is c's descriptor, or -1.
func connFD(c Conn) int {
	if f, ok := c.(FDer); ok {
		return f.FD()
	}
	fd := -1
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(x uintptr) { fd = int(x) })
	}
	return fd
}
