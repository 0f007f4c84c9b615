package proxy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
)

// A built-in echo target strips a PROXY header only from the NLB nodes
// that send one: with proxy_protocol_v2 privlink's header is stripped and
// a header the client sent (headers stack, as behind NLB) is echoed back;
// without it, or from any other peer, a header is data.
func TestBuiltinStripsOnlyTheNodesHeader(t *testing.T) {
	clientHdr := "PROXY TCP4 192.0.2.1 192.0.2.2 1111 2222\r\n"
	for _, ppv2 := range []bool{true, false} {
		t.Run(map[bool]string{true: "proxy_protocol_v2", false: "plain"}[ppv2], func(t *testing.T) {
			l := newLab(t, ppv2, config.PlacementFirstData,
				"{ip: P.10.20, subnet: subnet-p1}", "{ip: P.10.20, subnet: subnet-p1, builtin: echo}").start()
			via := l.dial("1.50", "1.10")
			if got := echoOnce(t, via, clientHdr+"hello"); got != clientHdr+"hello" {
				t.Fatalf("through privlink: echoed %q, want the client's header and data", got)
			}
			direct, err := net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr("1.60"), 0)), net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr("10.20"), 9443)))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			if got := echoOnce(t, direct, clientHdr+"hello"); got != clientHdr+"hello" {
				t.Fatalf("from a client, not a node: echoed %q, want the header as data", got)
			}
		})
	}
}

func echoOnce(t *testing.T, c *net.TCPConn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(msg))
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// TestReloadsLeaveNoRetiredBuiltins: each reload here replaces the
// built-in target by one at a new address, after a connection through
// privlink reached the old one. Once its drain ended and its last
// connection closed, a removed built-in target is forgotten: the server
// used to keep every one until it stopped.
func TestReloadsLeaveNoRetiredBuiltins(t *testing.T) {
	const n = 6
	builtinAt := func(i int) string {
		return fmt.Sprintf("deregistration_delay: 100ms\n        targets: [{ip: P.10.%d, subnet: subnet-p1, builtin: echo}]", 20+i)
	}
	l := newLab(t, false, config.PlacementFirstData,
		"targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]", builtinAt(0))
	srv, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry(), DialTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	defer srv.Close()
	for i := range n {
		c := l.dial(fmt.Sprintf("1.%d", 50+i), "1.10")
		if err := echo(t, c, "hi"); err != nil {
			t.Fatalf("built-in target %d: %v", i, err)
		}
		y := strings.Replace(l.yaml, strings.ReplaceAll(builtinAt(0), "P.", l.p+"."), strings.ReplaceAll(builtinAt(i+1), "P.", l.p+"."), 1)
		cfg, err := config.Parse(fmt.Sprintf("reload%d.yaml", i), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitFor(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.retiring)+len(srv.retired) == 0
	}, "no retiring or retired built-in target left")
}
