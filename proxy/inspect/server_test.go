package inspect_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/privlink/privlink/proxy/inspect"
)

func TestForwardsWithHeaderStripped(t *testing.T) {
	sc, c, u := forwarded(t, inspect.Options{}, append(privlinkProxy(), "hello"...))
	if got := readN(t, u, 5); got != "hello" {
		t.Fatalf("upstream got %q", got)
	}
	write(t, u, []byte("world"))
	if got := readN(t, c, 5); got != "world" {
		t.Fatalf("client got %q", got)
	}

	recs := sc.Headers(0)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	peer := netip.MustParseAddrPort(c.LocalAddr().String())
	if r.Source != clientAP || r.Destination != eniAP || r.VPCEndpoint != vpceID || r.Peer != peer || r.Received.IsZero() {
		t.Fatalf("record %+v", r)
	}
	e := sc.waitLog(t, "PROXY header", "")
	if m := e.ContextMap(); m["vpce_id"] != vpceID || m["source"] != clientAP.String() || m["command"] != "PROXY" || fmt.Sprint(m["version"]) != "2" {
		t.Fatalf("log fields %v", m)
	}
	if got := sc.metric(t, "privlink_inspect_headers_total", "command", "proxy", "version", "2"); got != 1 {
		t.Fatalf("headers_total %v", got)
	}
	if got := sc.metric(t, "privlink_inspect_connections_total"); got != 1 {
		t.Fatalf("connections_total %v", got)
	}
	if got := sc.metric(t, "privlink_inspect_active_connections"); got != 1 {
		t.Fatalf("active_connections %v while open", got)
	}
}

func TestHeaderVariantsForwarded(t *testing.T) {
	tests := []struct {
		name   string
		header []byte
		health bool
		labels []string
	}{
		{"privlink PROXY", privlinkProxy(), false, []string{"command", "proxy", "version", "2"}},
		{"privlink LOCAL", privlinkLocal(), true, []string{"command", "local", "version", "2"}},
		{"NLB LOCAL capture", nlbLocal, true, []string{"command", "local", "version", "2"}},
		{"v1 TCP4", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n"), false, []string{"command", "proxy", "version", "1"}},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), true, []string{"command", "local", "version", "1"}},
		{"v2 with 4 KiB of TLVs", bigHeader(), false, []string{"command", "proxy", "version", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, _, u := forwarded(t, inspect.Options{Require: true}, append(tt.header, "data"...))
			if got := readN(t, u, 4); got != "data" {
				t.Fatalf("upstream got %q", got)
			}
			recs := sc.Headers(0)
			if len(recs) != 1 || recs[0].HealthCheck != tt.health {
				t.Fatalf("records %+v", recs)
			}
			if tt.health {
				sc.waitLog(t, "PROXY header: health check (LOCAL)", "")
			}
			if got := sc.metric(t, "privlink_inspect_headers_total", tt.labels...); got != 1 {
				t.Fatalf("headers_total%v = %v", tt.labels, got)
			}
		})
	}
}

func TestEchoMode(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	c := sc.dial(t, "")
	write(t, c, append(privlinkProxy(), "ping"...))
	if got := readN(t, c, 4); got != "ping" {
		t.Fatalf("echo %q", got)
	}
	write(t, c, []byte("pong"))
	if got := readN(t, c, 4); got != "pong" {
		t.Fatalf("echo %q", got)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest := readToEnd(t, c); rest != "" {
		t.Fatalf("after close-write: %q", rest)
	}
}

func TestHeaderAloneThenData(t *testing.T) {
	// The header in its own segment, as NLB sends it with placement
	// "connect"; the client's data follows once the upstream is connected.
	_, c, u := forwarded(t, inspect.Options{Require: true}, privlinkProxy())
	write(t, u, []byte("220 banner\r\n")) // the server speaks first
	if got := readN(t, c, 12); got != "220 banner\r\n" {
		t.Fatalf("client got %q", got)
	}
	write(t, c, []byte("HELO"))
	if got := readN(t, u, 4); got != "HELO" {
		t.Fatalf("upstream got %q", got)
	}
}

func TestNoHeaderWithoutRequire(t *testing.T) {
	tests := []struct {
		name  string
		trust []netip.Prefix
		from  string
	}{
		{"trusted source", nil, ""},
		{"untrusted source", []netip.Prefix{netip.MustParsePrefix("127.0.1.0/24")}, "127.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := startSidecar(t, inspect.Options{Trust: tt.trust})
			c := sc.dial(t, tt.from)
			write(t, c, []byte("GET / HTTP/1.1\r\n"))
			if got := readN(t, c, 16); got != "GET / HTTP/1.1\r\n" {
				t.Fatalf("echo %q", got)
			}
			sc.waitLog(t, "connection without a PROXY header", "")
			if n := len(sc.Headers(0)); n != 0 {
				t.Fatalf("%d records", n)
			}
		})
	}
}

func TestSilentClientForwardedAfterTimeoutWithoutRequire(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, inspect.Options{Upstream: up.addr(), HeaderTimeout: 50 * time.Millisecond})
	c := sc.dial(t, "")
	u := up.accept(t) // connected once the header timeout passed
	write(t, u, []byte("220 ready"))
	if got := readN(t, c, 9); got != "220 ready" {
		t.Fatalf("client got %q", got)
	}
}

func TestHalfClose(t *testing.T) {
	t.Run("client closes its side first", func(t *testing.T) {
		_, c, u := forwarded(t, inspect.Options{}, append(privlinkProxy(), "request"...))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := readToEnd(t, u); got != "request" {
			t.Fatalf("upstream got %q before EOF", got)
		}
		write(t, u, []byte("response"))
		_ = u.Close()
		if got := readToEnd(t, c); got != "response" {
			t.Fatalf("client got %q", got)
		}
	})
	t.Run("upstream closes its side first", func(t *testing.T) {
		_, c, u := forwarded(t, inspect.Options{}, privlinkProxy())
		write(t, u, []byte("banner"))
		if err := u.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := readToEnd(t, c); got != "banner" {
			t.Fatalf("client got %q before EOF", got)
		}
		write(t, c, []byte("still talking"))
		if got := readN(t, u, 13); got != "still talking" {
			t.Fatalf("upstream got %q", got)
		}
	})
}

func TestEmit(t *testing.T) {
	tests := []struct {
		name    string
		emit    string
		header  []byte
		version byte
		command proxyproto.ProtocolVersionAndCommand
		src     string // "" = the client's socket address
		vpce    string
	}{
		{"v2 from PROXY", inspect.EmitV2, privlinkProxy(), 2, proxyproto.PROXY, clientAP.String(), vpceID},
		{"v1 from PROXY", inspect.EmitV1, privlinkProxy(), 1, proxyproto.PROXY, clientAP.String(), ""},
		{"v2 from v1", inspect.EmitV2, []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n"), 2, proxyproto.PROXY, clientAP.String(), ""},
		{"v2 from LOCAL", inspect.EmitV2, nlbLocal, 2, proxyproto.LOCAL, "", ""},
		{"v1 from LOCAL", inspect.EmitV1, privlinkLocal(), 1, proxyproto.LOCAL, "", ""},
		{"v2 without a header", inspect.EmitV2, nil, 2, proxyproto.PROXY, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, u := forwarded(t, inspect.Options{Emit: tt.emit}, append(tt.header, "data"...))
			br := bufio.NewReader(u)
			h, err := proxyproto.Read(br)
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != tt.version || h.Command != tt.command {
				t.Fatalf("version %d command %v", h.Version, h.Command)
			}
			want := tt.src
			if want == "" && tt.command == proxyproto.PROXY {
				want = c.LocalAddr().String()
			}
			if tt.command == proxyproto.PROXY && h.SourceAddr.String() != want {
				t.Fatalf("upstream sees source %v, want %s", h.SourceAddr, want)
			}
			tlvs, _ := h.TLVs()
			if got := tlvparse.FindAWSVPCEndpointID(tlvs); got != tt.vpce {
				t.Fatalf("endpoint ID %q, want %q", got, tt.vpce)
			}
			rest := make([]byte, 4)
			if _, err := br.Read(rest); err != nil || string(rest) != "data" {
				t.Fatalf("data %q, %v", rest, err)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Run("drains an idle server", func(t *testing.T) {
		srv, err := inspect.New(inspect.Options{Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		if err := srv.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err == nil {
			t.Fatal("Start after Shutdown succeeded")
		}
	})
	t.Run("forces open connections at the deadline", func(t *testing.T) {
		up := startUpstream(t)
		srv, err := inspect.New(inspect.Options{Listen: "127.0.0.1:0", Upstream: up.addr()})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		write(t, c, privlinkProxy())
		u := up.accept(t)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("shutdown: %v", err)
		}
		readToEnd(t, c)
		readToEnd(t, u)
		if _, err := net.Dial("tcp", srv.Addr().String()); err == nil {
			t.Fatal("still accepting after shutdown")
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts inspect.Options
		want string
	}{
		{"no listen", inspect.Options{}, "no listen address"},
		{"bad emit", inspect.Options{Listen: ":0", Upstream: "a:1", Emit: "v3"}, `emit "v3" is not v1 or v2`},
		{"emit without upstream", inspect.Options{Listen: ":0", Emit: "v2"}, "emit v2 needs an upstream"},
		{"upstream without port", inspect.Options{Listen: ":0", Upstream: "app"}, `upstream "app"`},
		{"negative timeout", inspect.Options{Listen: ":0", HeaderTimeout: -time.Second}, "header timeout -1s is negative"},
		{"negative ring", inspect.Options{Listen: ":0", RingSize: -1}, "ring size -1 is negative"},
		{"invalid prefix", inspect.Options{Listen: ":0", Trust: []netip.Prefix{{}}}, "trusted prefix"},
		{"invalid endpoint prefix", inspect.Options{Listen: ":0", EndpointAddrs: []netip.Prefix{{}}}, "endpoint address prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspect.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestStartNamesTheAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := inspect.New(inspect.Options{Listen: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("error %v does not name %s", err, ln.Addr())
	}
}
