package conntrack

import (
	"fmt"
	"sync"
	"time"
)

// Pool is the port pool of one (node IP, target IP:port). A port is held
// from Allocate while its connection lives, and for the reuse delay after
// Release, so both "budget simultaneous" and "about budget per reuse delay"
// hold, as AWS documents 55,000 of each per minute and target.
//
// Allocate and Release are O(1) and allocate nothing: free ports wait in a
// FIFO ring, released ports in a FIFO quarantine. The delay is the same for
// every port of a pool, so the quarantine is in time order and Allocate
// only looks at its head.
type Pool struct {
	mu    sync.Mutex
	now   func() time.Time
	base  time.Time // offsets below are nanoseconds since base (monotonic)
	delay int64
	// budget caps live+quarantined ports; owned ports are those of the
	// permutation that entered the pool (owned >= budget until a shrink).
	budget, owned int
	mul, add      uint32 // the affine permutation k → MinPort + (mul*k+add) mod MaxBudget

	free       ring[uint16]
	quarantine ring[held]
	live       int
	skipped    uint64
	state      [MaxBudget / 64]uint64 // bit set: the port is live (allocated, not released)
}

type held struct {
	port  uint16
	ready int64
}

// NewPool returns a pool of budget ports from 1024–65535 in an order
// derived from seed (like the kernel's randomised ephemeral ports, but
// reproducible), held for reuseDelay after release; now is the clock.
func NewPool(budget int, reuseDelay time.Duration, now func() time.Time, seed uint64) (*Pool, error) {
	if budget < 1 || budget > MaxBudget {
		return nil, fmt.Errorf("%w, got %d", ErrBudget, budget)
	}
	if now == nil {
		now = time.Now
	}
	pl := &Pool{now: now, base: now(), delay: int64(reuseDelay)}
	// A multiplier coprime to 64512 = 2^10·3^2·7 makes k → mul*k+add a
	// permutation of 0..64511.
	pl.mul = uint32(seed>>32)%MaxBudget | 1
	for pl.mul%3 == 0 || pl.mul%7 == 0 {
		pl.mul += 2
	}
	pl.add = uint32(seed) % MaxBudget
	pl.grow(budget)
	pl.budget = budget
	return pl, nil
}

// grow brings the ports of the permutation up to n into the free ring.
func (pl *Pool) grow(n int) {
	if n <= pl.owned {
		return
	}
	pl.free.reserve(n)
	pl.quarantine.reserve(n)
	for k := pl.owned; k < n; k++ {
		pl.free.push(uint16(MinPort + (uint64(pl.mul)*uint64(k)+uint64(pl.add))%MaxBudget))
	}
	pl.owned = n
}

func (pl *Pool) setLimits(budget int, delay time.Duration) {
	pl.mu.Lock()
	pl.grow(budget)
	pl.budget = budget
	pl.delay = int64(delay)
	pl.mu.Unlock()
}

// Allocate takes a free port; ok is false when the budget is exhausted (a
// port allocation error).
func (pl *Pool) Allocate() (port uint16, ok bool) {
	pl.mu.Lock()
	pl.expire()
	if pl.live+pl.quarantine.len() >= pl.budget || pl.free.len() == 0 {
		pl.mu.Unlock()
		return 0, false
	}
	port = pl.free.pop()
	pl.live++
	pl.state[(port-MinPort)/64] |= 1 << ((port - MinPort) % 64)
	pl.mu.Unlock()
	return port, true
}

// Release returns an allocated port; it becomes free after the reuse
// delay. Releasing a port that is not allocated does nothing.
func (pl *Pool) Release(port uint16) {
	pl.mu.Lock()
	pl.release(port)
	pl.mu.Unlock()
}

// Skip retires an allocated port the kernel refused (EADDRINUSE, e.g. a
// socket outside privlink holds it): it goes through the quarantine as a
// released port does and is counted in Skipped. Allocate another.
func (pl *Pool) Skip(port uint16) {
	pl.mu.Lock()
	if pl.release(port) {
		pl.skipped++
	}
	pl.mu.Unlock()
}

func (pl *Pool) release(port uint16) bool {
	if port < MinPort {
		return false
	}
	i, bit := (port-MinPort)/64, uint64(1)<<((port-MinPort)%64)
	if pl.state[i]&bit == 0 {
		return false
	}
	pl.state[i] &^= bit
	pl.live--
	pl.quarantine.push(held{port, int64(pl.now().Sub(pl.base)) + pl.delay})
	return true
}

// expire moves quarantined ports whose delay has passed to the free ring.
func (pl *Pool) expire() {
	if pl.quarantine.len() == 0 {
		return
	}
	now := int64(pl.now().Sub(pl.base))
	for pl.quarantine.len() > 0 && pl.quarantine.peek().ready <= now {
		pl.free.push(pl.quarantine.pop().port)
	}
}

// InUse is the number of ports that count against the budget: held by a
// live connection or waiting out the reuse delay. This is what the gauge
// privlink_port_budget_in_use shows: at InUse() == Budget() the next
// Allocate fails.
func (pl *Pool) InUse() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.expire()
	return pl.live + pl.quarantine.len()
}

// Live is the number of ports held by live connections.
func (pl *Pool) Live() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.live
}

// Budget is the pool's port budget.
func (pl *Pool) Budget() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.budget
}

// Skipped counts ports retired with Skip.
func (pl *Pool) Skipped() uint64 {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.skipped
}

// ring is a FIFO of fixed capacity (reserve grows it, off the hot path).
type ring[T any] struct {
	buf        []T
	head, size int
}

func (r *ring[T]) len() int { return r.size }

func (r *ring[T]) reserve(n int) {
	if n <= len(r.buf) {
		return
	}
	buf := make([]T, n)
	for i := 0; i < r.size; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

func (r *ring[T]) push(v T) {
	i := r.head + r.size
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = v
	r.size++
}

func (r *ring[T]) peek() T { return r.buf[r.head] }

func (r *ring[T]) pop() T {
	v := r.buf[r.head]
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.size--
	return v
}
