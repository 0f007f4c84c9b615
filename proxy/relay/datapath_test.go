package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// urgentSend writes bulk bytes, "abc", an urgent "X" (send with MSG_OOB),
// "def", then a FIN, from c.
func urgentSend(c *net.TCPConn, bulk int) error {
	if _, err := c.Write(bytes.Repeat([]byte("b"), bulk)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("abc")); err != nil {
		return err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), []byte("X"), nil, nil, unix.MSG_OOB)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if _, err := c.Write([]byte("def")); err != nil {
		return err
	}
	return c.CloseWrite()
}

// urgentStream sends urgentSend's bytes from sender and returns what
// receiver, with SO_OOBINLINE set, reads up to EOF.
func urgentStream(t *testing.T, sender, receiver *net.TCPConn, bulk int) []byte {
	t.Helper()
	rc, _ := receiver.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1) })
	receiver.SetReadDeadline(time.Now().Add(10 * time.Second))
	sent := make(chan error, 1)
	go func() { sent <- urgentSend(sender, bulk) }()
	got, err := io.ReadAll(receiver)
	if err != nil {
		t.Errorf("receiver: %v after %d bytes", err, len(got))
	}
	if err := <-sent; err != nil {
		t.Errorf("sender: %v", err)
	}
	return got
}

// TestUrgentDataInline: a byte sent as urgent data (MSG_OOB) reaches the
// peer in-line and in order, as it does on a direct connection to a
// receiver with SO_OOBINLINE: on the plain path and on a spliced direction
// (after bulk bytes), followed by the FIN, both ways. An urgent byte used to
// be dropped on the plain path, and to stall a spliced direction (splice
// stops at the urgent mark) until the FIN cut the rest of the stream.
func TestUrgentDataInline(t *testing.T) {
	e := newEngine(t, Options{})
	o := newOwner()
	for _, tc := range []struct {
		name string
		bulk int
		back bool // the target sends
	}{
		{"plain", 0, false},
		{"spliced", 1 << 20, false},
		{"plain back", 0, true},
		{"spliced back", 1 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := tcpPair(t)
			want := urgentStream(t, c, s, tc.bulk)
			c.Close()
			s.Close()
			if exp := append(bytes.Repeat([]byte("b"), tc.bulk), "abcXdef"...); !bytes.Equal(want, exp) {
				t.Fatalf("direct connection delivered %d bytes ending %q; want %d ending %q", len(want), tail(want), len(exp), tail(exp))
			}
			r := start(t, e, o, nil)
			sender, receiver := r.client, r.server
			if tc.back {
				sender, receiver = r.server, r.client
			}
			got := urgentStream(t, sender, receiver, tc.bulk)
			if !bytes.Equal(got, want) {
				t.Fatalf("through the relay: %d bytes ending %q; direct: %d bytes ending %q", len(got), tail(got), len(want), tail(want))
			}
			r.client.Close()
			r.server.Close()
			o.wait(t)
		})
	}
}

func tail(b []byte) []byte { return b[max(0, len(b)-10):] }

// withDescriptorsExhausted runs fn while the process cannot open another
// descriptor: RLIMIT_NOFILE lowered to 256, every descriptor under it
// taken (freeOne gives one back); the limit and the descriptors are
// restored when fn returns or fails. It skips the test if more than 256
// are open already.
func withDescriptorsExhausted(t *testing.T, fn func(freeOne func())) {
	t.Helper()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	tight := rl
	tight.Cur = 256
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &tight); err != nil {
		t.Fatal(err)
	}
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	if len(fillers) == 0 {
		t.Skip("more than 256 descriptors open already")
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); !errors.Is(err, unix.EMFILE) {
		if err == nil {
			unix.Close(p[0])
			unix.Close(p[1])
		}
		t.Fatalf("pipe2 with every descriptor taken: %v, want EMFILE", err)
	}
	fn(func() {
		unix.Close(fillers[len(fillers)-1])
		fillers = fillers[:len(fillers)-1]
	})
}

// TestPipeShortageFallsBackToBuffer: a live flow whose direction turns to
// bulk when no pipe can be created (out of descriptors) moves its bytes
// through the loop's buffer and goes on; only new connections may be
// refused. Such flows used to be reset both ways.
func TestPipeShortageFallsBackToBuffer(t *testing.T) {
	e := newEngine(t, Options{Loops: 1})
	o := newOwner()
	const flows, size = 8, 1 << 20
	var rigs []*rig
	for range flows {
		r := start(t, e, o, nil)
		r.client.Write([]byte("?")) // the flow runs: a byte each way
		if _, err := io.ReadFull(r.server, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		rigs = append(rigs, r)
	}
	up := bytes.Repeat([]byte("u"), size)
	down := bytes.Repeat([]byte("d"), size)
	errs := make(chan error, 2*flows)
	withDescriptorsExhausted(t, func(func()) {
		var wg sync.WaitGroup
		for _, r := range rigs {
			wg.Add(2)
			go func() {
				defer wg.Done()
				r.client.Write(up)
				r.client.CloseWrite()
				if got, err := io.ReadAll(r.client); err != nil || !bytes.Equal(got, down) {
					errs <- errors.Join(errors.New("client: download cut"), err)
				}
			}()
			go func() {
				defer wg.Done()
				if got, err := io.ReadAll(r.server); err != nil || !bytes.Equal(got, up) {
					errs <- errors.Join(errors.New("server: upload cut"), err)
				}
				r.server.Write(down)
				r.server.CloseWrite()
			}()
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range flows {
		if f := o.wait(t); f.Cause() != nil {
			t.Errorf("flow ended with %v, want a clean close", f.Cause())
		}
	}
}

// TestKillAfterRefusedStart: Kill and Terminate of a flow the engine
// refused to start (it was closing) do nothing. They used to dereference
// the flow's loop, never set for a refused flow.
func TestKillAfterRefusedStart(t *testing.T) {
	t.Run("Serve", func(t *testing.T) {
		e := newEngine(t, Options{Loops: 1})
		e.Close()
		o := newOwner()
		a, b := tcpPair(t)
		f := &Flow{A: a, B: b, Owner: o}
		e.Serve(f, nil)
		if o.wait(t).Cause() != ErrClosed {
			t.Fatalf("cause %v, want ErrClosed", f.Cause())
		}
		f.Kill()
		f.Terminate()
	})
	t.Run("Loop.Start", func(t *testing.T) {
		e := newEngine(t, Options{Loops: 1})
		ln, lfd := listenLoopback(t)
		o := newOwner()
		closed := make(chan struct{})
		refused := make(chan *Flow, 1)
		l := e.Listen(lfd, func(lp *Loop, fd int, _ netip.AddrPort) {
			// The engine closes while the connection's pipeline runs.
			go func() { e.Close(); close(closed) }()
			for !e.closing.Load() {
				time.Sleep(time.Millisecond)
			}
			a, b := tcpPair(t)
			unix.Close(fd)
			f := &Flow{A: a, B: b, Owner: o}
			lp.Start(f)
			f.Kill()
			f.Terminate()
			refused <- f
		}, nil)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		f := <-refused
		<-closed
		l.Close()
		if f.Cause() != ErrClosed {
			t.Fatalf("cause %v, want ErrClosed", f.Cause())
		}
	})
}
