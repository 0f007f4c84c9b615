package relay

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// slotTable maps a socket's file descriptor to the direction reading from
// it, in lazily allocated pages, for O(1) lock-free lookups by the epoll
// loop and the sweeper.
type slotTable struct {
	mu    sync.Mutex
	pages []atomic.Pointer[slotPage]
}

const pageBits = 12

type slotPage [1 << pageBits]atomic.Pointer[dir]

func (t *slotTable) init() {
	max := uint64(1 << 20)
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Max < max {
		max = rl.Max
	}
	t.pages = make([]atomic.Pointer[slotPage], (max+(1<<pageBits)-1)>>pageBits)
}

// set installs d for fd; it reports false when fd is beyond the table.
func (t *slotTable) set(fd int, d *dir) bool {
	i := fd >> pageBits
	if fd < 0 || i >= len(t.pages) {
		return false
	}
	p := t.pages[i].Load()
	if p == nil {
		t.mu.Lock()
		if p = t.pages[i].Load(); p == nil {
			p = new(slotPage)
			t.pages[i].Store(p)
		}
		t.mu.Unlock()
	}
	p[fd&(1<<pageBits-1)].Store(d)
	return true
}

func (t *slotTable) get(fd int) *dir {
	i := fd >> pageBits
	if fd < 0 || i >= len(t.pages) {
		return nil
	}
	if p := t.pages[i].Load(); p != nil {
		return p[fd&(1<<pageBits-1)].Load()
	}
	return nil
}

// clear removes d from fd's slot if it is still there.
func (t *slotTable) clear(fd int, d *dir) {
	i := fd >> pageBits
	if fd < 0 || i >= len(t.pages) {
		return
	}
	if p := t.pages[i].Load(); p != nil {
		p[fd&(1<<pageBits-1)].CompareAndSwap(d, nil)
	}
}

func (t *slotTable) each(fn func(*dir)) {
	for i := range t.pages {
		p := t.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			if d := p[j].Load(); d != nil {
				fn(d)
			}
		}
	}
}
