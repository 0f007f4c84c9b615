package loadtest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/privlink/privlink/proxy/ppv2"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startTarget(t *testing.T, mode Mode) string {
	t.Helper()
	return startTargetWith(t, mode, TargetOptions{})
}

func startTargetWith(t *testing.T, mode Mode, opts TargetOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := NewTargetWith(mode, nil, opts)
	done := make(chan error, 1)
	go func() { done <- tg.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tg.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != ErrTargetClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c.(*net.TCPConn)
}

func TestEchoStripsProxyHeaders(t *testing.T) {
	v2 := ppv2.AppendProxy(nil, netip.MustParseAddrPort("127.0.1.50:40000"), netip.MustParseAddrPort("127.0.1.10:8443"), "vpce-0c1308d7312217abc")
	local := ppv2.AppendLocal(nil)
	for _, tt := range []struct {
		name   string
		header []byte
	}{
		{"none", nil},
		{"v1", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n")},
		{"v2", v2},
		{"v2 local", local},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, startTarget(t, ModeEcho))
			payload := bytes.Repeat([]byte("0123456789"), 50000)
			go func() {
				c.Write(append(bytes.Clone(tt.header), payload...))
				c.CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("echoed %d bytes, want the %d payload bytes without the header", len(got), len(payload))
			}
		})
	}
}

// A header from a peer the target does not trust is data: echoed back.
func TestEchoStripsOnlyTrustedHeaders(t *testing.T) {
	hdr := []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n")
	for _, tt := range []struct {
		name  string
		trust []netip.Prefix
		want  string
	}{
		{"trusted peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "hello"},
		{"untrusted peer", []netip.Prefix{netip.MustParsePrefix("127.0.10.5/32")}, string(hdr) + "hello"},
		{"nobody trusted", nil, string(hdr) + "hello"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, startTargetWith(t, ModeEcho, TargetOptions{TrustHeader: TrustPrefixes(tt.trust)}))
			c.Write(append(bytes.Clone(hdr), "hello"...))
			c.CloseWrite()
			if got, err := io.ReadAll(c); err != nil || string(got) != tt.want {
				t.Fatalf("echoed %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSinkAndSource(t *testing.T) {
	c := dial(t, startTarget(t, ModeSink))
	c.Write(make([]byte, 1<<20))
	c.CloseWrite()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("sink answered %d bytes, %v", len(b), err)
	}
	c = dial(t, startTarget(t, ModeSource))
	if n, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Fatalf("source sent %d bytes: %v", n, err)
	}
}

func TestParseMode(t *testing.T) {
	if _, err := ParseMode("mirror"); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if m, err := ParseMode("sink"); err != nil || m != ModeSink {
		t.Fatalf("ParseMode(sink) = %v, %v", m, err)
	}
}
