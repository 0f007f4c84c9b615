package conntrack

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Source ports an NLB node uses for PrivateLink SNAT: 1024–65535.
const (
	MinPort   = 1024
	MaxPort   = 65535
	MaxBudget = MaxPort - MinPort + 1 // 64512
)

// ErrBudget reports a port budget outside 1–MaxBudget.
var ErrBudget = errors.New("conntrack: port budget must be between 1 and 64512")

type poolKey struct {
	node   netip.Addr
	target netip.AddrPort
}

// Ports is the registry of port pools, one per (node IP, target IP:port),
// as an NLB allocates its SNAT ports. It is safe for concurrent use; p.mu
// guards only the map, each Pool has its own lock.
type Ports struct {
	now  func() time.Time
	mu   sync.Mutex
	seed uint64
	pool map[poolKey]*Pool
}

// NewPorts returns an empty registry; now is the clock (nil: time.Now).
// The port order of each pool is random; SetSeed makes it reproducible.
func NewPorts(now func() time.Time) *Ports {
	if now == nil {
		now = time.Now
	}
	return &Ports{now: now, seed: rand.Uint64(), pool: make(map[poolKey]*Pool)}
}

// SetSeed fixes the seed the port order of pools created afterwards
// derives from (tests).
func (p *Ports) SetSeed(seed uint64) {
	p.mu.Lock()
	p.seed = seed
	p.mu.Unlock()
}

// Pool returns the pool of (node, target), creating it with budget ports
// held for reuseDelay after release. An existing pool takes the new budget
// and delay (a reload): a smaller budget applies as live ports are
// released, a larger one at once. Callers on the hot path should keep the
// *Pool rather than look it up per connection.
func (p *Ports) Pool(node netip.Addr, target netip.AddrPort, budget int, reuseDelay time.Duration) (*Pool, error) {
	if budget < 1 || budget > MaxBudget {
		return nil, fmt.Errorf("%w, got %d", ErrBudget, budget)
	}
	k := poolKey{node.Unmap(), netip.AddrPortFrom(target.Addr().Unmap(), target.Port())}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl, ok := p.pool[k]; ok {
		pl.setLimits(budget, reuseDelay)
		return pl, nil
	}
	h := fnv.New64a()
	h.Write([]byte(k.node.String() + ">" + k.target.String()))
	pl, _ := NewPool(budget, reuseDelay, p.now, p.seed^h.Sum64())
	p.pool[k] = pl
	return pl, nil
}

// Each calls fn for every pool with its node and target (for the gauge
// privlink_port_budget_in_use).
func (p *Ports) Each(fn func(node netip.Addr, target netip.AddrPort, pl *Pool)) {
	p.mu.Lock()
	pools := make([]struct {
		k  poolKey
		pl *Pool
	}, 0, len(p.pool))
	for k, pl := range p.pool {
		pools = append(pools, struct {
			k  poolKey
			pl *Pool
		}{k, pl})
	}
	p.mu.Unlock()
	for _, e := range pools {
		fn(e.k.node, e.k.target, e.pl)
	}
}
