package inspect

import "sync"

// ring keeps the last records, oldest overwritten first.
type ring struct {
	mu   sync.Mutex
	buf  []Record
	next int // index of the slot the next record goes to
	full bool
}

func newRing(size int) *ring { return &ring{buf: make([]Record, size)} }

func (r *ring) add(rec Record) {
	r.mu.Lock()
	r.buf[r.next] = rec
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// last returns up to n records, oldest first; n <= 0 means all.
func (r *ring) last(n int) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	have := r.next
	if r.full {
		have = len(r.buf)
	}
	if n <= 0 || n > have {
		n = have
	}
	out := make([]Record, n)
	start := r.next - n
	if start < 0 {
		start += len(r.buf)
	}
	for i := range out {
		out[i] = r.buf[(start+i)%len(r.buf)]
	}
	return out
}
