package relay

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// acceptOn listens on an engine and reports the loop each connection's
// accepted callback ran on; the accepted sockets are closed at the end.
func acceptOn(t *testing.T, e *Engine) (string, <-chan *Loop) {
	t.Helper()
	ln, fd := listenLoopback(t)
	got := make(chan *Loop, 16)
	var mu sync.Mutex
	var fds []int
	l := e.Listen(fd, func(lp *Loop, fd int, _ netip.AddrPort) {
		mu.Lock()
		fds = append(fds, fd)
		mu.Unlock()
		got <- lp
	}, nil)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	return ln.Addr().String(), got
}

func dialAccepted(t *testing.T, addr string, got <-chan *Loop) *Loop {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case lp := <-got:
		lp.load.Add(1) // as a flow started on it would
		return lp
	case <-time.After(5 * time.Second):
		t.Fatal("not accepted")
		return nil
	}
}

// The first loop runs every new connection while it has time to spare:
// on a machine shared with clients and targets, one loop's wake-ups cost
// less than two. Once it is busy, new connections go to the loop that
// owns fewest.
func TestListenPacksUntilBusy(t *testing.T) {
	e := newEngine(t, Options{Loops: 2, Tick: time.Hour}) // no sweep measures busy
	addr, got := acceptOn(t, e)
	for i := range 4 {
		if lp := dialAccepted(t, addr, got); lp != e.loops[0] {
			t.Fatalf("connection %d accepted onto loop %p, want the first loop %p", i, lp, e.loops[0])
		}
	}
	e.loops[0].busy.Store(busyShare + 1)
	for i := range 2 {
		if lp := dialAccepted(t, addr, got); lp != e.loops[1] {
			t.Fatalf("connection %d while the first loop is busy went to %p, want the idle loop %p", i, lp, e.loops[1])
		}
	}
	e.loops[0].busy.Store(busyShare - 1)
	if lp := dialAccepted(t, addr, got); lp != e.loops[0] {
		t.Fatalf("once the first loop has time again, a connection went to %p, want %p", lp, e.loops[0])
	}
}

// busy is the share of the sweep interval the loop's thread ran.
func TestMeasureBusy(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l := &Loop{}
	l.now = time.Now().UnixNano()
	l.measureBusy()
	for start := time.Now(); time.Since(start) < 60*time.Millisecond; {
	}
	l.now = time.Now().UnixNano()
	l.measureBusy()
	if b := l.busy.Load(); b < 500 {
		t.Errorf("busy %d‰ after spinning, want most of the interval", b)
	}
	time.Sleep(60 * time.Millisecond)
	l.now = time.Now().UnixNano()
	l.measureBusy()
	if b := l.busy.Load(); b > 500 {
		t.Errorf("busy %d‰ after sleeping, want little", b)
	}
}

// startOn starts a flow on loop l, as a Listener's accepted callback does.
func startOn(t *testing.T, l *Loop, o Owner) *rig {
	t.Helper()
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	t.Cleanup(func() { client.Close(); server.Close() })
	f := &Flow{A: a, B: b, Owner: o}
	done := make(chan struct{})
	l.e.loops[0].post(op{kind: opAccepted, ln: &Listener{accepted: func(lp *Loop, _ int, _ netip.AddrPort) {
		lp.load.Add(1)
		lp.Start(f)
		close(done)
	}}})
	<-done
	for _, c := range []*net.TCPConn{client, server} {
		c.SetDeadline(time.Now().Add(20 * time.Second))
	}
	return &rig{client: client, server: server, flow: f}
}

// stream writes n pseudo-random bytes to w and returns their digest.
func stream(w io.Writer, n int, seed uint64) ([32]byte, error) {
	h := sha256.New()
	rng := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, len(buf))
		for i := range buf[:k] {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return [32]byte{}, err
		}
		h.Write(buf[:k])
		n -= k
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}

func digest(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, n, err
}

// Bulk flows started on one loop spread over the loops, two each, and
// every byte arrives, in order, both ways, across the move; the moved
// flows end cleanly there, and the loops' counts go back to zero.
func TestBulkFlowsSpreadOverLoops(t *testing.T) {
	e := newEngine(t, Options{Loops: 2})
	o := newOwner()
	const size = 24 << 20
	var rigs []*rig
	for range 4 {
		rigs = append(rigs, startOn(t, e.loops[0], o))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i, r := range rigs {
		for dir, pair := range [][2]*net.TCPConn{{r.client, r.server}, {r.server, r.client}} {
			wg.Add(2)
			seed := uint64(10*i + dir)
			sent := make(chan [32]byte, 1)
			go func() {
				defer wg.Done()
				d, err := stream(pair[0], size, seed)
				if err != nil {
					errs <- err.Error()
				}
				pair[0].CloseWrite()
				sent <- d
			}()
			go func() {
				defer wg.Done()
				d, n, err := digest(pair[1])
				if err != nil || n != size || d != <-sent {
					errs <- "flow " + string(rune('0'+i)) + ": bytes differ after the move"
				}
			}()
		}
	}
	waitUntil(t, "two bulk flows on each loop", func() bool {
		return e.loops[0].bulk.Load() == 2 && e.loops[1].bulk.Load() == 2
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	moved := 0
	for range rigs {
		f := o.wait(t)
		if f.Cause() != nil {
			t.Errorf("cause %v, want a clean end", f.Cause())
		}
		if f.moved {
			moved++
		}
	}
	if moved != 2 {
		t.Errorf("%d flows moved, want 2", moved)
	}
	for i, l := range e.loops {
		if b, n := l.bulk.Load(), l.load.Load(); b != 0 || n != 0 {
			t.Errorf("loop %d: %d bulk flows, load %d after every flow ended", i, b, n)
		}
	}
	if n := e.PipesInUse(); n != 0 {
		t.Errorf("%d pipes in use after every flow ended", n)
	}
}

// Kill, Terminate and SetToxics reach a flow that moved: the loop it
// started on passes them on.
func TestMovedFlowsTakeOps(t *testing.T) {
	e := newEngine(t, Options{Loops: 2})
	o := newOwner()
	rigs := []*rig{startOn(t, e.loops[0], o), startOn(t, e.loops[0], o)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range rigs {
		r.flood(stop, &wg, 256<<10)
	}
	defer func() { close(stop); wg.Wait() }()
	waitUntil(t, "one bulk flow on each loop", func() bool {
		return e.loops[0].bulk.Load() == 1 && e.loops[1].bulk.Load() == 1
	})
	// Toxics on both: the moved one applies them on its new loop. A
	// 1 MB/s cap shows in the rate.
	for _, r := range rigs {
		r.flow.SetToxics(Toxic{RateBps: 1 << 20}, Toxic{})
	}
	time.Sleep(200 * time.Millisecond) // bytes read before the cap drain
	var before [2]uint64
	for i, r := range rigs {
		before[i], _ = r.flow.Bytes()
	}
	time.Sleep(500 * time.Millisecond)
	for i, r := range rigs {
		after, _ := r.flow.Bytes()
		if got := after - before[i]; got > 1<<20 {
			t.Errorf("flow %d moved %d bytes in 500 ms under a 1 MB/s cap", i, got)
		}
	}
	rigs[0].flow.Terminate()
	rigs[1].flow.Kill()
	causes := map[error]int{}
	for range rigs {
		causes[o.wait(t).Cause()]++
	}
	if causes[ErrTerminated] != 1 || causes[ErrClosed] != 1 {
		t.Errorf("causes %v, want one ErrTerminated and one ErrClosed", causes)
	}
}

// KillAll ends a flow that was on its way from one loop to another: a
// KillAll the new loop ran before it adopted the flow covers it.
func TestKillAllCatchesAMovingFlow(t *testing.T) {
	e := newEngine(t, Options{Loops: 2})
	o := newOwner()
	r := startOn(t, e.loops[0], o)
	from, to := e.loops[0], e.loops[1]
	// Keep the second loop inside a callback, so its inbox fills.
	hold, holding := make(chan struct{}), make(chan struct{})
	to.post(op{kind: opAccepted, ln: &Listener{accepted: func(*Loop, int, netip.AddrPort) {
		close(holding)
		<-hold
	}}})
	<-holding
	done := make(chan struct{})
	// On the first loop: count the flow as bulk there twice over, so it
	// moves; then put a KillAll that came after the move ahead of its
	// adoption on the second loop, and run the first loop's own.
	from.post(op{kind: opAccepted, ln: &Listener{accepted: func(*Loop, int, netip.AddrPort) {
		f := r.flow
		f.bulk = true
		from.bulk.Add(2)
		from.move(f, to)
		from.bulk.Add(-1)
		gen := e.kills.Add(1)
		to.mu.Lock()
		to.inbox = append([]op{{kind: opKillAll, gen: gen}}, to.inbox...)
		to.mu.Unlock()
		from.killGen = gen // its KillAll: the flow is no longer here
		close(done)
	}}})
	<-done
	close(hold)
	if f := o.wait(t); f.Cause() != ErrClosed {
		t.Fatalf("cause %v, want ErrClosed", f.Cause())
	}
	if b := to.bulk.Load(); b != 0 {
		t.Errorf("%d bulk flows left on the second loop", b)
	}
}
