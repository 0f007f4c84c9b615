package acceptor

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first accepts with a temporary error.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestLoopRidesOutTemporaryErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(3)
	var closed atomic.Bool
	var temps atomic.Int32
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() {
		done <- Loop(fl, func(c net.Conn) { got <- c }, closed.Load, func(error, time.Duration) { temps.Add(1) })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-got).Close()
	if temps.Load() != 3 {
		t.Fatalf("%d temporary errors reported, want 3", temps.Load())
	}
	closed.Store(true)
	ln.Close()
	if err := <-done; err != nil {
		t.Fatalf("Loop after close: %v", err)
	}
}

func TestTemporary(t *testing.T) {
	for _, err := range []error{syscall.EMFILE, syscall.ECONNABORTED, &net.OpError{Err: syscall.ENFILE}} {
		if !Temporary(err) {
			t.Errorf("Temporary(%v) = false", err)
		}
	}
	if Temporary(errors.New("boom")) || Temporary(net.ErrClosed) {
		t.Error("permanent errors reported temporary")
	}
}
