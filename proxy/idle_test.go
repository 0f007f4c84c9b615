package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/inspect"
)

// After the listener's idle timeout the flow is forgotten silently; the
// next side that sends gets an RST, counted in tcp_elb_resets_total.
func TestIdleTimeoutResetsNextSender(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"listeners: [{port: 8443, target_group: tg}]", "listeners: [{port: 8443, target_group: tg, idle_timeout: 300ms}]")
	if len(l.cfg.Warnings) != 1 {
		t.Fatalf("want the below-60s warning, got %v", l.cfg.Warnings)
	}
	targetErr := make(chan error, 1)
	l.target("10.20", func(c *net.TCPConn) {
		buf := make([]byte, 5)
		io.ReadFull(c, buf)
		c.Write(buf)
		_, err := c.Read(buf) // nothing more arrives: the flow expired
		targetErr <- err
	})
	l.start()
	c := l.dial("1.50", "1.10")
	c.Write([]byte("hello"))
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // > idle timeout + a sweep
	c.Write([]byte("late"))
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client after the idle timeout: %v, want a reset", err)
	}
	waitFor(t, func() bool { return l.metric(l.svcMetrics().elbResets) >= 1 }, "tcp_elb_resets_total >= 1")
	select {
	case err := <-targetErr:
		t.Fatalf("the target saw %v: the late bytes were forwarded or the flow closed loudly", err)
	default:
	}
	l.srv.Close() // the target's side is still open: Close ends it
}

// privlink's PROXY v2 header, received by the inspect sidecar in front of an
// app: the sidecar decodes the client and the endpoint ID, and the app gets
// the stream without the header.
func TestInteropWithInspectSidecar(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData)
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		c, err := app.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	side, err := inspect.New(inspect.Options{
		Listen:   netip.AddrPortFrom(l.addr("10.20"), 9443).String(),
		Upstream: app.Addr().String(),
		Trust:    []netip.Prefix{netip.MustParsePrefix(l.p + ".10.0/23")},
		Require:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := side.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		side.Shutdown(ctx)
	}()
	l.start()
	c := l.dial("1.50", "1.10")
	c.Write([]byte("through the sidecar"))
	c.CloseWrite()
	if got := readAll(t, c); got != "through the sidecar" {
		t.Fatalf("echo %q", got)
	}
	recs := side.Headers(10)
	if len(recs) != 1 {
		t.Fatalf("%d header records", len(recs))
	}
	r := recs[0]
	if r.Source != addrPort(c.LocalAddr()) || r.VPCEndpoint != endpointID || r.Destination != netip.AddrPortFrom(l.addr("1.10"), 8443) {
		t.Fatalf("record %+v", r)
	}
}
