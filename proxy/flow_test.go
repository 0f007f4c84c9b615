package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/privlink/privlink/config"
)

// The target's socket sees the NLB node of the client's AZ as its peer.
func TestSNATTargetSeesNodeIP(t *testing.T) {
	for _, az := range []struct{ iface, node, target string }{{"1.10", "10.5", "10.20"}, {"2.10", "11.5", "11.20"}} {
		t.Run(az.iface, func(t *testing.T) {
			l := newLab(t, false, config.PlacementFirstData)
			peers := make(chan netip.AddrPort, 1)
			l.target(az.target, func(c *net.TCPConn) {
				peers <- addrPort(c.RemoteAddr())
				io.Copy(c, c)
			})
			l.start()
			c := l.dial("1.50", az.iface)
			c.Write([]byte("ping"))
			c.CloseWrite()
			if got := readAll(t, c); got != "ping" {
				t.Fatalf("echo %q", got)
			}
			if peer := <-peers; peer.Addr() != l.addr(az.node) {
				t.Fatalf("target saw peer %s, want node %s", peer, l.addr(az.node))
			}
			if n := l.metric(l.srv.m.newFlows.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", l.srv.Endpoint(endpointID).Interfaces[map[string]int{"1.10": 0, "2.10": 1}[az.iface]].AZ)); n != 1 {
				t.Fatalf("new_flows_total %v", n)
			}
		})
	}
}

// With PROXY v2 the target decodes the client's address, the endpoint
// interface and the endpoint ID; the header arrives in one segment together
// with the client's first bytes.
func TestProxyV2FirstData(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData)
	type seen struct {
		h     *proxyproto.Header
		first []byte
		rest  string
	}
	got := make(chan seen, 1)
	l.target("10.20", func(c *net.TCPConn) {
		buf := make([]byte, 4096)
		n, _ := c.Read(buf) // a single read must hold the whole header
		first := buf[:n]
		h, br := readHeader(t, io.MultiReader(strings.NewReader(string(first)), c))
		got <- seen{h, first, readAll(t, br)}
	})
	l.start()
	c := l.dial("1.50", "1.10")
	client := addrPort(c.LocalAddr())
	c.Write([]byte("hello"))
	c.CloseWrite()
	s := <-got
	if s.h == nil {
		t.Fatal("no header")
	}
	if len(s.first) < 16+12+3+23 {
		t.Fatalf("first read %d bytes: the header was split", len(s.first))
	}
	src, dst, ok := s.h.TCPAddrs()
	if !ok || src.AddrPort() != client || dst.AddrPort() != netip.AddrPortFrom(l.addr("1.10"), 8443) {
		t.Fatalf("header %v → %v, want %v → %s.1.10:8443", src, dst, client, l.p)
	}
	tlvs, _ := s.h.TLVs()
	if id := tlvparse.FindAWSVPCEndpointID(tlvs); id != endpointID {
		t.Fatalf("endpoint ID %q", id)
	}
	if s.rest != "hello" {
		t.Fatalf("payload after header %q", s.rest)
	}
}

// A server-speaks-first target is not blocked by first_data placement: its
// banner reaches the client before the client has sent anything, and the
// header follows with the client's first bytes.
func TestServerSpeaksFirst(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) {
		c.Write([]byte("220 ready\n"))
		h, br := readHeader(t, c)
		if h == nil {
			return
		}
		line, _ := br.ReadString('\n')
		c.Write([]byte("250 " + line))
	})
	l.start()
	c := l.dial("1.50", "1.10")
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "220 ready\n" {
		t.Fatalf("banner %q, %v", buf[:n], err)
	}
	c.Write([]byte("EHLO x\n"))
	n, err = io.ReadAtLeast(c, buf, len("250 EHLO x\n"))
	if err != nil || string(buf[:n]) != "250 EHLO x\n" {
		t.Fatalf("reply %q, %v", buf[:n], err)
	}
}

// With placement "connect" the header is sent right after the dial.
func TestProxyV2OnConnect(t *testing.T) {
	l := newLab(t, true, config.PlacementConnect)
	l.target("10.20", func(c *net.TCPConn) {
		h, _ := readHeader(t, c)
		if h != nil {
			c.Write([]byte("got header"))
		}
	})
	l.start()
	c := l.dial("1.50", "1.10")
	if got := readAll(t, c); got != "got header" {
		t.Fatalf("reply %q", got)
	}
}

// A client that closes without sending data sends no header either.
func TestNoDataNoHeader(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData)
	got := make(chan int, 1)
	l.target("10.20", func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- len(b)
	})
	l.start()
	c := l.dial("1.50", "1.10")
	c.CloseWrite()
	if n := <-got; n != 0 {
		t.Fatalf("target received %d bytes from a data-less connection", n)
	}
}

func TestHalfClose(t *testing.T) {
	t.Run("client first", func(t *testing.T) {
		l := newLab(t, false, config.PlacementFirstData)
		l.target("10.20", func(c *net.TCPConn) {
			req := readAll(t, c) // until the client's FIN
			c.Write([]byte("reply to " + req))
		})
		l.start()
		c := l.dial("1.50", "1.10")
		c.Write([]byte("request"))
		c.CloseWrite()
		if got := readAll(t, c); got != "reply to request" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("target first", func(t *testing.T) {
		l := newLab(t, false, config.PlacementFirstData)
		got := make(chan string, 1)
		l.target("10.20", func(c *net.TCPConn) {
			c.Write([]byte("banner"))
			c.CloseWrite()
			got <- readAll(t, c)
		})
		l.start()
		c := l.dial("1.50", "1.10")
		if got := readAll(t, c); got != "banner" {
			t.Fatalf("got %q", got)
		}
		c.Write([]byte("still sending"))
		c.CloseWrite()
		if s := <-got; s != "still sending" {
			t.Fatalf("target got %q after its half-close", s)
		}
	})
}

func isConnReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// A target that refuses the connection gives the client an RST, counted as
// a target reset.
func TestRefusedTargetResetsClient(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start() // no target listening
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatal(err)
	}
	if n := l.metric(l.svcMetrics().targetResets); n != 1 {
		t.Fatalf("tcp_target_resets_total = %v", n)
	}
}

func TestResetsPropagate(t *testing.T) {
	t.Run("target resets", func(t *testing.T) {
		l := newLab(t, false, config.PlacementFirstData)
		l.target("10.20", func(c *net.TCPConn) {
			c.Read(make([]byte, 4))
			c.SetLinger(0)
		})
		l.start()
		c := l.dial("1.50", "1.10")
		c.Write([]byte("ping"))
		if _, err := io.ReadAll(c); !isConnReset(err) {
			t.Fatalf("client: %v, want connection reset", err)
		}
		waitFor(t, func() bool { return l.metric(l.svcMetrics().targetResets) == 1 }, "tcp_target_resets_total = 1")
		if n := l.metric(l.svcMetrics().clientResets); n != 0 {
			t.Fatalf("tcp_client_resets_total = %v", n)
		}
	})
	t.Run("client resets", func(t *testing.T) {
		l := newLab(t, false, config.PlacementFirstData)
		errs := make(chan error, 1)
		l.target("10.20", func(c *net.TCPConn) {
			c.Read(make([]byte, 4))
			_, err := io.ReadAll(c)
			errs <- err
		})
		l.start()
		c := l.dial("1.50", "1.10")
		c.Write([]byte("ping"))
		time.Sleep(50 * time.Millisecond) // let "ping" reach the target before the reset
		c.SetLinger(0)
		c.Close()
		if err := <-errs; !isConnReset(err) {
			t.Fatalf("target: %v, want connection reset", err)
		}
		waitFor(t, func() bool { return l.metric(l.svcMetrics().clientResets) == 1 }, "tcp_client_resets_total = 1")
	})
}

// A client that connects and sends nothing, to a target that never answers,
// is closed by Close without leaking goroutines (goleak checks in TestMain).
func TestSilentPeersDoNotLeak(t *testing.T) {
	l := newLab(t, true, config.PlacementFirstData)
	hold := make(chan struct{})
	l.target("10.20", func(c *net.TCPConn) { <-hold })
	l.start()
	c := l.dial("1.50", "1.10")
	waitFor(t, func() bool {
		return l.metric(l.srv.m.activeFlows.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", "use1-az1")) == 1
	}, "one active flow")
	l.srv.Close()
	close(hold)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection still open after Close")
	}
}

// A target that never completes the handshake makes the dial time out; the
// client is reset.
func TestDialTimeout(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	full := blackhole(t, netip.AddrPortFrom(l.addr("10.20"), 9443))
	defer full()
	l.srv, _ = New(l.cfg, Options{DialTimeout: 200 * time.Millisecond})
	if err := l.srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.srv.Close()
	start := time.Now()
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the dial timeout was not applied")
	}
}

// blackhole listens on addr with a backlog of zero and never accepts, then
// fills the queue: further SYNs are dropped.
func blackhole(t *testing.T, addr netip.AddrPort) func() {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	// SO_REUSEADDR: an earlier test's connections may linger in TIME_WAIT.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	filler, err := net.DialTimeout("tcp", addr.String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return func() { filler.Close(); syscall.Close(fd) }
}

// shutdownWithALiveFlow starts a lab with one live echo flow, then a
// Shutdown draining for up to drain; done has its result.
func shutdownWithALiveFlow(t *testing.T, drain time.Duration) (*lab, *net.TCPConn, <-chan error) {
	t.Helper()
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) { io.Copy(c, c); c.CloseWrite() })
	l.start()
	c := l.dial("1.50", "1.10")
	c.Write([]byte("a"))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		done <- l.srv.Shutdown(ctx)
	}()
	waitFor(t, func() bool { return l.srv.isClosing() }, "shutdown started")
	return l, c, done
}

// Shutdown stops accepting at once but lets a live connection finish.
func TestShutdownDrains(t *testing.T) {
	l, c, done := shutdownWithALiveFlow(t, 5*time.Second)
	// The listener closes right after the server is marked closing: from
	// then on a new connection is refused.
	waitFor(t, func() bool {
		probe, err := net.DialTimeout("tcp", netip.AddrPortFrom(l.addr("1.10"), 8443).String(), time.Second)
		if err == nil {
			probe.Close()
		}
		return err != nil
	}, "new connections refused while draining")
	c.Write([]byte("b")) // the old connection still works while draining
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("draining connection: %v", err)
	}
	c.CloseWrite()
	io.ReadAll(c)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// Close while a Shutdown drains: the Shutdown stops waiting and closes
// the live connection, both return, and neither races the other (run with
// -race: both used to close the listeners).
func TestCloseDuringShutdown(t *testing.T) {
	l, c, done := shutdownWithALiveFlow(t, time.Minute)
	t0 := time.Now()
	if err := l.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown: %v, want it cut short (context.Canceled)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown still draining after Close")
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the live connection: %v, want it closed", err)
	}
}

// If one address cannot be bound, Start fails naming the key and leaves
// nothing listening.
func TestStartFailsCleanly(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	busy, err := net.Listen("tcp", netip.AddrPortFrom(l.addr("2.10"), 8443).String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Start(l.cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "endpoints[0].interfaces[1].ip") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start error %v", err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(l.addr("1.10"), 8443).String())
	if err != nil {
		t.Fatalf("the other listener was left open: %v", err)
	}
	ln.Close()
}

func TestProcessedBytes(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) {
		io.Copy(io.Discard, c)
		c.Write(make([]byte, 1000))
	})
	l.start()
	c := l.dial("1.50", "1.10")
	c.Write(make([]byte, 300000))
	c.CloseWrite()
	if n := len(readAll(t, c)); n != 1000 {
		t.Fatalf("client got %d bytes", n)
	}
	m := l.svcMetrics()
	waitFor(t, func() bool { return l.metric(m.bytesToTarget) == 300000 && l.metric(m.bytesToClient) == 1000 },
		"processed bytes 300000 to target, 1000 to client")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close aborts dials in progress at once instead of waiting for their timeout.
func TestCloseAbortsDials(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	full := blackhole(t, netip.AddrPortFrom(l.addr("10.20"), 9443))
	defer full()
	l.srv, _ = New(l.cfg, Options{DialTimeout: time.Minute})
	if err := l.srv.Start(); err != nil {
		t.Fatal(err)
	}
	c := l.dial("1.50", "1.10")
	waitFor(t, func() bool {
		l.srv.dials.mu.Lock()
		defer l.srv.dials.mu.Unlock()
		return len(l.srv.dials.fds) == 1
	}, "a dial in progress")
	start := time.Now()
	l.srv.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s with a dial in progress", d)
	}
	if err := resetSeen(c, nil); err != nil {
		t.Fatal(err)
	}
}

// TestFlowFitsItsSizeClass: every live connection holds one flow, so its
// size class is memory per idle connection (docs/performance.md). 896 is a
// Go size class; the next is 1,024.
func TestFlowFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(flow{}); n > 896 {
		t.Fatalf("a flow is %d bytes: above the 896-byte size class, each connection costs 128 more", n)
	}
}
