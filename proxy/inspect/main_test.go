package inspect_test

import (
	"cmp"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/privlink/privlink/proxy/inspect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait in these tests; none asserts timing.
const waitLimit = 10 * time.Second

// sidecar is a running Server with its logs and metrics.
type sidecar struct {
	*inspect.Server
	logs *observer.ObservedLogs
	reg  *prometheus.Registry
}

func startSidecar(t *testing.T, opts inspect.Options) *sidecar {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	opts.Listen = cmp.Or(opts.Listen, "127.0.0.1:0")
	opts.Logger, opts.Registerer = zap.New(core), reg
	srv, err := inspect.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &sidecar{Server: srv, logs: logs, reg: reg}
}

// dial connects to the sidecar from the loopback address from ("" = any).
func (s *sidecar) dial(t *testing.T, from string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: waitLimit}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.DialContext(t.Context(), "tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// waitLog waits for a log entry with message msg and, when reason is not
// empty, that reason.
func (s *sidecar) waitLog(t *testing.T, msg, reason string) observer.LoggedEntry {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		for _, e := range s.logs.FilterMessage(msg).All() {
			if reason == "" || e.ContextMap()["reason"] == reason {
				return e
			}
		}
	}
	t.Fatalf("no log %q with reason %q; logs: %v", msg, reason, s.logs.All())
	return observer.LoggedEntry{}
}

// metric is the value of the counter or gauge name with the given labels.
func (s *sidecar) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readN reads exactly n bytes.
func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

// readToEnd reads until EOF or a reset, and fails if neither comes.
func readToEnd(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", waitLimit)
	}
	return string(b)
}

// upstream is a plain TCP server handing each accepted connection to the test.
type upstream struct {
	ln    *net.TCPListener
	conns chan *net.TCPConn
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, conns: make(chan *net.TCPConn, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			u.conns <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for len(u.conns) > 0 {
			_ = (<-u.conns).Close()
		}
	})
	return u
}

func (u *upstream) addr() string { return u.ln.Addr().String() }

// forwarded starts an upstream and a sidecar forwarding to it, connects a
// client that sends first, and returns the client and the sidecar's
// connection to the upstream.
func forwarded(t *testing.T, opts inspect.Options, first []byte) (sc *sidecar, client, up *net.TCPConn) {
	t.Helper()
	u := startUpstream(t)
	opts.Upstream = u.addr()
	sc = startSidecar(t, opts)
	client = sc.dial(t, "")
	write(t, client, first)
	return sc, client, u.accept(t)
}

// accept returns the next connection the sidecar made.
func (u *upstream) accept(t *testing.T) *net.TCPConn {
	t.Helper()
	select {
	case c := <-u.conns:
		t.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(waitLimit):
		t.Fatal("the sidecar did not connect to the upstream")
		return nil
	}
}
