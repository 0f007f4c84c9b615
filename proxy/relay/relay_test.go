package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// owner records how flows end.
type owner struct {
	done      chan *Flow
	expired   chan *Flow
	elbResets atomic.Int32
}

func newOwner() *owner { return &owner{done: make(chan *Flow, 1024), expired: make(chan *Flow, 1024)} }

func (o *owner) FlowDone(f *Flow)             { o.done <- f }
func (o *owner) AppendHeader(b []byte) []byte { return append(b, "HEADER|"...) }
func (o *owner) FlowExpired(f *Flow)          { o.expired <- f }
func (o *owner) FlowELBReset(*Flow)           { o.elbResets.Add(1) }

func (o *owner) wait(t *testing.T) *Flow {
	t.Helper()
	select {
	case f := <-o.done:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("flow did not end")
		return nil
	}
}

// rig is client ⇄ [A relay B] ⇄ server over loopback.
type rig struct {
	client, server *net.TCPConn
	flow           *Flow
}

func newEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// tcpPair returns the two ends of one loopback connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*net.TCPConn{c, s} {
		x.SetKeepAlive(false)
	}
	return c, s
}

// listenLoopback is a listener on 127.0.0.1 and its descriptor, closed
// when the test ends.
func listenLoopback(t *testing.T) (*net.TCPListener, int) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	fd := -1
	rc, _ := ln.SyscallConn()
	rc.Control(func(x uintptr) { fd = int(x) })
	return ln, fd
}

func start(t *testing.T, e *Engine, o Owner, configure func(*Flow)) *rig {
	t.Helper()
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	t.Cleanup(func() { client.Close(); server.Close() })
	f := &Flow{A: a, B: b, Owner: o}
	if configure != nil {
		configure(f)
	}
	e.Start(f)
	for _, c := range []*net.TCPConn{client, server} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	return &rig{client: client, server: server, flow: f}
}

func TestRelayBothWaysWithHalfClose(t *testing.T) {
	e := newEngine(t, Options{})
	o := newOwner()
	r := start(t, e, o, nil)
	up := bytes.Repeat([]byte("u"), 3<<20)
	go func() { r.client.Write(up); r.client.CloseWrite() }()
	got, err := io.ReadAll(r.server)
	if err != nil || !bytes.Equal(got, up) {
		t.Fatalf("server got %d bytes, %v", len(got), err)
	}
	// The client half-closed; the server can still answer.
	r.server.Write([]byte("reply"))
	r.server.CloseWrite()
	if got, err := io.ReadAll(r.client); err != nil || string(got) != "reply" {
		t.Fatalf("client got %q, %v", got, err)
	}
	f := o.wait(t)
	if f.Cause() != nil {
		t.Fatalf("cause %v, want a clean close", f.Cause())
	}
	if ab, ba := f.Bytes(); ab != uint64(len(up)) || ba != 5 {
		t.Fatalf("bytes %d/%d", ab, ba)
	}
}

// An idle flow holds no pipe and no goroutine, and resumes when data comes.
func TestIdleFlowsResume(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	r := start(t, e, o, nil)
	for i := range 3 { // relay, idle, several times
		msg := []byte{'m', byte('0' + i)}
		r.client.Write(msg)
		buf := make([]byte, 2)
		if _, err := io.ReadFull(r.server, buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("round %d: server got %q, %v", i, buf, err)
		}
		r.server.Write(msg)
		if _, err := io.ReadFull(r.client, buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("round %d: client got %q, %v", i, buf, err)
		}
		time.Sleep(20 * time.Millisecond)
		if n := e.PipesInUse(); n != 0 {
			t.Fatalf("%d pipes held by an idle flow", n)
		}
	}
	// A FIN wakes an idle direction too.
	r.client.CloseWrite()
	if _, err := io.ReadAll(r.server); err != nil {
		t.Fatal(err)
	}
	r.server.Close()
	if f := o.wait(t); f.Cause() != nil {
		t.Fatalf("cause %v", f.Cause())
	}
}

func TestResetsArePropagatedAndAttributed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		idle   bool
		resetA bool
	}{{"client resets", false, true}, {"server resets", false, false}, {"client resets while idle", true, true}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, Options{Tick: 10 * time.Millisecond})
			o := newOwner()
			r := start(t, e, o, nil)
			if tt.idle {
				time.Sleep(50 * time.Millisecond)
			}
			resetter, other, want := r.client, r.server, ErrResetA
			if !tt.resetA {
				resetter, other, want = r.server, r.client, ErrResetB
			}
			resetter.SetLinger(0)
			resetter.Close()
			if _, err := io.ReadAll(other); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("other side: %v, want a reset", err)
			}
			if f := o.wait(t); f.Cause() != want {
				t.Fatalf("cause %v, want %v", f.Cause(), want)
			}
		})
	}
}

func TestIdleTimeoutResetsTheNextSender(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	r := start(t, e, o, func(f *Flow) { f.IdleTimeout = 150 * time.Millisecond })
	r.client.Write([]byte("x"))
	io.ReadFull(r.server, make([]byte, 1))
	select {
	case <-o.expired:
	case <-time.After(5 * time.Second):
		t.Fatal("flow did not expire")
	}
	// Forwarding stopped silently: the client's next bytes get an RST, and
	// the server sees nothing.
	r.client.Write([]byte("late"))
	if _, err := io.ReadAll(r.client); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client after expiry: %v, want a reset", err)
	}
	r.server.Write([]byte("late too"))
	if b, err := io.ReadAll(r.server); !errors.Is(err, syscall.ECONNRESET) || len(b) != 0 {
		t.Fatalf("server after expiry: %q, %v; want nothing and a reset", b, err)
	}
	f := o.wait(t)
	if f.Cause() != ErrExpired || o.elbResets.Load() != 2 {
		t.Fatalf("cause %v, ELB resets %d", f.Cause(), o.elbResets.Load())
	}
}

func TestKeepalivesDeferExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("needs whole-second TCP keepalive timers")
	}
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	r := start(t, e, o, func(f *Flow) { f.IdleTimeout = 1500 * time.Millisecond })
	waitUntil(t, "the flow started", func() bool { return r.flow.LastActivity().Unix() > 0 })
	started := r.flow.LastActivity()
	r.client.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 9})
	select {
	case <-o.expired:
		t.Fatal("a flow kept alive by TCP keepalives expired")
	case <-time.After(3500 * time.Millisecond):
	}
	// Keepalives reset the idle timer but move no data.
	if got := r.flow.LastActivity(); !got.Equal(started) {
		t.Errorf("LastActivity moved from %v to %v with keepalives only", started, got)
	}
	r.client.Write([]byte("still here"))
	if _, err := io.ReadFull(r.server, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "LastActivity moved by data", func() bool { return r.flow.LastActivity().After(started) })
}

func TestHeaderGoesWithFirstData(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	r := start(t, e, o, func(f *Flow) { f.HeaderFirst = true })
	time.Sleep(50 * time.Millisecond) // idle before the first byte: the header must survive it
	r.client.Write([]byte("data"))
	buf := make([]byte, 64)
	n, err := r.server.Read(buf)
	if err != nil || string(buf[:n]) != "HEADER|data" {
		t.Fatalf("first read %q, %v: want the header and data in one segment", buf[:n], err)
	}
	waitUntil(t, "4 payload bytes counted, not the header", func() bool { ab, _ := r.flow.Bytes(); return ab == 4 })

	// Without data, no header.
	r2 := start(t, e, o, func(f *Flow) { f.HeaderFirst = true })
	r2.client.CloseWrite()
	if b, err := io.ReadAll(r2.server); err != nil || len(b) != 0 {
		t.Fatalf("data-less flow delivered %q, %v", b, err)
	}
}

func TestCloseKillsFlows(t *testing.T) {
	e, err := New(Options{Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o := newOwner()
	var rigs []*rig
	for range 50 {
		rigs = append(rigs, start(t, e, o, nil))
	}
	rigs[0].client.Write([]byte("busy")) // one busy, the rest idle
	e.Close()
	for range rigs {
		if f := o.wait(t); f.Cause() != ErrClosed {
			t.Fatalf("cause %v", f.Cause())
		}
	}
	if _, err := io.ReadAll(rigs[10].client); err != nil {
		t.Fatalf("a killed flow's client: %v, want EOF", err)
	}
	// Starting on a closed engine ends the flow at once.
	r := start(t, e, o, nil)
	if f := o.wait(t); f != r.flow || f.Cause() != ErrClosed {
		t.Fatalf("flow started after Close: cause %v", f.Cause())
	}
}

// Flows live on the engine's loops: 300 of them add no goroutine.
func TestManyIdleFlows(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	before := runtime.NumGoroutine()
	var rigs []*rig
	for range 300 {
		rigs = append(rigs, start(t, e, o, nil))
	}
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Fatalf("300 flows added %d goroutines", n)
	}
	for i, r := range rigs {
		r.client.Write([]byte{byte(i)})
	}
	for i, r := range rigs {
		b := make([]byte, 1)
		if _, err := io.ReadFull(r.server, b); err != nil || b[0] != byte(i) {
			t.Fatalf("flow %d: %v %v", i, b, err)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Serve runs registered before it returns, and relays what the client sent
// before the flow started; an idle flow then holds no pipe.
func TestServeRelaysEarlyData(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	t.Cleanup(func() { client.Close(); server.Close() })
	f := &Flow{A: a, B: b, Owner: o}
	client.Write([]byte("early")) // queued before the relay starts
	registered := false
	e.Serve(f, func() { registered = true })
	if !registered {
		t.Fatal("registered callback not run")
	}
	buf := make([]byte, 5)
	server.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "early" {
		t.Fatalf("server got %q, %v", buf, err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := e.PipesInUse(); n != 0 {
		t.Fatalf("%d pipes held by an idle flow", n)
	}
	server.Write([]byte("late"))
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf[:4]); err != nil || string(buf[:4]) != "late" {
		t.Fatalf("client got %q, %v", buf[:4], err)
	}
	client.Close()
	server.Close()
	o.wait(t)
}

// TestSmallMessagesNeverStall: a pump reads and forwards within one wait;
// no message may be left in a socket. Ping-pong of sizes around the
// buffer's (the last ones switch the direction to splice), messages
// written in pieces, and a last message whose FIN arrives with it.
func TestSmallMessagesNeverStall(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	r := start(t, e, o, nil)
	echo := func(c *net.TCPConn) {
		b := make([]byte, 64<<10)
		for {
			n, err := c.Read(b)
			if err != nil {
				c.CloseWrite()
				return
			}
			c.Write(b[:n])
		}
	}
	go echo(r.server)
	var sent uint64
	sizes := []int{1, 64, 1, 1500, 64, msgBufSize - 1, 7, msgBufSize, msgBufSize + 1, 20000, 3, 100 << 10, 64}
	for i, size := range sizes {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		if i%3 == 1 { // in two pieces, the second after the first was relayed
			r.client.Write(msg[:size/2])
			time.Sleep(2 * time.Millisecond)
			r.client.Write(msg[size/2:])
		} else {
			r.client.Write(msg)
		}
		if i == 4 {
			time.Sleep(60 * time.Millisecond) // both directions park in between
		}
		got := make([]byte, size)
		if _, err := io.ReadFull(r.client, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes): echoed %d bytes, %v", i, size, len(got), err)
		}
		sent += uint64(size)
	}
	r.client.Write([]byte("last"))
	r.client.CloseWrite()
	if got, err := io.ReadAll(r.client); err != nil || string(got) != "last" {
		t.Fatalf("after the FIN the client got %q, %v", got, err)
	}
	f := o.wait(t)
	if ab, ba := f.Bytes(); ab != sent+4 || ba != sent+4 || f.Cause() != nil {
		t.Fatalf("bytes %d/%d, cause %v; want %d both ways and a clean close", ab, ba, f.Cause(), sent+4)
	}
}

// TestFullReadsReadOn: a read that fills the buffer does not show an empty
// socket; the direction reads on (here into splice) for the rest of a
// message queued whole while the direction was parked.
func TestFullReadsReadOn(t *testing.T) {
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	r := start(t, e, o, nil)
	for i, size := range []int{20000, 3 * msgBufSize} {
		time.Sleep(40 * time.Millisecond) // parked
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		r.client.Write(msg)
		r.server.SetReadDeadline(time.Now().Add(2 * time.Second))
		got := make([]byte, size)
		if n, err := io.ReadFull(r.server, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: the target got %d of %d bytes (%v)", i, n, size, err)
		}
	}
}

// TestSlowReaderBackpressure: when the target's socket takes only part of
// a small message, the direction waits for it to drain; nothing is lost or
// reordered, and the relay never reads ahead more than one message.
func TestSlowReaderBackpressure(t *testing.T) {
	e := newEngine(t, Options{})
	o := newOwner()
	r := start(t, e, o, func(f *Flow) {
		f.B.(*net.TCPConn).SetWriteBuffer(4096)
	})
	r.server.SetReadBuffer(4096)
	var want bytes.Buffer
	for i := range 60 {
		want.Write(bytes.Repeat([]byte{byte(i)}, 900))
	}
	go func() {
		for i := range 60 {
			if _, err := r.client.Write(want.Bytes()[i*900 : (i+1)*900]); err != nil {
				break
			}
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		r.client.CloseWrite()
	}()
	time.Sleep(200 * time.Millisecond) // the relay's writes to B block meanwhile
	got, err := io.ReadAll(r.server)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("server got %d bytes (%v), want %d in order", len(got), err, want.Len())
	}
	r.server.Close()
	o.wait(t)
}

// TestEndsQueuedBehindDataAreNotStalled: a FIN or an RST that arrives with
// the last data, and data behind an urgent mark (the urgent byte in-line,
// TestUrgentDataInline), are all read at once. A
// read shorter than asked stops before them and they raise no new event;
// waiting on such a read would leave them until something else happened on
// the socket. Found in review of an earlier pump; each case stalled 3 s then.
func TestEndsQueuedBehindDataAreNotStalled(t *testing.T) {
	const limit = 500 * time.Millisecond
	e := newEngine(t, Options{Tick: 10 * time.Millisecond})
	o := newOwner()
	pair := func() (client, a, b, server *net.TCPConn) {
		client, a = tcpPair(t)
		b, server = tcpPair(t)
		t.Cleanup(func() { client.Close(); server.Close() })
		return client, a, b, server
	}
	readAll := func(t *testing.T, c *net.TCPConn) ([]byte, error, time.Duration) {
		start := time.Now()
		c.SetReadDeadline(start.Add(10 * time.Second))
		got, err := io.ReadAll(c)
		return got, err, time.Since(start)
	}

	t.Run("FIN queued before the flow starts", func(t *testing.T) {
		client, a, b, server := pair()
		server.Write([]byte("response"))
		server.CloseWrite()
		time.Sleep(10 * time.Millisecond)
		e.Start(&Flow{A: a, B: b, Owner: o})
		got, err, took := readAll(t, client)
		if string(got) != "response" || err != nil || took > limit {
			t.Fatalf("client read %q, %v after %v; want the answer and EOF at once", got, err, took)
		}
		client.Close()
		o.wait(t)
	})
	t.Run("FIN with the answer of a running flow", func(t *testing.T) {
		for range 5 {
			client, a, b, server := pair()
			e.Start(&Flow{A: a, B: b, Owner: o})
			client.Write([]byte("req"))
			io.ReadFull(server, make([]byte, 3))
			time.Sleep(5 * time.Millisecond)
			server.Write([]byte("response"))
			server.CloseWrite()
			got, err, took := readAll(t, client)
			if string(got) != "response" || err != nil || took > limit {
				t.Fatalf("client read %q, %v after %v; want the answer and EOF at once", got, err, took)
			}
			client.Close()
			o.wait(t)
		}
	})
	t.Run("RST queued behind data", func(t *testing.T) {
		client, a, b, server := pair()
		server.Write([]byte("response"))
		time.Sleep(5 * time.Millisecond)
		server.SetLinger(0)
		server.Close()
		time.Sleep(10 * time.Millisecond)
		e.Start(&Flow{A: a, B: b, Owner: o})
		got, err, took := readAll(t, client)
		if string(got) != "response" || !errors.Is(err, syscall.ECONNRESET) || took > limit {
			t.Fatalf("client read %q, %v after %v; want the answer then a reset at once", got, err, took)
		}
		if f := o.wait(t); f.Cause() != ErrResetB {
			t.Fatalf("cause %v, want ErrResetB", f.Cause())
		}
	})
	t.Run("data behind an urgent mark", func(t *testing.T) {
		client, a, b, server := pair()
		rc, _ := client.SyscallConn()
		rc.Control(func(fd uintptr) {
			unix.Write(int(fd), []byte("abc"))
			unix.Sendto(int(fd), []byte("X"), unix.MSG_OOB, nil)
			unix.Write(int(fd), []byte("def"))
		})
		time.Sleep(10 * time.Millisecond)
		e.Start(&Flow{A: a, B: b, Owner: o})
		start := time.Now()
		server.SetReadDeadline(start.Add(10 * time.Second))
		got := make([]byte, 7)
		n, err := io.ReadFull(server, got)
		if string(got) != "abcXdef" || err != nil || time.Since(start) > limit {
			t.Fatalf("target read %q, %v after %v; want \"abcXdef\" at once", got[:n], err, time.Since(start))
		}
		client.Close()
		server.Close()
		o.wait(t)
	})
}

// TestKillDuringBulkTransfer: Kill reaches a saturated flow through its
// loop's inbox and ends it at once: a direction moves at most pumpBudget
// before the loop takes its inbox (and the other sockets' events) again,
// even from a source that never runs dry.
// flood has the client write chunks of size bytes until stop is closed or
// a write fails, and the server read them all, on goroutines wg waits for.
func (r *rig) flood(stop <-chan struct{}, wg *sync.WaitGroup, size int) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		chunk := make([]byte, size)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := r.client.Write(chunk); err != nil {
				return
			}
		}
	}()
	go func() { defer wg.Done(); io.Copy(io.Discard, r.server) }()
}

func TestKillDuringBulkTransfer(t *testing.T) {
	e := newEngine(t, Options{})
	o := newOwner()
	r := start(t, e, o, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	r.flood(stop, &wg, 1<<20)
	waitUntil(t, "64 MB relayed", func() bool { ab, _ := r.flow.Bytes(); return ab > 64<<20 })
	start := time.Now()
	r.flow.Kill()
	o.wait(t)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Kill of a saturated flow took %v", took)
	}
	close(stop)
	r.client.Close()
	r.server.Close()
	wg.Wait()
}

// Out of descriptors, a loop stops accepting for a back-off instead of
// spinning on the level-triggered listener, tells failed, and accepts
// again once descriptors are free.
func TestAcceptBacksOffWhenOutOfDescriptors(t *testing.T) {
	e := newEngine(t, Options{Loops: 1, Tick: 10 * time.Millisecond})
	ln, lfd := listenLoopback(t)
	accepted := make(chan int, 4)
	failed := make(chan time.Duration, 64)
	l := e.Listen(lfd, func(_ *Loop, fd int, _ netip.AddrPort) { accepted <- fd }, func(err error, d time.Duration) {
		if errors.Is(err, unix.EMFILE) {
			select {
			case failed <- d:
			default:
			}
		}
	})
	defer l.Close()

	// Every descriptor under a tight limit taken, then one freed: room for
	// the client's socket only.
	var c net.Conn
	withDescriptorsExhausted(t, func(freeOne func()) {
		freeOne()
		var err error
		if c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); err != nil {
			t.Fatalf("dial under the tight limit: %v", err)
		}
		var backoffs []time.Duration
		for len(backoffs) < 2 {
			select {
			case d := <-failed:
				backoffs = append(backoffs, d)
			case fd := <-accepted:
				unix.Close(fd)
				t.Fatal("accepted with no descriptor free")
			case <-time.After(5 * time.Second):
				t.Fatal("no EMFILE back-off reported")
			}
		}
		if backoffs[1] <= backoffs[0] {
			t.Errorf("back-offs %v, want them growing", backoffs)
		}
	})
	defer c.Close()
	select {
	case fd := <-accepted:
		unix.Close(fd)
	case <-time.After(5 * time.Second):
		t.Fatal("not accepted once descriptors were free")
	}
}

// Each live engine raises GOMAXPROCS by its loops; a second engine's
// default loop count ignores the first one's raise; closing restores it.
func TestEnginesRaiseGOMAXPROCS(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	e1, err := New(Options{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != base+2 {
		e1.Close()
		t.Fatalf("GOMAXPROCS %d with a 2-loop engine, want %d", got, base+2)
	}
	e2, err := New(Options{})
	if err != nil {
		e1.Close()
		t.Fatal(err)
	}
	loops, got := len(e2.loops), runtime.GOMAXPROCS(0)
	e2.Close()
	after1 := runtime.GOMAXPROCS(0)
	e1.Close()
	if loops != base || got != 2*base+2 || after1 != base+2 {
		t.Errorf("second engine: %d loops, GOMAXPROCS %d then %d after its Close; want %d, %d, %d", loops, got, after1, base, 2*base+2, base+2)
	}
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS %d after both closed, want %d", got, base)
	}
}
