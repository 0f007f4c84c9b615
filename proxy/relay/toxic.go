package relay

import (
	"errors"
	"math/rand/v2"
	"time"

	"golang.org/x/sys/unix"
)

// Toxics (Toxiproxy's, docs/faults.md) shape the bytes of the flows that carry
// them. A flow without Toxics takes the relay's usual path, splice
// included: the only cost to it is a nil check when a direction runs. A
// direction with a toxic reads through the loop's buffer into a ring of
// its own (allocated once per flow), and writes each chunk when its
// latency, bandwidth and slicing allow; it waits on the loop's timers
// (toxictimer.go), never sleeping, and never splices.

// Toxic shapes one direction of a flow. The zero value does nothing.
type Toxic struct {
	// Latency delays each chunk read by Latency ± a uniform Jitter.
	Latency, Jitter time.Duration
	// RateBps caps the bytes per second written (0: no cap).
	RateBps int64
	// SliceSize splits writes into pieces of at most this many bytes,
	// SliceDelay apart.
	SliceSize  int
	SliceDelay time.Duration
	// LimitBytes closes the flow (a FIN both ways) once this many bytes
	// went through (0: no limit).
	LimitBytes int64
	// Reset resets both peers once ResetBytes went through and more come
	// (0: at the first byte), or ResetAfter after the toxic applies when
	// that is set.
	Reset      bool
	ResetBytes int64
	ResetAfter time.Duration
	// Hold stops forwarding: nothing is read; HoldClose closes the flow
	// that long after the toxic applies (0: never), or when a peer closes
	// (its FIN or RST) before.
	Hold      bool
	HoldClose time.Duration
	// CloseDelay delays passing on the end of the stream (slow_close).
	CloseDelay time.Duration
}

// Toxics are the toxics of a flow's two directions: AB (A to B, to the
// target) and BA. Like a Flow, a Toxics is used by one flow only: the
// relay keeps the directions' state in it.
type Toxics struct {
	AB, BA Toxic

	st   [2]toxicDir
	held bool // Hold reached the flow: it stays held whatever SetToxics says
}

// ErrToxic is the cause of a flow a toxic closed (limit_data, timeout).
var ErrToxic = errors.New("relay: closed by a toxic")

// A toxic direction's ring holds what was read and not yet written. It
// starts at minRing and doubles, up to maxRing, while it is full of bytes
// whose time has not come (latency × throughput): an interactive flow
// holds 32 KiB, a bulk one behind latency up to 4 MiB; beyond that the
// sender is slowed, as a real path's window would.
const (
	minRing = 32 << 10
	maxRing = 4 << 20
)

// maxSegs bounds the chunks waiting in a direction (a chunk is one read,
// up to 16 KiB: maxRing's worth).
const maxSegs = 256

// seg is a chunk in the ring: where it ends (in bytes read) and when it
// may go out.
type seg struct{ end, at int64 }

// toxicDir is a direction's toxic state, owned by the loop.
type toxicDir struct {
	t    *Toxic
	d    *dir
	ring []byte
	r, w int64 // bytes read into the ring, bytes written out of it
	segs []seg // ring of chunks: [sh, st)
	sh   int64
	st   int64
	hdr  int64 // header bytes at the front, not payload
	done int64 // payload bytes written
	// credit is the bytes the rate allows now, as of refilled.
	credit, refilled int64
	sliceAt          int64 // the next slice may go then
	startAt          int64 // when the toxic applied
	closeAt          int64 // slow_close: the FIN goes then (0: not yet due)
	eof              bool  // src sent its FIN
	tm               timer
}

// pumpToxic is pump for a direction of a flow with toxics.
func (d *dir) pumpToxic() {
	if d.finished {
		return
	}
	if d.left != nil || d.p != nil && d.p.data > 0 {
		if !d.drain() { // bytes of the fast path before the toxic applied
			return
		}
	}
	if d.p != nil {
		d.f.l.pipes.put(d.p)
		d.p = nil
	}
	if d.f.expired.Load() && d.src.readable {
		d.resetAfterExpiry()
		return
	}
	x := d.toxic()
	if x.t.Hold {
		x.heldPeerClosed()
		return
	}
	for moved := x.w; ; {
		if !x.flush() {
			return // ended, or dst is full (its EPOLLOUT resumes)
		}
		if x.w-moved >= pumpBudget {
			d.yield()
			return
		}
		if !x.fill() {
			break
		}
	}
	x.settle()
}

// fill reads what src has into the ring when it has room; true: read
// something (go on flushing).
func (x *toxicDir) fill() bool {
	d := x.d
	if x.ring == nil {
		x.ring = make([]byte, minRing)
		x.segs = make([]seg, maxSegs)
	}
	if !d.src.readable || x.eof || x.st-x.sh >= maxSegs {
		return false
	}
	if int64(len(x.ring))-(x.r-x.w) < int64(cap(d.f.l.buf)) && !x.grow() {
		return false
	}
	first := d.first
	b, n, err := d.read()
	switch {
	case err != nil:
		d.settle(n, err, nil) // EAGAIN: drained; else fail
		return false
	case n == 0:
		d.src.readable = false
		x.eof = true
		return false
	}
	if first {
		x.hdr += int64(len(b) - n)
	}
	x.push(b)
	return true
}

// grow doubles the ring (up to maxRing) when latency holds what fills
// it; false: the ring stays full and src waits.
func (x *toxicDir) grow() bool {
	waiting := x.sh < x.st && x.segs[x.sh%maxSegs].at > x.d.f.l.now // latency holds the bytes
	if len(x.ring) >= maxRing || !waiting {
		return false // a full ring behind a slow reader or a rate cap slows the sender
	}
	ring := make([]byte, 2*len(x.ring))
	for p := x.w; p < x.r; {
		i, j := p%int64(len(x.ring)), p%int64(len(ring))
		n := copy(ring[j:], x.ring[i:min(int64(len(x.ring)), i+x.r-p)])
		p += int64(n)
	}
	x.ring = ring
	return true
}

// push copies a chunk read into the ring with the time it may go out.
func (x *toxicDir) push(b []byte) {
	for len(b) > 0 {
		i := int(x.r % int64(len(x.ring)))
		c := copy(x.ring[i:], b)
		b = b[c:]
		x.r += int64(c)
	}
	at := x.d.f.l.now + int64(x.t.Latency)
	if j := int64(x.t.Jitter); j > 0 {
		at += rand.Int64N(2*j+1) - j
	}
	if x.st > x.sh {
		at = max(at, x.segs[(x.st-1)%maxSegs].at) // a stream stays in order
	}
	x.segs[x.st%maxSegs] = seg{end: x.r, at: at}
	x.st++
}

// flush writes what is due; false: the direction waits for dst or ended.
func (x *toxicDir) flush() bool {
	d, now := x.d, x.d.f.l.now
	for x.w < x.r {
		for x.sh < x.st && x.segs[x.sh%maxSegs].end <= x.w {
			x.sh++
		}
		s := x.segs[x.sh%maxSegs]
		if x.resetDue(now >= s.at) {
			return false
		}
		n := x.allowed(s, now)
		if n <= 0 {
			return true // not due yet: settle sets the timer
		}
		if !d.dst.writable {
			return false
		}
		i := x.w % int64(len(x.ring))
		n = min(n, int64(len(x.ring))-i)
		w, err := writeFD(d.dst.fd, x.ring[i:i+n])
		if err != nil {
			if err == unix.EAGAIN {
				d.dst.writable = false
			} else {
				d.fail(err, false)
			}
			return false
		}
		if !x.wrote(int64(w), now) {
			return false
		}
	}
	return true
}

// allowed is how many bytes of seg may be written now.
func (x *toxicDir) allowed(s seg, now int64) int64 {
	if now < s.at || now < x.sliceAt {
		return 0
	}
	n := s.end - x.w
	if x.t.SliceSize > 0 {
		n = min(n, int64(x.t.SliceSize))
	}
	if x.t.LimitBytes > 0 {
		n = min(n, x.t.LimitBytes-x.done+x.hdrLeft())
	}
	if x.t.Reset && x.t.ResetAfter == 0 {
		n = min(n, x.t.ResetBytes-x.done+x.hdrLeft())
	}
	if x.t.RateBps > 0 {
		x.refill(now)
		if x.credit < min(n, 1024) {
			return 0
		}
		n = min(n, x.credit)
	}
	return n
}

// resetDue resets the flow when reset_peer's byte count is reached and
// more bytes are due; true: the flow ended.
func (x *toxicDir) resetDue(due bool) bool {
	if due && x.t.Reset && x.t.ResetAfter == 0 && x.done >= x.t.ResetBytes {
		x.d.f.abort(ErrTerminated, true)
		return true
	}
	return false
}

func (x *toxicDir) hdrLeft() int64 { return max(0, x.hdr-x.w) }

// refill adds the credit the rate gave since the last refill, up to a
// burst of a tenth of a second (at least 1 KiB).
func (x *toxicDir) refill(now int64) {
	burst := max(x.t.RateBps/10, 1024)
	x.credit = min(burst, x.credit+(now-x.refilled)*x.t.RateBps/int64(time.Second))
	x.refilled = now
}

// wrote accounts for w bytes written; false: the flow ended (limit_data).
func (x *toxicDir) wrote(w, now int64) bool {
	hdr := min(w, x.hdrLeft())
	x.w += w
	x.done += w - hdr
	x.d.sent(int(w - hdr))
	if x.t.RateBps > 0 {
		x.credit -= w
	}
	if x.t.SliceSize > 0 && x.t.SliceDelay > 0 {
		x.sliceAt = now + int64(x.t.SliceDelay)
	}
	if x.t.LimitBytes > 0 && x.done >= x.t.LimitBytes {
		x.d.f.abort(ErrToxic, false)
		return false
	}
	return true
}

// settle passes on the end of the stream once the ring is empty (after
// slow_close's delay), or sets the timer for the next chunk that is due.
func (x *toxicDir) settle() {
	d, l := x.d, x.d.f.l
	if d.finished {
		return
	}
	if x.w == x.r {
		if !x.eof {
			d.f.clearToxics()
			return
		}
		if x.t.CloseDelay > 0 && x.closeAt == 0 {
			x.closeAt = l.now + int64(x.t.CloseDelay)
		}
		if l.now < x.closeAt {
			l.timers.set(&x.tm, x.closeAt)
			return
		}
		d.eof()
		return
	}
	if !d.dst.writable {
		return
	}
	l.timers.set(&x.tm, x.nextDue())
}

// nextDue is when the next bytes may go out.
func (x *toxicDir) nextDue() int64 {
	s := x.segs[x.sh%maxSegs]
	at := max(s.at, x.sliceAt)
	if need := min(1024, s.end-x.w); x.t.RateBps > 0 && x.credit < need {
		at = max(at, x.refilled+(need-x.credit)*int64(time.Second)/x.t.RateBps+1)
	}
	return at
}
