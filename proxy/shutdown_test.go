package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
)

// TestShutdownReleasesAConnectionBeingHeld: a denied connection that
// becomes held while Shutdown starts is released with the others; the
// hold used to set its deadline after it became visible, overwriting
// Shutdown's, so Shutdown waited for the whole DenyHold.
func TestShutdownReleasesAConnectionBeingHeld(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n")
	srv, err := New(l.cfg, Options{Registry: prometheus.NewRegistry(), DenyHold: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	srv.onHold = func() { // Shutdown starts as the connection becomes held
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done <- srv.Shutdown(ctx)
		}()
		for !srv.isClosing() {
			time.Sleep(time.Millisecond)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	c := l.dial("1.50", "1.10")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown still waits for a held connection after 10 s")
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); isTimeout(err) {
		t.Fatal("the held connection was not released")
	}
}

// TestReloadDuringShutdown: a reload racing Shutdown either completes
// before it or fails with ErrServerClosed; no listener it opens outlives
// the server. A reload could add listeners after Shutdown had taken its
// list, and they were never closed.
func TestReloadDuringShutdown(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	var ports []string
	for p := 8460; p < 8480; p++ {
		ports = append(ports, fmt.Sprintf("{port: %d, target_group: tg}", p))
	}
	more := strings.Replace(l.yaml, "listeners: [{port: 8443, target_group: tg}]",
		"listeners: [{port: 8443, target_group: tg}, "+strings.Join(ports, ", ")+"]", 1)
	cfg, err := config.Parse("more.yaml", []byte(more))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		srv, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		reloaded := make(chan error, 1)
		go func() { reloaded <- srv.Reload(cfg) }()
		time.Sleep(time.Duration(i%10) * 50 * time.Microsecond) // at a different point of the reload each round
		srv.Close()
		if err := <-reloaded; err != nil && err != ErrServerClosed {
			t.Fatalf("round %d: reload: %v", i, err)
		}
		for p := 8460; p < 8480; p++ {
			addr := netip.AddrPortFrom(l.addr("1.10"), uint16(p))
			if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
				c.Close()
				t.Fatalf("round %d: %s still accepts after Shutdown", i, addr)
			}
		}
	}
}

// TestShutdownGivesUpOnStuckConnections: a flow that does not end when
// Shutdown force-closes everything (the test holds one open in
// s.handlers) makes Shutdown wait forceWait more, no longer, then return
// ErrShutdownStuck joined with the context's error, with the listeners
// closed and the rest stopped.
func TestShutdownGivesUpOnStuckConnections(t *testing.T) {
	defer func(d time.Duration) { forceWait = d }(forceWait)
	forceWait = 300 * time.Millisecond
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	if err := echo(t, l.dial("1.50", "1.10"), "hi"); err != nil {
		t.Fatal(err)
	}
	if !l.srv.flowStarted() {
		t.Fatal("server closing")
	}
	const drain = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	t0 := time.Now()
	err := l.srv.Shutdown(ctx)
	took := time.Since(t0)
	l.srv.flowEnded() // the stuck flow ends: Shutdown's waiter returns
	if !errors.Is(err, ErrShutdownStuck) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want ErrShutdownStuck and context.DeadlineExceeded", err)
	}
	if took < drain+forceWait || took > drain+forceWait+2*time.Second {
		t.Fatalf("Shutdown returned after %v, want about %v (drain + forceWait)", took, drain+forceWait)
	}
	if c, err := net.DialTimeout("tcp", l.p+".1.10:8443", time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Shutdown")
	}
}
