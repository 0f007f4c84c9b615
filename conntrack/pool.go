package conntrack

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Pool is the port pool of one (node IP, target IP:port). A port is held
// from Allocate while its connection lives, and for the reuse delay after
// Release, so both "budget simultaneous" and "about budget per reuse delay"
// hold, as AWS documents 55,000 of each per minute and target.
//
// Allocate and Release are O(1) and, once the pool has grown to its
// working set, allocate nothing: unused ports are generated from a
// permutation on demand, returned ports wait in FIFO rings, released ports
// in a FIFO quarantine. The delay is the same for every port of a pool, so
// the quarantine is in time order and Allocate only looks at its head.
type Pool struct {
	mu    sync.Mutex
	now   func() time.Time
	base  time.Time // offsets below are nanoseconds since base (monotonic)
	delay int64
	// budget caps live+quarantined ports; owned ports are those of the
	// order that entered the pool (owned >= budget until a shrink).
	budget, owned int
	order         portOrder
	next          int // ports of the order handed out so far

	// free holds the ports ready for use: [0] those outside the kernel's
	// ephemeral range, [1] those inside it, used only when [0] is empty.
	free       [2]ring[uint16]
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
//
// Ports outside the kernel's ephemeral range (EphemeralRange) come first
// and are preferred for as long as any is free: a port privlink binds
// explicitly is one the kernel will not pick for any other program's
// outgoing connection while the socket (or its TIME_WAIT) lives, so
// staying outside that range keeps privlink under load from starving the
// host of ephemeral ports. A budget above the ports outside the range
// (about 36,000 with Linux's default 32768–60999) spills into it.
func NewPool(budget int, reuseDelay time.Duration, now func() time.Time, seed uint64) (*Pool, error) {
	if budget < 1 || budget > MaxBudget {
		return nil, fmt.Errorf("%w, got %d", ErrBudget, budget)
	}
	if now == nil {
		now = time.Now
	}
	pl := &Pool{now: now, base: now(), delay: int64(reuseDelay)}
	lo, hi := EphemeralRange()
	pl.order = newPortOrder(lo, hi, seed)
	pl.grow(budget)
	pl.budget = budget
	return pl, nil
}

// portOrder enumerates the ports 1024–65535: first those outside the
// ephemeral range [lo, hi], then those inside, each part in the order of
// an affine permutation derived from the seed.
type portOrder struct {
	lo, hi    uint16
	out, in   perm
	nOut, nIn int
}

// perm is the permutation k → (mul*k+add) mod n, mul coprime to n.
type perm struct{ n, mul, add uint64 }

func newPerm(n int, seed uint64) perm {
	if n == 0 {
		return perm{}
	}
	p := perm{n: uint64(n), mul: (seed>>32)%uint64(n) | 1, add: uint64(uint32(seed)) % uint64(n)}
	for gcd(p.mul, p.n) != 1 {
		p.mul += 2
	}
	return p
}

func (p perm) at(k int) int { return int((p.mul*uint64(k) + p.add) % p.n) }

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func newPortOrder(lo, hi uint16, seed uint64) portOrder {
	lo, hi = max(lo, MinPort), min(hi, MaxPort)
	o := portOrder{lo: lo, hi: hi}
	if lo <= hi {
		o.nIn = int(hi-lo) + 1
	}
	o.nOut = MaxBudget - o.nIn
	o.out, o.in = newPerm(o.nOut, seed), newPerm(o.nIn, seed^0x9e3779b97f4a7c15)
	return o
}

// port returns the k-th port of the order.
func (o *portOrder) port(k int) uint16 {
	if k < o.nOut {
		j := o.out.at(k)
		if o.nIn > 0 && j >= int(o.lo)-MinPort {
			j += o.nIn // skip over the ephemeral range
		}
		return uint16(MinPort + j)
	}
	return o.lo + uint16(o.in.at(k-o.nOut))
}

// class is 1 for a port inside the ephemeral range, else 0.
func (o *portOrder) class(port uint16) int {
	if o.nIn > 0 && port >= o.lo && port <= o.hi {
		return 1
	}
	return 0
}

// grow extends the ports the pool may hand out to the first n of the
// order. Ports are taken from the order lazily (next), so a pool costs
// memory for the ports it has used, not for its whole budget.
func (pl *Pool) grow(n int) {
	if n > pl.owned {
		pl.owned = n
	}
}

// take returns a free port, preferring any port outside the ephemeral
// range (returned or never used) over any inside it.
func (pl *Pool) take() (uint16, bool) {
	nOut := min(pl.owned, pl.order.nOut)
	switch {
	case pl.free[0].len() > 0:
		return pl.free[0].pop(), true
	case pl.next < nOut:
		pl.next++
		return pl.order.port(pl.next - 1), true
	case pl.free[1].len() > 0:
		return pl.free[1].pop(), true
	case pl.next < pl.owned:
		pl.next++
		return pl.order.port(pl.next - 1), true
	}
	return 0, false
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
	if pl.live+pl.quarantine.len() >= pl.budget {
		pl.mu.Unlock()
		return 0, false
	}
	port, ok = pl.take()
	if !ok {
		pl.mu.Unlock()
		return 0, false
	}
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
		port := pl.quarantine.pop().port
		pl.free[pl.order.class(port)].push(port)
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

// ring is a FIFO; it doubles its capacity when full, so a pool holds
// memory for the ports in use, and steady state allocates nothing.
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
	if r.size == len(r.buf) {
		r.reserve(max(64, 2*len(r.buf))) // amortised: a pool grows with its use
	}
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

// EphemeralRange is the kernel's range of ports for outgoing connections
// (net.ipv4.ip_local_port_range; Linux's default 32768–60999 when it
// cannot be read).
func EphemeralRange() (lo, hi uint16) {
	ephemeralOnce.Do(func() {
		ephemeralLo, ephemeralHi = 32768, 60999
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
		if err != nil {
			return
		}
		var l, h int
		if _, err := fmt.Sscan(string(b), &l, &h); err == nil && 0 < l && l <= h && h <= 65535 {
			ephemeralLo, ephemeralHi = uint16(l), uint16(h)
		}
	})
	return ephemeralLo, ephemeralHi
}

var (
	ephemeralOnce            sync.Once
	ephemeralLo, ephemeralHi uint16
)
