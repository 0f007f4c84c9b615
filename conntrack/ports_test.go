package conntrack

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestPoolBudgetAndReuseDelay(t *testing.T) {
	clk := newFakeClock()
	pl, err := NewPool(5, time.Minute, clk.Now, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]bool{}
	var ports []uint16
	for i := 0; i < 5; i++ {
		p, ok := pl.Allocate()
		if !ok || p < MinPort || seen[p] {
			t.Fatalf("allocation %d: port %d ok=%v (seen %v)", i, p, ok, seen)
		}
		seen[p] = true
		ports = append(ports, p)
	}
	if _, ok := pl.Allocate(); ok {
		t.Fatal("6th allocation succeeded with budget 5")
	}
	pl.Release(ports[0])
	if got := pl.InUse(); got != 5 {
		t.Fatalf("InUse after release = %d, want 5 (quarantined ports count)", got)
	}
	if got := pl.Live(); got != 4 {
		t.Fatalf("Live = %d, want 4", got)
	}
	clk.Advance(59 * time.Second)
	if _, ok := pl.Allocate(); ok {
		t.Fatal("allocation succeeded before the reuse delay passed")
	}
	clk.Advance(time.Second)
	if got := pl.InUse(); got != 4 {
		t.Fatalf("InUse after the delay = %d, want 4", got)
	}
	if _, ok := pl.Allocate(); !ok {
		t.Fatal("allocation failed after the reuse delay")
	}
}

func TestPoolPerMinuteRate(t *testing.T) {
	// With a budget of 100 and a 60 s delay, short connections get about
	// 100 ports per minute, never more.
	clk := newFakeClock()
	pl, _ := NewPool(100, time.Minute, clk.Now, 7)
	total := 0
	for sec := 0; sec < 600; sec++ {
		for {
			p, ok := pl.Allocate()
			if !ok {
				break
			}
			pl.Release(p)
			total++
		}
		clk.Advance(time.Second)
	}
	if total < 1000 || total > 1100 {
		t.Fatalf("%d connections in 10 minutes with budget 100/minute", total)
	}
}

func TestPoolPermutationCoversAllPorts(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42, 1 << 40, ^uint64(0)} {
		pl, _ := NewPool(MaxBudget, 0, nil, seed)
		var seen [65536]bool
		for i := 0; i < MaxBudget; i++ {
			p, ok := pl.Allocate()
			if !ok || p < MinPort || seen[p] {
				t.Fatalf("seed %d allocation %d: port %d ok=%v", seed, i, p, ok)
			}
			seen[p] = true
		}
		if _, ok := pl.Allocate(); ok {
			t.Fatalf("seed %d: allocated past 64512", seed)
		}
	}
}

func TestPoolDeterministicUnderSeed(t *testing.T) {
	order := func(seed uint64) []uint16 {
		pl, _ := NewPool(50, 0, nil, seed)
		var out []uint16
		for i := 0; i < 50; i++ {
			p, _ := pl.Allocate()
			out = append(out, p)
		}
		return out
	}
	a, b, c := order(99), order(99), order(100)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different order at %d: %d vs %d", i, a[i], b[i])
		}
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("different seeds gave the same order")
	}
}

func TestPoolReleaseUnknownAndSkip(t *testing.T) {
	clk := newFakeClock()
	pl, _ := NewPool(2, time.Second, clk.Now, 3)
	p, _ := pl.Allocate()
	pl.Release(p)
	pl.Release(p) // double release: ignored
	pl.Release(80)
	pl.Release(65535)
	if got := pl.InUse(); got != 1 {
		t.Fatalf("InUse = %d, want 1", got)
	}
	q, _ := pl.Allocate()
	pl.Skip(q)
	if pl.Skipped() != 1 || pl.InUse() != 2 || pl.Live() != 0 {
		t.Fatalf("after Skip: skipped %d in use %d live %d", pl.Skipped(), pl.InUse(), pl.Live())
	}
	if _, ok := pl.Allocate(); ok {
		t.Fatal("a skipped port was reused before the delay")
	}
	clk.Advance(time.Second)
	if _, ok := pl.Allocate(); !ok {
		t.Fatal("no port after the delay")
	}
}

func TestPortsRegistry(t *testing.T) {
	clk := newFakeClock()
	ps := NewPorts(clk.Now)
	ps.SetSeed(5)
	node := netip.MustParseAddr("127.0.10.5")
	tgt := netip.MustParseAddrPort("127.0.0.1:9443")
	a, err := ps.Pool(node, tgt, 3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ps.Pool(netip.MustParseAddr("::ffff:127.0.10.5"), tgt, 3, time.Second)
	if a != b {
		t.Fatal("the same node and target gave two pools")
	}
	c, _ := ps.Pool(node, netip.MustParseAddrPort("127.0.0.2:9443"), 3, time.Second)
	if c == a {
		t.Fatal("another target shares the pool")
	}
	for _, bad := range []int{0, -1, MaxBudget + 1} {
		if _, err := ps.Pool(node, tgt, bad, time.Second); !errors.Is(err, ErrBudget) {
			t.Fatalf("budget %d: err %v", bad, err)
		}
	}
	// A reload that grows the budget takes effect at once; a shrink as
	// ports are released.
	for i := 0; i < 3; i++ {
		a.Allocate()
	}
	ps.Pool(node, tgt, 4, time.Second)
	if _, ok := a.Allocate(); !ok || a.Budget() != 4 {
		t.Fatal("grown budget not applied")
	}
	ps.Pool(node, tgt, 2, time.Second)
	if _, ok := a.Allocate(); ok {
		t.Fatal("allocated past a shrunk budget")
	}
	n := 0
	ps.Each(func(netip.Addr, netip.AddrPort, *Pool) { n++ })
	if n != 2 {
		t.Fatalf("Each saw %d pools", n)
	}
}

func TestPoolConcurrent(t *testing.T) {
	pl, _ := NewPool(1000, 0, nil, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[uint16]bool{}
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 2000; i++ {
				p, ok := pl.Allocate()
				if !ok {
					continue
				}
				mu.Lock()
				if held[p] {
					t.Errorf("port %d allocated twice", p)
				}
				held[p] = true
				mu.Unlock()
				mu.Lock()
				delete(held, p)
				mu.Unlock()
				pl.Release(p)
			}
		})
	}
	wg.Wait()
	if pl.Live() != 0 {
		t.Fatalf("live %d", pl.Live())
	}
}

func TestPoolAllocs(t *testing.T) {
	pl, _ := NewPool(MaxBudget, time.Nanosecond, nil, 1)
	if n := testing.AllocsPerRun(1000, func() {
		p, _ := pl.Allocate()
		pl.Release(p)
	}); n != 0 {
		t.Fatalf("%v allocs per allocate+release", n)
	}
}

func BenchmarkPoolAllocateRelease(b *testing.B) {
	// Steady state: 20,000 live ports, released ports quarantined for a
	// microsecond (every Allocate reads the clock and moves expired ports).
	pl, _ := NewPool(55000, time.Microsecond, nil, 1)
	for i := 0; i < 20000; i++ {
		pl.Allocate()
	}
	b.ReportAllocs()
	for b.Loop() {
		p, ok := pl.Allocate()
		if !ok {
			b.Fatal("pool exhausted")
		}
		pl.Release(p)
	}
}

func BenchmarkPoolAllocateReleaseParallel(b *testing.B) {
	pl, _ := NewPool(55000, 0, nil, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if p, ok := pl.Allocate(); ok {
				pl.Release(p)
			}
		}
	})
}

// Ports outside the kernel's ephemeral range are used first, so explicit
// binds do not take the ports other programs' connections need; the
// budget spills into the range only when the others are all taken.
func TestPoolPrefersPortsOutsideEphemeralRange(t *testing.T) {
	lo, hi := EphemeralRange()
	outside := MaxBudget - int(hi-lo+1)
	pl, _ := NewPool(MaxBudget, time.Hour, nil, 42)
	seen := map[uint16]bool{}
	for i := range MaxBudget {
		port, ok := pl.Allocate()
		if !ok {
			t.Fatalf("allocation %d failed", i)
		}
		if seen[port] || port < MinPort {
			t.Fatalf("port %d twice or out of range", port)
		}
		seen[port] = true
		inside := port >= lo && port <= hi
		if inside != (i >= outside) {
			t.Fatalf("allocation %d: port %d (ephemeral range %d-%d, %d ports outside)", i, port, lo, hi, outside)
		}
	}
	// A released outside port is preferred again over inside ones.
	pl2, _ := NewPool(MaxBudget, 0, nil, 7)
	var first uint16
	for i := range outside + 10 {
		port, _ := pl2.Allocate()
		if i == 0 {
			first = port
		}
	}
	pl2.Release(first)
	if port, _ := pl2.Allocate(); port != first {
		t.Fatalf("got %d, want the released outside port %d", port, first)
	}
}
