package privlinktest

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/proxy/ppv2"
)

var (
	targetAddr = netip.MustParseAddrPort("127.40.200.20:0")
	clientAP   = netip.MustParseAddrPort("127.40.200.50:40000")
	ifaceAP    = netip.MustParseAddrPort("127.40.200.10:8443")
)

func dialTarget(t *testing.T, tg *Target, first []byte) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(tg.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	return c
}

// The target decodes the PROXY, LOCAL and absent headers and answers in
// its mode; Next skips health checks.
func TestTargetRecords(t *testing.T) {
	tg := NewTarget(t, targetAddr, Echo)
	dialTarget(t, tg, ppv2.AppendLocal(nil)).CloseWrite()
	c := dialTarget(t, tg, append(ppv2.AppendProxy(nil, clientAP, ifaceAP, "vpce-0c1308d7312217abc"), "ping"...))
	c.CloseWrite()
	if b, _ := io.ReadAll(c); string(b) != "ping" {
		t.Errorf("echo = %q, want the data without the header", b)
	}
	plain := dialTarget(t, tg, []byte("plain"))
	plain.CloseWrite()
	if b, _ := io.ReadAll(plain); string(b) != "plain" {
		t.Errorf("echo without a header = %q", b)
	}
	ctx := ctxT(t)
	got, err := tg.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Header; h == nil || h.Local || h.Source != clientAP || h.Destination != ifaceAP || h.EndpointID != "vpce-0c1308d7312217abc" || got.Peer.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("PROXY conn = %+v header %+v", got, got.Header)
	}
	if got, err := tg.Next(ctx); err != nil || got.Header != nil || got.Err != nil {
		t.Errorf("plain conn = %+v, %v", got, err)
	}
	if n := tg.HealthChecks(); n != 1 || len(tg.Conns()) != 3 {
		t.Errorf("health checks %d of %d connections, want 1 of 3", n, len(tg.Conns()))
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := tg.Next(short); err == nil || !strings.Contains(err.Error(), "3 connections recorded, 1 of them health checks") {
		t.Errorf("Next with nothing new: %v", err)
	}
}

func TestTargetModes(t *testing.T) {
	sink := NewTarget(t, targetAddr, Sink)
	c := dialTarget(t, sink, []byte("into the sink"))
	c.CloseWrite()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("sink answered %q, %v", b, err)
	}
	src := NewTarget(t, targetAddr, Source)
	c = dialTarget(t, src, []byte("x"))
	if n, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Errorf("source: %d bytes, %v", n, err)
	}
	if _, err := ListenTarget(targetAddr, "mirror"); err == nil || !strings.Contains(err.Error(), `target mode "mirror"`) {
		t.Errorf("bad mode: %v", err)
	}
	bad := NewTarget(t, targetAddr, Echo)
	dialTarget(t, bad, []byte(ppv2.Signature+"\x21\x11\x00\xff")).CloseWrite()
	if got, err := bad.Next(ctxT(t)); err != nil || got.Err == nil {
		t.Errorf("malformed header: %+v %v, want Err set", got, err)
	}
}
