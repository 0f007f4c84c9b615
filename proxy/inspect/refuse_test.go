package inspect_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/proxy/inspect"
)

var trustConsumers = []netip.Prefix{netip.MustParsePrefix("127.0.1.0/24")}

func TestRefusals(t *testing.T) {
	v2 := privlinkProxy()
	tests := []struct {
		name   string
		opts   inspect.Options
		from   string
		send   []byte // written in one write; nil: nothing
		close  bool   // half-close after sending
		reason inspect.Reason
	}{
		{"garbage with require", inspect.Options{Require: true}, "", []byte("GET / HTTP/1.1\r\n\r\n"), false, inspect.ReasonMissing},
		{"TLS hello with require", inspect.Options{Require: true}, "", unhex("16030100a5010000a103"), false, inspect.ReasonMissing},
		{"data-less connection with require", inspect.Options{Require: true}, "", nil, true, inspect.ReasonEmpty},
		{"silent client with require", inspect.Options{Require: true, HeaderTimeout: 50 * time.Millisecond}, "", nil, false, inspect.ReasonTimeout},
		{"half a header, strict", strict(), "", v2[:20], false, inspect.ReasonSplit},
		{"half a signature, strict", strict(), "", v2[:6], false, inspect.ReasonSplit},
		{"half a v1 line, strict", strict(), "", []byte("PROXY TCP4 127.0.1.50 "), false, inspect.ReasonSplit},
		{"half a header past the timeout", briefly(), "", v2[:20], false, inspect.ReasonTimeout},
		{"half a signature past the timeout", briefly(), "", v2[:6], false, inspect.ReasonTimeout},
		{"half a v1 line past the timeout", briefly(), "", []byte("PROXY TCP4 127.0.1.50 "), false, inspect.ReasonTimeout},
		{"half a header, then the end", nil0(), "", v2[:20], true, inspect.ReasonMalformed},
		{"half a v1 line, then the end", nil0(), "", []byte("PROXY TCP4 127.0.1.50 "), true, inspect.ReasonMalformed},
		{"half a signature, then the end, with require", inspect.Options{Require: true}, "", v2[:6], true, inspect.ReasonMissing},
		{"malformed v2", nil0(), "", unhex("0d0a0d0a000d0a515549540a 21 13 000c 7f000132 7f00010a 9c40 20fb"), false, inspect.ReasonMalformed},
		{"malformed v1", nil0(), "", []byte("PROXY TCP4 nope nope 1 2\r\n"), false, inspect.ReasonMalformed},
		{"oversize v2", nil0(), "", append(unhex("0d0a0d0a000d0a515549540a 21 11 2000"), make([]byte, 64)...), false, inspect.ReasonOversize},
		{"oversize v1", nil0(), "", []byte("PROXY TCP4 " + strings.Repeat("9", 200)), false, inspect.ReasonOversize},
		{"CRC32C mismatch", nil0(), "", handProxyBadCRC, false, inspect.ReasonCRCMismatch},
		{"CRC32C mismatch in NLB LOCAL", nil0(), "", flipped(nlbLocal, 19), false, inspect.ReasonCRCMismatch},
		{"stacked v2 on v2", nil0(), "", append(privlinkProxy(), privlinkProxy()...), false, inspect.ReasonStacked},
		{"stacked v1 on v2", nil0(), "", append(privlinkProxy(), "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"...), false, inspect.ReasonStacked},
		{"header from untrusted source", inspect.Options{Trust: trustConsumers}, "127.0.2.7", v2, false, inspect.ReasonUntrusted},
		{"untrusted source with require", inspect.Options{Trust: trustConsumers, Require: true}, "127.0.2.7", nil, false, inspect.ReasonUntrusted},
		{"upstream down", inspect.Options{Upstream: closedPort(t)}, "", v2, false, inspect.ReasonUpstreamDial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := startSidecar(t, tt.opts)
			c := sc.dial(t, tt.from)
			if tt.send != nil {
				write(t, c, tt.send)
			}
			if tt.close {
				_ = c.CloseWrite()
			}
			readToEnd(t, c)
			e := sc.waitLog(t, "connection closed", tt.reason.String())
			if e.ContextMap()["error"] == "" {
				t.Fatalf("no error text: %v", e.ContextMap())
			}
			if got := sc.metric(t, "privlink_inspect_errors_total", "reason", tt.reason.String()); got != 1 {
				t.Fatalf("errors_total{reason=%q} = %v", tt.reason, got)
			}
			if n := len(sc.Headers(0)); n != 0 && tt.reason != inspect.ReasonUpstreamDial {
				t.Fatalf("a refused header was kept: %+v", sc.Headers(0))
			}
		})
	}
}

// nil0 is the default options: echo mode, every source trusted, header optional.
func nil0() inspect.Options { return inspect.Options{} }

// strict is nil0 refusing headers split across reads.
func strict() inspect.Options { return inspect.Options{Strict: true} }

// briefly is nil0 with a header timeout short enough to wait out in a test.
func briefly() inspect.Options { return inspect.Options{HeaderTimeout: 50 * time.Millisecond} }

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestTrustedSourceAccepted(t *testing.T) {
	sc := startSidecar(t, inspect.Options{Trust: trustConsumers, Require: true})
	c := sc.dial(t, "127.0.1.50")
	write(t, c, append(privlinkProxy(), "ok"...))
	if got := readN(t, c, 2); got != "ok" {
		t.Fatalf("echo %q", got)
	}
}

func TestRefusedHeaderIsLogged(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	c := sc.dial(t, "")
	write(t, c, handProxyBadCRC)
	readToEnd(t, c)
	e := sc.waitLog(t, "connection closed", "crc_mismatch")
	h, ok := e.ContextMap()["header"].(map[string]any)
	if !ok || h["crc32c"] != inspect.CRCMismatch || h["source"] != clientAP.String() || h["received"] == "0001-01-01T00:00:00Z" {
		t.Fatalf("header field %v", e.ContextMap()["header"])
	}
}

func TestStackedHeaderIsLoggedNotKept(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	c := sc.dial(t, "")
	write(t, c, append(privlinkProxy(), privlinkProxy()...))
	readToEnd(t, c)
	e := sc.waitLog(t, "connection closed", "stacked")
	if h, ok := e.ContextMap()["header"].(map[string]any); !ok || h["vpce_id"] != vpceID {
		t.Fatalf("header field %v", e.ContextMap()["header"])
	}
	if n := len(sc.Headers(0)); n != 0 {
		t.Fatalf("%d headers kept", n)
	}
	if got := sc.metric(t, "privlink_inspect_headers_total", "command", "proxy", "version", "2"); got != 0 {
		t.Fatalf("headers_total %v", got)
	}
}

func TestStackedHeaderInLaterSegment(t *testing.T) {
	// The first header comes alone (NLB placement "connect"), the client's
	// own header follows as its first data: refused after the upstream was
	// connected.
	sc, c, u := forwarded(t, inspect.Options{}, privlinkProxy())
	write(t, c, []byte("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\nGET /"))
	readToEnd(t, c)
	if got := readToEnd(t, u); got != "" {
		t.Fatalf("upstream got %q", got)
	}
	sc.waitLog(t, "connection closed", "stacked")
}

func TestStackedHeaderSentInPieces(t *testing.T) {
	// The second signature starts in the first read and completes later:
	// the sidecar waits for it (within the header timeout) before deciding.
	sc := startSidecar(t, inspect.Options{})
	c := sc.dial(t, "")
	second := privlinkProxy()
	write(t, c, append(privlinkProxy(), second[:5]...))
	time.Sleep(5 * time.Millisecond)
	if _, err := c.Write(second[5:]); err != nil {
		t.Logf("second write: %v", err)
	}
	readToEnd(t, c)
	sc.waitLog(t, "connection closed", "stacked")
}

func TestLateHeaderWithoutRequire(t *testing.T) {
	sc := startSidecar(t, inspect.Options{HeaderTimeout: 20 * time.Millisecond})
	c := sc.dial(t, "")
	sc.waitLog(t, "no bytes within the header timeout; forwarding without a header", "")
	write(t, c, privlinkProxy())
	readToEnd(t, c)
	sc.waitLog(t, "connection closed", "timeout")
}

func TestSlowClientsDoNotStallOthersStrict(t *testing.T) {
	sc := startSidecar(t, inspect.Options{HeaderTimeout: time.Minute, Strict: true})
	silent := sc.dial(t, "127.0.3.1")   // connects and sends nothing
	slow := sc.dial(t, "127.0.3.2")     // one byte at a time
	write(t, slow, privlinkProxy()[:1]) // its first read holds one byte
	for i := range 3 {
		fast := sc.dial(t, "127.0.3.3")
		write(t, fast, append(privlinkProxy(), 'a'+byte(i)))
		if got := readN(t, fast, 1); got != string('a'+rune(i)) {
			t.Fatalf("fast client %d got %q", i, got)
		}
	}
	for _, b := range privlinkProxy()[1:] {
		if _, err := slow.Write([]byte{b}); err != nil {
			break // closed by the sidecar, as expected
		}
		time.Sleep(time.Millisecond)
	}
	readToEnd(t, slow)
	sc.waitLog(t, "connection closed", "split")
	if n := len(sc.Headers(0)); n != 3 {
		t.Fatalf("%d headers, want the 3 fast ones", n)
	}
	_ = silent.Close()
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		name    string
		trust   []netip.Prefix
		require bool
		from    string
		want    string // proxyproto policy, or "error"
	}{
		{"no trust list, optional", nil, false, "127.0.2.7:1", "USE"},
		{"no trust list, required", nil, true, "127.0.2.7:1", "REQUIRE"},
		{"trusted, optional", trustConsumers, false, "127.0.1.50:1", "USE"},
		{"trusted, required", trustConsumers, true, "127.0.1.50:1", "REQUIRE"},
		{"trusted IPv4-mapped", trustConsumers, true, "[::ffff:127.0.1.50]:1", "REQUIRE"},
		{"untrusted, optional", trustConsumers, false, "127.0.2.7:1", "REJECT"},
		{"untrusted, required", trustConsumers, true, "127.0.2.7:1", "error"},
	}
	names := map[int]string{0: "USE", 1: "IGNORE", 2: "REJECT", 3: "REQUIRE", 4: "SKIP"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := inspect.Policy(tt.trust, tt.require)
			addr := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.from))
			p, err := pol(proxyprotoOpts(addr))
			got := names[int(p)]
			if err != nil {
				got = "error"
				if inspect.ReasonOf(err) != inspect.ReasonUntrusted {
					t.Fatalf("error %v is not untrusted", err)
				}
			}
			if got != tt.want {
				t.Fatalf("policy %s, want %s", got, tt.want)
			}
		})
	}
}
