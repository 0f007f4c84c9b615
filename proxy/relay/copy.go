package relay

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// maxChunk is the most one splice asks for; the pipe's capacity is the real bound.
const maxChunk = 1 << 20

// msgBufSize is the size of a loop's read buffer: a read that fills it
// shows bulk traffic, and the direction moves on to splice.
const msgBufSize = 16 << 10

// hdrRoom is the room before the data for a PROXY header.
const hdrRoom = 256

// pumpBudget is the most a direction moves before the other sockets of
// its loop get their turn.
const pumpBudget = 1 << 20

// leftovers holds what a write could not take, until the socket takes it:
// rare (a peer slower than its sender), so copied out of the loop's buffer.
var leftovers = sync.Pool{New: func() any { b := make([]byte, 0, hdrRoom+msgBufSize); return &b }}

// dir is one direction of a flow: it reads src and writes dst.
type dir struct {
	f        *Flow
	src, dst *side
	n        atomic.Uint64
	active   atomic.Int64 // coarse time data last moved

	finished bool
	queued   bool // in the loop's ready list
	first    bool // the owner's header goes out with the first bytes
	spliced  bool // bulk traffic: bytes move through a pipe
	p        *pipe
	left     *[]byte // bytes read and not yet written (with the header, the first time)
	leftN    int     // of them, already written
	unsent   int     // payload bytes read and not yet written in full
}

func (d *dir) init(f *Flow, src, dst *side) { d.f, d.src, d.dst = f, src, dst }

// pending reports bytes read and not yet written.
// A direction with toxics may always have some (pumpToxic knows).
func (d *dir) pending() bool {
	return d.left != nil || (d.p != nil && d.p.data > 0) || d.f.Toxics != nil
}

// pump moves what src has to dst until src has nothing (EAGAIN), dst
// takes no more (EAGAIN: its EPOLLOUT resumes the direction), the
// direction ends, or the budget is spent (the direction waits in the ready
// list for its next turn).
func (d *dir) pump() {
	if d.f.Toxics != nil {
		d.pumpToxic()
		return
	}
	moved := 0
	for !d.finished {
		if d.pending() && !d.drain() {
			return
		}
		if !d.src.readable {
			return
		}
		if d.f.expired.Load() {
			d.resetAfterExpiry()
			return
		}
		if moved >= pumpBudget {
			d.yield()
			return
		}
		n, err, werr := d.move()
		if !d.settle(n, err, werr) {
			return
		}
		moved += n
	}
}

// drain writes what is pending to dst; false: the direction waits (dst is
// full) or has ended.
func (d *dir) drain() bool {
	if d.dst.closed { // reset after the flow expired: nothing more goes there
		d.release()
		return true
	}
	if !d.dst.writable {
		return false
	}
	err := d.flush()
	switch {
	case err == nil:
		return true
	case err == unix.EAGAIN:
		d.dst.writable = false
	default:
		d.fail(err, false)
	}
	return false
}

// yield puts the direction in the loop's ready list: it goes on after the
// other sockets' events of this round.
func (d *dir) yield() {
	if !d.queued {
		d.queued = true
		d.f.l.ready = append(d.f.l.ready, d)
	}
}

// move moves the next bytes: spliced once the direction carries bulk
// (unless urgent data waits: splice stops at its mark), else through the
// loop's buffer.
func (d *dir) move() (int, error, error) {
	if d.spliced && !d.first && !d.src.urgent {
		return d.spliceIn()
	}
	return d.readWrite()
}

// settle acts on a move's outcome; false: the direction waits or has ended.
func (d *dir) settle(n int, err, werr error) bool {
	switch {
	case err == unix.EAGAIN:
		d.src.readable = false
		d.src.urgent = false // read past any urgent mark: the socket is drained
		if d.p != nil && d.p.data == 0 {
			d.f.l.pipes.put(d.p)
			d.p = nil
		}
	case err != nil:
		d.fail(err, true)
	case werr != nil:
		d.fail(werr, false)
	case n == 0:
		d.eof()
	default:
		return true
	}
	return false
}

// readWrite reads into the loop's buffer and writes it to dst at once. It
// returns the bytes read, the read's error and the write's.
func (d *dir) readWrite() (int, error, error) {
	b, n, err := d.read()
	if err != nil || n == 0 {
		return n, err, nil
	}
	return n, nil, d.write(b, n)
}

// read reads what src has into the loop's buffer, after the owner's header
// the first time; b is the header and the n bytes read. A read that fills
// the buffer shows bulk traffic: the direction moves on to splice.
func (d *dir) read() (b []byte, n int, err error) {
	b = d.f.l.buf[:0]
	if d.first {
		b = d.f.Owner.AppendHeader(b)
	}
	n, err = readFD(d.src.fd, b[len(b):cap(b)])
	if err != nil || n == 0 {
		return nil, n, err
	}
	if len(b)+n == cap(b) {
		d.spliced = true
		d.f.turnedBulk()
	} else if !d.src.ends {
		d.src.readable = false // a short read took all there was
	}
	d.first = false
	return b[:len(b)+n], n, nil
}

// write writes b, n bytes of payload after a header, to dst if it is
// writable; what dst does not take waits in left, copied out of the
// loop's buffer.
func (d *dir) write(b []byte, n int) error {
	w := 0
	if d.dst.writable {
		var err error
		w, err = writeFD(d.dst.fd, b)
		switch {
		case err == unix.EAGAIN:
			d.dst.writable = false
			w = 0
		case err != nil:
			return err
		}
	}
	if w == len(b) {
		d.sent(n)
		return nil
	}
	d.left = leftovers.Get().(*[]byte)
	*d.left = append((*d.left)[:0], b[w:]...)
	d.leftN = 0
	d.unsent = n
	return nil
}

// flush writes what is pending to dst.
func (d *dir) flush() error {
	if d.left != nil {
		for d.leftN < len(*d.left) {
			w, err := writeFD(d.dst.fd, (*d.left)[d.leftN:])
			if err != nil {
				return err
			}
			d.leftN += w
		}
		leftovers.Put(d.left)
		d.left = nil
		d.sent(d.unsent)
		d.unsent = 0
		return nil
	}
	for d.p.data > 0 {
		n, err := unix.Splice(d.p.r, nil, d.dst.fd, nil, d.p.data, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch err {
		case unix.EINTR:
			continue
		case nil:
			d.p.data -= int(n)
			d.sent(int(n))
			continue
		}
		return err
	}
	return nil
}

// spliceIn moves what src has into the direction's pipe, then out to dst.
// Without a pipe (out of descriptors), the direction goes on through the
// loop's buffer; a later full read tries to get a pipe again.
func (d *dir) spliceIn() (int, error, error) {
	l := d.f.l
	if d.p == nil {
		p, err := l.pipes.get(l.now)
		if err != nil {
			d.spliced = false
			return d.readWrite()
		}
		d.p = p
	}
	for {
		n, err := rawsock.Splice(d.src.fd, d.p.w, maxChunk)
		switch {
		case err == unix.EINTR:
			continue
		case err == nil && n == 0 && d.src.atMark():
			// Not the end: splice stops at urgent data (urgent.go).
			d.src.urgentData()
			return d.readWrite()
		case err == nil && n > 0:
			d.p.data += n
			if d.dst.writable {
				if werr := d.flush(); werr == unix.EAGAIN {
					d.dst.writable = false
				} else if werr != nil {
					return n, nil, werr
				}
			}
		}
		return n, err, nil
	}
}

// sent counts n payload bytes forwarded.
func (d *dir) sent(n int) {
	d.n.Add(uint64(n))
	d.active.Store(d.f.l.now)
}

// readFD and writeFD are read(2) and write(2) without the scheduler's
// bookkeeping: the loop's thread is its own, nothing else waits for it.
func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := rawsock.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func writeFD(fd int, b []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// finish ends the direction where it stands (the flow is aborting).
func (d *dir) finish() {
	if d.finished {
		return
	}
	d.release()
	d.finished = true
	d.f.finished()
}

func (d *dir) release() {
	if d.p != nil {
		d.f.l.pipes.put(d.p)
		d.p = nil
	}
	if d.left != nil {
		leftovers.Put(d.left)
		d.left = nil
	}
}

// eof propagates the source's FIN as a half-close. When the other
// direction has finished already, the close that ends the flow sends the
// FIN: one shutdown saved per connection.
func (d *dir) eof() {
	d.src.readable = false
	if d.f.done == 0 {
		rawsock.Shutdown(d.dst.fd, unix.SHUT_WR)
		if h, ok := d.f.Owner.(HalfCloser); ok {
			h.FlowHalfClosed(d.f)
		}
	}
	d.finish()
}

// fail ends the flow after an error on src (read) or dst (write): a reset
// by one peer resets the other, as NLB does.
func (d *dir) fail(err error, reading bool) {
	cause := err
	if isReset(err) {
		peerA := (d.src == &d.f.a) == reading
		cause = ErrResetB
		if peerA {
			cause = ErrResetA
		}
	}
	d.f.abort(cause, true)
}

func isReset(err error) bool {
	return errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}

// resetAfterExpiry answers the first segment a peer sends after the idle
// timeout with an RST, as NLB does for a flow it no longer knows.
func (d *dir) resetAfterExpiry() {
	var b [1]byte
	_, _, err := unix.Recvfrom(d.src.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != unix.ECONNRESET {
		d.src.conn().SetLinger(0)
		if d.f.Owner != nil {
			d.f.Owner.FlowELBReset(d.f)
		}
	}
	d.src.close()
	d.f.setCause(ErrExpired)
	// The other direction can no longer write here.
	d.release()
	d.finish()
}
